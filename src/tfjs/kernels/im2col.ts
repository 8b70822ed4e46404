/**
 * Convolution gradients as one matrix product over an im2col patch matrix, for layers whose
 * batch·output area is small beside their kernel volume (the deep layers of a ResNet).
 *
 * The patch matrix is built here in its transposed form patchesᵀ [kh·kw·Cin, N·oh·ow], so that
 * the XNNPACK product (tfjs-backend-wasm's BatchMatMul, threaded) packs only dy, the smaller
 * operand, as its right-hand side: XNNPACK repacks a fresh right-hand operand on every call, at
 * roughly 13 ns an element here. Building the patches is a JS copy, O(size of the patches) =
 * O(FLOPs / Cout); the product carries the FLOPs.
 *
 * Row (u, v, c), column (n, i, j) of patchesᵀ is x[n, i·sh + u·dh − pt, j·sw + v·dw − pl, c]
 * (zero outside x); it is read from x transposed to [C, N, H, W] so that each row is a run of
 * (strided) reads along a row of one channel plane, written contiguously.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ConvAxis } from './conv-geometry.js';
import type { WasmKernelCalls } from './kernel-calls.js';

/** Valid output indices i (0 ≤ i < out) with 0 ≤ i·s + u·d − p < input: [first, end). */
function validRange(axis: ConvAxis, tap: number): [number, number] {
  const offset = tap * axis.dilation - axis.padBefore;
  // i·s + offset ≥ 0 ⇔ i ≥ ⌈−offset / s⌉; i·s + offset ≤ input − 1 ⇔ i ≤ ⌊(input − 1 − offset) / s⌋.
  const first = Math.max(0, Math.ceil(-offset / axis.stride));
  const end = Math.min(axis.output, Math.floor((axis.input - 1 - offset) / axis.stride) + 1);
  return [first, Math.max(first, end)];
}

/**
 * dw [kh, kw, Cin, Cout] = patchesᵀ · dy, one XNNPACK product; or (dyᵀ · patches)ᵀ when the
 * patches are the narrower operand. dy is passed as a view (a fresh tensor id, dropped
 * afterwards) so that the packed copy XNNPACK caches per right-hand operand goes with it.
 */
export function filterGradientByMatMul(
  calls: WasmKernelCalls,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  [rows, cols]: [ConvAxis, ConvAxis],
  filterShape: number[],
): tf.TensorInfo {
  const [n, , , channels] = x.shape;
  const [, oh, ow, cout] = dy.shape;
  const depth = rows.kernel * cols.kernel * channels;
  const columns = n * oh * ow;
  if (depth < cout) {
    // dwᵀ [Cout, depth] = dyᵀ · patches: XNNPACK then packs the patches, here the smaller side
    // (a 1×1 kernel widening the channels).
    const patches = patchRows(calls, x, [rows, cols], oh, ow);
    const dyT = calls.transpose(calls.view(dy, [columns, cout]), [1, 0]);
    const product = calls.call('BatchMatMul', { a: calls.reshape(dyT, [1, cout, columns]), b: patches }, { transposeA: false, transposeB: false });
    calls.free(patches, dyT);
    return calls.reshape(calls.transpose(calls.reshape(product, [cout, depth]), [1, 0]), filterShape);
  }
  const patches = patchColumns(calls, x, [rows, cols], oh, ow);
  const product = calls.call('BatchMatMul', { a: patches, b: calls.view(dy, [1, columns, cout]) }, { transposeA: false, transposeB: false });
  calls.free(patches);
  return calls.reshape(product, filterShape);
}

/** patches [1, N·oh·ow, kh·kw·Cin]: each (row, tap) a contiguous block of Cin values of x, or zeros. */
function patchRows(calls: WasmKernelCalls, x: tf.TensorInfo, [rows, cols]: [ConvAxis, ConvAxis], oh: number, ow: number): tf.TensorInfo {
  const [n, h, w, channels] = x.shape;
  const taps = rows.kernel * cols.kernel;
  const depth = taps * channels;
  const patches = calls.adopt(calls.backend.makeOutput([1, n * oh * ow, depth], 'float32'));
  const source = calls.backend.typedArrayFromHeap(x);
  const target = calls.backend.typedArrayFromHeap(patches);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const rowStart = ((b * oh + i) * ow + j) * depth;
        for (let u = 0; u < rows.kernel; u++) {
          const t = i * rows.stride + u * rows.dilation - rows.padBefore;
          for (let v = 0; v < cols.kernel; v++) {
            const to = rowStart + (u * cols.kernel + v) * channels;
            const s = j * cols.stride + v * cols.dilation - cols.padBefore;
            if (t < 0 || t >= h || s < 0 || s >= w) {
              target.fill(0, to, to + channels);
            } else {
              const from = ((b * h + t) * w + s) * channels;
              target.set(source.subarray(from, from + channels), to);
            }
          }
        }
      }
    }
  }
  return patches;
}

/** patchesᵀ [1, kh·kw·Cin, N·oh·ow], read from x as channel planes. */
function patchColumns(calls: WasmKernelCalls, x: tf.TensorInfo, [rows, cols]: [ConvAxis, ConvAxis], oh: number, ow: number): tf.TensorInfo {
  const [n, h, w, channels] = x.shape;
  const [kh, kw] = [rows.kernel, cols.kernel];
  const depth = kh * kw * channels;
  const columns = n * oh * ow;
  const planes = calls.transpose(x, [3, 0, 1, 2]);
  const patches = calls.adopt(calls.backend.makeOutput([1, depth, columns], 'float32'));
  // Heap views after every allocation (which may grow the heap).
  const source = calls.backend.typedArrayFromHeap(planes);
  const target = calls.backend.typedArrayFromHeap(patches);
  const plane = h * w;
  const [sh, sw] = [rows.stride, cols.stride];
  for (let u = 0; u < kh; u++) {
    const [iFirst, iEnd] = validRange(rows, u);
    const rowOffset = u * rows.dilation - rows.padBefore;
    for (let v = 0; v < kw; v++) {
      const [jFirst, jEnd] = validRange(cols, v);
      const colOffset = v * cols.dilation - cols.padBefore;
      for (let c = 0; c < channels; c++) {
        const rowStart = ((u * kw + v) * channels + c) * columns;
        // A fresh buffer is not zeroed: the windows' cells in padding are written as zeros here.
        for (let b = 0; b < n; b++) {
          const planeStart = (c * n + b) * plane;
          const imageStart = rowStart + b * oh * ow;
          if (iFirst > 0) target.fill(0, imageStart, imageStart + iFirst * ow);
          if (iEnd < oh) target.fill(0, imageStart + iEnd * ow, imageStart + oh * ow);
          for (let i = iFirst; i < iEnd; i++) {
            const from = planeStart + (i * sh + rowOffset) * w + colOffset;
            const to = imageStart + i * ow;
            for (let j = 0; j < jFirst; j++) target[to + j] = 0;
            // Rows are short (7–56): a plain loop beats subarray().set()'s per-call cost.
            for (let j = jFirst, at = from + jFirst * sw; j < jEnd; j++, at += sw) target[to + j] = source[at];
            for (let j = jEnd; j < ow; j++) target[to + j] = 0;
          }
        }
      }
    }
  }
  calls.free(planes);
  return patches;
}
