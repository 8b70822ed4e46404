/**
 * wasm threads in Node (src/tfjs/wasm-threads.ts): the threaded SIMD build starts with the thread
 * count asked for and says so; it computes what the single-threaded build computes (forward
 * convolutions and products, and a short training run, within 1e-4); and when a piece it relies on
 * is missing or fails, it falls back to one thread with one warning line, never a crash.
 * Then through the CLI: `--threads` and the "backend: wasm (N threads)" line, and one fine-tune on
 * 1 and 2 threads ending with the same weights.
 *
 * The in-process tests switch the thread count of the wasm backend, which replaces it: each one
 * reads its results into plain arrays and frees every tensor before the next switch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { backendInfo, describeBackend, useBackend } from '../../src/tfjs/backend.js';
import { resetWasmThreadsForTesting, wasmThreadsInfo } from '../../src/tfjs/wasm-threads.js';
import { FIXTURES, REPO, relativeError } from '../helpers.js';
import { randomValues, seededRandom } from './layers/helpers.js';

const TOLERANCE = 1e-4;

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(tf.util.sizeFromShape(shape), seededRandom(seed)), shape);
}

/** Runs `compute` on the wasm backend with `threads` threads, every tensor freed afterwards. */
async function onThreads<T>(threads: number, compute: () => T): Promise<T> {
  await useBackend('wasm', { threads });
  assert.deepEqual(backendInfo(), { name: 'wasm', threads }, `wasm did not start with ${threads} thread(s)`);
  const before = tf.memory().numTensors;
  const result = compute();
  assert.equal(tf.memory().numTensors, before, 'the computation left tensors behind');
  return result;
}

/** Asserts each pair within TOLERANCE; returns the largest relative error. */
function assertClose(actual: Float32Array[], expected: Float32Array[], what: string): number {
  assert.equal(actual.length, expected.length, what);
  let worst = 0;
  actual.forEach((values, i) => {
    const error = relativeError(values, expected[i]);
    assert.ok(error <= TOLERANCE, `${what} #${i}: relative error ${error.toExponential(2)} > ${TOLERANCE}`);
    worst = Math.max(worst, error);
  });
  return worst;
}

test('the threaded build starts with the threads asked for, and reports them', async () => {
  await useBackend('wasm', { threads: 2 });
  assert.deepEqual(backendInfo(), { name: 'wasm', threads: 2 });
  assert.equal(describeBackend(), 'wasm (2 threads)');
  assert.deepEqual(wasmThreadsInfo(), { requested: 2, threads: 2, threaded: true });
  // The same count again keeps the running backend (and its tensors).
  const x = tf.tensor([1, 2, 3]);
  await useBackend('wasm', { threads: 2 });
  assert.deepEqual(Array.from(x.dataSync()), [1, 2, 3]);
  x.dispose();
  // Asking for another count with no tensors alive restarts it.
  await useBackend('wasm', { threads: 1 });
  assert.deepEqual(wasmThreadsInfo(), { requested: 1, threads: 1, threaded: false });
  assert.equal(describeBackend(), 'wasm (1 thread)');
  await useBackend('cpu');
  assert.equal(describeBackend(), 'cpu (1 thread)');
  await assert.rejects(useBackend('wasm', { threads: 0 }), /--threads must be a whole number ≥ 1/);
});

test('a wasm backend holding tensors keeps its thread count, with a warning', async (t) => {
  await useBackend('wasm', { threads: 2 });
  const kept = tf.tensor([4, 5]);
  const warn = t.mock.method(console, 'warn', () => undefined);
  await useBackend('wasm', { threads: 1 });
  assert.equal(warn.mock.callCount(), 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /already runs 2 thread\(s\) and holds tensors/);
  assert.deepEqual(backendInfo(), { name: 'wasm', threads: 2 });
  assert.deepEqual(Array.from(kept.dataSync()), [4, 5]);
  kept.dispose();
});

test('conv2d, depthwise conv2d and matMul forward: 2 threads equal 1 thread', async (t) => {
  const compute = () =>
    tf.tidy(() => {
      const x = seeded([2, 33, 31, 16], 1);
      const out: tf.Tensor[] = [
        tf.conv2d(x as tf.Tensor4D, seeded([3, 3, 16, 32], 2) as tf.Tensor4D, 1, 'same'),
        tf.conv2d(x as tf.Tensor4D, seeded([5, 5, 16, 24], 3) as tf.Tensor4D, 2, 'valid'),
        tf.conv2d(x as tf.Tensor4D, seeded([1, 1, 16, 64], 4) as tf.Tensor4D, 1, 'same'),
        tf.depthwiseConv2d(x as tf.Tensor4D, seeded([3, 3, 16, 2], 5) as tf.Tensor4D, 1, 'same'),
        tf.matMul(seeded([200, 300], 6) as tf.Tensor2D, seeded([300, 150], 7) as tf.Tensor2D),
        tf.matMul(seeded([64, 300], 8) as tf.Tensor2D, seeded([150, 300], 9) as tf.Tensor2D, false, true),
        tf.matMul(seeded([3, 40, 50], 10) as tf.Tensor3D, seeded([3, 50, 60], 11) as tf.Tensor3D),
      ];
      return out.map((t) => t.dataSync() as Float32Array);
    });
  const threaded = await onThreads(2, compute);
  const single = await onThreads(1, compute);
  t.diagnostic(`largest relative difference: ${assertClose(threaded, single, 'forward').toExponential(2)}`);
});

/** A small CNN (conv, pool, depthwise, dense; no dropout), its weights from a seed. */
function smallCnn(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [20, 20, 3], filters: 12, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 1, padding: 'same', activation: 'relu' }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 4, activation: 'softmax' }),
    ],
  });
  const values = model.getWeights().map((w, i) => tf.tidy(() => seeded(w.shape, 100 + i).mul(0.3)));
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

async function trainedWeights(threads: number): Promise<Float32Array[]> {
  await useBackend('wasm', { threads });
  assert.deepEqual(backendInfo(), { name: 'wasm', threads });
  const before = tf.memory().numTensors;
  const model = smallCnn();
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const xs = seeded([24, 20, 20, 3], 7);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 24 }, (_, i) => i % 4), 'int32'), 4));
  await model.fit(xs, ys, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([xs, ys]);
  model.optimizer.dispose();
  model.dispose();
  // Nothing may stay on the backend, or the next thread count could not replace it.
  assert.equal(tf.memory().numTensors, before, 'training left tensors behind');
  return weights;
}

test('a short training run (fixed weights and data order, no dropout) ends with the same weights on 1 and 2 threads', async (t) => {
  const threaded = await trainedWeights(2);
  const single = await trainedWeights(1);
  const initial = tf.tidy(() => {
    const model = smallCnn();
    const values = model.getWeights().map((w) => w.dataSync() as Float32Array);
    model.dispose();
    return values;
  });
  // It did train: the weights moved.
  assert.ok(relativeError(single[0], initial[0]) > 1e-3, 'the weights did not change');
  t.diagnostic(`largest relative difference: ${assertClose(threaded, single, 'trained weights').toExponential(2)}`);
});

// ---- the fallback: simulate what a future tfjs could change -------------------------------------

/** Starts wasm with 2 threads under `options`; expects one warning line and a working single thread. */
async function expectFallback(t: { mock: typeof test.mock }, options: Parameters<typeof resetWasmThreadsForTesting>[0], reason: RegExp): Promise<void> {
  resetWasmThreadsForTesting(options);
  const warn = t.mock.method(console, 'warn', () => undefined);
  try {
    await useBackend('wasm', { threads: 2 });
    assert.equal(warn.mock.callCount(), 1, `warnings: ${warn.mock.calls.map((c) => c.arguments.join(' ')).join(' | ')}`);
    const line = String(warn.mock.calls[0].arguments[0]);
    assert.match(line, /^graft: wasm threads unavailable \(.+\); running 1 thread instead of 2$/);
    assert.doesNotMatch(line, /\n/);
    assert.match(line, reason);
    assert.deepEqual(backendInfo(), { name: 'wasm', threads: 1 });
    assert.equal(describeBackend(), 'wasm (1 thread)');
    const info = wasmThreadsInfo();
    assert.equal(info?.threaded, false);
    assert.match(info?.fallback ?? '', reason);
    // The single-threaded backend works, graft's training kernels included.
    const product = tf.tidy(() => Array.from(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2]), false, true).dataSync()));
    assert.deepEqual(product, [17, 23, 39, 53]);
    // A later start in the same process does not try (nor warn) again.
    await useBackend('wasm', { threads: 2 });
    assert.equal(warn.mock.callCount(), 1);
  } finally {
    warn.mock.restore();
    resetWasmThreadsForTesting();
  }
}

test('fallback: the worker source export is gone', async (t) => {
  await expectFallback(
    t,
    { load: (file, require) => (file.endsWith('.worker.js') ? {} : require(file)) },
    /exports no wasmWorkerContents/,
  );
});

test('fallback: the module factory is not a function any more', async (t) => {
  await expectFallback(t, { load: (file, require) => (file.endsWith('threaded-simd.js') ? { default: 'x' } : require(file)) }, /exports no module factory/);
});

test('fallback: the worker script fails as it loads', async (t) => {
  await expectFallback(t, { parts: (parts) => ({ ...parts, workerSource: 'throw new Error("simulated worker failure")' }) }, /worker thread failed.*simulated worker failure/);
});

test('fallback: the workers never report loaded (time limit)', async (t) => {
  await expectFallback(t, { parts: (parts) => ({ ...parts, factory: () => new Promise(() => undefined) }), timeoutMs: 300 }, /did not start within 0\.3 s/);
});

test('fallback: the threaded backend starts but computes a wrong product', async (t) => {
  await expectFallback(t, { check: () => 'simulated wrong product' }, /simulated wrong product/);
});

test('the cores / 2 cap: lifted, or (when it cannot be) a fallback on a 2-core machine', async (t) => {
  // emscripten_num_logical_cores is os.cpus().length under Node; tfjs halves it.
  const capped = Math.min(2, Math.floor((await import('node:os')).cpus().length / 2));
  if (capped >= 2) {
    resetWasmThreadsForTesting({ parts: (parts) => ({ ...parts, liftCoreCap: false }) });
    await useBackend('wasm', { threads: 2 });
    assert.deepEqual(backendInfo(), { name: 'wasm', threads: 2 });
    resetWasmThreadsForTesting();
  } else {
    await expectFallback(t, { parts: (parts) => ({ ...parts, liftCoreCap: false }) }, /capped its thread pool at cores \/ 2 = 1/);
  }
});

// ---- through the CLI -----------------------------------------------------------------------------

const work = mkdtempSync(path.join(tmpdir(), 'graft-wasm-threads-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function graft(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd: work, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Two classes of 28×28 gray images: a bright disk, or bright horizontal bars. */
async function imageFolder(root: string, perClass: number): Promise<string> {
  const random = seededRandom(42);
  for (const name of ['bars', 'disk']) {
    mkdirSync(path.join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = Buffer.alloc(28 * 28);
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const on = name === 'bars' ? y % 6 < 3 : (x - 14) ** 2 + (y - 14) ** 2 < 64;
          pixels[y * 28 + x] = Math.min(255, Math.round((on ? 180 : 20) + random() * 60));
        }
      }
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(root, name, `${i}.png`));
    }
  }
  return root;
}

function shardValues(dir: string): Float32Array {
  const bytes = readFileSync(path.join(dir, 'group1-shard1of1.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

test('graft finetune --threads 1 and --threads 2: "backend: wasm (N threads)", the same weights (1e-4); predict --threads', async (t) => {
  const lenet = path.join(work, 'lenet');
  const converted = graft('convert', path.join(FIXTURES, 'lenet', 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(FIXTURES, 'lenet', 'deploy.prototxt'), '-o', lenet);
  assert.equal(converted.code, 0, converted.stderr);
  const data = await imageFolder(path.join(work, 'images'), 12);

  const weights: Float32Array[] = [];
  for (const threads of [1, 2]) {
    const out = path.join(work, `run-${threads}`);
    const run = graft('finetune', '--from', lenet, '--data', data, '--epochs', '2', '--batch-size', '8', '--seed', '3', '--backend', 'wasm', '--threads', String(threads), '--out', out);
    assert.equal(run.code, 0, run.stderr);
    const printed = `${run.stdout}\n${run.stderr}`;
    assert.match(printed, new RegExp(`backend: wasm \\(${threads} threads?\\)`), printed);
    assert.doesNotMatch(printed, /wasm threads unavailable/);
    weights.push(shardValues(path.join(out, 'last')));
  }
  const error = relativeError(weights[1], weights[0]);
  t.diagnostic(`fine-tuned weights, largest relative difference: ${error.toExponential(2)}`);
  assert.ok(error <= TOLERANCE, `fine-tuned weights differ by ${error.toExponential(2)} between 1 and 2 threads`);

  const image = path.join(data, 'disk', '0.png');
  const predicted = graft('predict', lenet, image, '--scale', '0.00390625', '--threads', '2');
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.match(predicted.stderr, /^backend: wasm \(2 threads\)$/m);
  const json = graft('predict', lenet, image, '--scale', '0.00390625', '--threads', '2', '--json');
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { backend: string; threads: number };
  assert.equal(parsed.backend, 'wasm');
  assert.equal(parsed.threads, 2);
  const onCpu = graft('predict', lenet, image, '--scale', '0.00390625', '--backend', 'cpu');
  assert.match(onCpu.stderr, /^backend: cpu \(1 thread\)$/m);
  const bad = graft('predict', lenet, image, '--threads', '0');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--threads must be a whole number ≥ 1/);
});
