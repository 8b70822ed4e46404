/**
 * One fine-tune, three backends: wasm on 1 thread, wasm on all the machine's cores, and WebGPU
 * (in CI: Mesa 25's lavapipe, software Vulkan, .ci/get-lavapipe.sh). Same seed, no dropout, no
 * shuffling, SGD with momentum (linear in the gradients, so rounding differences are not amplified
 * the way Adam's g/√v amplifies them near zero), 2 epochs of a small CNN through
 * `graft finetune` in one child process per backend (wasm's thread count is fixed per process).
 * The saved weights must agree within 1e-4 relative, and so must the changes training made
 * (measured: wasm 1 vs 2 threads bit-identical, lavapipe 1e-7 on the weights, 4e-6 on the changes).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { trainModel } from '../../src/train/finetune.js';
import { describeAdapter, probeWebGpuIsolated } from '../../src/tfjs/webgpu.js';
import { graftAsync, makeImageFolder, relative, weightsOf } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-backends-agree-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** Two convolutions, a max pool and a dense layer: the kernels whose gradients differ most by backend. */
const SPEC = {
  name: 'tiny_cnn',
  input: { shape: [1, 1, 12, 12], channelOrder: 'GRAY', scale: 1 / 255 },
  layers: [
    { type: 'Conv2d', name: 'conv1', out_channels: 4, kernel_size: 3, padding: 1 },
    { type: 'ReLU' },
    { type: 'MaxPool2d', kernel_size: 2 },
    { type: 'Conv2d', name: 'conv2', out_channels: 8, kernel_size: 3 },
    { type: 'ReLU' },
    { type: 'Flatten' },
    { type: 'Linear', name: 'fc', out_features: 3 },
  ],
};

const allThreads = availableParallelism();
const base = path.join(work, 'base');
const images = path.join(work, 'images');
type Weights = Map<string, Float32Array>;
const finals = new Map<string, Weights | string>();
let start: Weights;

const webgpu = await probeWebGpuIsolated();

before(async () => {
  const spec = path.join(work, 'cnn.json');
  writeFileSync(spec, JSON.stringify(SPEC));
  await makeImageFolder(images, 8, 3);
  // The model to fine-tune: the spec's seeded weights after one epoch (any backend: it is the
  // same starting point for all three).
  await trainModel({ arch: spec, data: images, out: base, epochs: 1, valSplit: 0, seed: 2, progress: false });
  start = await weightsOf(path.join(base, 'last'));
  const runs: [string, string[]][] = [
    ['wasm-1', ['--backend', 'wasm', '--threads', '1']],
    [`wasm-${allThreads}`, ['--backend', 'wasm', '--threads', String(allThreads)]],
  ];
  if (webgpu.ok) runs.push(['webgpu', ['--backend', 'webgpu']]);
  // Concurrently: the results do not depend on the load, and lavapipe's first shader compiles
  // (≈ 6 s on a cold Mesa cache) overlap with the wasm runs.
  await Promise.all(
    runs.map(async ([name, flags]) => {
      const out = path.join(work, name);
      const run = await graftAsync(work, 'finetune', '--from', path.join(base, 'last'), '--data', images, '--out', out,
        '--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.9', '--epochs', '2', '--batch-size', '8', '--val-split', '0.25',
        '--seed', '1', '--no-shuffle', ...flags);
      if (run.code !== 0) {
        finals.set(name, `graft finetune ${flags.join(' ')} exited ${run.code}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        return;
      }
      assert.match(run.stdout, new RegExp(`^backend: ${name.startsWith('wasm') ? 'wasm' : 'webgpu \\(.+\\)'}`, 'm'));
      finals.set(name, await weightsOf(path.join(out, 'last')));
    }),
  );
});

function weightsFor(name: string): Weights {
  const found = finals.get(name);
  if (found === undefined || typeof found === 'string') assert.fail(found ?? `${name}: no run`);
  return found;
}

/** Per weight: relative difference of the final weights, and of the changes from `start`. */
function compare(name: string, t: { diagnostic(message: string): void }): void {
  const reference = weightsFor('wasm-1');
  const other = weightsFor(name);
  let worstWeights = 0;
  let worstChanges = 0;
  for (const [key, ref] of reference) {
    const got = other.get(key);
    assert.ok(got, `${name} lacks ${key}`);
    const before = start.get(key)!;
    const weights = relative(got, ref);
    const changes = relative(got.map((v, i) => v - before[i]), ref.map((v, i) => v - before[i]));
    t.diagnostic(`${key}: weights ${weights.toExponential(2)}, changes ${changes.toExponential(2)}`);
    assert.ok(weights <= 1e-4, `${name} ${key}: weights differ from wasm-1 by ${weights.toExponential(2)} relative`);
    assert.ok(changes <= 1e-3, `${name} ${key}: training changed the weights differently, ${changes.toExponential(2)} relative`);
    worstWeights = Math.max(worstWeights, weights);
    worstChanges = Math.max(worstChanges, changes);
  }
  t.diagnostic(`${name} vs wasm-1: worst ${worstWeights.toExponential(2)} on the weights, ${worstChanges.toExponential(2)} on their changes`);
}

test('the fine-tune moves every weight tensor (so the agreement below is not that of untouched weights)', () => {
  for (const [key, ref] of weightsFor('wasm-1')) {
    const before = start.get(key)!;
    const moved = Math.max(...ref.map((v, i) => Math.abs(v - before[i])));
    assert.ok(moved > 1e-3, `${key} moved by at most ${moved}`);
  }
});

test(`wasm with ${allThreads} threads ends with the weights of wasm with 1 (within 1e-4 relative)`, (t) => {
  if (allThreads === 1) t.diagnostic('this machine has one core: both runs are single-threaded');
  compare(`wasm-${allThreads}`, t);
});

test('webgpu ends with the weights of wasm (within 1e-4 relative)', { skip: webgpu.ok ? false : `no WebGPU here: ${webgpu.reason} (.ci/get-lavapipe.sh provides a software one)` }, (t) => {
  if (webgpu.ok) t.diagnostic(`adapter: ${describeAdapter(webgpu.adapter)}`);
  compare('webgpu', t);
});
