/**
 * Conv2DBackpropInput for wasm, replacing tfjs-backend-wasm 4.22's, which is correct but a
 * plain scalar loop (measured 2.5–3.6 GFLOP/s here against 25–38 for a forward Conv2D of the
 * same size). It is the input gradient of every Conv2D layer and the forward pass of
 * conv2dTranspose.
 *
 * dx is a forward convolution of dy with the kernel flipped 180° and its in/out axes swapped,
 * per output phase when strided (input-gradient.ts), on wasm's XNNPACK Conv2D.
 */
import * as tf from '@tensorflow/tfjs';
import { convAxes } from './conv-geometry.js';
import { zeroChannelsForPacking } from './filter-packing.js';
import { inputGradient } from './input-gradient.js';
import { withKernelCalls } from './kernel-calls.js';
import { assertChannelsLast, defineWasmKernel, shape4 } from './wasm-kernel.js';

/**
 * Zero channels for dy and the flipped kernels (filter-packing.ts), for kernels of `taps` taps
 * each: only where dy is the cheaper side to copy (deep layers: 7²×512 against 3×3×512×512).
 */
export function inputGradientZeroChannels(dyShape: number[], filterShape: number[], taps: number[]): number {
  if (tf.util.sizeFromShape(dyShape) * 2 > tf.util.sizeFromShape(filterShape)) return 0;
  return zeroChannelsForPacking(taps, dyShape[3]);
}

export const conv2DBackpropInputConfig = defineWasmKernel<'dy' | 'filter', tf.Conv2DBackpropInputAttrs>(
  tf.Conv2DBackpropInput,
  ['dy', 'filter'],
  ({ inputs: { dy, filter }, attrs, backend }) => {
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    assertChannelsLast(tf.Conv2DBackpropInput, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(inputShape, shape4(filter, tf.Conv2DBackpropInput), strides, 1, pad, dimRoundingMode);
    return withKernelCalls(backend, (calls) => {
      // [kh, kw, Cin, Cout] → [kh, kw, Cout, Cin]: dy's channels in, x's out.
      const kernel = calls.transpose(filter, [0, 1, 3, 2]);
      const zeroChannels = (taps: number[]) => inputGradientZeroChannels(dy.shape, filter.shape, taps);
      return inputGradient(
        calls,
        dy,
        kernel,
        convAxes(info),
        inputShape,
        (operand, phaseKernel, padding, dilations) =>
          calls.call('Conv2D', { x: operand, filter: phaseKernel }, { strides: 1, dilations, pad: padding, dataFormat: 'NHWC' }),
        zeroChannels,
      );
    });
  },
);
