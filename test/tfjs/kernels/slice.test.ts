/**
 * graft's wasm Slice (rows moved inside the heap, trailing whole axes merged) against the cpu
 * backend, and the Pad gradient that uses it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { onCpuAndWasm, seededTensor } from './helpers.js';

const CASES: { shape: number[]; begin: number[]; size: number[] }[] = [
  // A Pad gradient: every spatial border dropped, channels whole (rows of 64: copyWithin).
  { shape: [2, 9, 9, 64], begin: [0, 1, 1, 0], size: [2, 7, 7, 64] },
  // Rows of 3 (the element loop), and of 1.
  { shape: [2, 10, 10, 3], begin: [0, 3, 3, 0], size: [2, 4, 4, 3] },
  { shape: [5, 7], begin: [1, 2], size: [3, 1] },
  // Whole trailing axes merged into long rows; a slice along the first axis only is contiguous.
  { shape: [3, 4, 5, 6], begin: [0, 1, 0, 0], size: [3, 2, 5, 6] },
  { shape: [3, 4, 5, 6], begin: [1, 0, 0, 0], size: [2, 4, 5, 6] },
  // The innermost axis cut; rank 5; a size-1 box; -1 meaning "to the end".
  { shape: [2, 3, 4, 5, 6], begin: [1, 0, 1, 2, 1], size: [1, 3, 2, 2, 4] },
  { shape: [4, 4, 4], begin: [2, 3, 1], size: [1, 1, 1] },
  { shape: [6, 30], begin: [2, 4], size: [-1, -1] },
];

test('Slice on wasm matches cpu (float32, int32, bool), contiguous or not', async () => {
  for (const c of CASES) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const { cpu, wasm } = await onCpuAndWasm(() =>
        tf.tidy(() => {
          const values = seededTensor(c.shape, 3);
          const x = dtype === 'float32' ? values : dtype === 'bool' ? tf.greater(values, 0) : tf.cast(tf.mul(values, 100), dtype);
          const y = tf.slice(x, c.begin, c.size);
          return { shape: y.shape, values: Array.from(y.dataSync()) };
        }),
      );
      assert.deepEqual(wasm.shape, cpu.shape, `[${c.shape}] ${c.begin} ${c.size} ${dtype}: shape`);
      assert.deepEqual(wasm.values, cpu.values, `[${c.shape}] ${c.begin} ${c.size} ${dtype}`);
    }
  }
});

test('the gradient of a Pad (a Slice of dy) on wasm matches cpu', async () => {
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.tidy(() => {
      const x = seededTensor([2, 6, 6, 8], 5);
      const dy = seededTensor([2, 8, 8, 8], 6);
      const dx = tf.grad((input: tf.Tensor) => tf.pad(input, [[0, 0], [1, 1], [1, 1], [0, 0]]))(x, dy);
      return { shape: dx.shape, values: Array.from(dx.dataSync()) };
    }),
  );
  assert.deepEqual(wasm, cpu);
});
