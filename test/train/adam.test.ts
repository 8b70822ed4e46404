/**
 * FusedAdamOptimizer (one wasm kernel per variable) against tfjs's own AdamOptimizer: the same
 * weights and moments after several steps on random gradients, and the same saved state, so a
 * run trained with one resumes with the other.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/tfjs/backend.js';
import { FusedAdamOptimizer } from '../../src/train/adam.js';
import { Random } from '../../src/train/random.js';
import { relativeError } from '../helpers.js';

before(async () => {
  await useBackend('wasm', { threads: 1 });
});

function randomValues(count: number, random: Random, scale = 1): Float32Array {
  return Float32Array.from({ length: count }, () => (random.next() * 2 - 1) * scale);
}

test('the fused wasm Adam step equals tfjs Adam within float32 rounding, slots and saved state included', async (t) => {
  const random = new Random(7);
  const shapes = [[3, 3, 4, 8], [8], [1000]];
  const initial = shapes.map((shape) => randomValues(shape.reduce((a, b) => a * b, 1), random));
  const make = (prefix: string) => shapes.map((shape, i) => tf.variable(tf.tensor(initial[i], shape), true, `${prefix}_${i}`));
  const reference = make('reference');
  const fused = make('fused');
  const tfjsAdam = tf.train.adam(0.01, 0.9, 0.999);
  const graftAdam = new FusedAdamOptimizer(0.01, 0.9, 0.999);
  const before = tf.memory().numTensors;
  for (let step = 0; step < 5; step++) {
    // Gradients of very different sizes, zeros included: the bias correction and ε both matter.
    const gradients = shapes.map((shape, i) => randomValues(shape.reduce((a, b) => a * b, 1), random, i === 2 ? 1e-6 : 1).map((g, k) => (k % 7 === 0 ? 0 : g)));
    tf.tidy(() => {
      tfjsAdam.applyGradients(reference.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradients[i], shapes[i]) })));
      graftAdam.applyGradients(fused.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradients[i], shapes[i]) })));
    });
    if (step === 1) assert.equal(tf.memory().numTensors - before, 2 * 2 * shapes.length, 'only the m and v slots were added');
  }
  assert.equal(tf.memory().numTensors - before, 2 * 2 * shapes.length, 'no tensor leaks per step');
  let worst = 0;
  for (let i = 0; i < shapes.length; i++) {
    const error = relativeError(await fused[i].data(), await reference[i].data());
    worst = Math.max(worst, error);
    assert.ok(error < 5e-6, `variable ${i}: ${error}`);
    assert.ok(relativeError(await fused[i].data(), initial[i]) > 1e-4, `variable ${i} moved`);
  }
  const savedReference = await tfjsAdam.getWeights();
  const savedFused = await graftAdam.getWeights();
  assert.deepEqual(savedFused.map((w) => w.name.replace(/^fused/, 'reference')), savedReference.map((w) => w.name));
  assert.deepEqual(await savedFused[0].tensor.data(), await savedReference[0].tensor.data(), 'iterations');
  for (let k = 1; k < savedFused.length; k++) {
    const error = relativeError(await savedFused[k].tensor.data(), await savedReference[k].tensor.data());
    assert.ok(error < 1e-5, `${savedFused[k].name}: ${error}`);
  }
  // A fused optimizer given tfjs's saved state steps as tfjs's does.
  const resumed = new FusedAdamOptimizer(0.01, 0.9, 0.999);
  await resumed.setWeights(savedReference.map((w) => ({ name: w.name.replace(/^reference/, 'fused'), tensor: w.tensor })));
  // (tfjs binds slots by position: every variable, in the same order, on every step.)
  const gradients = shapes.map((shape) => randomValues(shape.reduce((a, b) => a * b, 1), random));
  tf.tidy(() => {
    tfjsAdam.applyGradients(reference.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradients[i], shapes[i]) })));
    resumed.applyGradients(fused.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradients[i], shapes[i]) })));
  });
  const error = Math.max(...(await Promise.all(fused.map(async (v, i) => relativeError(await v.data(), await reference[i].data())))));
  assert.ok(error < 5e-6, `after a resumed step: ${error}`);
  t.diagnostic(`largest relative difference from tfjs Adam after 5 steps: ${worst.toExponential(2)}; after resuming: ${error.toExponential(2)}`);
  tf.dispose([...reference, ...fused, ...savedReference.map((w) => w.tensor), ...savedFused.map((w) => w.tensor)]);
  tfjsAdam.dispose();
  graftAdam.dispose();
  resumed.dispose();
});
