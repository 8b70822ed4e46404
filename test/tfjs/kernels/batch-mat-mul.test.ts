/**
 * graft's wasm BatchMatMul (explicit transposes, one fast product per batch item) against cpu:
 * every transpose combination, batches, broadcast batches, and the shapes it leaves to tfjs.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertRelative, onCpuAndWasm, seededTensor } from './helpers.js';

interface MatMulCase {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const CASES: MatMulCase[] = [];
// [M, K, N]: the last two make one transposed side cheaper to move as the result instead, so
// the kernel computes (bᵀ·aᵀ)ᵀ there (a Dense layer's dx = dy·wᵀ with a small batch).
const SIZES = [
  [5, 7, 4],
  [2, 7, 9],
  [9, 7, 2],
];
for (const [m, k, n] of SIZES) {
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      const a = (batch: number[]) => [...batch, ...(transposeA ? [k, m] : [m, k])];
      const b = (batch: number[]) => [...batch, ...(transposeB ? [n, k] : [k, n])];
      CASES.push(
        { a: a([]), b: b([]), transposeA, transposeB },
        { a: a([3]), b: b([3]), transposeA, transposeB },
        { a: a([1]), b: b([3]), transposeA, transposeB },
        { a: a([2, 3]), b: b([]), transposeA, transposeB },
        // Items do not line up (the output batch is 2×3 from [2, 1] and [3]): left to tfjs's kernel.
        { a: a([2, 1]), b: b([3]), transposeA, transposeB },
      );
    }
  }
}

test('BatchMatMul on wasm matches cpu for every transpose flag and batch layout', async () => {
  for (const c of CASES) {
    const { cpu, wasm } = await onCpuAndWasm(() =>
      tf.tidy(() => {
        const product = tf.matMul(seededTensor(c.a, 21), seededTensor(c.b, 22), c.transposeA, c.transposeB);
        return { shape: product.shape, values: product.dataSync() as Float32Array };
      }),
    );
    const what = `[${c.a}]${c.transposeA ? 'ᵀ' : ''} · [${c.b}]${c.transposeB ? 'ᵀ' : ''}`;
    if (wasm.shape.join() !== cpu.shape.join()) throw new Error(`${what}: shape [${wasm.shape}] vs cpu [${cpu.shape}]`);
    assertRelative(wasm.values, cpu.values, what);
  }
});

test('dense layer gradients (transposed products) on wasm match cpu', async () => {
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.tidy(() => {
      const x = seededTensor([6, 10], 23);
      const w = seededTensor([10, 8], 24);
      const f = (xv: tf.Tensor, wv: tf.Tensor) => tf.sum(tf.mul(tf.matMul(xv, wv), seededTensor([6, 8], 25)));
      return tf.grads(f)([x, w]).map((g) => g.dataSync() as Float32Array);
    }),
  );
  assertRelative(wasm[0], cpu[0], 'dx');
  assertRelative(wasm[1], cpu[1], 'dw');
});
