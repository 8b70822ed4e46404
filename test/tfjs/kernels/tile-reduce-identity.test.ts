/**
 * graft's wasm Tile (block copies), Sum/Mean (one pass over non-innermost axes) and Identity
 * (shared data) against the cpu backend, and the BatchNorm training gradient that uses all three.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/tfjs/backend.js';
import { transposeValues } from '../../../src/tfjs/kernels/transpose.js';
import { assertRelative, onCpuAndWasm, seededTensor, wasmDataIds } from './helpers.js';

const TILE_CASES: { shape: number[]; reps: number[] }[] = [
  { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1] },
  { shape: [2, 3], reps: [3, 2] },
  { shape: [4], reps: [5] },
  { shape: [2, 1, 3], reps: [1, 4, 1] },
  { shape: [3, 2, 2, 2], reps: [2, 1, 3, 2] },
  { shape: [2, 3, 4], reps: [1, 1, 1] },
  { shape: [1, 7], reps: [1, 0] },
  { shape: [2, 2, 3, 1, 2], reps: [2, 3, 1, 2, 2] },
];

test('Tile on wasm matches cpu (float32, int32, bool)', async () => {
  for (const c of TILE_CASES) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const { cpu, wasm } = await onCpuAndWasm(() =>
        tf.tidy(() => {
          // (wasm's own Cast to bool keeps the low byte of the value: greater() makes clean booleans.)
          const values = seededTensor(c.shape, 1);
          const x = dtype === 'float32' ? values : dtype === 'bool' ? tf.greater(values, 0) : tf.cast(tf.mul(values, 5), dtype);
          const y = tf.tile(x, c.reps);
          return { shape: y.shape, values: Array.from(y.dataSync()) };
        }),
      );
      assert.deepEqual(wasm.shape, cpu.shape, `[${c.shape}] × [${c.reps}] ${dtype}: shape`);
      assert.deepEqual(wasm.values, cpu.values, `[${c.shape}] × [${c.reps}] ${dtype}`);
    }
  }
});

const REDUCE_CASES: { shape: number[]; axis: number | number[] }[] = [
  { shape: [4, 6, 5, 7], axis: [0, 1, 2] },
  { shape: [4, 6, 5, 7], axis: [1, 2] },
  { shape: [4, 6, 5, 7], axis: [0] },
  { shape: [4, 6, 5, 7], axis: [2, 1] },
  { shape: [4, 6, 5, 7], axis: [3] },
  { shape: [4, 6, 5, 7], axis: [0, 2] },
  { shape: [4, 6, 5, 7], axis: [-2, -3] },
  { shape: [4, 6, 5, 7], axis: [0, 1, 2, 3] },
  { shape: [300, 17], axis: 0 },
  { shape: [3, 1, 2], axis: [1] },
  // A prime run: a 1009×1 pooling window.
  { shape: [1009, 6], axis: 0 },
  { shape: [2, 13, 17, 5], axis: [1, 2] },
];

test('Sum and Mean on wasm match cpu over every axis pattern, with and without keepDims', async () => {
  for (const c of REDUCE_CASES) {
    for (const keepDims of [false, true]) {
      for (const op of ['sum', 'mean'] as const) {
        const { cpu, wasm } = await onCpuAndWasm(() =>
          tf.tidy(() => {
            const y = tf[op](seededTensor(c.shape, 2), c.axis, keepDims);
            return { shape: y.shape, values: y.dataSync() as Float32Array };
          }),
        );
        const what = `${op} [${c.shape}] over ${JSON.stringify(c.axis)}${keepDims ? ', keepDims' : ''}`;
        assert.deepEqual(wasm.shape, cpu.shape, `${what}: shape`);
        assertRelative(wasm.values, cpu.values, what);
      }
    }
  }
});

test('Sum and Mean over N, H, W of a large NHWC tensor: accurate, nothing left on the heap', async () => {
  const shape = [8, 40, 40, 24];
  for (const op of ['sum', 'mean'] as const) {
    const { cpu, wasm } = await onCpuAndWasm(() => tf.tidy(() => tf[op](tf.add(seededTensor(shape, 9), 0.25), [0, 1, 2]).dataSync() as Float32Array));
    assertRelative(wasm, cpu, `${op} over [0, 1, 2] of [${shape}]`);
  }
  await useBackend('wasm');
  const x = seededTensor(shape, 10);
  const before = wasmDataIds();
  for (let i = 0; i < 3; i++) tf.dispose([tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1])]);
  assert.equal(wasmDataIds(), before, 'buffers left behind');
  x.dispose();
});

test('Sum and Mean over leading axes of many channels (where wasm\'s AvgPool traps) match cpu', async () => {
  // Each of these aborted the process with "memory access out of bounds" through the pooling path.
  for (const shape of [[8, 32768], [16, 32768], [8, 24576]]) {
    for (const op of ['sum', 'mean'] as const) {
      const { cpu, wasm } = await onCpuAndWasm(() => tf.tidy(() => tf[op](seededTensor(shape, 4), 0).dataSync() as Float32Array));
      assertRelative(wasm, cpu, `${op} over axis 0 of [${shape}]`);
    }
  }
});

test('Sum of int32 over leading axes is left to tfjs and stays int32', async () => {
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.tidy(() => {
      const y = tf.sum(tf.cast(tf.mul(seededTensor([3, 4, 5], 3), 10), 'int32'), [0, 1]);
      return { dtype: y.dtype, values: Array.from(y.dataSync()) };
    }),
  );
  assert.deepEqual(wasm, cpu);
});

test('Identity on wasm shares its input and frees nothing early', async () => {
  await useBackend('wasm');
  const before = wasmDataIds();
  const x = seededTensor([3, 4], 4);
  const expected = Array.from(x.dataSync());
  const y = tf.engine().runKernel(tf.Identity, { x }) as tf.Tensor;
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), expected, 'values after the input is disposed');
  y.dispose();
  assert.equal(wasmDataIds(), before, 'buffers left behind');
});

test('BatchNorm in training mode (moments + batchNorm): gradients on wasm match cpu', async () => {
  const shape = [3, 5, 6, 4];
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.tidy(() => {
      const x = seededTensor(shape, 5);
      const gamma = tf.add(seededTensor([4], 6), 1.5);
      const beta = seededTensor([4], 7);
      const dy = seededTensor(shape, 8);
      const f = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(xv, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(xv, mean, variance, b, g, 1e-5), dy));
      };
      return tf.grads(f)([x, gamma, beta]).map((g) => g.dataSync() as Float32Array);
    }),
  );
  ['dx', 'dgamma', 'dbeta'].forEach((name, i) => assertRelative(wasm[i], cpu[i], name));
});

const TRANSPOSE_CASES: { shape: number[]; perm: number[] }[] = [
  { shape: [70, 45], perm: [1, 0] },
  { shape: [3, 40, 37, 5], perm: [3, 1, 2, 0] },
  { shape: [3, 4, 5, 6], perm: [1, 2, 0, 3] },
  { shape: [2, 3, 4, 5], perm: [0, 1, 3, 2] },
  { shape: [2, 1, 4, 5], perm: [3, 1, 0, 2] },
  { shape: [2, 3, 4, 5, 6], perm: [4, 2, 0, 3, 1] },
  { shape: [7, 1, 1], perm: [2, 0, 1] },
  { shape: [2, 3], perm: [0, 1] },
  { shape: [0, 3], perm: [1, 0] },
  { shape: [5], perm: [0] },
  // Long enough on both sides for the tiled path (tiledTransposePays), incl. merged outer axes.
  { shape: [2, 40, 33], perm: [0, 2, 1] },
  { shape: [2, 3, 40, 33], perm: [1, 0, 3, 2] },
  { shape: [33, 2, 40], perm: [2, 1, 0] },
];

test('Transpose on wasm matches cpu (float32, int32, bool), with merged and size-1 axes', async () => {
  for (const c of TRANSPOSE_CASES) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const { cpu, wasm } = await onCpuAndWasm(() =>
        tf.tidy(() => {
          const values = seededTensor(c.shape, 12);
          const x = dtype === 'float32' ? values : dtype === 'bool' ? tf.greater(values, 0) : tf.cast(tf.mul(values, 100), dtype);
          const y = tf.transpose(x, c.perm);
          return { shape: y.shape, values: Array.from(y.dataSync()) };
        }),
      );
      assert.deepEqual(wasm, cpu, `[${c.shape}] perm [${c.perm}] ${dtype}`);
    }
  }
});

test('a wasm kernel that transposes internally (Max over axis 0) still works', async () => {
  const { cpu, wasm } = await onCpuAndWasm(() => tf.tidy(() => tf.max(seededTensor([6, 5, 4], 13), [0, 1]).dataSync() as Float32Array));
  assertRelative(wasm, cpu, 'max over [0, 1]');
});

test('transposeValues (every path, incl. the row copies left to wasm) matches tf.transpose on cpu', async () => {
  await useBackend('cpu');
  for (const c of TRANSPOSE_CASES.filter((t) => t.shape.every((d) => d > 0))) {
    const x = seededTensor(c.shape, 14);
    const expected = tf.transpose(x, c.perm).dataSync() as Float32Array;
    const actual = new Float32Array(expected.length);
    transposeValues(x.dataSync() as Float32Array, actual, c.shape, c.perm);
    assert.deepEqual(Array.from(actual), Array.from(expected), `[${c.shape}] perm [${c.perm}]`);
    x.dispose();
  }
});
