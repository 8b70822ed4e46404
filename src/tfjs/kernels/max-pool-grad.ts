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
 * scan and falls back to the running maximum.
 */
import * as tf from '@tensorflow/tfjs';
import { defineWasmKernel, shape4 } from './wasm-kernel.js';

export const maxPoolGradConfig = defineWasmKernel<'dy' | 'input' | 'output', tf.MaxPoolGradAttrs>(
  tf.MaxPoolGrad,
  ['dy', 'input', 'output'],
  ({ inputs: { dy, input, output }, attrs, backend }) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    const info = tf.backend_util.computePool2DInfo(shape4(input, tf.MaxPoolGrad), filterSize, strides, 1, pad, dimRoundingMode);
    const dx = backend.makeOutput(input.shape, 'float32');
    // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
    const x = backend.typedArrayFromHeap(input) as Float32Array;
    const y = backend.typedArrayFromHeap(output) as Float32Array;
    const dyValues = backend.typedArrayFromHeap(dy) as Float32Array;
    const dxValues = backend.typedArrayFromHeap(dx) as Float32Array;
    dxValues.fill(0);
    const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
    const { strideHeight, strideWidth, dilationHeight, dilationWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
    // Start of each window cell inside the input, row-major; cells in padding are left out.
    const cells = new Int32Array(Math.ceil(effectiveFilterHeight / dilationHeight) * Math.ceil(effectiveFilterWidth / dilationWidth));
    let d = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const top = oy * strideHeight - info.padInfo.top;
        for (let ox = 0; ox < outWidth; ox++) {
          const left = ox * strideWidth - info.padInfo.left;
          let count = 0;
          for (let ky = 0; ky < effectiveFilterHeight; ky += dilationHeight) {
            const row = top + ky;
            if (row < 0 || row >= inHeight) continue;
            for (let kx = 0; kx < effectiveFilterWidth; kx += dilationWidth) {
              const col = left + kx;
              if (col < 0 || col >= inWidth) continue;
              cells[count++] = ((b * inHeight + row) * inWidth + col) * channels;
            }
          }
          for (let c = 0; c < channels; c++, d++) {
            const max = y[d];
            let winner = -1;
            let aboveMax = false;
            for (let i = 0; i < count; i++) {
              const value = x[cells[i] + c];
              if (value >= max) {
                if (value > max) aboveMax = true;
                else if (winner < 0) winner = cells[i] + c;
              }
            }
            // y is not the max of the window's cells where the window holds NaN (wasm's max then
            // depends on where the NaN sits: NaN, −∞, or a value some cell exceeds) or where the
            // forward counted padding as a value: the cpu scan decides.
            if (winner < 0 || aboveMax) winner = firstGreatest(x, cells, count, c);
            // Cells all −∞ (or NaN): none is strictly greater than the start value, nothing wins.
            else if (max === -Infinity) winner = -1;
            if (winner >= 0) dxValues[winner] += dyValues[d];
          }
        }
      }
    }
    return dx;
  },
);

/** The cpu rule for one channel of one window: the first cell strictly greater than all before it, from −∞. */
function firstGreatest(x: Float32Array, cells: Int32Array, count: number, channel: number): number {
  let best = -Infinity;
  let winner = -1;
  for (let i = 0; i < count; i++) {
    const value = x[cells[i] + channel];
    if (value > best) {
      best = value;
      winner = cells[i] + channel;
    }
  }
  return winner;
}
