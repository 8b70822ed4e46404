/**
 * The micro-batch chosen for the wasm heap: a step whose tape would not fit in 4 GiB is split
 * into equal passes; small models and other backends keep the whole batch.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/tfjs/backend.js';
import { chooseMicroBatch, outputFloatsPerExample } from '../../src/train/memory.js';
import { probeWebGpuIsolated, webgpuAdapter } from '../../src/tfjs/webgpu.js';

const probe = await probeWebGpuIsolated();
const noGpu = probe.ok ? false : `no WebGPU here: ${probe.reason} (.ci/get-lavapipe.sh provides a software one)`;

before(async () => {
  await useBackend('wasm', { threads: 1 });
});

function convNet(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  const conv = tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 2 }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

test('outputFloatsPerExample sums every layer output but the input', () => {
  const model = convNet(32);
  assert.equal(outputFloatsPerExample(model), 32 * 32 * 64 + 64 + 2);
  model.dispose();
});

test('a step too large for the wasm heap is split into equal passes; a small one is not', () => {
  // 512² × 64 floats × 13 bytes = 218 MB per example: 14 fit in 0.85 × 4 GiB less the 512 MiB reserve.
  const large = convNet(512);
  assert.equal(chooseMicroBatch(large, 14), 14);
  assert.equal(chooseMicroBatch(large, 32), 11, '32 over a limit of 14: three passes of at most 11');
  assert.equal(chooseMicroBatch(large, 15), 8, '15 over a limit of 14: two passes of 8 and 7, not 14 and 1');
  assert.equal(chooseMicroBatch(large, 32, 4), 4, 'an explicit --micro-batch wins');
  assert.equal(chooseMicroBatch(large, 2, 4), 2, 'never more than the batch');
  assert.throws(() => chooseMicroBatch(large, 32, 0), /--micro-batch must be a whole number ≥ 1, not 0/);
  large.dispose();
  const small = convNet(32);
  assert.equal(chooseMicroBatch(small, 256), 256);
  small.dispose();
});

test('other backends keep the whole batch', async () => {
  const large = convNet(512);
  await useBackend('cpu');
  try {
    assert.equal(chooseMicroBatch(large, 32), 32);
  } finally {
    await useBackend('wasm', { threads: 1 });
    large.dispose();
  }
});

test('on WebGPU, a pass keeps every layer output under the adapter\'s binding limit', { skip: noGpu }, async () => {
  const large = convNet(512);
  await useBackend('webgpu');
  try {
    const limit = webgpuAdapter()!.maxBindingBytes;
    // conv output: 512² × 64 floats = 64 MiB per example.
    const fits = Math.floor(limit / (512 * 512 * 64 * 4));
    const micro = chooseMicroBatch(large, 64);
    assert.ok(micro <= fits && micro >= 1, `${micro} examples per pass, ${fits} fit under ${limit} bytes`);
    assert.equal(micro, Math.ceil(64 / Math.ceil(64 / fits)), 'equal passes');
  } finally {
    await useBackend('wasm', { threads: 1 });
    large.dispose();
  }
});
