/**
 * Feature caching: when every layer before the first trainable one is frozen and deterministic,
 * that prefix gives the same output for an example in every epoch, so it runs once per example
 * and only the rest trains. This is what makes the Chainer seed's recipe (frozen VGG16, fc7 and a
 * new head trained) practical on a CPU. Stochastic layers after the cut (dropout) still run live.
 */
import * as tf from '@tensorflow/tfjs';
import { isDeterministic } from './freeze.js';
import { articulationPoints, layerCalls, replayFrom } from './topology.js';

export interface CachePlan {
  /** Input → the cached features. */
  prefix: tf.LayersModel;
  /** Features → logits, sharing the layers (and weights) of the full model. */
  suffix: tf.LayersModel;
  /** The layer whose output is cached. */
  cutLayer: string;
}

/**
 * Also the plan without caching (--no-cache): the prefix then runs on every batch, but in
 * inference mode and outside the gradient tape. tfjs's tape (and a layers model run with
 * `training: true`) keeps every forward activation of what it runs, and keeping those of a frozen
 * VGG16 base overflows wasm's 4 GB heap from batch 8 on, while PyTorch keeps nothing for
 * parameters with requires_grad=False. Stochastic frozen layers stay after the cut, in training
 * mode, either way.
 */
export function planFeatureCache(model: tf.LayersModel): CachePlan | undefined {
  const calls = layerCalls(model);
  const firstLive = calls.findIndex(
    (call) => call.layer.trainableWeights.length > 0 || !isDeterministic(call.layer),
  );
  if (firstLive <= 0) return undefined;
  const points = articulationPoints(model).filter((p) => p.index < firstLive && p.index > 0);
  if (points.length === 0) return undefined;
  const cut = points[points.length - 1];
  const prefix = tf.model({ inputs: model.inputs, outputs: cut.tensor, name: `${model.name}_prefix` });
  const features = tf.input({ shape: cut.tensor.shape.slice(1) as number[], name: `${model.name}_features` });
  const [output] = replayFrom(model, cut.tensor, features, model.outputs);
  const suffix = tf.model({ inputs: features, outputs: output, name: `${model.name}_suffix` });
  return { prefix, suffix, cutLayer: calls[cut.index].layer.name };
}

/** Runs `prefix` over `count` examples in batches and returns the features, batch first. */
export async function computeFeatures(
  prefix: tf.LayersModel,
  data: Float32Array,
  exampleShape: number[],
  count: number,
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<{ data: Float32Array; shape: number[] }> {
  const exampleSize = exampleShape.reduce((a, b) => a * b, 1);
  const featureShape = prefix.outputs[0].shape.slice(1) as number[];
  const featureSize = featureShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count * featureSize);
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const batch = tf.tensor(data.subarray(start * exampleSize, (start + n) * exampleSize), [n, ...exampleShape]);
    const features = prefix.predict(batch) as tf.Tensor;
    out.set((await features.data()) as Float32Array, start * featureSize);
    tf.dispose([batch, features]);
    onProgress?.(start + n, count);
  }
  return { data: out, shape: featureShape };
}
