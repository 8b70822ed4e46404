/**
 * Feature caching: with LeNet frozen up to conv2, the frozen, deterministic prefix (up to
 * ip1_flatten) runs once per example and only ip1 and the new head train. Cached and uncached runs
 * of the same seed (reshuffled every epoch, Adam) end with the same weights up to float rounding.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { trainModel, type TrainSummary } from '../../src/train/finetune.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { assertWeightsClose, convertLeNet, makeImageFolder, relative, weightsOf, type ImageFolderInfo } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-cache-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const lenet = path.join(work, 'lenet');
let images: ImageFolderInfo;

before(async () => {
  await useBackend();
  await convertLeNet(lenet);
  images = await makeImageFolder(path.join(work, 'images'), 30);
});

async function run(cache: boolean, microBatch?: number, optimizer: 'adam' | 'sgd' = 'adam'): Promise<{ summary: TrainSummary; lines: string[] }> {
  const lines: string[] = [];
  const summary = await trainModel({
    from: lenet,
    data: images.root,
    out: path.join(work, `${cache ? 'cached' : 'uncached'}-${optimizer}${microBatch ? `-micro${microBatch}` : ''}`),
    freezeTo: 'conv2',
    cache,
    microBatch,
    optimizer,
    epochs: 3,
    batchSize: 16,
    lr: 1e-3,
    seed: 4,
    progress: false,
    log: (l) => lines.push(l),
  });
  return { summary, lines };
}

test('cache on and --no-cache give the same weights and the same log, up to float rounding', async (t) => {
  const cached = await run(true);
  const uncached = await run(false);
  assert.equal(cached.summary.cachedAt, 'ip1_flatten');
  assert.ok(cached.lines.includes('caching the output of ip1_flatten: the layers up to it are frozen and deterministic'));
  assert.equal(uncached.summary.cachedAt, undefined);
  assert.ok(!uncached.lines.some((l) => l.startsWith('caching')));

  const a = await weightsOf(path.join(work, 'cached-adam', 'last'));
  const b = await weightsOf(path.join(work, 'uncached-adam', 'last'));
  const original = await weightsOf(lenet);
  const worst = assertWeightsClose(a, b, 1e-5);
  t.diagnostic(`largest relative difference between cached and uncached weights: ${worst.toExponential(2)}`);
  // The frozen layers did not move; the trained ones did.
  for (const name of ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias']) assert.deepEqual(a.get(name), original.get(name), name);
  assert.ok(relative(a.get('ip1/kernel')!, original.get('ip1/kernel')!) > 1e-3);

  const metrics = (s: TrainSummary) => s.records.map((r) => [r['main/loss'], r['main/accuracy'], r['validation/main/loss']!, r['validation/main/accuracy']!]);
  metrics(cached.summary).forEach((row, epoch) =>
    row.forEach((value, k) => assert.ok(Math.abs(value - metrics(uncached.summary)[epoch][k]) <= 1e-5 * Math.max(1, Math.abs(value)), `epoch ${epoch + 1}, metric ${k}`)),
  );
  // And it trained (3 classes: chance is 1/3).
  assert.ok(cached.summary.records[2]['validation/main/accuracy']! > 0.6, JSON.stringify(cached.summary.records));
});

test('--micro-batch: a batch of 16 as passes of 6, 6 and 4 with summed gradients gives the batch\'s weights', async (t) => {
  // SGD, not Adam: Adam's step barely changes when every gradient is scaled alike, so only SGD
  // shows whether each pass's share of the batch is weighted right.
  await run(false, undefined, 'sgd');
  const split = await run(false, 6, 'sgd');
  assert.ok(split.lines.includes('each batch of 16 runs as passes of 6 with gradients summed (BatchNorm statistics per pass)'), split.lines.join('\n'));
  const whole = await weightsOf(path.join(work, 'uncached-sgd', 'last'));
  const parts = await weightsOf(path.join(work, 'uncached-sgd-micro6', 'last'));
  const original = await weightsOf(lenet);
  const worst = assertWeightsClose(parts, whole, 1e-5);
  assert.ok(relative(whole.get('ip1/kernel')!, original.get('ip1/kernel')!) > 1e-4, 'SGD moved ip1');
  t.diagnostic(`largest relative difference between whole and split batches: ${worst.toExponential(2)}`);
});
