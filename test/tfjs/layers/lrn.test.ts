import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GraftLRN } from '../../../src/tfjs/layers/index.js';
import {
  BACKENDS,
  assertAllFinite,
  assertClose,
  assertPredictDoesNotLeak,
  forward,
  numericGradient,
  randomValues,
  rebuildFromJson,
  saveAndLoad,
  seededRandom,
  useBackend,
} from './helpers.js';

/**
 * Caffe's LRNLayer::CrossChannelForward_cpu in channels-last order: with pre_pad = (size − 1)/2,
 * scale_c = k + alpha / size · Σ_{c' = c − pre_pad}^{c + pre_pad} x_{c'}² (channels outside
 * [0, C) count as zeros), top = bottom · scale^−beta. `alpha` here is Caffe's, per window.
 */
function caffeLrn(x: ArrayLike<number>, channels: number, size: number, caffeAlpha: number, beta: number, k: number): Float64Array {
  const prePad = (size - 1) / 2;
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += channels) {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let d = c - prePad; d <= c + prePad; d++) if (d >= 0 && d < channels) sum += x[base + d] * x[base + d];
      out[base + c] = x[base + c] * Math.pow(k + (caffeAlpha / size) * sum, -beta);
    }
  }
  return out;
}

// Large alpha so the normalization is far from the identity and a wrong window shows.
const SETTINGS = [
  { size: 5, caffeAlpha: 2, beta: 0.75, k: 1 },
  { size: 3, caffeAlpha: 1.5, beta: 0.5, k: 2 },
  { size: 1, caffeAlpha: 3, beta: 0.75, k: 1 },
  { size: 7, caffeAlpha: 0.9, beta: 1.2, k: 0.5 }, // window as wide as the channels
];

test('GraftLRN matches Caffe ACROSS_CHANNELS with alpha / size, on cpu and wasm', async () => {
  const random = seededRandom(1);
  const dims: [number, number, number, number] = [2, 5, 3, 7];
  for (const s of SETTINGS) {
    const x = randomValues(dims.reduce((a, b) => a * b), random).map((v) => 2 * v);
    const expected = caffeLrn(x, dims[3], s.size, s.caffeAlpha, s.beta, s.k);
    for (const backend of BACKENDS) {
      await useBackend(backend);
      const layer = new GraftLRN({ size: s.size, alpha: s.caffeAlpha / s.size, beta: s.beta, k: s.k });
      const got = forward(layer, tf.tensor4d(x, dims));
      assert.deepEqual(got.shape, dims);
      assertClose(got.values, expected, 1e-5, `size ${s.size} on ${backend}`);
    }
  }
});

test('a rank-2 input normalizes along its last axis', async () => {
  await useBackend('cpu');
  const x = randomValues(4 * 9, seededRandom(2));
  const s = SETTINGS[0];
  const got = forward(new GraftLRN({ size: s.size, alpha: s.caffeAlpha / s.size, beta: s.beta, k: s.k }), tf.tensor2d(x, [4, 9]));
  assert.deepEqual(got.shape, [4, 9]);
  assertClose(got.values, caffeLrn(x, 9, s.size, s.caffeAlpha, s.beta, s.k), 1e-5, 'rank 2');
});

test('the gradient on the cpu backend matches finite differences of the reference', async () => {
  await useBackend('cpu');
  const random = seededRandom(3);
  const dims: [number, number, number, number] = [1, 2, 3, 6];
  for (const s of SETTINGS.slice(0, 2)) {
    const layer = new GraftLRN({ size: s.size, alpha: s.caffeAlpha / s.size, beta: s.beta, k: s.k });
    const x = randomValues(36, random);
    const w = randomValues(36, random);
    const dx = tf.tidy(() => {
      const weights = tf.tensor4d(w, dims);
      const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights)))(tf.tensor4d(x, dims));
      assert.deepEqual(g.shape, dims);
      return g.dataSync();
    });
    assertAllFinite(dx, 'dx');
    const numeric = numericGradient((p) => caffeLrn(p, 6, s.size, s.caffeAlpha, s.beta, s.k), x, w);
    assertClose(dx, numeric, 1e-4, `size ${s.size}: dx`);
  }
});

test('model.json round trip keeps size, alpha, beta, k', async () => {
  await useBackend('cpu');
  const model = tf.sequential({ layers: [new GraftLRN({ name: 'norm1', inputShape: [5, 5, 8], size: 5, alpha: 1e-4 / 5, beta: 0.75, k: 1 })] });
  const x = tf.tensor4d(randomValues(200, seededRandom(4)).map((v) => 300 * v), [1, 5, 5, 8]);
  const expected = (model.predict(x) as tf.Tensor).arraySync();
  for (const copy of [await rebuildFromJson(model), await saveAndLoad(model)]) {
    const layer = copy.getLayer('norm1') as GraftLRN;
    assert.ok(layer instanceof GraftLRN);
    assert.deepEqual([layer.size, layer.alpha, layer.beta, layer.k], [5, 1e-4 / 5, 0.75, 1]);
    assert.deepEqual((copy.predict(x) as tf.Tensor).arraySync(), expected);
  }
});

test('predict leaves no tensors behind, on cpu and wasm', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const model = tf.sequential({ layers: [new GraftLRN({ inputShape: [3, 3, 4], size: 3, alpha: 0.1, beta: 0.75, k: 1 })] });
    const x = tf.ones([2, 3, 3, 4]);
    assertPredictDoesNotLeak(model, x);
    x.dispose();
  }
});

test('an even or missing size is refused', () => {
  assert.throws(() => new GraftLRN({ name: 'n', size: 4, alpha: 1, beta: 1, k: 1 }), /'n'.*odd/);
  assert.throws(() => new GraftLRN({ name: 'n', size: 3, alpha: NaN, beta: 1, k: 1 }), /alpha/);
});
