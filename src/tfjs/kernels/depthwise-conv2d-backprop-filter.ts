/**
 * DepthwiseConv2dNativeBackpropFilter for wasm, which tfjs-backend-wasm 4.22 lacks.
 *
 * dw[u, v, c, q] = Σ_{n, i, j} x[n, i·sh + u·dh − pt, j·sw + v·dw − pl, c] · dy[n, i, j, c·m + q]
 * As for Conv2DBackpropFilter (conv2d-backprop-filter.ts) this is a forward correlation of x with
 * dy as the kernel (stride = forward dilation, dilation = forward stride), here a depthwise one:
 * the batch joins the channel axis so that each (n, c) pair is its own depthwise channel (input
 * [1, H, W, N·C], kernel [oh, ow, N·C, m]); the sum over n comes after, on the small
 * [kh·kw, N, C·m] result.
 *
 * That is correct but slow: ≈ 1.2–1.6 GFLOP/s against 23 for the forward depthwise conv at a
 * batch of 16 (2 threads), as XNNPACK's depthwise microkernels are built for small kernels, not
 * one the size of the image. So where the channel multiplier is 1 and the channels come in fours
 * (MobileNets), the sum runs instead as graft's own SIMD kernel (simd/kernels.wat: per pixel,
 * 4 channels at a time into each tap) on all threads, a share of the images each, into one sum
 * per thread (heap-tasks.ts); the correlation stays for the rest, and where that kernel cannot run.
 */
import * as tf from '@tensorflow/tfjs';
import { convAxes, filterGradientExtension } from './conv-geometry.js';
import { extendSpatially } from './conv-operands.js';
import { heapOffset, heapParts, heapSimd, runOnHeap } from './heap-workers.js';
import { withKernelCalls } from './kernel-calls.js';
import { defineWasmKernel, shape4 } from './wasm-kernel.js';

export const depthwiseConv2dNativeBackpropFilterConfig = defineWasmKernel<'x' | 'dy', tf.DepthwiseConv2dNativeBackpropFilterAttrs>(
  tf.DepthwiseConv2dNativeBackpropFilter,
  ['x', 'dy'],
  ({ inputs: { x, dy }, attrs, backend }) => {
    const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
    const xShape = shape4(x, tf.DepthwiseConv2dNativeBackpropFilter);
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true);
    const [rows, cols] = convAxes(info);
    const [kh, kw, channels, multiplier] = filterShape;
    const n = xShape[0];
    const [, oh, ow] = dy.shape;
    if (multiplier === 1 && channels % 4 === 0 && heapSimd(backend)) {
      // One sum per part (by images), 64 bytes apart at least so that no two share a cache line.
      const parts = Math.min(heapParts(backend), n);
      const size = kh * kw * channels;
      const stride = Math.ceil(size / 16) * 16 + 16;
      const sums = backend.makeOutput([parts * stride], 'float32');
      const dw = backend.makeOutput(filterShape, 'float32');
      try {
        runOnHeap(backend, 'depthwiseFilterGradient', { x: heapOffset(backend, x), dy: heapOffset(backend, dy), sums: heapOffset(backend, sums), stride, batch: n, channels, rows, cols }, parts);
        // Views after both allocations (which may grow the heap).
        const partial = backend.typedArrayFromHeap(sums) as Float32Array;
        const total = backend.typedArrayFromHeap(dw) as Float32Array;
        total.set(partial.subarray(0, size));
        for (let part = 1; part < parts; part++) {
          for (let k = 0; k < size; k++) total[k] += partial[part * stride + k];
        }
      } finally {
        backend.disposeData(sums.dataId);
      }
      return dw;
    }
    return withKernelCalls(backend, (calls) => {
      const extended = extendSpatially(calls, x, [filterGradientExtension(rows), filterGradientExtension(cols)]);
      if (extended === null) return calls.zeros(filterShape);
      const [, h, w] = extended.operand.shape;
      const image = calls.reshape(calls.transpose(extended.operand, [1, 2, 0, 3]), [1, h, w, n * channels]);
      const kernel = calls.reshape(calls.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * channels, multiplier]);
      const perImage = calls.call(
        'DepthwiseConv2dNative',
        { x: image, filter: kernel },
        { strides: [rows.dilation, cols.dilation], dilations: [rows.stride, cols.stride], pad: extended.padding, dataFormat: 'NHWC' },
      );
      const summed = n === 1 ? perImage : calls.sum(calls.reshape(perImage, [kh * kw, n, channels * multiplier]), 1);
      return calls.reshape(summed, [kh, kw, channels, multiplier]);
    });
  },
);
