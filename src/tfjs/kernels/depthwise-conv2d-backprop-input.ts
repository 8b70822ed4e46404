/**
 * DepthwiseConv2dNativeBackpropInput for wasm, which tfjs-backend-wasm 4.22 lacks (every
 * DepthwiseConv2D layer, and graft's grouped conv with one input channel per group, fail in fit).
 *
 * As for Conv2DBackpropInput, dx is a forward correlation of dy with the spatially flipped
 * kernel (input-gradient.ts), here depthwise. With channel multiplier m, dy channel c·m + q came
 * from input channel c through w[:, :, c, q], so the [kh, kw, C, m] kernel read as
 * [kh, kw, C·m, 1] gives each dy channel its own contribution, and the m contributions of a
 * channel are summed after.
 */
import * as tf from '@tensorflow/tfjs';
import { convAxes } from './conv-geometry.js';
import { inputGradient } from './input-gradient.js';
import { withKernelCalls } from './kernel-calls.js';
import { defineWasmKernel, shape4 } from './wasm-kernel.js';

export const depthwiseConv2dNativeBackpropInputConfig = defineWasmKernel<'dy' | 'filter', tf.DepthwiseConv2dNativeBackpropInputAttrs>(
  tf.DepthwiseConv2dNativeBackpropInput,
  ['dy', 'filter'],
  ({ inputs: { dy, filter }, attrs, backend }) => {
    const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
    const filterShape = shape4(filter, tf.DepthwiseConv2dNativeBackpropInput);
    const info = tf.backend_util.computeConv2DInfo(inputShape, filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true);
    const [kh, kw, channels, multiplier] = filterShape;
    return withKernelCalls(backend, (calls) => {
      const kernel = calls.reshape(filter, [kh, kw, channels * multiplier, 1]);
      return inputGradient(calls, dy, kernel, convAxes(info), inputShape, (operand, phaseKernel, padding, phaseDilations) => {
        const perOutputChannel = calls.call(
          'DepthwiseConv2dNative',
          { x: operand, filter: phaseKernel },
          { strides: 1, dilations: phaseDilations, pad: padding, dataFormat: 'NHWC' },
        );
        if (multiplier === 1) return perOutputChannel;
        const [n, h, w] = perOutputChannel.shape;
        const perMultiplier = calls.reshape(perOutputChannel, [n * h * w * channels, multiplier]);
        return calls.reshape(calls.sum(perMultiplier, 1), [n, h, w, channels]);
      });
    });
  },
);
