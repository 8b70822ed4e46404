/**
 * `--backend webgpu` under Node (src/tfjs/webgpu.ts) on whatever adapter Dawn finds: a GPU, or in
 * CI Mesa 25's lavapipe (software Vulkan, .ci/get-lavapipe.sh exports where it is). Where there is
 * no adapter (the `webgpu` package absent, no Vulkan driver, Debian 12's own lavapipe 22.3), every
 * test here is reported as skipped, with the reason.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GraftError, UsageError } from '../../src/errors.js';
import { trainModel } from '../../src/train/finetune.js';
import { backendInfo, describeBackend, useBackend } from '../../src/tfjs/backend.js';
import { predictImages } from '../../src/tfjs/predict.js';
import { checkGpuErrors, checkGpuLimits, probeWebGpuIsolated } from '../../src/tfjs/webgpu.js';
import { makeImageFolder, type ImageFolderInfo } from '../train/fixtures.js';

const probe = await probeWebGpuIsolated();
const skip = probe.ok ? false : `no WebGPU here: ${probe.reason} (.ci/get-lavapipe.sh provides a software one)`;
const work = mkdtempSync(path.join(tmpdir(), 'graft-webgpu-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const SPEC = {
  name: 'tiny_cnn',
  input: { shape: [1, 1, 12, 12], channelOrder: 'GRAY', scale: 1 / 255 },
  layers: [
    { type: 'Conv2d', name: 'conv1', out_channels: 4, kernel_size: 3, padding: 1 },
    { type: 'ReLU' },
    { type: 'MaxPool2d', kernel_size: 2 },
    { type: 'Flatten' },
    { type: 'Linear', name: 'fc', out_features: 3 },
  ],
};

let images: ImageFolderInfo;
before(async () => {
  if (!skip) images = await makeImageFolder(path.join(work, 'images'), 6, 5);
});

test('--backend webgpu computes on the adapter and names it in the backend line', { skip }, async () => {
  assert.equal(await useBackend('webgpu'), 'webgpu');
  const info = backendInfo();
  assert.equal(info.threads, null);
  assert.ok(info.adapter && info.adapter.maxBindingBytes > 0);
  assert.match(describeBackend(), /^webgpu \(.+\)$/);
  // The CLI's predict and evaluate pass only name and threads: the running adapter is filled in.
  assert.equal(describeBackend({ name: 'webgpu', threads: null }), describeBackend());
  if (info.adapter.software) assert.match(describeBackend(), /; software\)$/);
  const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2]));
  assert.deepEqual(Array.from(await product.data()), [19, 22, 43, 50]);
  product.dispose();
});

test('--backend auto never picks a software adapter', { skip: skip || (probe.ok && !probe.adapter.software ? 'the adapter here is hardware: auto may take it' : false) }, async () => {
  assert.notEqual(await useBackend('auto'), 'webgpu');
});

test('a WebGPU start that fails leaves tfjs on the backend it had, and a later start works', { skip }, async () => {
  await useBackend('webgpu');
  await useBackend('wasm');
  // Forget the running backend and make the adapter vanish: the factory then fails.
  tf.removeBackend('webgpu');
  const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter: unknown } } }).navigator.gpu;
  const requestAdapter = gpu.requestAdapter;
  Object.defineProperty(gpu, 'requestAdapter', { value: async () => null, configurable: true, writable: true });
  const warn = console.warn;
  console.warn = () => undefined; // tfjs's "Initialization of backend webgpu failed"
  try {
    await assert.rejects(useBackend('webgpu'), (error: Error) => error instanceof UsageError && /could not start/.test(error.message));
  } finally {
    console.warn = warn;
    delete (gpu as { requestAdapter?: unknown }).requestAdapter;
    if (gpu.requestAdapter !== requestAdapter) Object.defineProperty(gpu, 'requestAdapter', { value: requestAdapter, configurable: true, writable: true });
  }
  assert.equal(tf.getBackend(), 'wasm');
  const sum = tf.add(tf.scalar(1), tf.scalar(2));
  assert.equal((await sum.data())[0], 3);
  sum.dispose();
  assert.equal(await useBackend('webgpu'), 'webgpu');
});

test('weights and activations over the binding limit are refused before running, in one line', { skip }, async () => {
  await useBackend('webgpu');
  const limit = backendInfo().adapter!.maxBindingBytes;
  // Only shapes are read: nothing that large is allocated.
  const huge = { layers: [{ name: 'fc6', weights: [{ name: 'fc6/kernel', shape: [Math.floor(limit / 4) + 1] }], outputShape: [null, 10] }] };
  assert.throws(() => checkGpuLimits(huge as unknown as tf.LayersModel, 1), (error: Error) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /^weight fc6\/kernel is \d+ MiB, more than this GPU binds at once \(maxStorageBufferBindingSize \d+ MiB\): use --backend wasm$/);
    return true;
  });
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [1024], units: 1024, name: 'wide' })] });
  try {
    checkGpuLimits(model, 8);
    const batch = Math.floor(limit / 4096) + 1;
    assert.throws(() => checkGpuLimits(model, batch), (error: Error) => {
      assert.ok(error instanceof UsageError);
      assert.doesNotMatch(error.message, /\n/);
      assert.match(error.message, new RegExp(`^the output of layer wide for ${batch} examples is .*: at most ${batch - 1} examples at a time fit \\(--micro-batch ${batch - 1} when training, fewer images per call when predicting\\), or use --backend wasm$`));
      return true;
    });
  } finally {
    model.dispose();
  }
});

test('an uncaptured GPU error (a tensor over the binding limit) stops the run with one line', { skip }, async (t) => {
  await useBackend('webgpu');
  const limit = backendInfo().adapter!.maxBindingBytes;
  if (limit > 512 * 2 ** 20) return t.skip(`the binding limit here is ${limit} bytes: too much memory to exceed it in a test`);
  checkGpuErrors();
  const big = tf.fill([limit / 4 + 1024], 1);
  const total = big.sum();
  await total.data(); // zeros or garbage: Dawn does not throw, it reports on the device
  tf.dispose([big, total]);
  assert.throws(checkGpuErrors, (error: Error) => {
    assert.ok(error instanceof GraftError);
    assert.match(error.message, /^WebGPU error, stopping: .*(binding size|larger than)/i);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
  checkGpuErrors(); // reported once
  // The device is still usable for what fits.
  const small = tf.tensor1d([1, 2, 3]).sum();
  assert.equal((await small.data())[0], 6);
  small.dispose();
});

test('a model trained with --backend webgpu saves, reloads on wasm and predicts the same classes; predict leaks no tensors', { skip }, async () => {
  const spec = path.join(work, 'cnn.json');
  writeFileSync(spec, JSON.stringify(SPEC));
  const out = path.join(work, 'run');
  const lines: string[] = [];
  const summary = await trainModel({
    arch: spec, data: images.root, out, backend: 'webgpu', epochs: 3, batchSize: 6, valSplit: 0.25, seed: 4,
    optimizer: 'sgd', lr: 0.05, momentum: 0.9, progress: false, log: (line) => lines.push(line),
  });
  assert.equal(summary.backend, 'webgpu');
  assert.ok(lines.some((line) => /^backend: webgpu \(.+\)$/.test(line)), lines.join('\n'));
  const files = [...images.samples, ...images.samples.map((f) => f.replace(/_001\./, '_002.'))];
  const model = path.join(out, 'last');
  await predictImages({ model, images: files, backend: 'webgpu' }); // warm-up: kernels, programs
  const tensors = tf.memory().numTensors;
  const onGpu = await predictImages({ model, images: files, backend: 'webgpu' });
  assert.equal(tf.memory().numTensors, tensors, 'tensors left behind by predict on webgpu');
  const onWasm = await predictImages({ model, images: files, backend: 'wasm' });
  assert.equal(onWasm.backend, 'wasm');
  const top = (r: typeof onGpu) => r.predictions.map((p) => p.top[0].index);
  assert.deepEqual(top(onGpu), top(onWasm));
  for (const [i, p] of onGpu.predictions.entries()) {
    for (const [k, entry] of p.top.entries()) assert.ok(Math.abs(entry.probability - onWasm.predictions[i].top[k].probability) < 1e-4);
  }
});
