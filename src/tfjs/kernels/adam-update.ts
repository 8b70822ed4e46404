/**
 * One Adam step for one variable as a single wasm-heap pass (kernel 'GraftAdamUpdate'): tfjs's
 * AdamOptimizer runs ten element-wise kernels per variable, each a full pass over a new tensor,
 * on one thread: 100 ms per step for VGG16's fc7 (16.8 M weights) in the Chainer seed's cached
 * epochs, 40% of the step (bench: a cached-feature step, 236 ms). Here w, g, m and v are read once
 * and w', m', v' written once.
 *
 * Same formula and order as tfjs-core 4.22's AdamOptimizer.applyGradients:
 *   m' = β1·m + (1−β1)·g;  v' = β2·v + (1−β2)·g²;  w' = w − lr · (m'/(1−β1ᵗ)) / (√(v'/(1−β2ᵗ)) + ε)
 * evaluated in double precision and stored as float32 (tfjs rounds each intermediate to float32;
 * the two differ by float32 rounding, ~1e-7 relative).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const ADAM_UPDATE = 'GraftAdamUpdate';

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ for this step t (the bias corrections). */
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
}

/** w, g, m, v → w', m', v' (all float32, one length). */
export function adamUpdateValues(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, out: { w: Float32Array; m: Float32Array; v: Float32Array }, a: AdamUpdateAttrs): void {
  const { beta1, beta2, epsilon, learningRate } = a;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  // One division per element: the bias corrections as factors.
  const step = learningRate / Math.fround(a.oneMinusAccBeta1);
  const r2 = 1 / Math.fround(a.oneMinusAccBeta2);
  const ow = out.w;
  const om = out.m;
  const ov = out.v;
  const n = w.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    const mi = m[i] * beta1 + gi * c1;
    const vi = v[i] * beta2 + gi * gi * c2;
    om[i] = mi;
    ov[i] = vi;
    ow[i] = w[i] - (step * mi) / (Math.sqrt(vi * r2) + epsilon);
  }
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { w, g, m, v } = inputs as { w: tf.TensorInfo; g: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
    const wasm = backend as BackendWasm;
    for (const t of [w, g, m, v]) {
      if (t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, w.shape)) throw new Error(`graft wasm ${ADAM_UPDATE}: float32 tensors of one shape expected`);
    }
    const outputs = [wasm.makeOutput(w.shape, 'float32'), wasm.makeOutput(w.shape, 'float32'), wasm.makeOutput(w.shape, 'float32')];
    // Views are taken after every makeOutput: an allocation may grow the heap and detach older views.
    const view = (t: tf.TensorInfo) => wasm.typedArrayFromHeap(t) as Float32Array;
    adamUpdateValues(view(w), view(g), view(m), view(v), { w: view(outputs[0]), m: view(outputs[1]), v: view(outputs[2]) }, attrs as unknown as AdamUpdateAttrs);
    return outputs;
  },
};
