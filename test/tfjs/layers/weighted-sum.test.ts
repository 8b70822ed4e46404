import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GraftWeightedSum } from '../../../src/tfjs/layers/index.js';
import {
  BACKENDS,
  assertClose,
  assertPredictDoesNotLeak,
  forward,
  randomValues,
  rebuildFromJson,
  saveAndLoad,
  seededRandom,
  useBackend,
} from './helpers.js';

/** Caffe EltwiseLayer SUM: top = Σ coeff_i · bottom_i. */
function referenceSum(inputs: ArrayLike<number>[], coeffs: number[]): Float64Array {
  const out = new Float64Array(inputs[0].length);
  inputs.forEach((x, i) => {
    for (let j = 0; j < out.length; j++) out[j] += coeffs[i] * x[j];
  });
  return out;
}

const COEFFS = [[1, -1], [0.5, 2, -3], [1, 1], [-0.25]];

test('GraftWeightedSum is Σ coeff_i · x_i, on cpu and wasm', async () => {
  const random = seededRandom(1);
  const dims = [2, 3, 5, 4];
  for (const coeffs of COEFFS) {
    const xs = coeffs.map(() => randomValues(120, random));
    for (const backend of BACKENDS) {
      await useBackend(backend);
      const got = forward(new GraftWeightedSum({ coeffs }), xs.map((x) => tf.tensor(x, dims)));
      assert.deepEqual(got.shape, dims);
      assertClose(got.values, referenceSum(xs, coeffs), 1e-6, `coeffs [${coeffs}] on ${backend}`);
    }
  }
});

test('the gradient of each input is its coefficient times the upstream gradient (cpu)', async () => {
  await useBackend('cpu');
  const random = seededRandom(2);
  const coeffs = [0.5, 2, -3];
  const layer = new GraftWeightedSum({ coeffs });
  const xs = coeffs.map(() => tf.tensor(randomValues(24, random), [2, 3, 4]));
  const w = randomValues(24, random);
  const weights = tf.tensor(w, [2, 3, 4]);
  const grads = tf.grads((...inputs: tf.Tensor[]) => tf.sum(tf.mul(layer.apply(inputs) as tf.Tensor, weights)))(xs);
  grads.forEach((g, i) => {
    assert.deepEqual(g.shape, [2, 3, 4]);
    assertClose(g.dataSync(), Array.from(w, (v) => v * coeffs[i]), 1e-6, `d input ${i}`);
  });
  tf.dispose([...xs, weights, ...grads]);
});

test('computeOutputShape merges unknown axes and refuses different shapes', () => {
  const layer = new GraftWeightedSum({ name: 'ws', coeffs: [1, 2] });
  assert.deepEqual(layer.computeOutputShape([[null, 4, null, 3], [null, null, 5, 3]]), [null, 4, 5, 3]);
  assert.throws(() => layer.computeOutputShape([[null, 4, 4, 3], [null, 4, 4, 2]]), /'ws': input shapes differ/);
  assert.throws(() => layer.computeOutputShape([[null, 4], [null, 4], [null, 4]]), /2 coefficients for 3 inputs/);
  assert.throws(() => new GraftWeightedSum({ coeffs: [] }), /coeffs/);
});

test('model.json round trip keeps the coefficients', async () => {
  await useBackend('cpu');
  const a = tf.input({ shape: [3, 3, 2] });
  const b = tf.input({ shape: [3, 3, 2] });
  const sum = new GraftWeightedSum({ name: 'eltwise', coeffs: [1, -0.5] }).apply([a, b]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [a, b], outputs: sum });
  const random = seededRandom(3);
  const xs = [tf.tensor4d(randomValues(18, random), [1, 3, 3, 2]), tf.tensor4d(randomValues(18, random), [1, 3, 3, 2])];
  const expected = (model.predict(xs) as tf.Tensor).arraySync();
  for (const copy of [await rebuildFromJson(model), await saveAndLoad(model)]) {
    const layer = copy.getLayer('eltwise') as GraftWeightedSum;
    assert.ok(layer instanceof GraftWeightedSum);
    assert.deepEqual(layer.coeffs, [1, -0.5]);
    assert.deepEqual((copy.predict(xs) as tf.Tensor).arraySync(), expected);
  }
});

test('predict leaves no tensors behind, on cpu and wasm', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const a = tf.input({ shape: [4] });
    const b = tf.input({ shape: [4] });
    const model = tf.model({ inputs: [a, b], outputs: new GraftWeightedSum({ coeffs: [2, 3] }).apply([a, b]) as tf.SymbolicTensor });
    const xs = [tf.ones([2, 4]), tf.ones([2, 4])];
    assertPredictDoesNotLeak(model, xs);
    tf.dispose(xs);
  }
});
