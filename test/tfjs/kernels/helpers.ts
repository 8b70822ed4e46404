/** Shared by the wasm kernel tests: seeded tensors, running on both backends, comparing to cpu. */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { useBackend } from '../../../src/tfjs/backend.js';
import { relativeError } from '../../helpers.js';
import { randomValues, seededRandom } from '../layers/helpers.js';

/** The acceptance bound: max |wasm − cpu| / max |cpu| per tensor. */
export const TOLERANCE = 1e-4;

/** Uniform in [−1, 1), the same values on every backend for the same seed. */
export function seededTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(tf.util.sizeFromShape(shape), seededRandom(seed)), shape);
}

/** Runs `compute` on the cpu backend, then on wasm (with graft's kernels), returning both. */
export async function onCpuAndWasm<T>(compute: () => T): Promise<{ cpu: T; wasm: T }> {
  await useBackend('cpu');
  const cpu = compute();
  await useBackend('wasm');
  const wasm = compute();
  return { cpu, wasm };
}

/** A kernel's output(s) as plain arrays, the tensors disposed. */
export function runKernelValues(name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): Float32Array[] {
  const out = tf.engine().runKernel(name, inputs, attrs) as tf.Tensor | tf.Tensor[];
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => t.dataSync() as Float32Array);
  tf.dispose(list);
  return values;
}

export function assertRelative(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = TOLERANCE): number {
  const error = relativeError(actual, expected);
  assert.ok(error <= tolerance, `${what}: relative error ${error.toExponential(2)} > ${tolerance}`);
  return error;
}

/** Buffers the wasm backend holds, whether or not the engine tracks them as tensors. */
export function wasmDataIds(): number {
  return (tf.engine().findBackend('wasm') as BackendWasm).numDataIds();
}
