import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GraftGroupedConv2D, type Initializer } from '../../../src/tfjs/layers/index.js';
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
  storedLayerConfig,
  useBackend,
} from './helpers.js';

type Pair = [number, number];

interface ConvCase {
  /** NHWC input. */
  dims: [number, number, number, number];
  filters: number;
  kernel: Pair;
  stride: Pair;
  dilation: Pair;
  groups: number;
  bias: boolean;
}

/**
 * Direct grouped convolution (Caffe's definition, in NHWC / HWIO): output channel f belongs to
 * group g = ⌊f / (F/G)⌋ and sums over that group's input channels only.
 */
function referenceConv(x: ArrayLike<number>, kernel: ArrayLike<number>, bias: ArrayLike<number> | null, c: ConvCase) {
  const [n, h, w, cin] = c.dims;
  const [kh, kw] = c.kernel;
  const [sh, sw] = c.stride;
  const [dh, dw] = c.dilation;
  const inPerGroup = cin / c.groups;
  const outPerGroup = c.filters / c.groups;
  const oh = Math.floor((h - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(n * oh * ow * c.filters);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let f = 0; f < c.filters; f++) {
          const group = Math.floor(f / outPerGroup);
          let acc = bias ? bias[f] : 0;
          for (let u = 0; u < kh; u++) {
            for (let v = 0; v < kw; v++) {
              for (let q = 0; q < inPerGroup; q++) {
                const xi = ((b * h + i * sh + u * dh) * w + j * sw + v * dw) * cin + group * inPerGroup + q;
                const ki = ((u * kw + v) * inPerGroup + q) * c.filters + f;
                acc += x[xi] * kernel[ki];
              }
            }
          }
          out[((b * oh + i) * ow + j) * c.filters + f] = acc;
        }
      }
    }
  }
  return { shape: [n, oh, ow, c.filters], values: out };
}

const CASES: ConvCase[] = [
  { dims: [2, 7, 9, 6], filters: 4, kernel: [3, 3], stride: [1, 1], dilation: [1, 1], groups: 1, bias: true },
  { dims: [2, 7, 9, 6], filters: 4, kernel: [3, 3], stride: [1, 1], dilation: [1, 1], groups: 2, bias: true },
  { dims: [1, 9, 7, 6], filters: 9, kernel: [3, 2], stride: [2, 2], dilation: [1, 1], groups: 3, bias: true },
  { dims: [1, 11, 11, 4], filters: 8, kernel: [5, 5], stride: [2, 2], dilation: [1, 1], groups: 2, bias: false },
  { dims: [1, 9, 9, 4], filters: 4, kernel: [3, 3], stride: [1, 1], dilation: [2, 2], groups: 2, bias: true },
  // stride and dilation together (Caffe allows it; tf.conv2d does not)
  { dims: [1, 11, 10, 4], filters: 6, kernel: [3, 3], stride: [2, 3], dilation: [2, 2], groups: 2, bias: true },
  // one input channel per group: the depthwise path, multiplier 1 and 2
  { dims: [2, 7, 7, 5], filters: 5, kernel: [3, 3], stride: [1, 1], dilation: [1, 1], groups: 5, bias: true },
  { dims: [1, 9, 8, 3], filters: 6, kernel: [3, 3], stride: [2, 2], dilation: [1, 1], groups: 3, bias: true },
  { dims: [1, 9, 9, 3], filters: 6, kernel: [3, 3], stride: [2, 2], dilation: [2, 2], groups: 3, bias: false },
  { dims: [1, 8, 9, 4], filters: 4, kernel: [2, 3], stride: [2, 1], dilation: [1, 1], groups: 4, bias: true },
  // eight groups or more: one depthwise conv summed per group
  { dims: [2, 7, 9, 16], filters: 24, kernel: [3, 3], stride: [1, 1], dilation: [1, 1], groups: 8, bias: true },
  { dims: [1, 9, 8, 16], filters: 16, kernel: [3, 2], stride: [2, 1], dilation: [1, 1], groups: 8, bias: true },
  { dims: [1, 11, 9, 24], filters: 16, kernel: [3, 3], stride: [2, 2], dilation: [2, 2], groups: 8, bias: false },
  // dilation on one axis only, odd sizes not a multiple of it
  { dims: [1, 9, 7, 4], filters: 2, kernel: [3, 3], stride: [1, 1], dilation: [3, 1], groups: 2, bias: true },
];

function label(c: ConvCase): string {
  return `in ${c.dims.join('×')} F ${c.filters} k ${c.kernel} s ${c.stride} d ${c.dilation} g ${c.groups}${c.bias ? '' : ' no bias'}`;
}

function kernelShape(c: ConvCase): [number, number, number, number] {
  return [c.kernel[0], c.kernel[1], c.dims[3] / c.groups, c.filters];
}

function makeLayer(c: ConvCase, weights?: tf.Tensor[], name?: string): GraftGroupedConv2D {
  return new GraftGroupedConv2D({
    name,
    filters: c.filters,
    kernelSize: c.kernel,
    strides: c.stride,
    dilationRate: c.dilation,
    groups: c.groups,
    useBias: c.bias,
    weights,
  });
}

test('grouped conv matches a direct convolution loop over groups, on cpu and wasm', async () => {
  const random = seededRandom(1);
  for (const c of CASES) {
    const x = randomValues(c.dims.reduce((a, b) => a * b), random);
    const kShape = kernelShape(c);
    const kernel = randomValues(kShape.reduce((a, b) => a * b), random);
    const bias = c.bias ? randomValues(c.filters, random) : null;
    const expected = referenceConv(x, kernel, bias, c);
    for (const backend of BACKENDS) {
      await useBackend(backend);
      const weights = [tf.tensor4d(kernel, kShape), ...(bias ? [tf.tensor1d(bias)] : [])];
      const layer = makeLayer(c, weights);
      const symbolic = layer.apply(tf.input({ shape: c.dims.slice(1) })) as tf.SymbolicTensor;
      assert.deepEqual(symbolic.shape.slice(1), expected.shape.slice(1), `${label(c)}: computeOutputShape`);
      const got = forward(layer, tf.tensor4d(x, c.dims));
      assert.deepEqual(got.shape, expected.shape, `${label(c)} on ${backend}: shape`);
      assertClose(got.values, expected.values, 1e-5, `${label(c)} on ${backend}`);
      assert.deepEqual(layer.getWeights().map((t) => t.shape), [kShape, ...(bias ? [[c.filters]] : [])]);
      layer.dispose();
      tf.dispose(weights);
    }
  }
});

test('an output block reads only its own input block', async () => {
  // All-ones kernel, input zero except in group 1's channels: only group 1's filters respond.
  await useBackend('cpu');
  const c: ConvCase = { dims: [1, 3, 3, 6], filters: 6, kernel: [1, 1], stride: [1, 1], dilation: [1, 1], groups: 3, bias: false };
  const x = tf.tidy(() => tf.concat([tf.zeros([1, 3, 3, 2]), tf.ones([1, 3, 3, 2]), tf.zeros([1, 3, 3, 2])], 3));
  const layer = makeLayer(c, [tf.ones(kernelShape(c))]);
  const got = forward(layer, x);
  assert.deepEqual(Array.from(got.values.slice(0, 6)), [0, 0, 2, 2, 0, 0]);
  layer.dispose();
  x.dispose();
});

test('kernel and bias initializers given as instances fill the weights (pretrained injection)', async () => {
  await useBackend('cpu');
  const c = CASES[2];
  const random = seededRandom(2);
  const kernelValues = randomValues(kernelShape(c).reduce((a, b) => a * b), random);
  const biasValues = randomValues(c.filters, random);
  // A builder's initializer: not registered with tfjs, carries its values in memory.
  const injecting = (values: Float32Array): Initializer =>
    ({
      apply: (shape: number[]) => tf.tensor(values, shape),
      getClassName: () => 'Injected',
      getConfig: () => ({}),
    }) as unknown as Initializer;
  const layer = new GraftGroupedConv2D({
    name: 'injected',
    filters: c.filters,
    kernelSize: c.kernel,
    strides: c.stride,
    groups: c.groups,
    kernelInitializer: injecting(kernelValues),
    biasInitializer: injecting(biasValues),
  });
  const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: c.dims.slice(1) }), layer] });
  const x = randomValues(c.dims.reduce((a, b) => a * b), random);
  const got = forward(layer, tf.tensor4d(x, c.dims));
  assertClose(got.values, referenceConv(x, kernelValues, biasValues, c).values, 1e-5, 'injected weights');
  // model.json records the default rather than a class nobody can rebuild.
  const stored = storedLayerConfig(model, 'injected') as Record<string, { class_name: string }>;
  assert.equal(stored.kernel_initializer.class_name, 'VarianceScaling');
  assert.equal(stored.bias_initializer.class_name, 'Zeros');
  model.dispose();
});

test('gradients on the cpu backend match finite differences of the reference', async () => {
  await useBackend('cpu');
  const random = seededRandom(3);
  const tiny: ConvCase[] = [
    { dims: [1, 5, 4, 4], filters: 4, kernel: [3, 2], stride: [2, 1], dilation: [1, 1], groups: 2, bias: true },
    { dims: [1, 5, 5, 2], filters: 4, kernel: [2, 2], stride: [1, 1], dilation: [2, 2], groups: 2, bias: true },
    { dims: [1, 7, 6, 2], filters: 2, kernel: [2, 2], stride: [2, 2], dilation: [2, 2], groups: 1, bias: false },
    { dims: [1, 6, 5, 3], filters: 6, kernel: [2, 2], stride: [2, 1], dilation: [1, 1], groups: 3, bias: true },
    { dims: [1, 4, 5, 16], filters: 8, kernel: [2, 2], stride: [1, 2], dilation: [1, 1], groups: 8, bias: true },
    { dims: [1, 6, 5, 16], filters: 16, kernel: [2, 2], stride: [1, 1], dilation: [2, 1], groups: 8, bias: true },
  ];
  for (const c of tiny) {
    const kShape = kernelShape(c);
    const x = randomValues(c.dims.reduce((a, b) => a * b), random);
    const kernel = randomValues(kShape.reduce((a, b) => a * b), random);
    const bias = randomValues(c.filters, random);
    const outShape = referenceConv(x, kernel, bias, c).shape;
    const w = randomValues(outShape.reduce((a, b) => a * b), random);
    const layer = makeLayer(c, [tf.tensor4d(kernel, kShape), ...(c.bias ? [tf.tensor1d(bias)] : [])]);
    const xTensor = tf.tensor4d(x, c.dims);
    const weights = tf.tensor(w, outShape);
    const loss = (input: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights));
    const dx = tf.grad(loss)(xTensor);
    assert.deepEqual(dx.shape, c.dims);
    const dxValues = dx.dataSync();
    assertAllFinite(dxValues, `${label(c)}: dx`);
    assertClose(dxValues, numericGradient((p) => referenceConv(p, kernel, bias, c).values, x, w), 1e-4, `${label(c)}: dx`);
    const { grads } = tf.variableGrads(() => loss(xTensor), layer.trainableWeights.map((v) => v.read() as tf.Variable));
    const names = Object.keys(grads);
    assert.equal(names.length, c.bias ? 2 : 1);
    const dKernel = grads[names[0]].dataSync();
    assert.deepEqual(grads[names[0]].shape, kShape);
    assertClose(dKernel, numericGradient((p) => referenceConv(x, p, bias, c).values, kernel, w), 1e-4, `${label(c)}: dKernel`);
    if (c.bias) {
      assert.deepEqual(grads[names[1]].shape, [c.filters]);
      assertClose(grads[names[1]].dataSync(), numericGradient((p) => referenceConv(x, kernel, p, c).values, bias, w), 1e-4, `${label(c)}: dBias`);
    }
    tf.dispose([dx, xTensor, weights, ...Object.values(grads)]);
    layer.dispose();
  }
});

test('depthwise-path gradients exist and are finite on cpu', async () => {
  await useBackend('cpu');
  const c = CASES[7];
  const layer = makeLayer(c);
  const x = tf.tensor4d(randomValues(c.dims.reduce((a, b) => a * b), seededRandom(4)), c.dims);
  const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.square(layer.apply(input) as tf.Tensor)))(x);
  assert.deepEqual(dx.shape, c.dims);
  assertAllFinite(dx.dataSync(), 'dx');
  const { grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)));
  for (const g of Object.values(grads)) assertAllFinite(g.dataSync(), 'dW');
  tf.dispose([x, dx, ...Object.values(grads)]);
  layer.dispose();
});

test('model.json round trip keeps arguments and outputs', async () => {
  await useBackend('cpu');
  const c = CASES[5];
  const model = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: c.dims.slice(1) }),
      makeLayer(c, undefined, 'gconv'),
      new GraftGroupedConv2D({ name: 'dw', filters: 6, kernelSize: 1, groups: 6, useBias: false }),
    ],
  });
  const x = tf.tensor4d(randomValues(c.dims.reduce((a, b) => a * b), seededRandom(5)), c.dims);
  const expected = (model.predict(x) as tf.Tensor).arraySync();
  for (const copy of [await rebuildFromJson(model), await saveAndLoad(model)]) {
    const layer = copy.getLayer('gconv') as GraftGroupedConv2D;
    assert.ok(layer instanceof GraftGroupedConv2D);
    assert.deepEqual(
      [layer.filters, layer.kernelSize, layer.strides, layer.dilationRate, layer.groups, layer.useBias],
      [c.filters, c.kernel, c.stride, c.dilation, c.groups, c.bias],
    );
    assert.equal((copy.getLayer('dw') as GraftGroupedConv2D).groups, 6);
    assert.deepEqual((copy.predict(x) as tf.Tensor).arraySync(), expected);
    copy.dispose();
  }
  model.dispose();
});

test('predict leaves no tensors behind, on cpu and wasm', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const model = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: [9, 9, 6] }),
        new GraftGroupedConv2D({ filters: 6, kernelSize: 3, groups: 3 }),
        new GraftGroupedConv2D({ filters: 6, kernelSize: 3, groups: 6, strides: 2, dilationRate: 1 }),
        new GraftGroupedConv2D({ filters: 4, kernelSize: 1, groups: 2, strides: 2, dilationRate: 2 }),
      ],
    });
    const x = tf.ones([1, 9, 9, 6]);
    assertPredictDoesNotLeak(model, x);
    x.dispose();
    model.dispose();
  }
});

test('invalid arguments are refused with the layer named', () => {
  assert.throws(() => new GraftGroupedConv2D({ name: 'c1', filters: 5, kernelSize: 3, groups: 2 }), /c1.*groups/);
  assert.throws(() => new GraftGroupedConv2D({ name: 'c2', filters: 4, kernelSize: 3, padding: 'same' as 'valid' }), /c2.*padding 'same'/);
  const layer = new GraftGroupedConv2D({ name: 'c3', filters: 4, kernelSize: 3, groups: 4 });
  assert.throws(() => layer.apply(tf.input({ shape: [5, 5, 6] })), /c3': 6 input channels/);
  const tooBig = new GraftGroupedConv2D({ name: 'c4', filters: 2, kernelSize: 3, dilationRate: 2 });
  assert.throws(() => tooBig.apply(tf.input({ shape: [4, 9, 2] })), /c4'.*exceeds the input 4×9/);
});
