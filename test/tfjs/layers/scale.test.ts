import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GraftScale } from '../../../src/tfjs/layers/index.js';
import {
  BACKENDS,
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

/** Caffe ScaleLayer with axis at the channels and bias_term: y = x · gamma_c (+ beta_c). */
function referenceScale(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number> | null): Float64Array {
  const channels = gamma.length;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * gamma[i % channels] + (beta ? beta[i % channels] : 0);
  return out;
}

test('GraftScale multiplies (and shifts) each channel, rank 4 and rank 2, on cpu and wasm', async () => {
  const random = seededRandom(1);
  for (const dims of [[2, 3, 5, 7], [4, 7]]) {
    for (const useBias of [true, false]) {
      const x = randomValues(dims.reduce((a, b) => a * b), random);
      const gamma = randomValues(7, random);
      const beta = useBias ? randomValues(7, random) : null;
      for (const backend of BACKENDS) {
        await useBackend(backend);
        const weights = [tf.tensor1d(gamma), ...(beta ? [tf.tensor1d(beta)] : [])];
        const layer = new GraftScale({ useBias, weights });
        const got = forward(layer, tf.tensor(x, dims));
        assert.deepEqual(got.shape, dims);
        assertClose(got.values, referenceScale(x, gamma, beta), 1e-6, `[${dims}] bias ${useBias} on ${backend}`);
        assert.deepEqual(layer.getWeights().map((t) => t.shape), useBias ? [[7], [7]] : [[7]]);
      }
    }
  }
});

test('default initializers make the identity (Caffe Scale default filler)', async () => {
  await useBackend('cpu');
  const x = randomValues(30, seededRandom(2));
  const got = forward(new GraftScale({ useBias: true }), tf.tensor2d(x, [5, 6]));
  assertClose(got.values, x, 0, 'identity');
});

test('gradients w.r.t. input, gamma and beta match finite differences on cpu', async () => {
  await useBackend('cpu');
  const random = seededRandom(3);
  const dims = [2, 2, 3, 4];
  const x = randomValues(48, random);
  const gamma = randomValues(4, random);
  const beta = randomValues(4, random);
  const w = randomValues(48, random);
  const layer = new GraftScale({ useBias: true, weights: [tf.tensor1d(gamma), tf.tensor1d(beta)] });
  const xTensor = tf.tensor(x, dims);
  const weights = tf.tensor(w, dims);
  const loss = (input: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights));
  const dx = tf.grad(loss)(xTensor);
  assertClose(dx.dataSync(), numericGradient((p) => referenceScale(p, gamma, beta), x, w), 1e-4, 'dx');
  const { grads } = tf.variableGrads(() => loss(xTensor), layer.trainableWeights.map((v) => v.read() as tf.Variable));
  const [dGamma, dBeta] = Object.values(grads);
  assert.deepEqual([dGamma.shape, dBeta.shape], [[4], [4]]);
  assertClose(dGamma.dataSync(), numericGradient((p) => referenceScale(x, p, beta), gamma, w), 1e-4, 'dGamma');
  assertClose(dBeta.dataSync(), numericGradient((p) => referenceScale(x, gamma, p), beta, w), 1e-4, 'dBeta');
  tf.dispose([xTensor, weights, dx, dGamma, dBeta]);
});

test('model.json round trip keeps useBias and the weights', async () => {
  await useBackend('cpu');
  const random = seededRandom(4);
  const model = tf.sequential({
    layers: [new GraftScale({ name: 'sc', inputShape: [3, 3, 5], useBias: true, weights: [tf.tensor1d(randomValues(5, random)), tf.tensor1d(randomValues(5, random))] })],
  });
  const x = tf.tensor4d(randomValues(45, random), [1, 3, 3, 5]);
  const expected = (model.predict(x) as tf.Tensor).arraySync();
  for (const copy of [await rebuildFromJson(model), await saveAndLoad(model)]) {
    const layer = copy.getLayer('sc') as GraftScale;
    assert.ok(layer instanceof GraftScale);
    assert.equal(layer.useBias, true);
    assert.deepEqual((copy.predict(x) as tf.Tensor).arraySync(), expected);
  }
});

test('predict leaves no tensors behind, on cpu and wasm', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const model = tf.sequential({ layers: [new GraftScale({ inputShape: [4, 4, 3], useBias: true })] });
    const x = tf.ones([1, 4, 4, 3]);
    assertPredictDoesNotLeak(model, x);
    x.dispose();
  }
});
