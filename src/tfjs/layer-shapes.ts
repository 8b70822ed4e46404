/**
 * What a layers model's layers output, per example: what the WebGPU binding check
 * (src/tfjs/webgpu.ts) and the training pass sizing (src/train/memory.ts) both measure.
 */
import * as tf from '@tensorflow/tfjs';

/** Layers, with nested models opened up. */
export function flatLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) => (layer instanceof tf.LayersModel ? flatLayers(layer) : [layer]));
}

/** A layer's output shapes (batch first); none when they differ between the models sharing it. */
export function outputShapes(layer: tf.layers.Layer): (number | null)[][] {
  let shape: tf.Shape | tf.Shape[];
  try {
    shape = layer.outputShape;
  } catch {
    return [];
  }
  return (Array.isArray(shape[0]) ? shape : [shape]) as (number | null)[][];
}

/** Elements of one example of `shape` (its batch axis left out). */
export function perExample(shape: readonly (number | null)[]): number {
  return shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
}
