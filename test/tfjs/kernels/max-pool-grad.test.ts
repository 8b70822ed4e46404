/**
 * graft's wasm MaxPoolGrad against the cpu backend's: all-negative windows (where tfjs-wasm's own
 * kernel sends the gradient to the wrong cell), ties (first cell wins on cpu), −∞ padding as
 * GraftPooling2D adds it, 'same'/'valid', stride 1 and 2.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertRelative, onCpuAndWasm, runKernelValues, seededTensor } from './helpers.js';

type Pair = [number, number];

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  window: Pair;
  strides: Pair;
  pad: 'same' | 'valid' | number;
  /** Builds the input from seeded values in [−1, 1). */
  input: (values: tf.Tensor) => tf.Tensor;
}

const shiftedNegative = (v: tf.Tensor) => tf.sub(v, 2);
/** Values from {−1, −0.5, 0, 0.5}: many exact ties in every window. */
const tied = (v: tf.Tensor) => tf.div(tf.floor(tf.mul(v, 2)), 2);
/** Random values with a block of −∞ rows, so that some windows hold only −∞. */
const withMinusInfinity = (v: tf.Tensor) => {
  const [n, h, w, c] = v.shape;
  const rowIndex = tf.reshape(tf.range(0, h), [1, h, 1, 1]);
  return tf.where(tf.broadcastTo(tf.less(rowIndex, 2), [n, h, w, c]), tf.fill(v.shape, -Infinity), v);
};

/** Random values with NaN in every seventh cell. */
const withNaN = (v: tf.Tensor) => {
  const index = tf.reshape(tf.range(0, v.size), v.shape);
  return tf.where(tf.equal(tf.mod(index, 7), 3), tf.fill(v.shape, NaN), v);
};

const CASES: PoolCase[] = [
  { name: 'all negative, 3×3 stride 2 valid', x: [2, 9, 9, 3], window: [3, 3], strides: [2, 2], pad: 'valid', input: shiftedNegative },
  { name: 'all negative, 3×3 stride 2 same', x: [2, 8, 8, 5], window: [3, 3], strides: [2, 2], pad: 'same', input: shiftedNegative },
  { name: 'all negative, 2×2 stride 1 same', x: [1, 7, 6, 4], window: [2, 2], strides: [1, 1], pad: 'same', input: shiftedNegative },
  { name: 'mixed signs, 2×2 stride 2 valid', x: [2, 8, 8, 3], window: [2, 2], strides: [2, 2], pad: 'valid', input: (v) => v },
  { name: 'mixed signs, 3×2 strides [1, 2], numeric pad', x: [1, 7, 8, 2], window: [3, 2], strides: [1, 2], pad: 1, input: (v) => v },
  { name: 'ties, 3×3 stride 1 same', x: [2, 6, 6, 3], window: [3, 3], strides: [1, 1], pad: 'same', input: tied },
  { name: 'ties, 2×2 stride 2 valid', x: [1, 6, 6, 4], window: [2, 2], strides: [2, 2], pad: 'valid', input: tied },
  { name: 'windows of only −∞', x: [1, 6, 6, 2], window: [2, 2], strides: [2, 2], pad: 'valid', input: withMinusInfinity },
  // NaN never wins on cpu; wasm's forward max may be NaN there, which no cell equals: the fallback scan.
  { name: 'windows with NaN', x: [1, 6, 6, 3], window: [3, 3], strides: [2, 2], pad: 'same', input: withNaN },
  // After a ReLU: most windows hold zeros, many only zeros (ties at 0).
  { name: 'ReLU output, 3×3 stride 2 valid', x: [2, 9, 9, 4], window: [3, 3], strides: [2, 2], pad: 'valid', input: (v) => tf.relu(v) },
];

function maxPoolGradient(c: PoolCase): Float32Array {
  return tf.tidy(() => {
    const input = c.input(seededTensor(c.x, 11));
    const output = tf.maxPool(input as tf.Tensor4D, c.window, c.strides, c.pad);
    const dy = seededTensor(output.shape, 12);
    const attrs = { filterSize: c.window, strides: c.strides, pad: c.pad };
    return runKernelValues(tf.MaxPoolGrad, { dy, input, output }, attrs)[0];
  });
}

test('MaxPoolGrad on wasm matches cpu, including all-negative windows, ties and −∞', async () => {
  for (const c of CASES) {
    const { cpu, wasm } = await onCpuAndWasm(() => maxPoolGradient(c));
    assertRelative(wasm, cpu, c.name);
  }
});

test('gradient through tf.maxPool of an all-negative input on wasm matches cpu', async () => {
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.tidy(() => {
      const x = tf.sub(seededTensor([2, 7, 7, 4], 13), 1.5);
      const f = (v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, 3, 2, 'same'), seededTensor([2, 4, 4, 4], 14)));
      return tf.grad(f)(x).dataSync() as Float32Array;
    }),
  );
  assertRelative(wasm, cpu, 'd/dx maxPool');
});
