/**
 * Which layers --freeze (names, globs, indices), --freeze-to and --unfreeze-from select, on the
 * converted LeNet, by the indices `graft inspect` prints; and `graft inspect DIR --trainable ...`
 * showing the same thing without training.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../src/errors.js';
import { applyFreezing, type FreezeOptions } from '../../src/train/freeze.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { loadModelDirectory } from '../../src/tfjs/model-dir.js';
import { convertLeNet, graft } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-freeze-'));
const lenet = path.join(work, 'lenet');
let model: tf.LayersModel;

before(async () => {
  await useBackend('cpu');
  await convertLeNet(lenet);
  model = (await loadModelDirectory(lenet)).model;
});
test.after(() => {
  model?.dispose();
  rmSync(work, { recursive: true, force: true });
});

// graft inspect's `#` column for LeNet.
const LAYERS = ['data', 'conv1', 'pool1', 'conv2', 'pool2', 'ip1_flatten', 'ip1', 'relu1', 'ip2', 'loss'];

/** Names of the layers left frozen (trainable false) after applying `options`. */
function frozenBy(options: FreezeOptions): { frozenLayers: string[]; reported: string[]; trainableWeights: string[] } {
  const reported = applyFreezing(model, options);
  return {
    frozenLayers: model.layers.filter((l) => !l.trainable).map((l) => l.name),
    reported,
    trainableWeights: model.trainableWeights.map((w) => w.originalName),
  };
}

test('the converted LeNet has the layer indices these tests use', () => {
  assert.deepEqual(model.layers.map((l) => l.name), LAYERS);
});

test('--freeze by glob, exact name, index and negative index', () => {
  assert.deepEqual(frozenBy({ freeze: ['conv*'] }).frozenLayers, ['conv1', 'conv2']);
  // An exact name wins over reading it as a glob: ip1 only, not ip1_flatten.
  assert.deepEqual(frozenBy({ freeze: ['ip1'] }).frozenLayers, ['ip1']);
  const glob = frozenBy({ freeze: ['ip1*'] });
  assert.deepEqual(glob.frozenLayers, ['ip1_flatten', 'ip1']);
  // Only layers with weights are reported as frozen.
  assert.deepEqual(glob.reported, ['ip1']);
  assert.deepEqual(frozenBy({ freeze: ['3'] }).frozenLayers, ['conv2']);
  assert.deepEqual(frozenBy({ freeze: ['-2'] }).frozenLayers, ['ip2']);
  assert.deepEqual(frozenBy({ freeze: ['conv?', '8'] }).reported, ['conv1', 'conv2', 'ip2']);
  // Each call starts over: no options leaves everything trainable.
  assert.deepEqual(frozenBy({}).frozenLayers, []);
  assert.equal(model.trainableWeights.length, 8);
});

test('--freeze-to includes the layer, --unfreeze-from excludes it; by index or by name', () => {
  const to = frozenBy({ freezeTo: '3' });
  assert.deepEqual(to.frozenLayers, ['data', 'conv1', 'pool1', 'conv2']);
  assert.deepEqual(to.reported, ['conv1', 'conv2']);
  assert.deepEqual(to.trainableWeights.map((n) => n.replace(/_\d+$/, '')), ['ip1/kernel', 'ip1/bias', 'ip2/kernel', 'ip2/bias']);
  assert.deepEqual(frozenBy({ freezeTo: 'conv2' }).frozenLayers, to.frozenLayers);

  const from = frozenBy({ unfreezeFrom: 'ip1' });
  assert.deepEqual(from.frozenLayers, LAYERS.slice(0, 6));
  assert.deepEqual(from.reported, ['conv1', 'conv2']);
  assert.deepEqual(frozenBy({ unfreezeFrom: '6' }).frozenLayers, from.frozenLayers);
  assert.deepEqual(frozenBy({ unfreezeFrom: '-4' }).frozenLayers, from.frozenLayers);

  // Flags combine.
  assert.deepEqual(frozenBy({ unfreezeFrom: 'conv2', freeze: ['ip2'] }).reported, ['conv1', 'ip2']);
});

test('freezing flags that name no layer, or several where one is needed, are usage errors', () => {
  assert.throws(() => applyFreezing(model, { freezeTo: '10' }), (e: Error) => e instanceof UsageError && /layers 0\.\.9/.test(e.message));
  assert.throws(() => applyFreezing(model, { freeze: ['fc*'] }), (e: Error) => e instanceof UsageError && /no layer matches/.test(e.message));
  assert.throws(() => applyFreezing(model, { unfreezeFrom: 'conv*' }), (e: Error) => e instanceof UsageError && /matches 2 layers/.test(e.message));
});

interface InspectJson {
  layers: { index: number; name: string; trainable: boolean; params: number }[];
  totalParams: number;
  trainableParams: number;
}

test('graft inspect DIR --trainable --freeze-to N shows what a fine-tune would train', () => {
  const plain = graft(work, 'inspect', lenet, '--json');
  assert.equal(plain.code, 0, plain.stderr);
  const all = JSON.parse(plain.stdout) as InspectJson;
  assert.equal(all.trainableParams, 431080);

  const shown = graft(work, 'inspect', lenet, '--trainable', '--freeze-to', '3', '--json');
  assert.equal(shown.code, 0, shown.stderr);
  const result = JSON.parse(shown.stdout) as InspectJson;
  assert.deepEqual(result.layers.map((l) => l.index), [...LAYERS.keys()]);
  assert.deepEqual(result.layers.map((l) => l.trainable), LAYERS.map((_, i) => i > 3));
  assert.equal(result.totalParams, 431080);
  assert.equal(result.trainableParams, 400500 + 5010);

  // The table, with a glob and --unfreeze-from.
  const table = graft(work, 'inspect', lenet, '--trainable', '--freeze', 'ip*', '--unfreeze-from', 'conv2');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^1\s+conv1\s+Conv2D\s+\[N, 24, 24, 20\]\s+520\s+no$/m);
  assert.match(table.stdout, /^3\s+conv2\s+Conv2D\s+\[N, 8, 8, 50\]\s+25,050\s+yes$/m);
  assert.match(table.stdout, /^6\s+ip1\s+Dense\s+\[N, 500\]\s+400,500\s+no$/m);
  assert.match(table.stdout, /^8\s+ip2\s+Dense\s+\[N, 10\]\s+5,010\s+no$/m);
  assert.match(table.stdout, /trainable: 25,050, non-trainable: 406,030/);

  const bad = graft(work, 'inspect', lenet, '--trainable', '--freeze-to', 'nope');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /^graft: --freeze-to nope: no layer matches/);
});
