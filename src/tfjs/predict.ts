/**
 * `graft predict`: run a model directory on images (top-k classes) or on a raw array (any layer's
 * output, saved as .npy in the source's layout).
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import { UsageError } from '../errors.js';
import { readNpy, writeNpy } from '../formats/npy/npy.js';
import { decodeImageFile } from '../input/decode-image.js';
import { imageToInput, type InputSpec } from '../input/preprocess.js';
import { toFloat32 } from '../tensor/tensor.js';
import { nchwToNhwc, nhwcToNchw } from '../tensor/layout.js';
import { useBackend, type BackendName } from './backend.js';
import type { GraftJson } from './graft-json.js';
import { loadModelDirectory, type LoadedModel } from './model-dir.js';

export interface PreprocessOverrides {
  scale?: number;
  mean?: number[];
  std?: number[];
  channelOrder?: 'RGB' | 'BGR' | 'GRAY';
  inputSize?: [number, number];
}

/** The preprocessing a model asks for (graft.json), with any overrides applied. */
export function inputSpecFor(model: tf.LayersModel, graft: GraftJson | undefined, overrides: PreprocessOverrides = {}): InputSpec {
  const shape = model.inputs[0].shape;
  if (shape.length !== 4) throw new UsageError('this model does not take images (its input is not 4-D)');
  const [, h, w, c] = shape as number[];
  const size = overrides.inputSize ?? [h, w];
  const channelOrder = overrides.channelOrder ?? graft?.input.channelOrder ?? (c === 1 ? 'GRAY' : 'RGB');
  if ((channelOrder === 'GRAY') !== (c === 1)) {
    throw new UsageError(`channel order ${channelOrder} does not fit a model with ${c} input channels`);
  }
  return {
    height: size[0],
    width: size[1],
    channelOrder,
    scale: overrides.scale ?? graft?.input.scale ?? 1,
    mean: overrides.mean ?? graft?.input.mean ?? [],
    std: overrides.std ?? graft?.input.std ?? [],
  };
}

export interface ImagePrediction {
  file: string;
  top: { index: number; label?: string; probability: number }[];
}

export interface PredictImagesOptions extends PreprocessOverrides {
  model: string;
  images: string[];
  top?: number;
  labels?: string;
  backend?: BackendName;
}

export async function predictImages(options: PredictImagesOptions): Promise<{ backend: string; predictions: ImagePrediction[] }> {
  const backend = await useBackend(options.backend);
  const loaded = await loadModelDirectory(options.model);
  try {
    const spec = inputSpecFor(loaded.model, loaded.graft, options);
    const labels = options.labels ? await readLabels(options.labels) : loaded.graft?.classNames;
    const predictions: ImagePrediction[] = [];
    for (const file of options.images) {
      const pixels = await decodeImageFile(file);
      const data = imageToInput(pixels, spec);
      const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
      const probabilities = await tf.tidy(() => {
        const x = tf.tensor4d(data, [1, spec.height, spec.width, channels]);
        let y = loaded.model.predict(x) as tf.Tensor;
        if (Array.isArray(y)) y = y[0];
        y = y.reshape([1, -1]);
        // A model whose last layer is not a softmax gives logits: report probabilities either way.
        return endsWithSoftmax(loaded.model) ? y : tf.softmax(y);
      }).data();
      const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
      predictions.push({
        file,
        top: order.slice(0, options.top ?? 5).map((index) => ({ index, label: labels?.[index], probability: probabilities[index] })),
      });
    }
    return { backend, predictions };
  } finally {
    loaded.model.dispose();
  }
}

function endsWithSoftmax(model: tf.LayersModel): boolean {
  const last = model.outputs[0].sourceLayer;
  const config = last.getConfig();
  return last.getClassName() === 'Softmax' || config.activation === 'softmax';
}

async function readLabels(file: string): Promise<string[]> {
  try {
    return (await fs.readFile(file, 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  } catch (error) {
    throw new UsageError(`${file}: cannot read labels (${(error as Error).message})`);
  }
}

export interface PredictArrayOptions {
  model: string;
  input: string;
  layout?: 'nchw' | 'nhwc';
  layer?: string;
  save?: string;
  backend?: BackendName;
}

export interface ArrayPrediction {
  backend: string;
  layer: string;
  shape: number[];
  layout: 'nchw' | 'nhwc' | 'flat';
  data: Float32Array;
}

/** Runs a raw input array through the model and returns (and optionally saves) one layer's output. */
export async function predictArray(options: PredictArrayOptions): Promise<ArrayPrediction> {
  const backend = await useBackend(options.backend);
  const bytes = await fs.readFile(options.input).catch((error: Error) => {
    throw new UsageError(`${options.input}: ${error.message}`);
  });
  const array = readNpy(bytes, options.input);
  const loaded = await loadModelDirectory(options.model);
  try {
    const layerName = resolveLayer(loaded, options.layer);
    const layer = loaded.model.getLayer(layerName);
    const output = layer.output as tf.SymbolicTensor;
    const sub = options.layer ? tf.model({ inputs: loaded.model.inputs, outputs: output }) : loaded.model;
    const inputShape = loaded.model.inputs[0].shape;
    let data = toFloat32(array);
    let shape = [...array.shape];
    const spatial = inputShape.length === 4;
    const layout = options.layout ?? (spatial && loaded.graft?.input.sourceLayout !== 'NC' ? 'nchw' : 'nhwc');
    if (spatial && layout === 'nchw') {
      if (shape.length !== 4) throw new UsageError(`${options.input}: expected a 4-D NCHW array, got shape (${shape.join(', ')})`);
      data = nchwToNhwc(data, shape);
      shape = [shape[0], shape[2], shape[3], shape[1]];
    }
    const expected = inputShape.slice(1);
    if (shape.length !== inputShape.length || expected.some((d, i) => d !== null && d !== shape[i + 1])) {
      throw new UsageError(`${options.input}: shape (${array.shape.join(', ')}) does not fit the model input [${['N', ...expected].join(', ')}] (${layout})`);
    }
    const result = tf.tidy(() => {
      const y = sub.predict(tf.tensor(data, shape)) as tf.Tensor | tf.Tensor[];
      return Array.isArray(y) ? y[0] : y;
    });
    let out = (await result.data()) as Float32Array;
    let outShape = result.shape;
    result.dispose();
    let outLayout: ArrayPrediction['layout'] = outShape.length === 4 ? 'nhwc' : 'flat';
    if (outShape.length === 4 && layout === 'nchw') {
      out = nhwcToNchw(out, outShape);
      outShape = [outShape[0], outShape[3], outShape[1], outShape[2]];
      outLayout = 'nchw';
    }
    if (options.save) await fs.writeFile(options.save, writeNpy(out, outShape));
    return { backend, layer: layerName, shape: outShape, layout: outLayout, data: out };
  } finally {
    loaded.model.dispose();
  }
}

/** A source blob name (graft.json `layers`) or a tfjs layer name → the tfjs layer name. */
export function resolveLayer(loaded: LoadedModel, name: string | undefined): string {
  const model = loaded.model;
  if (name === undefined) return model.outputs[0].sourceLayer.name;
  const mapped = loaded.graft?.layers[name];
  if (mapped && model.layers.some((l) => l.name === mapped)) return mapped;
  if (model.layers.some((l) => l.name === name)) return name;
  throw new UsageError(`${loaded.dir}: no layer or blob named ${name}`);
}

