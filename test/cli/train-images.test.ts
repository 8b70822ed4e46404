/**
 * The image acceptance test, through the CLI as a user runs it: a generated folder of three
 * synthetic classes (a few hundred PNGs and JPEGs, one truncated JPEG, one stray text file), the
 * repository's Caffe LeNet converted with `graft convert`, then `graft finetune` (its 10-way ip2
 * replaced by a 3-way head), `graft predict` on the best checkpoint and `graft evaluate --json`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { FIXTURES } from '../helpers.js';
import { CLASSES, graft, makeImageFolder } from '../train/fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-train-images-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const PER_CLASS = 80;
const EPOCHS = 5;

test('graft finetune on a generated image folder: learns, skips the corrupt file, writes reports and checkpoints that load', async (t) => {
  const data = await makeImageFolder(path.join(work, 'shapes'), PER_CLASS);
  const lenet = path.join(work, 'lenet');
  const converted = graft(work, 'convert', path.join(FIXTURES, 'lenet', 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(FIXTURES, 'lenet', 'deploy.prototxt'), '-o', lenet);
  assert.equal(converted.code, 0, converted.stderr);

  const run = path.join(work, 'run');
  const tuned = graft(work, 'finetune', '--from', lenet, '--data', data.root, '--epochs', String(EPOCHS), '--out', run, '--seed', '1');
  assert.equal(tuned.code, 0, tuned.stderr);
  const out = tuned.stdout;
  // The truncated JPEG is reported (never a crash), and it is the only file skipped.
  assert.match(out, /skipped 1 unreadable file\(s\): \S*disk_corrupt\.jpg \(.*cannot decode image/);
  // 80 readable images per class, 30 % of each held out.
  assert.match(out, /data: 168 training \(bars_h 56, bars_v 56, disk 56\), 72 validation \(bars_h 24, bars_v 24, disk 24\)/);
  assert.match(out, /replacing the last Dense layer \(10 outputs\) with a new one of 3/);
  // PrintReport: the header, then one row per epoch.
  const lines = out.split('\n');
  const header = lines.findIndex((l) => /^epoch\s+iteration\s+main\/loss\s+main\/accuracy\s+validation\/main\/loss\s+validation\/main\/accuracy\s+elapsed_time/.test(l));
  assert.ok(header >= 0, out);
  for (let e = 1; e <= EPOCHS; e++) assert.match(lines[header + e], new RegExp(`^${e}\\s+${e * 6}\\s+`));

  // log.json in Chainer's form: a list of flat records, its key order.
  const log = JSON.parse(readFileSync(path.join(run, 'log.json'), 'utf8')) as Record<string, number>[];
  assert.equal(log.length, EPOCHS);
  log.forEach((record, i) => {
    assert.deepEqual(Object.keys(record), ['main/loss', 'main/accuracy', 'validation/main/loss', 'validation/main/accuracy', 'epoch', 'iteration', 'elapsed_time']);
    assert.equal(record.epoch, i + 1);
    assert.equal(record.iteration, (i + 1) * Math.ceil(168 / 32));
  });
  const accuracies = log.map((r) => r['validation/main/accuracy']);
  const losses = log.map((r) => r['main/loss']);
  t.diagnostic(`validation accuracy by epoch: ${accuracies.map((a) => a.toFixed(3)).join(', ')}; training loss ${losses.map((l) => l.toFixed(3)).join(', ')}`);
  // Chance is 1/3.
  assert.ok(Math.max(...accuracies) >= 0.8, `validation accuracy ${accuracies}`);
  assert.ok(losses[EPOCHS - 1] < losses[0], `training loss ${losses}`);

  for (const png of ['loss.png', 'accuracy.png']) {
    const meta = await sharp(path.join(run, png)).metadata();
    assert.equal(meta.format, 'png', png);
    assert.ok((meta.width ?? 0) >= 200 && (meta.height ?? 0) >= 150, `${png}: ${meta.width}×${meta.height}`);
  }

  // best/ (by validation accuracy) and last/ are model directories with their graft.json.
  const bestEpoch = accuracies.indexOf(Math.max(...accuracies)) + 1;
  for (const dir of ['best', 'last']) {
    for (const file of ['model.json', 'graft.json', 'group1-shard1of1.bin']) assert.ok(existsSync(path.join(run, dir, file)), `${dir}/${file}`);
    const graftJson = JSON.parse(readFileSync(path.join(run, dir, 'graft.json'), 'utf8'));
    assert.deepEqual(graftJson.classNames, [...CLASSES]);
    assert.equal(graftJson.input.scale, 0.00390625);
    assert.equal(graftJson.input.channelOrder, 'GRAY');
    assert.equal(graftJson.training.epoch, dir === 'best' ? bestEpoch : EPOCHS);
  }
  assert.ok(statSync(path.join(run, 'last', 'optimizer.bin')).size > 0);

  // The best checkpoint loads and predicts, naming its classes from graft.json (no --scale: the
  // checkpoint carries the preprocessing it was trained with).
  const predicted = graft(work, 'predict', path.join(run, 'best'), ...data.samples, '--json');
  assert.equal(predicted.code, 0, predicted.stderr);
  const result = JSON.parse(predicted.stdout) as { predictions: { top: { label: string; probability: number }[] }[] };
  assert.deepEqual(result.predictions.map((p) => p.top[0].label), [...CLASSES]);
  for (const p of result.predictions) {
    const sum = p.top.reduce((s, t) => s + t.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
  }

  // evaluate --json on the whole folder: the corrupt file is skipped there too.
  const evaluated = graft(work, 'evaluate', '--model', path.join(run, 'best'), '--data', data.root, '--json');
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const evaluation = JSON.parse(evaluated.stdout) as { loss: number; accuracy: number; confusion: number[][]; classNames: string[]; count: number; skipped: { path: string }[] };
  assert.equal(evaluation.count, data.count);
  assert.deepEqual(evaluation.skipped.map((s) => path.basename(s.path)), ['disk_corrupt.jpg']);
  assert.deepEqual(evaluation.classNames, [...CLASSES]);
  assert.deepEqual(evaluation.confusion.map((row) => row.reduce((a, b) => a + b, 0)), [PER_CLASS, PER_CLASS, PER_CLASS]);
  const diagonal = evaluation.confusion.reduce((s, row, i) => s + row[i], 0);
  assert.ok(Math.abs(evaluation.accuracy - diagonal / data.count) < 1e-12);
  t.diagnostic(`best checkpoint on all ${data.count} images: accuracy ${evaluation.accuracy.toFixed(3)}`);
  assert.ok(evaluation.accuracy >= 0.8, `accuracy ${evaluation.accuracy}`);
});
