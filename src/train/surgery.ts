/**
 * Model surgery from the seeds: replace the last Dense (PyTorch `classifier[6] = Linear(4096, 2)`),
 * cut at a layer and add a new head (Chainer: features from `fc7`), or drop the top and add
 * GlobalAveragePooling2D + Dense (Keras `include_top=False`), and re-initialise chosen layers.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import { type Classifier, uniqueLayerName } from './classifier.js';
import { articulationPoints, layerCalls } from './topology.js';
import { matchLayers } from './freeze.js';

function headActivation(classes: number): Classifier['activation'] {
  return classes === 1 ? 'sigmoid' : 'softmax';
}

/** Glorot-uniform values drawn from `seed`: `--seed` reproduces new heads and re-initialised layers. */
function glorotUniform(seed: number) {
  return tf.initializers.glorotUniform({ seed });
}

function newDense(units: number, name: string, seed: number): tf.layers.Layer {
  return tf.layers.dense({ units, name, kernelInitializer: glorotUniform(seed), biasInitializer: 'zeros' });
}

/** Replaces the final Dense of `classifier` with a fresh one of `classes` units, under the same name. */
export function replaceHead(classifier: Classifier, classes: number, seed = 0): Classifier {
  const calls = layerCalls(classifier.logits);
  const last = calls[calls.length - 1];
  if (last.layer.getClassName() !== 'Dense') {
    throw new UsageError(`the last layer (${last.layer.name}, ${last.layer.getClassName()}) is not a Dense layer; use --cut-at LAYER or --head gap`);
  }
  const output = newDense(classes, last.layer.name, seed).apply(last.inputs[0]) as tf.SymbolicTensor;
  const logits = tf.model({ inputs: classifier.logits.inputs, outputs: output, name: classifier.logits.name });
  return { logits, activation: headActivation(classes), classes };
}

/** The output of `layer` (name or index) → (Flatten when spatial) → a new Dense head named `head`. */
export function cutAt(model: tf.LayersModel, layer: string, classes: number, seed = 0): Classifier {
  const calls = layerCalls(model);
  const [index] = matchLayers(model, [layer], 'cut-at');
  const call = calls[index];
  let features = call.outputs[0];
  if (features.shape.length === 4) {
    features = tf.layers.flatten({ name: uniqueLayerName(model, 'head_flatten') }).apply(features) as tf.SymbolicTensor;
  } else if (features.shape.length !== 2) {
    throw new UsageError(`--cut-at ${layer}: its output has shape [${features.shape.map((d) => d ?? 'N')}]`);
  }
  const output = newDense(classes, uniqueLayerName(model, 'head'), seed).apply(features) as tf.SymbolicTensor;
  const logits = tf.model({ inputs: model.inputs, outputs: output, name: `${model.name}_logits` });
  return { logits, activation: headActivation(classes), classes };
}

/** Removes everything after the last spatial (4-D) cut point and adds GlobalAveragePooling2D + Dense. */
export function gapHead(model: tf.LayersModel, classes: number, seed = 0): Classifier {
  const spatial = articulationPoints(model).filter((p) => p.tensor.shape.length === 4);
  if (spatial.length === 0) throw new UsageError('--head gap: the model has no spatial (4-D) output to pool');
  const top = spatial[spatial.length - 1].tensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: uniqueLayerName(model, 'head_gap') }).apply(top) as tf.SymbolicTensor;
  const output = newDense(classes, uniqueLayerName(model, 'head'), seed).apply(pooled) as tf.SymbolicTensor;
  const logits = tf.model({ inputs: model.inputs, outputs: output, name: `${model.name}_logits` });
  return { logits, activation: headActivation(classes), classes };
}

/** Fresh values for every weight of the matched layers (PyTorch seed: train from scratch). */
export function reinitialize(model: tf.LayersModel, patterns: string[], seed = 0): string[] {
  const indices = matchLayers(model, patterns, 'reinit');
  const names: string[] = [];
  for (const index of indices) {
    const layer = model.layers[index];
    // A glob also matches weightless layers (ip1_flatten for ip*): nothing to restart there.
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const role = w.originalName.split('/').pop() ?? '';
      const shape = w.shape as number[];
      if (/kernel$/.test(role)) return glorotUniform(seed + index).apply(shape);
      if (role === 'gamma' || role === 'moving_variance') return tf.ones(shape);
      return tf.zeros(shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
    names.push(layer.name);
  }
  return names;
}
