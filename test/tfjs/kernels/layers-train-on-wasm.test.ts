/**
 * The survey behind graft's wasm kernels, kept as a test: every layer type a converted model uses
 * (builder.ts and graft's own layers) trains on wasm, with the loss gradient for its input and
 * every trainable weight matching the cpu backend within 1e-4 relative. Training mode is on, so
 * BatchNormalization uses batch statistics and Dropout drops (the same cells on both backends:
 * its mask comes from a seeded JavaScript generator).
 *
 * What the survey found on tfjs-backend-wasm 4.22 without graft's kernels (this test run against
 * tfjs's registrations alone): Conv2D, Conv2DTranspose and graft's grouped conv threw (no
 * Conv2DBackpropFilter), DepthwiseConv2D threw (no DepthwiseConv2dNativeBackpropInput/Filter),
 * max pooling (tfjs's and graft's) got wrong gradients (MaxPoolGrad); Dense matched, through the
 * slow transposed BatchMatMul; everything else (average pooling, BatchNorm, LRN, PReLU and the
 * activations, dropout, softmax and both cross-entropies, merges, padding, cropping, reshapes,
 * Scale, WeightedSum) already matched.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GraftGroupedConv2D, GraftLRN, GraftPooling2D, GraftScale, GraftWeightedSum } from '../../../src/tfjs/layers/index.js';
import { useBackend } from '../../../src/tfjs/backend.js';
import { assertRelative, onCpuAndWasm, seededTensor, wasmDataIds } from './helpers.js';

type Symbolic = tf.SymbolicTensor;

interface LayerCase {
  name: string;
  build: (x: Symbolic) => Symbolic;
  /** Per-example input shape; default [8, 8, 3]. */
  input?: number[];
  /** 'probabilities': the head ends in a Softmax layer and the loss is categoricalCrossentropy. */
  head?: 'logits' | 'probabilities';
}

const apply = (layer: tf.layers.Layer, x: Symbolic | Symbolic[]) => layer.apply(x) as Symbolic;
const conv = (args: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) => tf.layers.conv2d({ filters: 4, kernelSize: 3, ...args });
/**
 * A Dense on the channel axis: trainable weights in front of the layer under test without a
 * convolution, so that each case tests that layer's gradient alone (the survey's finding that
 * these already matched is this test passing without graft's kernels).
 */
const mix = (units = 4, useBias = true) => tf.layers.dense({ units, useBias });

const CASES: LayerCase[] = [
  { name: 'Conv2D 3×3 same', build: (x) => apply(conv({ padding: 'same' }), x) },
  { name: 'Conv2D 3×3 stride 2 valid', build: (x) => apply(conv({ strides: 2 }), x) },
  { name: 'Conv2D 1×1 stride 2, no bias', build: (x) => apply(conv({ kernelSize: 1, strides: 2, useBias: false }), x) },
  { name: 'DepthwiseConv2D same', build: (x) => apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), x) },
  {
    name: 'DepthwiseConv2D multiplier 2 stride 2',
    build: (x) => apply(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2 }), x),
  },
  { name: 'Conv2DTranspose stride 2', build: (x) => apply(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2 }), x) },
  { name: 'Dense on a vector', input: [12], build: (x) => apply(tf.layers.dense({ units: 5, activation: 'relu' }), x) },
  { name: 'MaxPooling2D 2 stride 2 valid', build: (x) => apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }), x) },
  { name: 'MaxPooling2D 3 stride 2 same', build: (x) => apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x) },
  { name: 'MaxPooling2D 2 stride 1 same', build: (x) => apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }), x) },
  { name: 'AveragePooling2D 3 stride 2 same', build: (x) => apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x) },
  { name: 'AveragePooling2D 2 stride 1 valid', build: (x) => apply(tf.layers.averagePooling2d({ poolSize: 2, strides: 1 }), x) },
  {
    name: 'BatchNormalization (training)',
    // No bias in front: batch statistics subtract it again, so its true gradient is 0 and both
    // backends return only rounding noise, which no relative bound can compare.
    build: (x) => apply(tf.layers.batchNormalization({ epsilon: 1e-5 }), apply(mix(4, false), x)),
  },
  { name: 'ReLU', build: (x) => apply(tf.layers.reLU(), apply(mix(), x)) },
  // The builder's ReLU6 is ReLU with maxValue 6 (relu then clipByValue); a cap the test's small
  // values reach exercises the same path.
  { name: 'ReLU with maxValue', build: (x) => apply(tf.layers.reLU({ maxValue: 0.2 }), apply(mix(), x)) },
  { name: 'LeakyReLU', build: (x) => apply(tf.layers.leakyReLU({ alpha: 0.1 }), apply(mix(), x)) },
  { name: 'PReLU per channel', build: (x) => apply(tf.layers.prelu({ sharedAxes: [1, 2] }), apply(mix(), x)) },
  ...(['elu', 'sigmoid', 'tanh', 'softplus'] as const).map((activation) => ({
    name: `Activation ${activation}`,
    build: (x: Symbolic) => apply(tf.layers.activation({ activation }), apply(mix(), x)),
  })),
  { name: 'Dropout (training)', build: (x) => apply(tf.layers.dropout({ rate: 0.3, seed: 7 }), apply(mix(), x)) },
  { name: 'Softmax + categoricalCrossentropy', head: 'probabilities', build: (x) => apply(mix(), x) },
  {
    name: 'Concatenate, Add, Multiply, Maximum',
    build: (x) => {
      const a = apply(mix(), x);
      const b = apply(mix(), x);
      const merged = [tf.layers.add(), tf.layers.multiply(), tf.layers.maximum()].map((layer) => apply(layer, [a, b]));
      return apply(tf.layers.concatenate(), merged);
    },
  },
  {
    name: 'ZeroPadding2D, Cropping2D',
    build: (x) => apply(tf.layers.cropping2D({ cropping: [[1, 0], [0, 2]] }), apply(tf.layers.zeroPadding2d({ padding: 2 }), apply(mix(), x))),
  },
  {
    name: 'Reshape, Permute',
    build: (x) => apply(tf.layers.permute({ dims: [2, 1] }), apply(tf.layers.reshape({ targetShape: [64, 4] }), apply(mix(), x))),
  },
  { name: 'GraftGroupedConv2D groups 2', input: [8, 8, 4], build: (x) => apply(new GraftGroupedConv2D({ filters: 6, kernelSize: 3, groups: 2 }), x) },
  {
    name: 'GraftGroupedConv2D groups 8 (depthwise + sum), stride 2',
    input: [7, 7, 16],
    build: (x) => apply(new GraftGroupedConv2D({ filters: 8, kernelSize: 3, strides: 2, groups: 8 }), x),
  },
  {
    name: 'GraftGroupedConv2D one input channel per group (multiplier 2)',
    input: [8, 8, 4],
    build: (x) => apply(new GraftGroupedConv2D({ filters: 8, kernelSize: 3, groups: 4 }), x),
  },
  {
    name: 'GraftGroupedConv2D dilation 2 stride 2',
    input: [11, 11, 4],
    build: (x) => apply(new GraftGroupedConv2D({ filters: 4, kernelSize: 3, dilationRate: 2, strides: 2, groups: 2 }), x),
  },
  {
    name: 'GraftPooling2D max, ceil rounding, pad 1 (−∞ padding)',
    build: (x) => apply(new GraftPooling2D({ mode: 'max', poolSize: 3, strides: 2, pad: 1, rounding: 'ceil' }), x),
  },
  {
    name: 'GraftPooling2D avg, ceil rounding, pad 1',
    build: (x) => apply(new GraftPooling2D({ mode: 'avg', poolSize: 3, strides: 2, pad: 1, rounding: 'ceil' }), x),
  },
  { name: 'GraftLRN', build: (x) => apply(new GraftLRN({ size: 5, alpha: 1e-2, beta: 0.75, k: 1 }), apply(mix(7), x)) },
  { name: 'GraftScale with bias', build: (x) => apply(new GraftScale({ useBias: true }), apply(mix(), x)) },
  {
    name: 'GraftWeightedSum',
    build: (x) => apply(new GraftWeightedSum({ coeffs: [1, -0.5] }), [apply(mix(), x), apply(mix(), x)]),
  },
];

const BATCH = 2;
const CLASSES = 3;

function buildModel(c: LayerCase): tf.LayersModel {
  const input = tf.input({ shape: c.input ?? [8, 8, 3] });
  let y = c.build(input);
  if (y.shape.length > 2) y = apply(tf.layers.flatten(), y);
  y = apply(tf.layers.dense({ units: CLASSES }), y);
  if (c.head === 'probabilities') y = apply(tf.layers.softmax(), y);
  const model = tf.model({ inputs: input, outputs: y });
  // Seeded weights, identical on both backends; variances positive.
  const values = model.weights.map((w, i) => {
    const random = seededTensor(w.shape as number[], 1000 + i);
    return /variance/.test(w.name) ? tf.add(tf.abs(random), 0.5) : tf.mul(random, 0.5);
  });
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

function lossOf(c: LayerCase, model: tf.LayersModel, x: tf.Tensor): tf.Scalar {
  const labels = tf.oneHot(tf.tensor1d([0, 2], 'int32'), CLASSES);
  const out = model.apply(x, { training: true }) as tf.Tensor;
  if (c.head === 'probabilities') return tf.mean(tf.metrics.categoricalCrossentropy(labels, out)) as tf.Scalar;
  return tf.losses.softmaxCrossEntropy(labels, out) as tf.Scalar;
}

/** d loss / d (input, each trainable weight), in that order, with their names. */
function gradients(c: LayerCase): { names: string[]; values: Float32Array[] } {
  const model = buildModel(c);
  const x = tf.variable(seededTensor([BATCH, ...(c.input ?? [8, 8, 3])], 99), true, undefined);
  const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => lossOf(c, model, x), [x, ...weights]);
  // Layer names carry a per-process counter ('conv2d_Conv2D7/kernel'): drop it.
  const names = ['input', ...model.trainableWeights.map((w) => w.originalName.replace(/\d+\//, '/'))];
  const values = [x, ...weights].map((v) => grads[v.name].dataSync() as Float32Array);
  tf.dispose([value, ...Object.values(grads), x]);
  model.dispose();
  return { names, values };
}

test('every layer type trains on wasm with gradients matching cpu', async () => {
  for (const c of CASES) {
    const { cpu, wasm } = await onCpuAndWasm(() => gradients(c));
    assert.deepEqual(wasm.names, cpu.names);
    cpu.values.forEach((expected, i) => assertRelative(wasm.values[i], expected, `${c.name}: d loss / d ${cpu.names[i]}`));
  }
});

test('an optimizer step through every layer type on wasm leaves no tensor or wasm buffer behind', async () => {
  await useBackend('wasm');
  const models = CASES.map((c) => ({ c, model: buildModel(c), x: seededTensor([BATCH, ...(c.input ?? [8, 8, 3])], 98) }));
  const optimizer = tf.train.sgd(0.01);
  const step = () => {
    for (const { c, model, x } of models) tf.dispose(optimizer.minimize(() => lossOf(c, model, x), true) ?? []);
  };
  // The first step may create lasting state (optimizer slots, wasm kernel setup).
  step();
  const tensors = tf.memory().numTensors;
  const buffers = wasmDataIds();
  step();
  assert.equal(tf.memory().numTensors, tensors, 'tensors left behind by a training step');
  assert.equal(wasmDataIds(), buffers, 'wasm buffers left behind by a training step (kernel intermediates)');
  for (const { model, x } of models) {
    model.dispose();
    x.dispose();
  }
  optimizer.dispose();
});

test('fit on wasm lowers the loss of a model with convolutions, pooling, BatchNorm and dropout', async () => {
  await useBackend('wasm');
  const input = tf.input({ shape: [8, 8, 3] });
  let y = apply(conv({ filters: 8, padding: 'same' }), input);
  y = apply(tf.layers.batchNormalization(), y);
  y = apply(tf.layers.reLU(), y);
  y = apply(tf.layers.maxPooling2d({ poolSize: 2 }), y);
  y = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), y);
  y = apply(tf.layers.flatten(), apply(tf.layers.dropout({ rate: 0.2, seed: 3 }), y));
  const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ units: CLASSES, activation: 'softmax' }), y) });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const x = seededTensor([12, 8, 8, 3], 5);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'), CLASSES);
  const history = await model.fit(x, labels, { epochs: 8, batchSize: 4, shuffle: false, verbose: 0 });
  const losses = history.history.loss as number[];
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  assert.ok(losses[losses.length - 1] < losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
  tf.dispose([x, labels]);
  model.dispose();
});
