/**
 * --resume: 2 epochs, then `graft finetune --resume --out RUN --data DATA --epochs 4` (no other flag:
 * the run's batch size, split, freezing, rates and weight decay come from RUN), against 4 epochs in
 * one go. Adam with two rate groups and weight decay, so the optimizer state (moments and step
 * count) must come back exactly for the weights to agree.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GraftError } from '../../src/errors.js';
import { trainModel, type TrainOptions } from '../../src/train/finetune.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { convertLeNet, graftAsync, makeImageFolder, relative, weightsOf, type ImageFolderInfo } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-resume-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const lenet = path.join(work, 'lenet');
let images: ImageFolderInfo;

before(async () => {
  await useBackend();
  await convertLeNet(lenet);
  images = await makeImageFolder(path.join(work, 'images'), 30);
});

function options(out: string, epochs: number): TrainOptions {
  return { from: lenet, data: images.root, out, epochs, freezeTo: 'conv1', lrMult: ['ip2=10'], lr: 1e-3, weightDecay: 1e-3, batchSize: 16, valSplit: 0.25, seed: 3, progress: false };
}

type Log = Record<string, number>[];
const readLog = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'log.json'), 'utf8')) as Log;

test('2 epochs + --resume to 4 ends where 4 straight epochs do, with a 4-record log.json', async (t) => {
  const straight = path.join(work, 'straight');
  const resumed = path.join(work, 'resumed');
  await trainModel(options(straight, 4));
  await trainModel(options(resumed, 2));
  assert.equal(readLog(resumed).length, 2);

  const cli = await graftAsync(work, 'finetune', '--resume', '--out', resumed, '--data', images.root, '--epochs', '4');
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /frozen: conv1; /);
  // The header is not printed again; rows 3 and 4 continue the iteration count (68 training images, batch 16: 5 a epoch).
  assert.doesNotMatch(cli.stdout, /^epoch\s+iteration/m);
  assert.match(cli.stdout, /^3\s+15\s/m);
  assert.match(cli.stdout, /^4\s+20\s/m);

  const a = await weightsOf(path.join(straight, 'last'));
  const b = await weightsOf(path.join(resumed, 'last'));
  let worst = 0;
  for (const [name, value] of a) {
    const error = relative(b.get(name)!, value);
    worst = Math.max(worst, error);
    assert.ok(error < 1e-5, `${name}: relative difference ${error}`);
  }
  t.diagnostic(`largest relative difference, resumed vs straight: ${worst.toExponential(2)}`);

  const logA = readLog(straight);
  const logB = readLog(resumed);
  assert.deepEqual(logB.map((r) => r.epoch), [1, 2, 3, 4]);
  assert.deepEqual(logB.map((r) => r.iteration), logA.map((r) => r.iteration));
  const withoutTime = (records: Log) => records.map(({ elapsed_time: _, ...rest }) => rest);
  assert.deepEqual(withoutTime(logB.slice(0, 2)), withoutTime(logA.slice(0, 2)));
  for (let i = 2; i < 4; i++) {
    assert.ok(Math.abs(logB[i]['main/loss'] - logA[i]['main/loss']) < 1e-4 * Math.max(1, logA[i]['main/loss']), `epoch ${i + 1} loss`);
    assert.equal(logB[i]['validation/main/accuracy'], logA[i]['validation/main/accuracy']);
    // elapsed_time goes on from the first run's.
    assert.ok(logB[i].elapsed_time > logB[1].elapsed_time);
  }
  const state = JSON.parse(readFileSync(path.join(resumed, 'state.json'), 'utf8'));
  assert.equal(state.epoch, 4);
  assert.equal(state.iteration, 20);
  const bestA = JSON.parse(readFileSync(path.join(straight, 'best', 'graft.json'), 'utf8')).training;
  const bestB = JSON.parse(readFileSync(path.join(resumed, 'best', 'graft.json'), 'utf8')).training;
  assert.equal(bestB.epoch, bestA.epoch);
  assert.equal(state.bestEpoch, bestA.epoch);
  // The checkpoint records the run's settings, which is what the resume went on with.
  assert.equal(bestB.batchSize, 16);
  assert.equal(bestB.valSplit, 0.25);
  assert.equal(bestB.weightDecay, 1e-3);
});

test('--resume with other freezing than the saved optimizer state is refused, not trained wrongly', async () => {
  const dir = path.join(work, 'mismatch');
  await trainModel(options(dir, 1));
  await assert.rejects(
    trainModel({ data: images.root, out: dir, epochs: 2, resume: true, freezeTo: 'conv2', progress: false }),
    (e: Error) => e instanceof GraftError && /cannot resume/.test(e.message),
  );
  await assert.rejects(trainModel({ data: images.root, out: path.join(work, 'nothing-here'), epochs: 2, resume: true, progress: false }), /not a graft run directory/);
});

test('--resume with a new --lr keeps the optimizer state at the new rate; another --optimizer starts it afresh', async () => {
  const dir = path.join(work, 'new-rate');
  await trainModel(options(dir, 1));
  const lines: string[] = [];
  await trainModel({ data: images.root, out: dir, epochs: 2, resume: true, lr: 1e-4, progress: false, log: (l) => lines.push(l) });
  assert.ok(lines.includes('learning rate 0.001 → 0.0001 (the optimizer\'s state is kept)'), lines.join('\n'));
  const training = (file: string) => (JSON.parse(readFileSync(path.join(dir, file, 'graft.json'), 'utf8')) as { training: { optimizer: { name: string; learningRate: number; lrMult: unknown } } }).training;
  assert.equal(training('last').optimizer.learningRate, 1e-4);
  assert.deepEqual(training('last').optimizer.lrMult, [{ pattern: 'ip2', factor: 10 }], 'the first run\'s --lr-mult is kept');
  // The saved state is Adam's: SGD cannot take it over, and says so rather than refusing.
  lines.length = 0;
  await trainModel({ data: images.root, out: dir, epochs: 3, resume: true, optimizer: 'sgd', lr: 0.01, progress: false, log: (l) => lines.push(l) });
  assert.ok(lines.includes('--optimizer sgd (the run used adam): the optimizer starts afresh'), lines.join('\n'));
  assert.equal(training('last').optimizer.name, 'sgd');
  assert.equal(readLog(dir).length, 3);
});
