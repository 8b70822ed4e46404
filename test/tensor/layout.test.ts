import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chwDenseToHwcInOut,
  oihwToDepthwise,
  oihwToHwio,
  outInToInOut,
  transpose,
  nchwToNhwc,
  nhwcToNchw,
} from '../../src/tensor/layout.js';

const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

test('transpose matches numpy.transpose on a 2x3x4 array', () => {
  // numpy: np.arange(24).reshape(2,3,4).transpose(2,0,1).ravel()[:10]
  const out = transpose(iota(24), [2, 3, 4], [2, 0, 1]);
  assert.deepEqual(Array.from(out.subarray(0, 10)), [0, 4, 8, 12, 16, 20, 1, 5, 9, 13]);
});

test('OIHW → HWIO puts W[o,i,h,w] at [h,w,i,o]', () => {
  const shape = [4, 3, 2, 5]; // O, I, kh, kw
  const W = iota(4 * 3 * 2 * 5);
  const out = oihwToHwio(W, shape);
  const at = (o: number, i: number, h: number, w: number) => ((o * 3 + i) * 2 + h) * 5 + w;
  for (const [o, i, h, w] of [[0, 0, 0, 0], [3, 2, 1, 4], [1, 2, 0, 3]]) {
    assert.equal(out[((h * 5 + w) * 3 + i) * 4 + o], at(o, i, h, w));
  }
});

test('depthwise [C·m,1,kh,kw] → [kh,kw,C,m] keeps Caffe output channel c·m + j at (c, j)', () => {
  const C = 3, m = 2, kh = 2, kw = 2;
  const W = iota(C * m * kh * kw);
  const out = oihwToDepthwise(W, [C * m, 1, kh, kw], C);
  for (let c = 0; c < C; c++) for (let j = 0; j < m; j++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) {
    assert.equal(out[((h * kw + w) * C + c) * m + j], W[((c * m + j) * kh + h) * kw + w]);
  }
  assert.throws(() => oihwToDepthwise(W, [C * m, 2, 1, kw], C));
});

test('dense after a CHW flatten: row (c,h,w) of the source becomes row (h,w,c)', () => {
  const out = 2, C = 3, H = 2, W = 2;
  const weights = iota(out * C * H * W);
  const hwc = chwDenseToHwcInOut(weights, out, [C, H, W]);
  for (let o = 0; o < out; o++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    const source = o * C * H * W + (c * H + h) * W + w;
    const target = ((h * W + w) * C + c) * out + o;
    assert.equal(hwc[target], weights[source]);
  }
  assert.deepEqual(Array.from(outInToInOut(iota(6), [2, 3])), [0, 3, 1, 4, 2, 5]);
});

test('NCHW ↔ NHWC round trip', () => {
  const x = iota(2 * 3 * 4 * 5);
  const nhwc = nchwToNhwc(x, [2, 3, 4, 5]);
  assert.equal(nhwc[1], x[20]); // (n0,h0,w0,c1) = (n0,c1,h0,w0)
  assert.deepEqual(nhwcToNchw(nhwc, [2, 4, 5, 3]), x);
});
