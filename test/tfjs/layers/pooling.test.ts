import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GraftPooling2D, pooledLength, type AvgDivisor, type PoolRounding } from '../../../src/tfjs/layers/index.js';
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
/** NHWC input dims. */
type Dims = [number, number, number, number];
interface Pooled {
  shape: number[];
  values: Float64Array;
}

const FLT_MAX = 3.4028234663852886e38;

/**
 * Caffe's pooling_layer.cpp: LayerSetUp's output size (ceil, or floor with round_mode FLOOR in
 * later versions; clip only `if (pad_h_ || pad_w_)`) and Forward_cpu's MAX and AVE loops, read
 * through NHWC indexing.
 */
function caffePool(
  x: ArrayLike<number>,
  [n, h, w, c]: Dims,
  method: 'MAX' | 'AVE',
  [kh, kw]: Pair,
  [sh, sw]: Pair,
  [padH, padW]: Pair,
  roundMode: 'CEIL' | 'FLOOR',
): Pooled {
  const round = roundMode === 'CEIL' ? Math.ceil : Math.floor;
  let pooledH = round((h + 2 * padH - kh) / sh) + 1;
  let pooledW = round((w + 2 * padW - kw) / sw) + 1;
  if (padH || padW) {
    if ((pooledH - 1) * sh >= h + padH) --pooledH;
    if ((pooledW - 1) * sw >= w + padW) --pooledW;
  }
  const top = new Float64Array(n * pooledH * pooledW * c);
  const at = (b: number, y: number, xx: number, ch: number): number => ((b * h + y) * w + xx) * c + ch;
  const out = (b: number, y: number, xx: number, ch: number): number => ((b * pooledH + y) * pooledW + xx) * c + ch;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let ph = 0; ph < pooledH; ph++) {
        for (let pw = 0; pw < pooledW; pw++) {
          let hstart = ph * sh - padH;
          let wstart = pw * sw - padW;
          if (method === 'MAX') {
            const hend = Math.min(hstart + kh, h);
            const wend = Math.min(wstart + kw, w);
            hstart = Math.max(hstart, 0);
            wstart = Math.max(wstart, 0);
            let best = -FLT_MAX;
            for (let y = hstart; y < hend; y++) for (let xx = wstart; xx < wend; xx++) if (x[at(b, y, xx, ch)] > best) best = x[at(b, y, xx, ch)];
            top[out(b, ph, pw, ch)] = best;
          } else {
            let hend = Math.min(hstart + kh, h + padH);
            let wend = Math.min(wstart + kw, w + padW);
            const poolSize = (hend - hstart) * (wend - wstart);
            hstart = Math.max(hstart, 0);
            wstart = Math.max(wstart, 0);
            hend = Math.min(hend, h);
            wend = Math.min(wend, w);
            let sum = 0;
            for (let y = hstart; y < hend; y++) for (let xx = wstart; xx < wend; xx++) sum += x[at(b, y, xx, ch)];
            top[out(b, ph, pw, ch)] = sum / poolSize;
          }
        }
      }
    }
  }
  return { shape: [n, pooledH, pooledW, c], values: top };
}

/**
 * PyTorch (aten Pool.h pooling_output_shape; the CPU max_pool2d and avg_pool2d kernels), dilation
 * 1: ceil_mode adds s − 1 before flooring and always drops a last window starting at or past
 * in + pad; avg divides by the window clipped at in + pad (count_include_pad) or at the input.
 */
function torchPool(
  x: ArrayLike<number>,
  [n, h, w, c]: Dims,
  kind: 'max' | 'avg',
  [kh, kw]: Pair,
  [sh, sw]: Pair,
  [padH, padW]: Pair,
  ceilMode: boolean,
  countIncludePad: boolean,
): Pooled {
  const outSize = (size: number, k: number, s: number, p: number): number => {
    let o = Math.floor((size + 2 * p - (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
    if (ceilMode && (o - 1) * s >= size + p) --o;
    return o;
  };
  const oH = outSize(h, kh, sh, padH);
  const oW = outSize(w, kw, sw, padW);
  const values = new Float64Array(n * oH * oW * c);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < oH; oh++) {
      for (let ow = 0; ow < oW; ow++) {
        for (let ch = 0; ch < c; ch++) {
          let ih0 = oh * sh - padH;
          let iw0 = ow * sw - padW;
          let ih1: number;
          let iw1: number;
          let poolSize = 0;
          if (kind === 'avg') {
            ih1 = Math.min(ih0 + kh, h + padH);
            iw1 = Math.min(iw0 + kw, w + padW);
            poolSize = (ih1 - ih0) * (iw1 - iw0);
            ih1 = Math.min(ih1, h);
            iw1 = Math.min(iw1, w);
          } else {
            ih1 = Math.min(ih0 + kh, h);
            iw1 = Math.min(iw0 + kw, w);
          }
          ih0 = Math.max(ih0, 0);
          iw0 = Math.max(iw0, 0);
          const o = ((b * oH + oh) * oW + ow) * c + ch;
          let acc = kind === 'max' ? -Infinity : 0;
          for (let y = ih0; y < ih1; y++) {
            for (let xx = iw0; xx < iw1; xx++) {
              const v = x[((b * h + y) * w + xx) * c + ch];
              acc = kind === 'max' ? Math.max(acc, v) : acc + v;
            }
          }
          if (kind === 'avg') acc = ih0 >= ih1 || iw0 >= iw1 ? 0 : acc / (countIncludePad ? poolSize : (ih1 - ih0) * (iw1 - iw0));
          values[o] = acc;
        }
      }
    }
  }
  return { shape: [n, oH, oW, c], values };
}

/**
 * Chainer: get_conv_outsize (cover_all adds s − 1), im2col_cpu padding by (p, p + s − 1) when
 * cover_all with pval (−inf for max_pooling_2d, 0 for average_pooling_2d), then the max or the
 * mean of each k·k column.
 */
function chainerPool(
  x: ArrayLike<number>,
  [n, h, w, c]: Dims,
  kind: 'max' | 'avg',
  [kh, kw]: Pair,
  [sy, sx]: Pair,
  [ph, pw]: Pair,
  coverAll: boolean,
): Pooled {
  const outsize = (size: number, k: number, s: number, p: number): number =>
    coverAll ? Math.floor((size + p * 2 - k + s - 1) / s) + 1 : Math.floor((size + p * 2 - k) / s) + 1;
  const outH = outsize(h, kh, sy, ph);
  const outW = outsize(w, kw, sx, pw);
  const pval = kind === 'max' ? -Infinity : 0;
  const paddedH = h + 2 * ph + (coverAll ? sy - 1 : 0);
  const paddedW = w + 2 * pw + (coverAll ? sx - 1 : 0);
  const padded = (b: number, y: number, xx: number, ch: number): number => {
    const iy = y - ph;
    const ix = xx - pw;
    return iy < 0 || ix < 0 || iy >= h || ix >= w ? pval : x[((b * h + iy) * w + ix) * c + ch];
  };
  const values = new Float64Array(n * outH * outW * c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = kind === 'max' ? -Infinity : 0;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              assert.ok(ky + sy * oy < paddedH && kx + sx * ox < paddedW);
              const v = padded(b, ky + sy * oy, kx + sx * ox, ch);
              acc = kind === 'max' ? Math.max(acc, v) : acc + v;
            }
          }
          values[((b * outH + oy) * outW + ox) * c + ch] = kind === 'max' ? acc : acc / (kh * kw);
        }
      }
    }
  }
  return { shape: [n, outH, outW, c], values };
}

interface Geometry {
  dims: Dims;
  kernel: Pair;
  stride: Pair;
  pad: Pair;
}

/** Odd and even sizes, stride 1 and 2, pad 0/1/2, with overhanging last windows under ceil. */
const GEOMETRIES: Geometry[] = [
  { dims: [2, 3, 3, 3], kernel: [2, 2], stride: [2, 2], pad: [1, 1] }, // ceil clips 3 → 2; cover_all keeps 3
  { dims: [1, 6, 6, 2], kernel: [3, 3], stride: [2, 2], pad: [0, 0] }, // ceil overhangs, no pad
  { dims: [2, 7, 9, 3], kernel: [3, 3], stride: [2, 2], pad: [1, 1] },
  { dims: [1, 8, 8, 2], kernel: [2, 2], stride: [2, 2], pad: [1, 1] },
  { dims: [1, 5, 7, 3], kernel: [3, 3], stride: [1, 1], pad: [2, 2] },
  { dims: [1, 9, 5, 2], kernel: [5, 5], stride: [2, 2], pad: [2, 2] },
  { dims: [2, 7, 6, 2], kernel: [3, 2], stride: [2, 1], pad: [1, 0] }, // non-square everything
  { dims: [1, 13, 13, 4], kernel: [3, 3], stride: [2, 2], pad: [0, 0] }, // AlexNet's pool5 rounding
  { dims: [1, 5, 5, 2], kernel: [3, 3], stride: [3, 3], pad: [1, 1] },
];

function label(g: Geometry): string {
  return `in ${g.dims.join('×')} k ${g.kernel} s ${g.stride} p ${g.pad}`;
}

function makeLayer(
  g: Geometry,
  mode: 'max' | 'avg',
  rounding: PoolRounding,
  avgDivisor: AvgDivisor = 'padded',
): GraftPooling2D {
  return new GraftPooling2D({ mode, poolSize: g.kernel, strides: g.stride, pad: g.pad, rounding, avgDivisor });
}

/** Runs `layer` on both backends and checks shape, symbolic shape and values against `expected`. */
async function checkAgainst(layer: GraftPooling2D, g: Geometry, x: Float32Array, expected: Pooled, what: string): Promise<void> {
  const symbolic = layer.apply(tf.input({ shape: g.dims.slice(1) })) as tf.SymbolicTensor;
  assert.deepEqual(symbolic.shape.slice(1), expected.shape.slice(1), `${what}: computeOutputShape`);
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const got = forward(layer, tf.tensor4d(x, g.dims));
    assert.deepEqual(got.shape, expected.shape, `${what} on ${backend}: shape`);
    assertClose(got.values, expected.values, 1e-5, `${what} on ${backend}`);
  }
}

test('pooled lengths follow graph.ts on hand-computed cases', () => {
  // in 3, k 2, s 2, p 1: ceil((3+2−2)/2)+1 = 3, but window 2 would start at 4 = in + p → 2.
  assert.equal(pooledLength(3, 2, 2, 1, 'ceil'), 2);
  assert.equal(pooledLength(3, 2, 2, 1, 'cover_all'), 3);
  assert.equal(pooledLength(3, 2, 2, 1, 'floor'), 2);
  assert.equal(pooledLength(6, 3, 2, 0, 'ceil'), 3);
  assert.equal(pooledLength(6, 3, 2, 0, 'floor'), 2);
  assert.equal(pooledLength(13, 3, 2, 0, 'ceil'), 6);
  assert.equal(pooledLength(112, 3, 2, 1, 'ceil'), 57);
  assert.equal(pooledLength(112, 3, 2, 1, 'floor'), 56);
  assert.equal(pooledLength(112, 3, 2, 0, 'ceil'), 56); // Caffe ResNet's pool1
  // k < s without pad: PyTorch drops the empty last window (Caffe would keep it: see below).
  assert.equal(pooledLength(5, 1, 3, 0, 'ceil'), 2);
  assert.throws(() => pooledLength(2, 5, 1, 1, 'floor'));
});

for (const method of ['MAX', 'AVE'] as const) {
  for (const roundMode of ['CEIL', 'FLOOR'] as const) {
    test(`Caffe ${method} pooling, round_mode ${roundMode}, cpu and wasm`, async () => {
      const random = seededRandom(method === 'MAX' ? 11 : 12);
      for (const g of GEOMETRIES) {
        const x = randomValues(g.dims.reduce((a, b) => a * b), random);
        const expected = caffePool(x, g.dims, method, g.kernel, g.stride, g.pad, roundMode);
        const layer = makeLayer(g, method === 'MAX' ? 'max' : 'avg', roundMode === 'CEIL' ? 'ceil' : 'floor', 'padded');
        await checkAgainst(layer, g, x, expected, `Caffe ${method} ${roundMode} ${label(g)}`);
      }
    });
  }
}

test('the 3-in, k2 s2 p1 case pools to 2 under ceil and 3 under cover_all', async () => {
  const g = GEOMETRIES[0];
  const x = randomValues(2 * 3 * 3 * 3, seededRandom(3));
  for (const [rounding, size] of [['ceil', 2], ['cover_all', 3]] as const) {
    await useBackend('cpu');
    const got = forward(makeLayer(g, 'avg', rounding), tf.tensor4d(x, g.dims));
    assert.deepEqual(got.shape, [2, size, size, 3], rounding);
  }
});

test('PyTorch avg_pool2d with count_include_pad = False (divisor "valid"), ceil_mode on and off', async () => {
  const random = seededRandom(21);
  for (const g of GEOMETRIES) {
    for (const ceilMode of [true, false]) {
      const x = randomValues(g.dims.reduce((a, b) => a * b), random);
      const expected = torchPool(x, g.dims, 'avg', g.kernel, g.stride, g.pad, ceilMode, false);
      const layer = makeLayer(g, 'avg', ceilMode ? 'ceil' : 'floor', 'valid');
      await checkAgainst(layer, g, x, expected, `torch avg valid ceil=${ceilMode} ${label(g)}`);
    }
  }
});

test('PyTorch ceil_mode drops a last window past the input even without padding (k < s)', async () => {
  const random = seededRandom(22);
  const geometries: Geometry[] = [
    { dims: [1, 5, 5, 2], kernel: [1, 1], stride: [3, 3], pad: [0, 0] },
    { dims: [1, 8, 7, 2], kernel: [1, 2], stride: [2, 3], pad: [0, 0] },
  ];
  for (const g of geometries) {
    const x = randomValues(g.dims.reduce((a, b) => a * b), random);
    for (const kind of ['max', 'avg'] as const) {
      const expected = torchPool(x, g.dims, kind, g.kernel, g.stride, g.pad, true, true);
      await checkAgainst(makeLayer(g, kind, 'ceil', 'padded'), g, x, expected, `torch ${kind} ${label(g)}`);
    }
  }
  // Caffe keeps that window (its clip runs only when some pad is non-zero) and fills it with
  // −FLT_MAX: a different length, which 'ceil' deliberately does not reproduce.
  const g = geometries[0];
  assert.deepEqual(caffePool(new Float32Array(50), g.dims, 'MAX', g.kernel, g.stride, g.pad, 'CEIL').shape, [1, 3, 3, 2]);
});

test('PyTorch max_pool2d matches for every geometry (ceil and floor)', async () => {
  const random = seededRandom(23);
  for (const g of GEOMETRIES) {
    for (const ceilMode of [true, false]) {
      const x = randomValues(g.dims.reduce((a, b) => a * b), random);
      const expected = torchPool(x, g.dims, 'max', g.kernel, g.stride, g.pad, ceilMode, true);
      await checkAgainst(makeLayer(g, 'max', ceilMode ? 'ceil' : 'floor'), g, x, expected, `torch max ceil=${ceilMode} ${label(g)}`);
    }
  }
});

test('Chainer max_pooling_2d (cover_all) and average_pooling_2d (divisor k·k)', async () => {
  const random = seededRandom(31);
  for (const g of GEOMETRIES) {
    const x = randomValues(g.dims.reduce((a, b) => a * b), random);
    await checkAgainst(makeLayer(g, 'max', 'cover_all'), g, x, chainerPool(x, g.dims, 'max', g.kernel, g.stride, g.pad, true), `chainer max cover_all ${label(g)}`);
    await checkAgainst(makeLayer(g, 'max', 'floor'), g, x, chainerPool(x, g.dims, 'max', g.kernel, g.stride, g.pad, false), `chainer max floor ${label(g)}`);
    await checkAgainst(
      makeLayer(g, 'avg', 'floor', 'window'),
      g,
      x,
      chainerPool(x, g.dims, 'avg', g.kernel, g.stride, g.pad, false),
      `chainer avg ${label(g)}`,
    );
    await checkAgainst(
      makeLayer(g, 'avg', 'cover_all', 'window'),
      g,
      x,
      chainerPool(x, g.dims, 'avg', g.kernel, g.stride, g.pad, true),
      `chainer-style avg cover_all ${label(g)}`,
    );
  }
});

test('global pooling is a kernel the size of the input', async () => {
  const random = seededRandom(41);
  const g: Geometry = { dims: [2, 7, 5, 3], kernel: [7, 5], stride: [1, 1], pad: [0, 0] };
  const x = randomValues(2 * 7 * 5 * 3, random);
  for (const method of ['MAX', 'AVE'] as const) {
    const expected = caffePool(x, g.dims, method, g.kernel, g.stride, g.pad, 'CEIL');
    assert.deepEqual(expected.shape, [2, 1, 1, 3]);
    await checkAgainst(makeLayer(g, method === 'MAX' ? 'max' : 'avg', 'ceil'), g, x, expected, `global ${method}`);
  }
});

test('gradients on the cpu backend match finite differences of the reference', async () => {
  await useBackend('cpu');
  const random = seededRandom(51);
  const cases: { g: Geometry; mode: 'max' | 'avg'; rounding: PoolRounding; divisor: AvgDivisor; ref: (x: Float64Array) => Pooled }[] = [];
  const g: Geometry = { dims: [1, 5, 4, 2], kernel: [3, 3], stride: [2, 2], pad: [1, 1] };
  // cover_all's last window overhangs past in + p but still holds input elements (an all-padding
  // max window is −∞, whose finite differences are NaN).
  const h: Geometry = { dims: [1, 4, 5, 2], kernel: [3, 3], stride: [2, 2], pad: [1, 1] };
  cases.push({ g, mode: 'max', rounding: 'ceil', divisor: 'padded', ref: (x) => caffePool(x, g.dims, 'MAX', g.kernel, g.stride, g.pad, 'CEIL') });
  cases.push({ g, mode: 'avg', rounding: 'ceil', divisor: 'padded', ref: (x) => caffePool(x, g.dims, 'AVE', g.kernel, g.stride, g.pad, 'CEIL') });
  cases.push({ g, mode: 'avg', rounding: 'ceil', divisor: 'valid', ref: (x) => torchPool(x, g.dims, 'avg', g.kernel, g.stride, g.pad, true, false) });
  cases.push({ g: h, mode: 'max', rounding: 'cover_all', divisor: 'padded', ref: (x) => chainerPool(x, h.dims, 'max', h.kernel, h.stride, h.pad, true) });
  cases.push({ g: h, mode: 'avg', rounding: 'cover_all', divisor: 'window', ref: (x) => chainerPool(x, h.dims, 'avg', h.kernel, h.stride, h.pad, true) });
  for (const c of cases) {
    const what = `${c.mode} ${c.rounding} ${c.divisor} ${label(c.g)}`;
    const layer = makeLayer(c.g, c.mode, c.rounding, c.divisor);
    const x = randomValues(c.g.dims.reduce((a, b) => a * b), random);
    const outShape = c.ref(Float64Array.from(x)).shape;
    const w = randomValues(outShape.reduce((a, b) => a * b), random);
    const grad = tf.tidy(() => {
      const weights = tf.tensor(w, outShape);
      const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights)))(tf.tensor4d(x, c.g.dims));
      assert.deepEqual(dx.shape, c.g.dims, `${what}: gradient shape`);
      return dx.dataSync() as Float32Array;
    });
    assertAllFinite(grad, what);
    assertClose(grad, numericGradient((p) => c.ref(p).values, x, w), 1e-4, `${what}: gradient`);
  }
});

test('model.json round trip keeps every argument, cover_all included', async () => {
  await useBackend('cpu');
  const x = tf.tensor4d(randomValues(2 * 7 * 9 * 3, seededRandom(61)), [2, 7, 9, 3]);
  const model = tf.sequential({
    layers: [
      new GraftPooling2D({ name: 'p1', inputShape: [7, 9, 3], mode: 'max', poolSize: [3, 2], strides: [2, 1], pad: [1, 0], rounding: 'cover_all' }),
      new GraftPooling2D({ name: 'p2', mode: 'avg', poolSize: 2, strides: 2, pad: 1, rounding: 'ceil', avgDivisor: 'valid' }),
    ],
  });
  const stored = storedLayerConfig(model, 'p1');
  assert.equal(stored.rounding, 'cover_all');
  assert.deepEqual(stored.pool_size, [3, 2]);
  const expected = (model.predict(x) as tf.Tensor).arraySync();
  for (const copy of [await rebuildFromJson(model), await saveAndLoad(model)]) {
    const p1 = copy.getLayer('p1') as GraftPooling2D;
    const p2 = copy.getLayer('p2') as GraftPooling2D;
    assert.ok(p1 instanceof GraftPooling2D && p2 instanceof GraftPooling2D);
    assert.deepEqual([p1.mode, p1.poolSize, p1.strides, p1.pad, p1.rounding], ['max', [3, 2], [2, 1], [1, 0], 'cover_all']);
    assert.deepEqual([p2.mode, p2.poolSize, p2.strides, p2.pad, p2.rounding, p2.avgDivisor], ['avg', [2, 2], [2, 2], [1, 1], 'ceil', 'valid']);
    assert.deepEqual((copy.predict(x) as tf.Tensor).arraySync(), expected);
  }
});

test('predict leaves no tensors behind, on cpu and wasm', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const model = tf.sequential({
      layers: [
        new GraftPooling2D({ inputShape: [7, 7, 2], mode: 'avg', poolSize: 3, strides: 2, pad: 1, rounding: 'ceil' }),
        new GraftPooling2D({ mode: 'max', poolSize: 2, strides: 2, pad: 1, rounding: 'ceil' }),
      ],
    });
    const x = tf.ones([1, 7, 7, 2]);
    assertPredictDoesNotLeak(model, x);
    x.dispose();
    model.dispose();
  }
});

test('invalid arguments are refused with the layer named', () => {
  assert.throws(() => new GraftPooling2D({ name: 'bad', mode: 'sum' as 'max', poolSize: 2, strides: 2 }), /bad.*mode/);
  assert.throws(() => new GraftPooling2D({ name: 'bad', mode: 'max', poolSize: 2, strides: 2, rounding: 'up' as PoolRounding }), /rounding/);
  assert.throws(() => new GraftPooling2D({ name: 'bad', mode: 'max', poolSize: 0, strides: 2 }), /poolSize/);
  const tooBig = new GraftPooling2D({ name: 'big', mode: 'max', poolSize: 5, strides: 1 });
  assert.throws(() => tooBig.computeOutputShape([null, 3, 3, 1]), /big.*window 5/);
});
