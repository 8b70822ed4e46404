/**
 * graft's wasm convolution gradient kernels against the cpu backend (and a float64 reference by
 * the definition) on random inputs: strides, 'same'/'valid'/explicit padding, rounding,
 * depthwise multipliers and dilation. Kernels are run directly, so that attributes the op-level
 * gradients never pass (depthwise dilation) are covered too.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { chooseFilterGradientMethod, filterGradientMethod, type FilterGradientMethod } from '../../../src/tfjs/kernels/conv2d-backprop-filter.js';
import { inputGradientZeroChannels } from '../../../src/tfjs/kernels/conv2d-backprop-input.js';
import { zeroTapsForPacking } from '../../../src/tfjs/kernels/filter-packing.js';
import { assertRelative, onCpuAndWasm, runKernelValues, seededTensor } from './helpers.js';
import { referenceConvGradients } from './reference-conv.js';

type Pair = [number, number];
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  kernel: Pair;
  /** Filters (conv2d) or channel multiplier (depthwise). */
  out: number;
  strides: Pair;
  pad: Pad;
  dilations?: Pair;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CONV_CASES: ConvCase[] = [
  { name: '3×3 stride 1 same', x: [2, 7, 7, 3], kernel: [3, 3], out: 4, strides: [1, 1], pad: 'same' },
  { name: '3×3 stride 2 valid, last row unused', x: [2, 8, 8, 3], kernel: [3, 3], out: 5, strides: [2, 2], pad: 'valid' },
  { name: '3×3 stride 2 same', x: [1, 9, 10, 4], kernel: [3, 3], out: 4, strides: [2, 2], pad: 'same' },
  { name: '1×1 stride 2', x: [2, 7, 8, 3], kernel: [1, 1], out: 6, strides: [2, 2], pad: 'valid' },
  { name: '2×2 stride 3 (gaps)', x: [2, 10, 10, 3], kernel: [2, 2], out: 3, strides: [3, 3], pad: 'valid' },
  { name: '5×3 strides [2, 1], explicit asymmetric pad', x: [1, 8, 7, 2], kernel: [5, 3], out: 3, strides: [2, 1], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
  { name: 'pad beyond the kernel reach', x: [1, 6, 6, 2], kernel: [3, 3], out: 2, strides: [1, 1], pad: [[0, 0], [3, 0], [1, 3], [0, 0]] },
  { name: 'numeric pad, ceil rounding', x: [1, 8, 8, 2], kernel: [3, 3], out: 3, strides: [2, 2], pad: 1, dimRoundingMode: 'ceil' },
  { name: 'stride 2, pad beyond the kernel reach', x: [1, 7, 6, 2], kernel: [3, 3], out: 2, strides: [2, 2], pad: [[0, 0], [4, 1], [3, 5], [0, 0]] },
  { name: '8×8 stride 4 (an upsampling deconv)', x: [1, 13, 12, 2], kernel: [8, 8], out: 3, strides: [4, 4], pad: 'valid' },
  { name: '2×3 strides [3, 2], kernel shorter than a stride, same', x: [2, 9, 8, 2], kernel: [2, 3], out: 2, strides: [3, 2], pad: 'same' },
  // Only padding under one input-gradient phase: that phase contributes nothing.
  { name: 'stride 2, top pad 10', x: [1, 2, 3, 2], kernel: [3, 3], out: 2, strides: [2, 2], pad: [[0, 0], [10, 0], [0, 0], [0, 0]] },
  // The only window misses the input: both gradients are zero.
  { name: '1×1 stride 4, pad 1', x: [1, 2, 2, 2], kernel: [1, 1], out: 2, strides: [4, 4], pad: [[0, 0], [1, 0], [1, 0], [0, 0]] },
];

/** Shapes the size rule sends to the im2col filter gradient (Cin ≥ 16, Cout ≥ 128): odd sizes, stride 2, 'same'. */
const IM2COL_CASES: ConvCase[] = [
  { name: 'im2col 3×3 stride 2 same, odd size', x: [2, 7, 7, 16], kernel: [3, 3], out: 128, strides: [2, 2], pad: 'same' },
  { name: 'im2col 3×3 stride 1 same', x: [1, 5, 6, 24], kernel: [3, 3], out: 128, strides: [1, 1], pad: 'same' },
  { name: 'im2col 1×1 stride 2 (patches the narrower side)', x: [2, 7, 9, 16], kernel: [1, 1], out: 160, strides: [2, 2], pad: 'same' },
  { name: 'im2col 3×2 strides [2, 1] valid, last row unused', x: [2, 8, 7, 16], kernel: [3, 2], out: 128, strides: [2, 1], pad: 'valid' },
];

const DEPTHWISE_CASES: ConvCase[] = [
  { name: 'multiplier 1, stride 1 same', x: [2, 7, 7, 4], kernel: [3, 3], out: 1, strides: [1, 1], pad: 'same' },
  { name: 'multiplier 2, stride 2 valid', x: [2, 8, 9, 3], kernel: [3, 3], out: 2, strides: [2, 2], pad: 'valid' },
  { name: 'multiplier 2, stride 2 same', x: [1, 9, 9, 5], kernel: [3, 3], out: 2, strides: [2, 2], pad: 'same' },
  { name: 'multiplier 3, 5×5 explicit pad', x: [2, 8, 8, 2], kernel: [5, 5], out: 3, strides: [1, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { name: 'dilation 2 same', x: [2, 9, 9, 3], kernel: [3, 3], out: 1, strides: [1, 1], pad: 'same', dilations: [2, 2] },
  { name: 'dilation 2 valid, multiplier 2, 2×3', x: [1, 10, 9, 2], kernel: [2, 3], out: 2, strides: [1, 1], pad: 'valid', dilations: [2, 2] },
  { name: 'dilation [2, 1], explicit pad', x: [1, 8, 8, 3], kernel: [3, 3], out: 1, strides: [1, 1], pad: [[0, 0], [1, 2], [2, 0], [0, 0]], dilations: [2, 1] },
  // tfjs's gradients never combine them; the kernels accept it.
  { name: 'stride 2 and dilation 2, multiplier 2', x: [1, 11, 10, 2], kernel: [3, 3], out: 2, strides: [2, 2], pad: 'same', dilations: [2, 2] },
  // Multiplier 1 and channels in fours: the filter gradient runs as graft's SIMD kernel.
  { name: 'SIMD filter gradient: 8 channels, stride 2 same, batch 3', x: [3, 9, 9, 8], kernel: [3, 3], out: 1, strides: [2, 2], pad: 'same' },
  { name: 'SIMD filter gradient: 12 channels, dilation 2 valid', x: [2, 10, 9, 12], kernel: [3, 3], out: 1, strides: [1, 1], pad: 'valid', dilations: [2, 2] },
  { name: 'SIMD filter gradient: 4 channels, 5×3 explicit pad, batch 1', x: [1, 8, 7, 4], kernel: [5, 3], out: 1, strides: [1, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
];

function geometry(c: ConvCase, depthwise: boolean) {
  const filterShape: [number, number, number, number] = [c.kernel[0], c.kernel[1], c.x[3], c.out];
  const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.strides, c.dilations ?? 1, c.pad, c.dimRoundingMode, depthwise);
  return { filterShape, info };
}

/** [filter gradient, input gradient] from the backend's kernels. */
function kernelGradients(c: ConvCase, depthwise: boolean): Float32Array[] {
  const { filterShape, info } = geometry(c, depthwise);
  return tf.tidy(() => {
    const x = seededTensor(c.x, 1);
    const filter = seededTensor(filterShape, 2);
    const dy = seededTensor(info.outShape, 3);
    const common = { strides: c.strides, pad: c.pad, ...(c.dimRoundingMode ? { dimRoundingMode: c.dimRoundingMode } : {}) };
    if (depthwise) {
      const attrs = { ...common, dilations: c.dilations ?? [1, 1] };
      return [
        ...runKernelValues(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { ...attrs, filterShape }),
        ...runKernelValues(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x }),
      ];
    }
    const attrs = { ...common, dataFormat: 'NHWC' };
    return [
      ...runKernelValues(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape }),
      ...runKernelValues(tf.Conv2DBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x }),
    ];
  });
}

function reference(c: ConvCase, depthwise: boolean) {
  const { filterShape, info } = geometry(c, depthwise);
  const values = tf.tidy(() => [seededTensor(c.x, 1), seededTensor(filterShape, 2), seededTensor(info.outShape, 3)].map((t) => t.dataSync()));
  return referenceConvGradients(values[0], values[1], values[2], info, depthwise);
}

async function checkCase(c: ConvCase, depthwise: boolean): Promise<void> {
  const { cpu, wasm } = await onCpuAndWasm(() => kernelGradients(c, depthwise));
  const ref = reference(c, depthwise);
  const kind = depthwise ? 'depthwise' : 'conv2d';
  assertRelative(wasm[0], ref.dw, `${kind} ${c.name}: filter gradient vs float64 reference`);
  assertRelative(wasm[1], ref.dx, `${kind} ${c.name}: input gradient vs float64 reference`);
  // tfjs's cpu depthwise backprop kernels ignore dilation; where they apply, wasm must match them.
  if ((c.dilations ?? [1, 1]).every((d) => d === 1)) {
    assertRelative(wasm[0], cpu[0], `${kind} ${c.name}: filter gradient vs cpu`);
    assertRelative(wasm[1], cpu[1], `${kind} ${c.name}: input gradient vs cpu`);
  }
}

test('Conv2DBackpropFilter and Conv2DBackpropInput on wasm match cpu', async () => {
  for (const c of CONV_CASES) await checkCase(c, false);
});

test('the im2col filter gradient (forced on every case, and where the size rule picks it) matches cpu', async () => {
  for (const c of IM2COL_CASES) {
    const filterShape = [c.kernel[0], c.kernel[1], c.x[3], c.out];
    const { info } = geometry(c, false);
    if (chooseFilterGradientMethod(filterShape, info.outShape) !== 'im2col') throw new Error(`${c.name}: the rule does not pick im2col`);
    await checkCase(c, false);
  }
  for (const method of ['im2col', 'conv'] as FilterGradientMethod[]) {
    filterGradientMethod.force = method;
    try {
      for (const c of [...CONV_CASES, ...IM2COL_CASES]) await checkCase({ ...c, name: `${c.name} (${method} forced)` }, false);
    } finally {
      filterGradientMethod.force = undefined;
    }
  }
});

test('DepthwiseConv2dNativeBackpropFilter and -Input on wasm match cpu (and the definition with dilation)', async () => {
  for (const c of DEPTHWISE_CASES) await checkCase(c, true);
});

test('gradients through tf.conv2d, tf.depthwiseConv2d and tf.conv2dTranspose on wasm match cpu', async () => {
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.tidy(() => {
      const x = seededTensor([2, 9, 9, 4], 4);
      const w = seededTensor([3, 3, 4, 6], 5);
      const dw = seededTensor([3, 3, 6, 2], 6);
      const wt = seededTensor([3, 3, 3, 12], 7);
      const loss = (xv: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const y = tf.conv2d(xv as tf.Tensor4D, a as tf.Tensor4D, 2, 'same');
        const z = tf.depthwiseConv2d(tf.relu(y), b as tf.Tensor4D, 1, 'valid');
        const t = tf.conv2dTranspose(z, c as tf.Tensor4D, [2, 6, 6, 3], 2, 'same');
        return tf.sum(tf.mul(t, seededTensor(t.shape, 8)));
      };
      return tf.grads(loss)([x, w, dw, wt]).map((g) => g.dataSync() as Float32Array);
    }),
  );
  ['x', 'conv2d filter', 'depthwise filter', 'transposed filter'].forEach((name, i) => assertRelative(wasm[i], cpu[i], `d loss / d ${name}`));
});

/** Shapes for which the gradient kernels pad their fresh filters for tfjs-wasm's intake (filter-packing.ts). */
const PACKING_CASES: ConvCase[] = [
  // dy [16, 16, 16, ·] is the filter gradient's filter: R = 16·16·16 = 2¹², zero taps added.
  { name: 'zero taps on dy, 3×3 stride 1 same', x: [16, 16, 16, 2], kernel: [3, 3], out: 3, strides: [1, 1], pad: 'same' },
  { name: 'zero taps on dy, 3×3 stride 2 valid', x: [16, 33, 33, 2], kernel: [3, 3], out: 2, strides: [2, 2], pad: 'valid' },
  // The input gradient's kernels have 9 (or per phase 4, 2, 1) taps of 256 dy channels: zero channels.
  { name: 'zero channels on dy, 3×3 stride 1 same', x: [1, 3, 3, 8], kernel: [3, 3], out: 256, strides: [1, 1], pad: 'same' },
  { name: 'zero channels on dy, 3×3 stride 2 same', x: [1, 5, 6, 8], kernel: [3, 3], out: 256, strides: [2, 2], pad: 'same' },
];

test('gradients whose fresh filters get zero taps or zero channels match cpu', async () => {
  for (const c of PACKING_CASES) {
    const { info } = geometry(c, false);
    const [, oh, ow] = info.outShape;
    const taps = zeroTapsForPacking(oh, ow, c.x[0]);
    const channels = inputGradientZeroChannels(info.outShape, [c.kernel[0], c.kernel[1], c.x[3], c.out], [9, 4, 2, 1]);
    if (taps[0] + taps[1] === 0 && channels === 0) throw new Error(`${c.name}: no padding rule applies`);
    await checkCase(c, false);
  }
});
