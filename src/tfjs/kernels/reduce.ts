/**
 * Sum and Mean for wasm, wrapping tfjs-backend-wasm 4.22's. Its C++ reduces only innermost axes,
 * so any other reduction first transposes the whole input (generic index arithmetic, one thread)
 * and then sums: BatchNorm in training reduces NHWC over N, H and W, forward (tf.moments) and
 * backward (its gradients), ≈ 22 ms a call on 8×112×112×64 and 7% of a resnet18 training step
 * (bench/profile-train).
 *
 * A float32 reduction over one contiguous run of axes with axes left inside it (the channels) is
 * here an average pooling on wasm's XNNPACK AvgPool: x [outer, R, inner] read as images
 * [outer, h, w, inner] with h·w = R and one 'valid' h×w window, times R for a sum: ≈ 2 ms against
 * ≈ 80 for tfjs's transpose-then-sum on 8×112×112×64 (a ones·x BatchMatMul would be 1 ms, but
 * XNNPACK packs its right operand for every new tensor, ≈ 90 ms). Reductions of the innermost
 * axes (no transpose needed), other dtypes, non-contiguous axis sets and runs of one element go
 * to the original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withKernelCalls } from './kernel-calls.js';

/** [outer, reduced, inner] sizes when `axes` (sorted, distinct) are one contiguous run of axes. */
export function contiguousReduction(shape: number[], axes: number[]): [number, number, number] | null {
  if (axes.length === 0) return null;
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[0] + i) return null;
  const first = axes[0];
  const last = axes[axes.length - 1];
  const size = (from: number, to: number) => tf.util.sizeFromShape(shape.slice(from, to));
  return [size(0, first), size(first, last + 1), size(last + 1, shape.length)];
}

/**
 * The most channels the pooling path takes. wasm's AvgPool traps (memory access out of bounds)
 * on many channels: measured here, 8 rows of 24576, 30000 or 32768 channels and 16 of 32768
 * crash it, while every run up to 16384 channels (2–4096 rows) passed; the original kernel
 * handles the rest. BatchNorm's channels and Dense biases stay well inside.
 */
export const MAX_POOLED_CHANNELS = 4096;

/** The reduced run R as an [h, w] pooling window, h·w = R, w the largest divisor ≤ √R. */
export function poolWindow(reduced: number): [number, number] {
  let w = Math.floor(Math.sqrt(reduced));
  while (reduced % w !== 0) w--;
  return [reduced / w, w];
}

function wrapReduction(original: tf.KernelConfig, mean: boolean): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    if (x.dtype !== 'float32') return original.kernelFunc(args);
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
    const sizes = contiguousReduction(x.shape, axes);
    // Innermost reductions need no transpose: the original is as good.
    // XNNPACK rejects a 1-pixel pooling window; an empty run has nothing to pool.
    if (sizes === null || sizes[2] === 1 || sizes[1] <= 1 || sizes[0] * sizes[2] === 0 || sizes[2] > MAX_POOLED_CHANNELS) {
      return original.kernelFunc(args);
    }
    const backend = args.backend as BackendWasm;
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const [outer, reduced, inner] = sizes;
    const [h, w] = poolWindow(reduced);
    return withKernelCalls(backend, (calls) => {
      // The mean of each [h, w] image per channel: one 'valid' window covering it.
      const pooled = calls.call('AvgPool', { x: calls.reshape(x, [outer, h, w, inner]) }, { filterSize: [h, w], strides: 1, pad: 'valid' });
      if (!mean) {
        const values = backend.typedArrayFromHeap(pooled) as Float32Array;
        for (let i = 0; i < values.length; i++) values[i] *= reduced;
      }
      return calls.reshape(pooled, outShape);
    });
  };
  // The original's setup binds its C++ function; once unregistered, tfjs would no longer call it.
  return { kernelName: original.kernelName, backendName: 'wasm', kernelFunc, ...(original.setupFunc ? { setupFunc: original.setupFunc } : {}) };
}

export function wrapSum(original: tf.KernelConfig): tf.KernelConfig {
  return wrapReduction(original, false);
}

export function wrapMean(original: tf.KernelConfig): tf.KernelConfig {
  return wrapReduction(original, true);
}
