/**
 * Frozen BatchNorm runs in inference mode (Keras 2's behaviour, not tfjs's): it normalises with its
 * moving statistics even in a training step, and those statistics do not change; an unfrozen
 * BatchNorm in the same model normalises with batch statistics and updates them.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { trainModel } from '../../src/train/finetune.js';
import { applyFreezing } from '../../src/train/freeze.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { loadModelDirectory } from '../../src/tfjs/model-dir.js';
import { blobs, relative, saveAndDispose, tableGraftJson, weightsOf, writeTable } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-batchnorm-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const modelDir = path.join(work, 'bn-model');
const table = path.join(work, 'blobs.csv');

/** input(4) → d1 → bn1 → relu → d2 → bn2 → relu → out(3) → softmax, bn1 with far-off moving statistics. */
function bnModel(): tf.LayersModel {
  const input = tf.input({ shape: [4], name: 'input' });
  let x = tf.layers.dense({ units: 8, name: 'd1', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 8, name: 'd2', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 3, name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.softmax({ name: 'prob' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output, name: 'bn_net' });
  // Moving statistics far from any batch's: inference and training mode give very different outputs.
  const bn1 = model.getLayer('bn1');
  bn1.setWeights([tf.fill([8], 1.5), tf.fill([8], 0.25), tf.fill([8], 0.5), tf.fill([8], 4)]);
  return model;
}

before(async () => {
  await useBackend();
  await saveAndDispose(modelDir, bnModel(), tableGraftJson(4));
  writeTable(table, blobs(40, [[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]], 0.6, 7));
});

test('a frozen BatchNorm gives its inference output in a training-mode call and keeps its statistics', async () => {
  const { model } = await loadModelDirectory(modelDir);
  const x = tf.randomNormal([16, 4], 0, 3, 'float32', 5);
  const bn1Output = tf.model({ inputs: model.inputs, outputs: model.getLayer('bn1').output as tf.SymbolicTensor });
  const statistics = () => model.getLayer('bn1').getWeights().slice(2).map((w) => w.dataSync().slice());
  const run = (training: boolean) => tf.tidy(() => (bn1Output.apply(x, { training }) as tf.Tensor).dataSync().slice());

  const initial = statistics();
  const inference = run(false);
  // Unfrozen (tfjs's own behaviour): batch statistics, and the moving ones move.
  assert.ok(relative(run(true), inference) > 0.1);
  assert.notDeepEqual(statistics(), initial);

  model.getLayer('bn1').setWeights([tf.fill([8], 1.5), tf.fill([8], 0.25), tf.fill([8], 0.5), tf.fill([8], 4)]);
  const reset = statistics();
  const frozen = applyFreezing(model, { freezeTo: 'bn1' });
  assert.deepEqual(frozen, ['d1', 'bn1']);
  assert.deepEqual(run(true), run(false));
  assert.deepEqual(statistics(), reset);
  // bn2 is still trainable: a training-mode call still uses its batch statistics.
  const full = (training: boolean) => tf.tidy(() => (model.apply(x, { training }) as tf.Tensor).dataSync().slice());
  assert.ok(relative(full(true), full(false)) > 1e-3);
  x.dispose();
  model.dispose();
});

for (const cache of [false, true]) {
  test(`training with bn1 frozen (${cache ? 'cached features' : '--no-cache'}): bn1 unchanged, bn2's statistics and weights updated`, async () => {
    const out = path.join(work, `run-${cache}`);
    const summary = await trainModel({ from: modelDir, data: table, out, freezeTo: 'bn1', cache, epochs: 6, batchSize: 16, lr: 0.03, valSplit: 0.25, seed: 1, progress: false });
    assert.deepEqual(summary.frozen, ['d1', 'bn1']);
    // Frozen BatchNorm counts as deterministic: the frozen prefix is cached up to relu1.
    assert.equal(summary.cachedAt, cache ? 'relu1' : undefined);
    const before = await weightsOf(modelDir);
    const after = await weightsOf(path.join(out, 'last'));
    for (const name of ['d1/kernel', 'd1/bias', 'bn1/gamma', 'bn1/beta', 'bn1/moving_mean', 'bn1/moving_variance']) {
      assert.deepEqual(after.get(name), before.get(name), `${name} changed`);
    }
    for (const name of ['bn2/moving_mean', 'bn2/moving_variance', 'bn2/gamma', 'bn2/beta', 'd2/kernel', 'out/kernel']) {
      assert.ok(relative(after.get(name)!, before.get(name)!) > 1e-4, `${name} did not change`);
    }
    // It learns: bn1 in inference mode passes usable features on. (Validation lags: bn2's moving
    // averages, momentum 0.99, have had only 36 steps.)
    assert.ok(summary.records[5]['main/accuracy'] > 0.8 && summary.records[5]['validation/main/accuracy']! > 0.6, JSON.stringify(summary.records));
  });
}
