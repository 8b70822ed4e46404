/**
 * MaxPoolGrad for wasm, replacing tfjs-backend-wasm 4.22's, which is wrong: its C++ starts each
 * window's running maximum at std::numeric_limits<float>::min() (the smallest positive float,
 * not the most negative one), so a window whose values are all ≤ 0 sends its gradient to the
 * wrong cell (measured: relative error 1.0 against the cpu backend on an all-negative input);
 * ties also go to the last maximal cell instead of the first. wasm's MaxPoolWithArgmax has the
 * same start value, so there is no correct wasm kernel to build this from.
 *
 * This is the cpu backend's rule (maxPoolPositions in tfjs-backend-cpu): scan each window in
 * row-major order from −∞, the first strictly greater value wins (so NaN and −∞ padding never
 * do, and a window of only −∞ passes no gradient), and dy is added to the winner. With the
 * forward's output y (a max is exact, so y equals its winner bit for bit), the winner is the
 * first cell equal to y, found by a scan whose branches are rarely taken, where the running
 * maximum's mispredicts on every other cell (resnet18's 3×3/2 pool at a pass of 16, ReLU'd
 * input: 102 → 84 ms). A y that no cell equals or that a cell exceeds is caught by the same
 * scan and falls back to the running maximum. The loop (heap-tasks.ts) runs on all threads, split
 * by channels.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, runOnHeap } from './heap-workers.js';
import { defineWasmKernel, shape4 } from './wasm-kernel.js';

export const maxPoolGradConfig = defineWasmKernel<'dy' | 'input' | 'output', tf.MaxPoolGradAttrs>(
  tf.MaxPoolGrad,
  ['dy', 'input', 'output'],
  ({ inputs: { dy, input, output }, attrs, backend }) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    const info = tf.backend_util.computePool2DInfo(shape4(input, tf.MaxPoolGrad), filterSize, strides, 1, pad, dimRoundingMode);
    const dx = backend.makeOutput(input.shape, 'float32');
    // The view is taken after makeOutput: an allocation may grow the heap and detach older views.
    (backend.typedArrayFromHeap(dx) as Float32Array).fill(0);
    runOnHeap(backend, 'maxPoolGrad', {
      x: heapOffset(backend, input),
      y: heapOffset(backend, output),
      dy: heapOffset(backend, dy),
      dx: heapOffset(backend, dx),
      batch: info.batchSize,
      inHeight: info.inHeight,
      inWidth: info.inWidth,
      channels: info.inChannels,
      outHeight: info.outHeight,
      outWidth: info.outWidth,
      strides: [info.strideHeight, info.strideWidth],
      dilations: [info.dilationHeight, info.dilationWidth],
      window: [info.effectiveFilterHeight, info.effectiveFilterWidth],
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
    });
    return dx;
  },
);

