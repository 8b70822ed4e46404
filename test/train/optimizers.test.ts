/**
 * Per-layer learning-rate multipliers and weight decay, measured on one optimizer step (the whole
 * table in one batch). Adam's first step moves each weight by lr · g / (|g| + ε) ≈ lr · sign(g),
 * so with --lr-mult head=K the head's steps are K times the base layer's; K = 0 leaves a layer as
 * it was. Weight decay adds rate · W to the kernels' gradients: one SGD step moves them by an extra
 * −lr · rate · W, and leaves biases and the reported loss alone.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../src/errors.js';
import { trainModel, type TrainOptions } from '../../src/train/finetune.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { blobs, saveAndDispose, tableGraftJson, weightsOf, writeTable } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-optimizers-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const modelDir = path.join(work, 'model');
const table = path.join(work, 'blobs.csv');
let initial: Map<string, Float32Array>;

before(async () => {
  await useBackend();
  const input = tf.input({ shape: [4], name: 'input' });
  let x = tf.layers.dense({ units: 16, name: 'base', activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: tf.initializers.constant({ value: 0.1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 3, name: 'head', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.softmax({ name: 'prob' }).apply(x) as tf.SymbolicTensor;
  await saveAndDispose(modelDir, tf.model({ inputs: input, outputs: output }), tableGraftJson(4));
  writeTable(table, blobs(30, [[1, 0, 0, 1], [0, 1, 0, -1], [0, 0, 1, 0]], 0.8, 3));
  initial = await weightsOf(modelDir);
});

/** One step over all 90 rows; the weights afterwards and the run's summary. */
async function oneStep(name: string, options: Partial<TrainOptions>) {
  const out = path.join(work, name);
  const summary = await trainModel({ from: modelDir, data: table, out, epochs: 1, batchSize: 1000, valSplit: 0, seed: 1, progress: false, ...options });
  assert.equal(summary.records[0].iteration, 1);
  return { weights: await weightsOf(path.join(out, 'last')), summary };
}

/** |after − before| per element of one weight. */
function steps(after: Map<string, Float32Array>, name: string, from = initial): number[] {
  const a = after.get(name)!;
  const b = from.get(name)!;
  return Array.from(a, (v, i) => Math.abs(v - b[i]));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

test('--lr-mult head=10 with Adam: after one step the head moves 10× as far as the base layer', async (t) => {
  const lr = 1e-3;
  const { weights } = await oneStep('lr-mult-10', { optimizer: 'adam', lr, lrMult: ['head=10'] });
  const base = [...steps(weights, 'base/kernel'), ...steps(weights, 'base/bias')];
  const head = [...steps(weights, 'head/kernel'), ...steps(weights, 'head/bias')];
  t.diagnostic(`Adam step 1, lr ${lr}: median |Δ| base ${median(base).toExponential(4)}, head ${median(head).toExponential(4)}; max base ${Math.max(...base).toExponential(4)}, head ${Math.max(...head).toExponential(4)}`);
  // lr · |g| / (|g| + 1e-7): within 1 % of lr for every gradient above 1e-5.
  assert.ok(Math.abs(median(base) / lr - 1) < 0.01, `base steps ${median(base)}`);
  assert.ok(Math.abs(median(head) / (10 * lr) - 1) < 0.01, `head steps ${median(head)}`);
  assert.ok(Math.max(...base) <= lr * 1.0001 && Math.max(...head) <= 10 * lr * 1.0001);
  assert.ok(Math.abs(median(head) / median(base) - 10) < 0.1);

  // Without a multiplier both move by lr: the grouping, not the data, makes the factor.
  const plain = await oneStep('lr-mult-none', { optimizer: 'adam', lr });
  assert.ok(Math.abs(median([...steps(plain.weights, 'head/kernel'), ...steps(plain.weights, 'head/bias')]) / lr - 1) < 0.01);
  // And the base layer's step is the same with or without the head's multiplier.
  assert.deepEqual(weights.get('base/kernel'), plain.weights.get('base/kernel'));
});

test('--lr-mult base=0 leaves that layer exactly as it was while the head trains', async () => {
  const { weights, summary } = await oneStep('lr-mult-0', { optimizer: 'adam', lr: 1e-3, lrMult: ['base=0'] });
  assert.deepEqual(weights.get('base/kernel'), initial.get('base/kernel'));
  assert.deepEqual(weights.get('base/bias'), initial.get('base/bias'));
  assert.ok(Math.max(...steps(weights, 'head/kernel')) > 5e-4);
  assert.equal(summary.frozen.length, 0);
  // The last matching rule wins.
  const last = await oneStep('lr-mult-order', { optimizer: 'adam', lr: 1e-3, lrMult: ['*=0', 'head=2'] });
  assert.deepEqual(last.weights.get('base/kernel'), initial.get('base/kernel'));
  assert.ok(Math.abs(median(steps(last.weights, 'head/kernel')) / 2e-3 - 1) < 0.01);
  await assert.rejects(oneStep('lr-mult-bad', { lrMult: ['nothing=3'] }), (e: Error) => e instanceof UsageError && /no layer matches/.test(e.message));
  await assert.rejects(oneStep('lr-mult-syntax', { lrMult: ['head'] }), (e: Error) => e instanceof UsageError && /PATTERN=FACTOR/.test(e.message));
});

test('--weight-decay adds −lr · rate · W to the kernels in an SGD step, not to the biases or the reported loss', async () => {
  const lr = 0.1;
  const rate = 0.05;
  const plain = await oneStep('sgd', { optimizer: 'sgd', lr });
  const decayed = await oneStep('sgd-decay', { optimizer: 'sgd', lr, weightDecay: rate });
  for (const name of ['base/kernel', 'head/kernel']) {
    const w0 = initial.get(name)!;
    const a = plain.weights.get(name)!;
    const b = decayed.weights.get(name)!;
    let worst = 0;
    for (let i = 0; i < w0.length; i++) worst = Math.max(worst, Math.abs(b[i] - a[i] - -lr * rate * w0[i]));
    assert.ok(worst < 1e-6, `${name}: off by ${worst}`);
    assert.notDeepEqual(a, b);
  }
  assert.deepEqual(decayed.weights.get('base/bias'), plain.weights.get('base/bias'));
  assert.deepEqual(decayed.weights.get('head/bias'), plain.weights.get('head/bias'));
  // main/loss is the data term (comparable with validation/main/loss), as Chainer reports it.
  assert.equal(decayed.summary.records[0]['main/loss'], plain.summary.records[0]['main/loss']);
});

test('weight decay changes where Adam training ends up', async () => {
  const a = await trainModel({ from: modelDir, data: table, out: path.join(work, 'adam'), epochs: 3, batchSize: 16, lr: 0.01, seed: 2, progress: false });
  const b = await trainModel({ from: modelDir, data: table, out: path.join(work, 'adam-decay'), epochs: 3, batchSize: 16, lr: 0.01, seed: 2, weightDecay: 0.1, progress: false });
  const wa = await weightsOf(path.join(work, 'adam', 'last'));
  const wb = await weightsOf(path.join(work, 'adam-decay', 'last'));
  const norm = (w: Float32Array) => Math.sqrt(w.reduce((s, v) => s + v * v, 0));
  assert.ok(norm(wb.get('base/kernel')!) < norm(wa.get('base/kernel')!), 'decayed kernels are smaller');
  assert.notEqual(a.records[2]['main/loss'], b.records[2]['main/loss']);
});
