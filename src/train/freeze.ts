/**
 * Freezing by layer name, glob or index — the index is the `#` column of `graft inspect DIR` (the
 * Keras seed's `layers[:143]`, R's `freeze_weights(from =, to =)`). Frozen BatchNorm layers run in
 * inference mode: tfjs decides by the training flag alone and would otherwise keep normalising
 * with batch statistics and updating its moving averages (TRAPS.md), unlike Keras 2.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';

/** Layer-name globs: `*` any run, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** Indices of `model.layers` matching each pattern: an index, an exact name, or a glob. */
export function matchLayers(model: tf.LayersModel, patterns: string[], flag: string): number[] {
  const matched = new Set<number>();
  for (const pattern of patterns) {
    const before = matched.size;
    if (/^-?\d+$/.test(pattern)) {
      let index = Number(pattern);
      if (index < 0) index += model.layers.length;
      if (index < 0 || index >= model.layers.length) throw new UsageError(`--${flag} ${pattern}: the model has layers 0..${model.layers.length - 1}`);
      matched.add(index);
      continue;
    }
    const exact = model.layers.findIndex((l) => l.name === pattern);
    if (exact >= 0) {
      matched.add(exact);
      continue;
    }
    const regex = globToRegExp(pattern);
    model.layers.forEach((l, i) => {
      if (regex.test(l.name)) matched.add(i);
    });
    if (matched.size === before) throw new UsageError(`--${flag} ${pattern}: no layer matches (graft inspect lists them)`);
  }
  return [...matched].sort((a, b) => a - b);
}

function singleIndex(model: tf.LayersModel, spec: string, flag: string): number {
  const indices = matchLayers(model, [spec], flag);
  if (indices.length !== 1) throw new UsageError(`--${flag} ${spec}: matches ${indices.length} layers, name one`);
  return indices[0];
}

export interface FreezeOptions {
  /** Layers to freeze: names, globs or indices. */
  freeze?: string[];
  /** Freeze every layer up to and including this one. */
  freezeTo?: string;
  /** Freeze every layer before this one; train it and everything after. */
  unfreezeFrom?: string;
}

/** Sets `trainable` on every layer of `model` and returns the names of the frozen ones. */
export function applyFreezing(model: tf.LayersModel, options: FreezeOptions): string[] {
  const frozen = new Set<number>();
  if (options.freezeTo !== undefined) {
    const last = singleIndex(model, options.freezeTo, 'freeze-to');
    for (let i = 0; i <= last; i++) frozen.add(i);
  }
  if (options.unfreezeFrom !== undefined) {
    const first = singleIndex(model, options.unfreezeFrom, 'unfreeze-from');
    for (let i = 0; i < first; i++) frozen.add(i);
  }
  if (options.freeze?.length) for (const i of matchLayers(model, options.freeze, 'freeze')) frozen.add(i);
  model.layers.forEach((layer, i) => {
    layer.trainable = !frozen.has(i);
  });
  for (const layer of model.layers) if (!layer.trainable && layer.getClassName() === 'BatchNormalization') runInInferenceMode(layer);
  return model.layers.filter((_, i) => frozen.has(i) && model.layers[i].weights.length > 0).map((l) => l.name);
}

const inferenceOnly = new WeakSet<tf.layers.Layer>();

/** Makes a layer ignore `training: true` (Keras 2's frozen-BatchNorm behaviour). */
export function runInInferenceMode(layer: tf.layers.Layer): void {
  if (inferenceOnly.has(layer)) return;
  inferenceOnly.add(layer);
  const call = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: layer.trainable ? kwargs?.training : false });
}

/** Whether a layer behaves the same in training and inference (given its frozen state). */
export function isDeterministic(layer: tf.layers.Layer): boolean {
  const className = layer.getClassName();
  if (className === 'Dropout' || className === 'SpatialDropout1D' || className === 'GaussianNoise' || className === 'GaussianDropout' || className === 'AlphaDropout') {
    return false;
  }
  if (className === 'BatchNormalization') return !layer.trainable;
  return true;
}
