/**
 * graft's wasm SIMD kernels (src/tfjs/kernels/simd/kernels.wat, compiled at build time) on both
 * tfjs-backend-wasm builds: they load on the single-threaded build's memory and on the threaded
 * build's shared one, and the depthwise filter gradient they compute matches cpu on each (one
 * part, and parts on the heap workers).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { useBackend } from '../../../src/tfjs/backend.js';
import { heapSimd, heapWorkerStats } from '../../../src/tfjs/kernels/heap-workers.js';
import { assertRelative, runKernelValues, seededTensor } from './helpers.js';

/** [x shape, strides, pad] of depthwise 3×3 convolutions with multiplier 1. */
const CASES: [[number, number, number, number], number, 'same' | 'valid'][] = [
  [[5, 12, 11, 16], 1, 'same'],
  [[4, 13, 13, 36], 2, 'valid'],
  [[2, 9, 9, 4], 2, 'same'],
];

function filterGradients(): Float32Array[] {
  return CASES.map(([shape, strides, pad]) =>
    tf.tidy(() => {
      const info = tf.backend_util.computeConv2DInfo(shape, [3, 3, shape[3], 1], strides, 1, pad, undefined, true);
      const x = seededTensor(shape, 21);
      const dy = seededTensor(info.outShape, 22);
      return runKernelValues(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { strides, pad, dilations: 1, filterShape: [3, 3, shape[3], 1] })[0];
    }),
  );
}

test('the SIMD depthwise filter gradient runs on the single-threaded and the threaded build and matches cpu', async () => {
  await useBackend('cpu');
  const cpu = filterGradients();
  for (const threads of [1, 2]) {
    await useBackend('wasm', { threads });
    assert.equal(heapSimd(tf.backend() as BackendWasm), true, `the SIMD kernels do not load on the ${threads}-thread build`);
    const before = heapWorkerStats().partsOnWorkers;
    const wasm = filterGradients();
    wasm.forEach((values, i) => assertRelative(values, cpu[i], `[${CASES[i][0]}] stride ${CASES[i][1]} ${CASES[i][2]} on ${threads} thread(s)`));
    if (threads > 1) assert.ok(heapWorkerStats().partsOnWorkers > before, 'no part ran on a worker');
    // Back to cpu so that the next start of wasm holds no tensors and may change its thread count.
    await useBackend('cpu');
  }
});
