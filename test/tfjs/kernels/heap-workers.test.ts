/**
 * The heap tasks split into parts (src/tfjs/kernels/heap-tasks.ts) and run on the wasm backend's
 * threads (heap-workers.ts): parts cover their outputs exactly, any split gives the same bits as
 * one part, and on the threaded build the parts do run on workers while the kernels still match
 * cpu.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/tfjs/backend.js';
import { maxPoolGradPart, patchColumnsPart, patchRowsPart, transposePart } from '../../../src/tfjs/kernels/heap-tasks.js';
import type { ConvAxis } from '../../../src/tfjs/kernels/conv-geometry.js';
import { partRange } from '../../../src/tfjs/kernels/parts.js';
import { heapWorkerStats, stopHeapWorkers } from '../../../src/tfjs/kernels/heap-workers.js';
import { assertRelative, runKernelValues, seededTensor } from './helpers.js';
import { randomValues, seededRandom } from '../layers/helpers.js';

test('partRange: parts cover [0, count) once, in order, aligned where the count allows', () => {
  for (const [count, parts, align] of [[64, 2, 16], [10, 3, 1], [7, 4, 4], [3, 8, 1], [1000, 7, 16], [0, 2, 1]]) {
    let next = 0;
    for (let part = 0; part < parts; part++) {
      const [first, end] = partRange(count, part, parts, align);
      assert.equal(first, next, `${count}/${parts}/${align}: part ${part} starts at ${first}, not ${next}`);
      assert.ok(end >= first);
      if (end < count) assert.equal(end % align, 0);
      next = end;
    }
    assert.equal(next, count);
  }
});

/** Runs `task` as `parts` parts over a copy of `heap`. */
function inParts<Args>(heap: Float32Array, task: (heap: Float32Array, args: Args, part: number, parts: number) => void, args: Args, parts: number): Float32Array {
  const copy = heap.slice();
  for (let part = 0; part < parts; part++) task(copy, args, part, parts);
  return copy;
}

const axis = (input: number, kernel: number, stride: number, padBefore: number): ConvAxis => {
  const output = Math.floor((input + 2 * padBefore - kernel) / stride) + 1;
  return { input, output, kernel, stride, dilation: 1, padBefore };
};

test('every task gives the same bits in 1, 2, 3 and 5 parts', () => {
  const random = seededRandom(3);
  // MaxPoolGrad: x [2, 9, 9, 20] (with ties and negatives), 3×3 stride 2, padding 1.
  const [n, h, w, c, oh, ow] = [2, 9, 9, 20, 5, 5];
  const xSize = n * h * w * c;
  const ySize = n * oh * ow * c;
  const heap = new Float32Array(2 * xSize + 2 * ySize);
  heap.set(randomValues(xSize, random).map((v) => Math.round(v * 4) / 4));
  const y = xSize;
  const dy = xSize + ySize;
  const dx = xSize + 2 * ySize;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          let max = -Infinity;
          for (let u = 0; u < 3; u++) {
            for (let v = 0; v < 3; v++) {
              const [r, s] = [2 * i + u - 1, 2 * j + v - 1];
              if (r >= 0 && r < h && s >= 0 && s < w) max = Math.max(max, heap[((b * h + r) * w + s) * c + ch]);
            }
          }
          heap[y + ((b * oh + i) * ow + j) * c + ch] = max;
        }
      }
    }
  }
  heap.set(randomValues(ySize, random), dy);
  const pool = {
    x: 0, y, dy, dx, batch: n, inHeight: h, inWidth: w, channels: c, outHeight: oh, outWidth: ow,
    strides: [2, 2] as [number, number], dilations: [1, 1] as [number, number], window: [3, 3] as [number, number], padTop: 1, padLeft: 1,
  };
  const whole = inParts(heap, maxPoolGradPart, pool, 1);
  assert.ok(whole.subarray(dx).some((v) => v !== 0), 'the gradient reached dx');
  for (const parts of [2, 3, 5]) assert.deepEqual(inParts(heap, maxPoolGradPart, pool, parts), whole, `maxPoolGrad in ${parts} parts`);

  // Patches of x [2, 7, 6, 5], 3×3, stride 2 / 1, padding 1: as rows and as columns (planes [C, N, H, W]).
  const rows = axis(7, 3, 2, 1);
  const cols = axis(6, 3, 1, 1);
  const size = 2 * 7 * 6 * 5;
  const patchSize = 2 * rows.output * cols.output * 9 * 5;
  const source = new Float32Array(size + patchSize);
  source.set(randomValues(size, random));
  const patchArgs = { batch: 2, channels: 5, rows, cols };
  const byRows = inParts(source, patchRowsPart, { ...patchArgs, x: 0, patches: size }, 1);
  const byColumns = inParts(source, patchColumnsPart, { ...patchArgs, planes: 0, patches: size }, 1);
  for (const parts of [2, 3, 5]) {
    assert.deepEqual(inParts(source, patchRowsPart, { ...patchArgs, x: 0, patches: size }, parts), byRows, `patchRows in ${parts} parts`);
    assert.deepEqual(inParts(source, patchColumnsPart, { ...patchArgs, planes: 0, patches: size }, parts), byColumns, `patchColumns in ${parts} parts`);
  }

  // Transposes: parts over outer indices ([3, 1, 2, 0] of a batch), over tile rows (one 2-D
  // transpose, no outer index), row copies (innermost axis stays), and a plain copy.
  for (const [shape, perm] of [[[4, 5, 6, 40], [3, 1, 2, 0]], [[70, 45], [1, 0]], [[3, 4, 5, 6], [1, 0, 2, 3]], [[3, 1, 50], [1, 0, 2]]]) {
    const count = shape.reduce((n, d) => n * d, 1);
    const values = new Float32Array(2 * count);
    values.set(randomValues(count, random));
    const args = { x: 0, out: count, shape, perm };
    const whole = inParts(values, transposePart, args, 1);
    assert.deepEqual(Array.from(whole.subarray(count)).sort(), Array.from(values.subarray(0, count)).sort(), `[${shape}] by [${perm}] moves every value`);
    for (const parts of [2, 3, 5]) assert.deepEqual(inParts(values, transposePart, args, parts), whole, `transpose [${shape}] by [${perm}] in ${parts} parts`);
  }
});

test('on the threaded wasm build the parts run on workers, and the kernels still match cpu', async () => {
  const poolCase = () =>
    tf.tidy(() => {
      const input = tf.relu(seededTensor([4, 17, 17, 48], 5));
      const output = tf.maxPool(input as tf.Tensor4D, 3, 2, 'valid');
      return runKernelValues(tf.MaxPoolGrad, { dy: seededTensor(output.shape, 6), input, output }, { filterSize: 3, strides: 2, pad: 'valid' })[0];
    });
  const im2colCase = () =>
    tf.tidy(() =>
      runKernelValues(tf.Conv2DBackpropFilter, { x: seededTensor([2, 9, 9, 32], 7), dy: seededTensor([2, 9, 9, 128], 8) }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 32, 128] })[0],
    );
  await useBackend('cpu');
  const cpu = [poolCase(), im2colCase()];
  await useBackend('wasm', { threads: 2 });
  const before = heapWorkerStats();
  assert.equal(before.threads, 2);
  assert.equal(before.ready, 1, 'the worker has loaded by the time useBackend returns');
  assertRelative(poolCase(), cpu[0], 'MaxPoolGrad on 2 threads');
  assertRelative(im2colCase(), cpu[1], 'im2col filter gradient on 2 threads');
  assert.ok(heapWorkerStats().partsOnWorkers > before.partsOnWorkers, 'no part ran on a worker');
  // Without workers (stopped; a new pool loads in the background) the calling thread does every part.
  stopHeapWorkers();
  assertRelative(poolCase(), cpu[0], 'MaxPoolGrad with the workers stopped');
  stopHeapWorkers();
});
