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
import { inputSpecFromShape, parseLabels, toProbabilities, topK, type PreprocessOverrides } from '../input/input-spec.js';
import { toFloat32 } from '../tensor/tensor.js';
import { nchwToNhwc, nhwcToNchw } from '../tensor/layout.js';
import { backendInfo, useBackend, type BackendName } from './backend.js';
import type { GraftJson } from './graft-json.js';
import { loadModelDirectory, type LoadedModel } from './model-dir.js';
import { checkGpuErrors, checkGpuLimits } from './webgpu.js';

export type { PreprocessOverrides } from '../input/input-spec.js';

/** The preprocessing a model asks for (graft.json), with any overrides applied. */
export function inputSpecFor(model: tf.LayersModel, graft: GraftJson | undefined, overrides: PreprocessOverrides = {}): InputSpec {
  return inputSpecFromShape(model.inputs[0].shape, graft?.input, overrides);
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
  /** Save this layer's output for the batch of images instead of ranking classes. */
  layer?: string;
  save?: string;
  layout?: 'nchw' | 'nhwc';
  backend?: BackendName;
  /** wasm threads (default: the machine's cores). */
  threads?: number;
}

export interface ImagesResult {
  backend: string;
  /** Threads the backend computed on (null: not graft's to say, as for tensorflow). */
  threads: number | null;
  predictions: ImagePrediction[];
  /** The requested layer's (or the model's) output for all images, batch first. */
  output: ArrayOutput;
}

export async function predictImages(options: PredictImagesOptions): Promise<ImagesResult> {
  const backend = await useBackend(options.backend, { threads: options.threads });
  const { threads } = backendInfo();
  const loaded = await loadModelDirectory(options.model);
  try {
    const spec = inputSpecFor(loaded.model, loaded.graft, options);
    const labels = options.labels ? await readLabels(options.labels) : loaded.graft?.classNames;
    const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
    const pixelsPerImage = spec.height * spec.width * channels;
    const batch = new Float32Array(options.images.length * pixelsPerImage);
    for (const [i, file] of options.images.entries()) {
      batch.set(imageToInput(await decodeImageFile(file), spec), i * pixelsPerImage);
    }
    const layout = options.layout ?? (loaded.graft?.input.sourceLayout === 'NCHW' ? 'nchw' : 'nhwc');
    const output = await runLayer(loaded, batch, [options.images.length, spec.height, spec.width, channels], options.layer, layout);
    if (options.save) await fs.writeFile(options.save, writeNpy(output.data, output.shape));
    const predictions: ImagePrediction[] = [];
    if (!options.layer) {
      const classes = output.data.length / options.images.length;
      const softmax = endsWithSoftmax(loaded.model);
      for (const [i, file] of options.images.entries()) {
        const probabilities = toProbabilities(output.data.subarray(i * classes, (i + 1) * classes), softmax);
        predictions.push({ file, top: topK(probabilities, options.top ?? 5, labels) });
      }
    }
    return { backend, threads, predictions, output };
  } finally {
    loaded.model.dispose();
  }
}

export interface ArrayOutput {
  layer: string;
  shape: number[];
  layout: 'nchw' | 'nhwc' | 'flat';
  data: Float32Array;
}

/** Runs NHWC input data through the model up to `layerName`; rank-4 outputs come back in `layout`. */
async function runLayer(
  loaded: LoadedModel,
  data: Float32Array,
  shape: number[],
  layerName: string | undefined,
  layout: 'nchw' | 'nhwc',
): Promise<ArrayOutput> {
  const name = resolveLayer(loaded, layerName);
  const output = loaded.model.getLayer(name).output as tf.SymbolicTensor;
  const sub = layerName ? tf.model({ inputs: loaded.model.inputs, outputs: output }) : loaded.model;
  checkGpuLimits(sub, shape[0]); // WebGPU only: tensors over the device's binding limit (src/tfjs/webgpu.ts)
  const result = tf.tidy(() => {
    const y = sub.predict(tf.tensor(data, shape)) as tf.Tensor | tf.Tensor[];
    return Array.isArray(y) ? y[0] : y;
  });
  let out = (await result.data()) as Float32Array;
  let outShape = result.shape;
  result.dispose();
  checkGpuErrors(); // WebGPU only: an uncaptured GPU error means `out` cannot be trusted
  let outLayout: ArrayOutput['layout'] = outShape.length === 4 ? 'nhwc' : 'flat';
  if (outShape.length === 4 && layout === 'nchw') {
    out = nhwcToNchw(out, outShape);
    outShape = [outShape[0], outShape[3], outShape[1], outShape[2]];
    outLayout = 'nchw';
  }
  return { layer: name, shape: outShape, layout: outLayout, data: out };
}

function endsWithSoftmax(model: tf.LayersModel): boolean {
  const last = model.outputs[0].sourceLayer;
  const config = last.getConfig();
  return last.getClassName() === 'Softmax' || config.activation === 'softmax';
}

async function readLabels(file: string): Promise<string[]> {
  try {
    return parseLabels(await fs.readFile(file, 'utf8'));
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
  /** wasm threads (default: the machine's cores). */
  threads?: number;
}

export interface ArrayPrediction extends ArrayOutput {
  backend: string;
  threads: number | null;
}

/** Runs a raw input array through the model and returns (and optionally saves) one layer's output. */
export async function predictArray(options: PredictArrayOptions): Promise<ArrayPrediction> {
  const backend = await useBackend(options.backend, { threads: options.threads });
  const { threads } = backendInfo();
  const bytes = await fs.readFile(options.input).catch((error: Error) => {
    throw new UsageError(`${options.input}: ${error.message}`);
  });
  const array = readNpy(bytes, options.input);
  const loaded = await loadModelDirectory(options.model);
  try {
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
    const output = await runLayer(loaded, data, shape, options.layer, layout);
    if (options.save) await fs.writeFile(options.save, writeNpy(output.data, output.shape));
    return { backend, threads, ...output };
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

