/**
 * Conv2DBackpropFilter for wasm, which tfjs-backend-wasm 4.22 lacks (so every Conv2D layer fails
 * in fit, and so does the gradient of Conv2DBackpropInput, i.e. conv2dTranspose).
 *
 * dw[u, v, ci, co] = Σ_{n, i, j} x[n, i·sh + u − pt, j·sw + v − pl, ci] · dy[n, i, j, co]
 * is itself a forward convolution (conv-geometry.ts: filterGradientExtension) once the batch
 * becomes the channel axis it sums over: input x as [Cin, H, W, N] (Cin images of N channels),
 * kernel dy as [oh, ow, N, Cout], dilation = the forward stride, output [Cin, kh, kw, Cout].
 * That runs on wasm's XNNPACK Conv2D at about half the forward's rate on a 56×56×64 3×3 layer
 * (22 against 40 GFLOP/s for a batch of 4, 15 against 38 for one): the batch is its GEMM's
 * inner dimension per kernel tap, short for XNNPACK's microkernels.
 */
import * as tf from '@tensorflow/tfjs';
import { convAxes, filterGradientExtension } from './conv-geometry.js';
import { extendSpatially } from './conv-operands.js';
import { zeroTapsForPacking } from './filter-packing.js';
import { filterGradientByMatMul } from './im2col.js';
import { withKernelCalls } from './kernel-calls.js';
import { assertChannelsLast, defineWasmKernel, shape4 } from './wasm-kernel.js';

export type FilterGradientMethod = 'conv' | 'im2col';

/** For benchmarks and tests: force one method instead of the size rule. */
export const filterGradientMethod: { force?: FilterGradientMethod } = {};

/** The largest patch matrix (floats) the im2col method builds: 128 MB, freed as soon as used. */
export const MAX_PATCH_FLOATS = 2 ** 25;

/**
 * im2col (im2col.ts) where its JS patch copy (≈ 3 ns an element here, one thread) is small beside
 * the product's 2·Cout FLOPs an element: Cout ≥ 128, measured (bench/conv-grads.ts, resnet18's
 * shapes at batch 8) 1.2–1.5× faster than the convolution on 1 thread, about even to 1.3× on 2;
 * at Cout = 64 the copy costs about as much as the product and the convolution wins (56² 64→64:
 * 20 against 18 GFLOP/s on 1 thread, 35 against 25 on 2). Few input channels (a stem's RGB) make
 * rows of patches too short to copy well: the convolution. And never a patch matrix over
 * MAX_PATCH_FLOATS.
 */
export function chooseFilterGradientMethod(filterShape: number[], dyShape: number[]): FilterGradientMethod {
  const [kh, kw, cin, cout] = filterShape;
  const [n, oh, ow] = dyShape;
  if (cin < 16 || cout < 128) return 'conv';
  return kh * kw * cin * n * oh * ow <= MAX_PATCH_FLOATS ? 'im2col' : 'conv';
}

export const conv2DBackpropFilterConfig = defineWasmKernel<'x' | 'dy', tf.Conv2DBackpropFilterAttrs>(
  tf.Conv2DBackpropFilter,
  ['x', 'dy'],
  ({ inputs: { x, dy }, attrs, backend }) => {
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    assertChannelsLast(tf.Conv2DBackpropFilter, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(shape4(x, tf.Conv2DBackpropFilter), filterShape, strides, 1, pad, dimRoundingMode);
    const [rows, cols] = convAxes(info);
    const method = filterGradientMethod.force ?? chooseFilterGradientMethod(filterShape, dy.shape);
    return withKernelCalls(backend, (calls) => {
      if (method === 'im2col') return filterGradientByMatMul(calls, x, dy, [rows, cols], filterShape);
      const [n, oh, ow] = dy.shape;
      // dy is this convolution's filter: zero taps after its last row and column keep
      // tfjs-wasm's intake of it fast (filter-packing.ts); they meet zeros of x's padding.
      const [extraRows, extraColumns] = zeroTapsForPacking(oh, ow, n);
      const tapRows = { ...rows, output: oh + extraRows };
      const tapColumns = { ...cols, output: ow + extraColumns };
      const extended = extendSpatially(calls, x, [filterGradientExtension(tapRows), filterGradientExtension(tapColumns)]);
      if (extended === null) return calls.zeros(filterShape);
      const images = calls.transpose(extended.operand, [3, 1, 2, 0]);
      const kernel = calls.transpose(calls.pad(dy, [[0, 0], [0, extraRows], [0, extraColumns], [0, 0]]), [1, 2, 0, 3]);
      const perInputChannel = calls.call(
        'Conv2D',
        { x: images, filter: kernel },
        { strides: [rows.dilation, cols.dilation], dilations: [rows.stride, cols.stride], pad: extended.padding, dataFormat: 'NHWC' },
      );
      return calls.transpose(perInputChannel, [1, 2, 0, 3]);
    });
  },
);
