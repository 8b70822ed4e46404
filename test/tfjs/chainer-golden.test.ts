/**
 * Chainer golden cases (../shared/fixtures/chainer): each .npz was written by Chainer 7.8.1's own
 * save_npz and each reference `<name>.<layer>.npy` comes from Chainer's forward pass in test mode
 * (see each case's .json). Every case goes through the CLI as a user runs it: `graft convert` with
 * the input size the case was built at, then `graft predict --input --layer --save`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readNpy } from '../../src/formats/npy/npy.js';
import { toFloat32 } from '../../src/tensor/tensor.js';
import { REPO, SHARED_FIXTURES, relativeError } from '../helpers.js';
import { npzOf, randomFloats } from '../formats/chainer/npz-writer.js';

const CHAINER = path.join(SHARED_FIXTURES, 'chainer');
const work = mkdtempSync(path.join(tmpdir(), 'graft-chainer-golden-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function graft(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd: work, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

interface CaseJson {
  model: string;
  architecture: string;
  input: string;
  outputs: Record<string, string>;
}

const readArray = (file: string) => readNpy(readFileSync(file), file);

const CASES: { name: string; architecture: string; warning?: RegExp }[] = [
  { name: 'alexnet_small_classifier', architecture: 'AlexNet', warning: /L\.Classifier: model arrays read from 'predictor\/'/ },
  { name: 'tiny_resnet_bn', architecture: 'ResNetChain' },
  {
    name: 'trainer_snapshot_iter_1',
    architecture: 'ResNetChain',
    warning: /trainer snapshot of an L\.Classifier: model arrays read from 'updater\/model:main\/predictor\/' without that prefix; ignored 101 other arrays: .*updater\/optimizer:main\/ \(92\)/,
  },
];

for (const { name, architecture, warning } of CASES) {
  test(`${name}: graft convert + predict match Chainer 7.8.1 within 1e-4`, async () => {
    const spec = JSON.parse(readFileSync(path.join(CHAINER, `${name}.json`), 'utf8')) as CaseJson;
    const input = path.join(CHAINER, spec.input);
    // The case's own input size, batch 1 (the tfjs model takes any batch).
    const inputShape = [1, ...readArray(input).shape.slice(1)];
    const out = path.join(work, name);
    const converted = await graft('convert', path.join(CHAINER, spec.model), '-o', out, '--input-shape', inputShape.join(','), '--json');
    assert.equal(converted.code, 0, converted.stderr);
    const summary = JSON.parse(converted.stdout) as { format: string; name: string; warnings: string[] };
    assert.equal(summary.format, 'chainer');
    assert.equal(summary.name, architecture);
    if (warning) assert.ok(summary.warnings.some((w) => warning.test(w)), summary.warnings.join('\n'));
    // Every model array is used; BN counters and optimizer state are not model weights.
    assert.ok(!summary.warnings.some((w) => /used by no layer/.test(w)), summary.warnings.join('\n'));

    for (const [layer, file] of Object.entries(spec.outputs)) {
      const saved = path.join(work, `${name}.${layer}.out.npy`);
      const predicted = await graft('predict', out, '--input', input, '--layer', layer, '--save', saved);
      assert.equal(predicted.code, 0, predicted.stderr);
      const reference = readArray(path.join(CHAINER, file));
      const actual = readArray(saved);
      assert.deepEqual(actual.shape, reference.shape, `${layer} shape`);
      const error = relativeError(toFloat32(actual), toFloat32(reference));
      assert.ok(error < 1e-4, `${name} ${layer}: relative error ${error}`);
    }
  });
}

test('graft inspect lists every array of a trainer snapshot, optimizer state included', async () => {
  const listed = await graft('inspect', path.join(CHAINER, 'trainer_snapshot_iter_1.npz'), '--json');
  assert.equal(listed.code, 0, listed.stderr);
  const result = JSON.parse(listed.stdout) as { format: string; tensors: { name: string; dtype: string; shape: number[] }[]; warnings: string[] };
  assert.equal(result.format, 'chainer');
  assert.equal(result.tensors.length, 158);
  const byName = new Map(result.tensors.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('res3/conv4/W')?.shape, [64, 32, 1, 1]);
  assert.deepEqual(byName.get('bn1/N'), { name: 'bn1/N', dtype: 'int64', shape: [], bytes: 8 });
  assert.deepEqual(byName.get('updater/optimizer:main/predictor/conv1/W/m')?.shape, [16, 3, 7, 7]);
  assert.match(result.warnings[0], /101 other arrays listed under their full keys/);

  const plain = await graft('inspect', path.join(CHAINER, 'alexnet_small_classifier.npz'));
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^conv2\/W\s+float32\s+\[64, 12, 5, 5\]\s+76,800$/m);
  assert.match(plain.stdout, /16 tensors, 813,480 bytes \(chainer\)/);
});

test('a VGG16Layers-shaped npz records prepare()\'s input convention and Chainer\'s layer names in graft.json', async () => {
  // VGG16Layers' layout at reduced widths (read from the file), for a 32×32 input: pool5 is 1×1.
  const arrays: Record<string, { shape: number[]; values: Float32Array }> = {};
  let channels = 3;
  let seed = 1;
  const add = (key: string, shape: number[]) => (arrays[key] = { shape, values: randomFloats(shape.reduce((a, b) => a * b, 1), seed++) });
  [[4, 4], [6, 6], [8, 8, 8], [8, 8, 8], [8, 8, 8]].forEach((stage, s) =>
    stage.forEach((width, i) => {
      add(`conv${s + 1}_${i + 1}/W`, [width, channels, 3, 3]);
      add(`conv${s + 1}_${i + 1}/b`, [width]);
      channels = width;
    }),
  );
  add('fc6/W', [16, 8]);
  add('fc6/b', [16]);
  add('fc7/W', [16, 16]);
  add('fc7/b', [16]);
  add('fc8/W', [3, 16]);
  add('fc8/b', [3]);
  const file = path.join(work, 'vgg16_small.npz');
  writeFileSync(file, npzOf(arrays, true));
  const out = path.join(work, 'vgg16_small');
  const converted = await graft('convert', file, '-o', out, '--input-shape', '1,3,32,32');
  assert.equal(converted.code, 0, converted.stderr);
  assert.match(converted.stdout, /net "VGG16Layers"/);
  assert.match(converted.stdout, /output\s+prob \[N, 3\]/);
  const graftJson = JSON.parse(readFileSync(path.join(out, 'graft.json'), 'utf8')) as {
    input: Record<string, unknown>;
    layers: Record<string, string>;
    outputs: string[];
  };
  assert.deepEqual(graftJson.input, {
    name: 'input',
    shape: [1, 3, 32, 32],
    sourceLayout: 'NCHW',
    modelLayout: 'NHWC',
    channelOrder: 'BGR',
    scale: 1,
    mean: [103.939, 116.779, 123.68],
  });
  assert.deepEqual(graftJson.outputs, ['prob']);
  // As VGG16Layers.extract names them: conv5_3 and fc7 after their ReLU (and dropout).
  assert.equal(graftJson.layers.conv5_3, 'relu5_3');
  assert.equal(graftJson.layers.fc7, 'drop7');
  assert.equal(graftJson.layers.fc8, 'fc8');
});

test('--arch spec.json with Chainer link and function names converts the AlexNet case to the same fc8', async () => {
  const conv = (name: string, out: number, ksize: number, extra: Record<string, number> = {}) => ({ type: 'Convolution2D', name, out_channels: out, ksize, ...extra });
  const spec = {
    name: 'alex_small',
    input: { shape: [1, 3, 99, 99] },
    layers: [
      conv('conv1', 24, 11, { stride: 4 }), { type: 'relu' }, { type: 'local_response_normalization' }, { type: 'max_pooling_2d', ksize: 3, stride: 2 },
      conv('conv2', 64, 5, { pad: 2, groups: 2 }), { type: 'relu' }, { type: 'local_response_normalization' }, { type: 'max_pooling_2d', ksize: 3, stride: 2 },
      conv('conv3', 96, 3, { pad: 1 }), { type: 'relu' },
      conv('conv4', 96, 3, { pad: 1, groups: 2 }), { type: 'relu' },
      conv('conv5', 64, 3, { pad: 1, groups: 2 }), { type: 'relu' }, { type: 'max_pooling_2d', ksize: 3, stride: 2 },
      { type: 'Linear', name: 'fc6', out_size: 128 }, { type: 'relu' }, { type: 'dropout' },
      { type: 'Linear', name: 'fc7', out_size: 128 }, { type: 'relu' }, { type: 'dropout' },
      { type: 'Linear', name: 'fc8', out_size: 10 },
    ],
  };
  const specFile = path.join(work, 'alex-spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const out = path.join(work, 'alex-spec');
  const converted = await graft('convert', path.join(CHAINER, 'alexnet_small_classifier.npz'), '-o', out, '--arch', specFile);
  assert.equal(converted.code, 0, converted.stderr);
  assert.match(converted.stdout, /net "alex_small"/);
  const saved = path.join(work, 'alex-spec.fc8.npy');
  const predicted = await graft('predict', out, '--input', path.join(CHAINER, 'alexnet_small_classifier.input.npy'), '--layer', 'fc8', '--save', saved);
  assert.equal(predicted.code, 0, predicted.stderr);
  const error = relativeError(toFloat32(readArray(saved)), toFloat32(readArray(path.join(CHAINER, 'alexnet_small_classifier.fc8.npy'))));
  assert.ok(error < 1e-4, `fc8: relative error ${error}`);
});
