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
 * do, and a window of only −∞ passes no gradient), and dy is added to the winner. One pass over
 * the windows in NHWC order, straight on the wasm heap, with a channel vector of running maxima
 * so the innermost loop is contiguous.
 */
import * as tf from '@tensorflow/tfjs';
import { defineWasmKernel, shape4 } from './wasm-kernel.js';

export const maxPoolGradConfig = defineWasmKernel<'dy' | 'input', tf.MaxPoolGradAttrs>(
  tf.MaxPoolGrad,
  ['dy', 'input'],
  ({ inputs: { dy, input }, attrs, backend }) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    const info = tf.backend_util.computePool2DInfo(shape4(input, tf.MaxPoolGrad), filterSize, strides, 1, pad, dimRoundingMode);
    const dx = backend.makeOutput(input.shape, 'float32');
    // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
    const x = backend.typedArrayFromHeap(input) as Float32Array;
    const dyValues = backend.typedArrayFromHeap(dy) as Float32Array;
    const dxValues = backend.typedArrayFromHeap(dx) as Float32Array;
    dxValues.fill(0);
    const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
    const { strideHeight, strideWidth, dilationHeight, dilationWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
    const best = new Float32Array(channels);
    const winner = new Int32Array(channels);
    let dyIndex = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const top = oy * strideHeight - info.padInfo.top;
        for (let ox = 0; ox < outWidth; ox++) {
          const left = ox * strideWidth - info.padInfo.left;
          best.fill(-Infinity);
          winner.fill(-1);
          for (let ky = 0; ky < effectiveFilterHeight; ky += dilationHeight) {
            const row = top + ky;
            if (row < 0 || row >= inHeight) continue;
            for (let kx = 0; kx < effectiveFilterWidth; kx += dilationWidth) {
              const col = left + kx;
              if (col < 0 || col >= inWidth) continue;
              const base = ((b * inHeight + row) * inWidth + col) * channels;
              for (let c = 0; c < channels; c++) {
                const value = x[base + c];
                if (value > best[c]) {
                  best[c] = value;
                  winner[c] = base + c;
                }
              }
            }
          }
          for (let c = 0; c < channels; c++, dyIndex++) {
            if (winner[c] >= 0) dxValues[winner[c]] += dyValues[dyIndex];
          }
        }
      }
    }
    return dx;
  },
);
