/**
 * The real LeNet (trained by Caffe on MNIST, ../shared/fixtures/real/caffe-lenet) through the CLI as
 * a user runs it. Reference: expected_ip2.json, computed by Chainer 7.8.1's CaffeFunction on the
 * grayscale pixels × 0.00390625.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, SHARED_FIXTURES, relativeError } from '../helpers.js';

const LENET = path.join(SHARED_FIXTURES, 'real', 'caffe-lenet');
const work = mkdtempSync(path.join(tmpdir(), 'graft-lenet-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function graft(...args: string[]) {
  const result = spawnSync(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { encoding: 'utf8', cwd: work });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Expected {
  samples: { file: string; label: number; ip2: number[] }[];
}
const expected = JSON.parse(readFileSync(path.join(LENET, 'expected_ip2.json'), 'utf8')) as Expected;

for (const withPrototxt of [true, false]) {
  test(`LeNet converted ${withPrototxt ? 'with deploy.prototxt' : 'from the caffemodel alone'}: digits and ip2 match Chainer`, () => {
    const out = path.join(work, withPrototxt ? 'lenet-deploy' : 'lenet-model');
    const args = ['convert', path.join(LENET, 'lenet_iter_10000.caffemodel'), '-o', out];
    if (withPrototxt) args.push('--prototxt', path.join(LENET, 'deploy.prototxt'));
    else args.push('--input-shape', '1,1,28,28');
    const converted = graft(...args);
    assert.equal(converted.code, 0, converted.stderr);
    assert.match(converted.stdout, /parameters\s+431,080/);
    for (const file of ['model.json', 'graft.json', 'group1-shard1of1.bin']) assert.ok(existsSync(path.join(out, file)), file);

    const images = expected.samples.map((s) => path.join(LENET, s.file));
    const predicted = graft('predict', out, ...images, '--scale', '0.00390625', '--layer', 'ip2', '--json');
    assert.equal(predicted.code, 0, predicted.stderr);
    const result = JSON.parse(predicted.stdout) as { output: { shape: number[]; values: number[] } };
    assert.deepEqual(result.output.shape, [10, 10]);
    expected.samples.forEach((sample, i) => {
      const row = result.output.values.slice(i * 10, i * 10 + 10);
      const error = relativeError(row, sample.ip2);
      assert.ok(error < 1e-4, `${sample.file}: ip2 relative error ${error}`);
      const digit = row.indexOf(Math.max(...row));
      assert.equal(digit, sample.label, `${sample.file} classified as ${digit}`);
    });

    // The plain top-k view agrees: every sample's top-1 class is its label.
    const top = graft('predict', out, ...images, '--scale', '0.00390625', '--top', '1', '--json');
    assert.equal(top.code, 0, top.stderr);
    const ranked = JSON.parse(top.stdout) as { predictions: { top: { index: number }[] }[] };
    assert.deepEqual(ranked.predictions.map((p) => p.top[0].index), expected.samples.map((s) => s.label));
  });
}

test('convert refuses a non-empty output directory without --force and leaves nothing behind on failure', () => {
  const out = path.join(work, 'lenet-force');
  const first = graft('convert', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(LENET, 'deploy.prototxt'), '-o', out);
  assert.equal(first.code, 0, first.stderr);
  const again = graft('convert', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(LENET, 'deploy.prototxt'), '-o', out);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /^graft: .*lenet-force: directory is not empty \(use --force/);
  assert.equal(again.stderr.trim().split('\n').length, 1);
  const forced = graft('convert', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(LENET, 'deploy.prototxt'), '-o', out, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(readdirSync(work).filter((f) => f.includes('graft-tmp')), []);
});

test('inspect lists the caffemodel blobs and the converted model layers', () => {
  const blobs = graft('inspect', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--json');
  assert.equal(blobs.code, 0, blobs.stderr);
  const weights = JSON.parse(blobs.stdout) as { tensors: { name: string; shape: number[] }[] };
  assert.deepEqual(
    weights.tensors.map((t) => `${t.name}:${t.shape.join('x')}`),
    ['conv1/0:20x1x5x5', 'conv1/1:20', 'conv2/0:50x20x5x5', 'conv2/1:50', 'ip1/0:500x800', 'ip1/1:500', 'ip2/0:10x500', 'ip2/1:10'],
  );
  const out = path.join(work, 'lenet-deploy');
  const layers = graft('inspect', out);
  assert.equal(layers.code, 0, layers.stderr);
  assert.match(layers.stdout, /^\s*\d+\s+conv1\s+Conv2D\s+\[N, 24, 24, 20\]\s+520\s+yes$/m);
  assert.match(layers.stdout, /total params: 431,080/);
});

test('--help works for every command', () => {
  for (const command of [[], ['convert'], ['inspect'], ['predict']]) {
    const help = graft(...command, '--help');
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Options:/);
  }
});

test('bad input: one line on stderr, non-zero exit, no output directory', () => {
  const out = path.join(work, 'never');
  const missing = graft('convert', path.join(work, 'nope.caffemodel'), '-o', out);
  assert.notEqual(missing.code, 0);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /nope\.caffemodel/);
  const notProtobuf = graft('convert', path.join(LENET, 'deploy.prototxt'), '-o', out);
  assert.notEqual(notProtobuf.code, 0);
  assert.equal(notProtobuf.stderr.trim().split('\n').length, 1, notProtobuf.stderr);
  assert.ok(!existsSync(out));
  const noCommand = graft();
  assert.equal(noCommand.code, 2);
});
