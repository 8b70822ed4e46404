/**
 * ResNetLayers' BuildingBlock path (BottleneckA 'a' then BottleneckB 'b1', identity shortcut),
 * which the Chainer fixtures (bare BottleneckA stages) do not reach: a slim chain with random
 * weights and statistics against a numpy transcription of chainer/links/model/vision/resnet.py's
 * forward in test mode (conv, BatchNormalization with eps 2e-5, cover_all max pooling, global
 * average pooling, Linear). Skipped without python3 + numpy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readNpy, writeNpy } from '../../../src/formats/npy/npy.js';
import { toFloat32 } from '../../../src/tensor/tensor.js';
import { convertModel } from '../../../src/tfjs/convert.js';
import { predictArray } from '../../../src/tfjs/predict.js';
import { relativeError } from '../../helpers.js';
import { npzOf, randomFloats } from './npz-writer.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-resnet-ref-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const skip = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0 ? false : 'python3 with numpy is not available';

const REFERENCE = `
import sys
import numpy as np
z = np.load(sys.argv[1])
x = np.load(sys.argv[2]).astype(np.float64)

def conv(x, key, stride, pad):
    W = z[key + '/W'].astype(np.float64)
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out += np.einsum('nchw,oc->nohw', patch, W[:, :, i, j])
    if key + '/b' in z.files:
        out += z[key + '/b'][None, :, None, None]
    return out

def bn(x, key):
    g, b, m, v = (z[key + '/' + p].astype(np.float64)[None, :, None, None] for p in ('gamma', 'beta', 'avg_mean', 'avg_var'))
    return (x - m) / np.sqrt(v + 2e-5) * g + b

relu = lambda x: np.maximum(x, 0)

def max_pool_cover_all(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k + s - 1) // s + 1, (w - k + s - 1) // s + 1
    xp = np.full((n, c, (oh - 1) * s + k, (ow - 1) * s + k), -np.inf)
    xp[:, :, :h, :w] = x
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(k):
        for j in range(k):
            out = np.maximum(out, xp[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s])
    return out

def bottleneck_a(x, p, stride):
    h = relu(bn(conv(x, p + '/conv1', stride, 0), p + '/bn1'))
    h = relu(bn(conv(h, p + '/conv2', 1, 1), p + '/bn2'))
    h = bn(conv(h, p + '/conv3', 1, 0), p + '/bn3')
    return relu(h + bn(conv(x, p + '/conv4', stride, 0), p + '/bn4'))

def bottleneck_b(x, p):
    h = relu(bn(conv(x, p + '/conv1', 1, 0), p + '/bn1'))
    h = relu(bn(conv(h, p + '/conv2', 1, 1), p + '/bn2'))
    return relu(bn(conv(h, p + '/conv3', 1, 0), p + '/bn3') + x)

h = max_pool_cover_all(relu(bn(conv(x, 'conv1', 2, 3), 'bn1')), 3, 2)
h = bottleneck_b(bottleneck_a(h, 'res2/a', 1), 'res2/b1')
h = bottleneck_b(bottleneck_a(h, 'res3/a', 2), 'res3/b1')
h = h.mean(axis=(2, 3))
y = h @ z['fc6/W'].astype(np.float64).T + z['fc6/b']
np.save(sys.argv[3], y.astype(np.float32))
`;

test('ResNetChain with BuildingBlocks (a + b1 per stage) matches a numpy transcription of Chainer\'s forward', { skip }, async () => {
  const arrays: Record<string, { shape: number[]; values: Float32Array }> = {};
  let seed = 1;
  const add = (key: string, shape: number[], scale = 0.3, offset = 0) => {
    const values = randomFloats(shape.reduce((a, b) => a * b, 1), seed++).map((v) => v * scale + offset);
    arrays[key] = { shape, values };
  };
  const batchnorm = (key: string, channels: number) => {
    add(`${key}/gamma`, [channels], 0.5, 1);
    add(`${key}/beta`, [channels], 0.2);
    add(`${key}/avg_mean`, [channels], 0.2);
    add(`${key}/avg_var`, [channels], 0.5, 0.6);
  };
  add('conv1/W', [8, 3, 7, 7], 0.2);
  add('conv1/b', [8], 0.1);
  batchnorm('bn1', 8);
  let channels = 8;
  for (const [stage, mid, out] of [['res2', 4, 16], ['res3', 8, 24]] as const) {
    add(`${stage}/a/conv1/W`, [mid, channels, 1, 1]);
    add(`${stage}/a/conv2/W`, [mid, mid, 3, 3]);
    add(`${stage}/a/conv3/W`, [out, mid, 1, 1]);
    add(`${stage}/a/conv4/W`, [out, channels, 1, 1]);
    for (let i = 1; i <= 4; i++) batchnorm(`${stage}/a/bn${i}`, i < 3 ? mid : out);
    add(`${stage}/b1/conv1/W`, [mid, out, 1, 1]);
    add(`${stage}/b1/conv2/W`, [mid, mid, 3, 3]);
    add(`${stage}/b1/conv3/W`, [out, mid, 1, 1]);
    for (let i = 1; i <= 3; i++) batchnorm(`${stage}/b1/bn${i}`, i < 3 ? mid : out);
    channels = out;
  }
  add('fc6/W', [5, channels]);
  add('fc6/b', [5], 0.1);
  const npz = path.join(work, 'resnet_blocks.npz');
  writeFileSync(npz, npzOf(arrays, true));
  // 40 → conv1 20 → pool1 10 under cover_all (floor rounding would give 9).
  const input = path.join(work, 'input.npy');
  writeFileSync(input, writeNpy(randomFloats(2 * 3 * 40 * 40, 1234).map((v) => v * 4), [2, 3, 40, 40]));
  const expectedFile = path.join(work, 'fc6.npy');
  const reference = spawnSync('python3', ['-c', REFERENCE, npz, input, expectedFile], { encoding: 'utf8' });
  assert.equal(reference.status, 0, reference.stderr);

  const out = path.join(work, 'resnet_blocks');
  const summary = await convertModel({ input: npz, output: out, inputShape: [1, 3, 40, 40] });
  assert.equal(summary.name, 'ResNetChain');
  const result = await predictArray({ model: out, input, layer: 'fc6' });
  const expected = readNpy(readFileSync(expectedFile), expectedFile);
  assert.deepEqual(result.shape, expected.shape);
  const error = relativeError(result.data, toFloat32(expected));
  assert.ok(error < 1e-4, `fc6: relative error ${error}`);
});
