/**
 * useFastTrainingLayers (src/train/fast-layers.ts) computes what tfjs-layers computes, on the cpu
 * backend (multiply-and-add affine maps) and on wasm (1×1 depthwise convolutions): forward output,
 * gradients with respect to the input and every weight, the moving statistics, frozen BatchNorm
 * left in inference mode, no leaked tensors, and a short training run ending at the same weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/tfjs/backend.js';
import { applyFreezing } from '../../src/train/freeze.js';
import { hasFastTrainingCall, useFastTrainingLayers } from '../../src/train/fast-layers.js';
import { trainEpoch, type Examples } from '../../src/train/loop.js';
import { disposeGroups, optimizerGroups } from '../../src/train/optimizers.js';
import { Random } from '../../src/train/random.js';
import { relative } from './fixtures.js';

const TOLERANCE = 1e-4;
const SHAPE = [5, 5, 3];

/**
 * Every variant the patches see ('patched': bn_b without β, bn_c without γ, bn_d without either;
 * 'reference' and 'full': all with both):
 *   input → c1 (3×3 same, relu; constant input: patched) → bn_a → relu ─┬→ c2 → bn_b ─ add → relu → bn_c → tanh → bn_d → flatten ─┐
 *                                                                      └─────────────┘                                        │
 *   input → c0 (3×3 valid, stride 2, no bias; constant input: patched) → flatten ──────────────────────────────────────── concat → dense
 *   input → bn_in (BatchNorm on the input itself) → c3 (1×1; input from bn_in: not patched) → flatten ─────────────────────┘
 */
function buildModel(tag: string, seed: number, variant: 'full' | 'reference' | 'patched' = 'full'): tf.LayersModel {
  const init = (s: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.4, seed: seed * 100 + s });
  const input = tf.input({ shape: SHAPE, name: `${tag}input` });
  const conv = (name: string, filters: number, kernelSize: number, extra: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
    tf.layers.conv2d({ name: `${tag}${name}`, filters, kernelSize, padding: 'same', kernelInitializer: init(filters + kernelSize), biasInitializer: init(7), ...extra });
  // tfjs-layers' BatchNormalization cannot train without γ or without β (its training path reads
  // both): the reference for those is one with γ = 1 and β = 0 (setWeights below).
  const bn = (name: string, center = true, scale = true) =>
    tf.layers.batchNormalization({ name: `${tag}${name}`, center: center || variant !== 'patched', scale: scale || variant !== 'patched', epsilon: 1e-3, momentum: 0.9 });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

  // 'full': every BatchNorm with γ and β (for whole training runs, compared with tfjs's own).
  const partial = variant !== 'full';
  let a = apply(conv('c1', 6, 3, { activation: 'relu' }), input);
  a = apply(bn('bn_a'), a);
  a = apply(tf.layers.reLU({ name: `${tag}relu_a` }), a);
  let b = apply(conv('c2', 6, 3, { biasInitializer: init(9) }), a);
  b = apply(bn('bn_b', !partial, true), b);
  let c = apply(tf.layers.add({ name: `${tag}residual` }), [a, b]);
  c = apply(tf.layers.reLU({ name: `${tag}relu_c` }), c);
  c = apply(bn('bn_c', true, !partial), c);
  c = apply(tf.layers.activation({ name: `${tag}tanh_c`, activation: 'tanh' }), c);
  c = apply(bn('bn_d', !partial, !partial), c);
  const c0 = apply(conv('c0', 4, 3, { padding: 'valid', strides: 2, useBias: false }), input);
  let d = apply(bn('bn_in'), input);
  d = apply(conv('c3', 5, 1, { padding: 'valid' }), d);
  const flat = apply(tf.layers.concatenate({ name: `${tag}concat` }), [
    apply(tf.layers.flatten({ name: `${tag}flat_c` }), c),
    apply(tf.layers.flatten({ name: `${tag}flat_c0` }), c0),
    apply(tf.layers.flatten({ name: `${tag}flat_d` }), d),
  ]);
  const out = apply(tf.layers.dense({ name: `${tag}out`, units: 3, kernelInitializer: init(11) }), flat);
  const model = tf.model({ inputs: input, outputs: out, name: `${tag}net` });
  // BatchNorm weights and statistics away from their initial 1s and 0s.
  const random = new Random(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.getWeights().map((w, i) => {
        const role = layer.weights[i].originalName.split('/').pop()!;
        const values = Float32Array.from({ length: w.size }, () => (role === 'moving_variance' ? 0.5 + random.next() : random.next() * 2 - 1));
        // The reference's stand-ins for the γ and β that the patched model's layers lack.
        if (partial && role === 'gamma' && /bn_[cd]$/.test(layer.name)) values.fill(1);
        if (partial && role === 'beta' && /bn_[bd]$/.test(layer.name)) values.fill(0);
        return tf.tensor(values, w.shape);
      }),
    );
  }
  return model;
}

const localName = (name: string) => name.replace(/^[a-z]_/, '').replace(/_\d+$/, '');
/** 'bn_a/gamma' for a weight of either copy. */
const weightKey = (w: tf.LayerVariable) => `${localName(w.originalName.split('/')[0])}/${w.originalName.split('/').pop()}`;

/**
 * An unpatched model and a patched one with the same weights. `partial`: some of the patched
 * one's BatchNorm layers lack γ, β or both, the reference's stand in with γ = 1, β = 0.
 */
function pair(seed: number, partial = false): { plain: tf.LayersModel; fast: tf.LayersModel } {
  const plain = buildModel('p_', seed, partial ? 'reference' : 'full');
  const fast = buildModel('f_', seed, partial ? 'patched' : 'full');
  const byKey = new Map(plain.weights.map((w) => [weightKey(w), w.read()]));
  tf.tidy(() => fast.weights.forEach((w) => w.write(tf.clone(byKey.get(weightKey(w))!))));
  useFastTrainingLayers(fast);
  return { plain, fast };
}

function randomTensor(shape: number[], seed: number, mean = 0, scale = 1): tf.Tensor {
  const random = new Random(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => mean + scale * (random.next() * 2 - 1)), shape);
}

/** Forward output, d(loss)/d(input) and d(loss)/d(each trainable weight), for a weighted-sum loss. */
function outputAndGradients(model: tf.LayersModel, x: tf.Tensor, lossWeights: tf.Tensor): { output: Float32Array; dx: Float32Array; grads: Map<string, Float32Array> } {
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(model.apply(input, { training: true }) as tf.Tensor, lossWeights)) as tf.Scalar;
  const output = tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
  const dx = tf.grad(loss)(x);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => loss(x), variables);
  const result = {
    output: output.dataSync() as Float32Array,
    dx: dx.dataSync() as Float32Array,
    grads: new Map(model.trainableWeights.map((w, i) => [weightKey(w), grads[variables[i].name].dataSync() as Float32Array])),
  };
  tf.dispose([output, dx, value, ...Object.values(grads)]);
  return result;
}

/**
 * max |a − b| over max |b|, or over a thousandth of `scale` where b is smaller: a convolution's
 * bias ahead of a BatchNorm has a gradient of exactly 0 in theory, rounding noise in practice.
 */
function gradientError(a: Float32Array, b: Float32Array, scale: number): number {
  const absolute = relative(a, b) * Math.max(...Array.from(b, Math.abs), 0);
  return absolute / Math.max(Math.max(...Array.from(b, Math.abs)), 1e-3 * scale) || relative(a, b);
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const partial of [false, true]) {
    test(`${backend}: patched layers give tfjs's output, gradients and moving statistics${partial ? ' (BatchNorm without γ, β or both)' : ''}`, async () => {
      await useBackend(backend);
      const { plain, fast } = pair(1, partial);
      const patchedNames = fast.layers.filter(hasFastTrainingCall).map((l) => localName(l.name)).sort();
      // c2 and c3 have inputs that depend on trained weights; bn_* all train.
      assert.deepEqual(patchedNames, ['bn_a', 'bn_b', 'bn_c', 'bn_d', 'bn_in', 'c0', 'c1']);
      if (partial) assert.equal(fast.trainableWeights.length, plain.trainableWeights.length - 4);
      const x = randomTensor([4, ...SHAPE], 2, 0.3, 2);
      const lossWeights = randomTensor([4, 3], 3);
      // Two rounds: the second starts from moving statistics both have updated (3 training calls each).
      for (let round = 0; round < 2; round++) {
        const a = outputAndGradients(plain, x, lossWeights);
        const b = outputAndGradients(fast, x, lossWeights);
        assert.ok(relative(b.output, a.output) < TOLERANCE, `output: ${relative(b.output, a.output)}`);
        assert.ok(relative(b.dx, a.dx) < TOLERANCE, `d/dx: ${relative(b.dx, a.dx)}`);
        assert.equal(b.grads.size, fast.trainableWeights.length);
        const scale = Math.max(...[...a.grads.values()].map((g) => Math.max(...Array.from(g, Math.abs))));
        for (const [key, grad] of b.grads) {
          const error = gradientError(grad, a.grads.get(key)!, scale);
          assert.ok(error < TOLERANCE, `d/d${key}: ${error}`);
        }
        // Every weight, the moving statistics included, and inference after the updates.
        const reference = new Map(plain.weights.map((w) => [weightKey(w), w.read().dataSync()]));
        for (const w of fast.weights) {
          const error = relative(w.read().dataSync(), reference.get(weightKey(w))!);
          assert.ok(error < TOLERANCE, `${weightKey(w)} after ${3 * (round + 1)} training calls: ${error}`);
        }
        const inference = tf.tidy(() => relative((fast.predict(x) as tf.Tensor).dataSync(), (plain.predict(x) as tf.Tensor).dataSync()));
        assert.ok(inference < TOLERANCE, `inference: ${inference}`);
      }
      // The statistics did move (the comparison above is not of untouched initial values).
      const initial = buildModel('i_', 1, partial ? 'reference' : 'full');
      const moved = relative(fast.getLayer('f_bn_a').getWeights()[2].dataSync(), initial.getLayer('i_bn_a').getWeights()[2].dataSync());
      assert.ok(moved > 1e-3, `moving mean moved by ${moved}`);
      tf.dispose([x, lossWeights]);
      plain.dispose();
      fast.dispose();
      initial.dispose();
    });
  }

  test(`${backend}: a frozen BatchNorm stays in inference mode, whichever is applied first`, async () => {
    await useBackend(backend);
    for (const order of ['freeze first', 'patch first']) {
      const model = buildModel('z_', 4);
      if (order === 'patch first') useFastTrainingLayers(model);
      // Freezes input, c1 and bn_a (model.layers is topological: c0 and bn_in come later).
      const frozen = applyFreezing(model, { freezeTo: 'z_bn_a' });
      assert.ok(frozen.includes('z_bn_a'), order);
      if (order === 'freeze first') {
        useFastTrainingLayers(model);
        assert.equal(hasFastTrainingCall(model.getLayer('z_bn_a')), false);
      }
      const bnOutput = tf.model({ inputs: model.inputs, outputs: model.getLayer('z_bn_a').output as tf.SymbolicTensor });
      const statistics = () => model.getLayer('z_bn_a').getWeights().map((w) => Array.from(w.dataSync()));
      const before = statistics();
      const x = randomTensor([4, ...SHAPE], 5);
      const training = tf.tidy(() => (bnOutput.apply(x, { training: true }) as tf.Tensor).dataSync());
      const inference = tf.tidy(() => (bnOutput.apply(x, { training: false }) as tf.Tensor).dataSync());
      // Inference arithmetic both times (the frozen c1 unpatched too: bit-identical).
      assert.deepEqual(Array.from(training), Array.from(inference), order);
      assert.deepEqual(statistics(), before, order);
      x.dispose();
      model.dispose();
    }
  });

  test(`${backend}: a training step leaves no tensors behind`, async () => {
    await useBackend(backend);
    const { plain, fast: model } = pair(6);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer: tf.Optimizer = tf.train.adam(1e-3);
    const x = randomTensor([4, ...SHAPE], 7);
    const lossWeights = randomTensor([4, 3], 8);
    const step = () => {
      const grads = tf.tidy(() => tf.variableGrads(() => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, lossWeights)) as tf.Scalar, variables).grads);
      optimizer.applyGradients(grads);
      tf.dispose(Object.values(grads));
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    assert.equal(tf.memory().numTensors, before);
    // A training-mode call outside any tape (nothing is saved for a gradient): tfjs-layers' own
    // model.apply leaves one tensor behind there, the patched layers add none.
    const leftBehind = (m: tf.LayersModel) => {
      const start = tf.memory().numTensors;
      tf.tidy(() => m.apply(x, { training: true }) as tf.Tensor);
      return tf.memory().numTensors - start;
    };
    assert.equal(leftBehind(model), leftBehind(plain));
    optimizer.dispose();
    tf.dispose([x, lossWeights]);
    model.dispose();
    plain.dispose();
  });

  test(`${backend}: a short training run ends at the same weights with and without the patch`, async () => {
    await useBackend(backend);
    const { plain, fast } = pair(9);
    const count = 24;
    const random = new Random(10);
    const examples: Examples = {
      data: Float32Array.from({ length: count * SHAPE.reduce((a, b) => a * b, 1) }, () => random.next() * 2 - 1),
      shape: SHAPE,
      labels: Int32Array.from({ length: count }, (_, i) => i % 3),
      count,
    };
    const run = async (model: tf.LayersModel) => {
      const groups = optimizerGroups(model, { name: 'momentum', learningRate: 0.02 });
      for (let epoch = 1; epoch <= 2; epoch++) {
        const result = await trainEpoch({ model, activation: 'softmax', classes: 3, groups, examples, batchSize: 8, random: new Random(epoch) });
        assert.ok(result && Number.isFinite(result.loss));
      }
      disposeGroups(groups);
      return model.getWeights().map((w) => w.dataSync().slice());
    };
    const a = await run(plain);
    const b = await run(fast);
    const initialModel = buildModel('i_', 9);
    const initial = initialModel.getWeights();
    plain.weights.forEach((w, i) => {
      const error = relative(b[i], a[i]);
      assert.ok(error < TOLERANCE, `${w.name}: ${error}`);
    });
    // Training changed the weights (by more than the tolerance on the kernels).
    const change = relative(a[plain.weights.findIndex((w) => /c1\/kernel/.test(w.name))], initial[plain.weights.findIndex((w) => /c1\/kernel/.test(w.name))].dataSync());
    assert.ok(change > 1e-3, `c1's kernel changed by ${change}`);
    initialModel.dispose();
    plain.dispose();
    fast.dispose();
  });
}
