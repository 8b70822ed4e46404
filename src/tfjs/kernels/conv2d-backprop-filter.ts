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
import { withKernelCalls } from './kernel-calls.js';
import { assertChannelsLast, defineWasmKernel, shape4 } from './wasm-kernel.js';

export const conv2DBackpropFilterConfig = defineWasmKernel<'x' | 'dy', tf.Conv2DBackpropFilterAttrs>(
  tf.Conv2DBackpropFilter,
  ['x', 'dy'],
  ({ inputs: { x, dy }, attrs, backend }) => {
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    assertChannelsLast(tf.Conv2DBackpropFilter, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(shape4(x, tf.Conv2DBackpropFilter), filterShape, strides, 1, pad, dimRoundingMode);
    const [rows, cols] = convAxes(info);
    return withKernelCalls(backend, (calls) => {
      const extended = extendSpatially(calls, x, [filterGradientExtension(rows), filterGradientExtension(cols)]);
      if (extended === null) return calls.zeros(filterShape);
      const images = calls.transpose(extended.operand, [3, 1, 2, 0]);
      const kernel = calls.transpose(dy, [1, 2, 0, 3]);
      const perInputChannel = calls.call(
        'Conv2D',
        { x: images, filter: kernel },
        { strides: [rows.dilation, cols.dilation], dilations: [rows.stride, cols.stride], pad: extended.padding, dataFormat: 'NHWC' },
      );
      return calls.transpose(perInputChannel, [1, 2, 0, 3]);
    });
  },
);
