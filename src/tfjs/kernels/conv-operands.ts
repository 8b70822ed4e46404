/**
 * Reshuffles that prepare the operands of a gradient-as-forward-convolution (conv-geometry.ts)
 * on NHWC or HWIO TensorInfos: wasm's Reshape/PadV2/Slice kernels, or block copies on the heap.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Extension } from './conv-geometry.js';
import type { WasmKernelCalls } from './kernel-calls.js';

/** An explicit conv padding, tfjs's ExplicitPadding form. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Applies [rows, columns] extensions to an NHWC operand: negative parts are cropped now (a
 * slice), positive parts are returned as the explicit padding for the conv that reads it, which
 * pads on the fly instead of copying. null when nothing of the operand is left: the correlation
 * would read only padding (possible with explicit padding wider than the kernel, or windows that
 * skip the input), so its result is zeros.
 */
export function extendSpatially(
  calls: WasmKernelCalls,
  x: tf.TensorInfo,
  [rows, cols]: [Extension, Extension],
): { operand: tf.TensorInfo; padding: ExplicitPadding } | null {
  const [n, h, w, c] = x.shape;
  const cropTop = Math.max(0, -rows.before);
  const cropLeft = Math.max(0, -cols.before);
  const keptH = h - cropTop - Math.max(0, -rows.after);
  const keptW = w - cropLeft - Math.max(0, -cols.after);
  if (keptH < 1 || keptW < 1) return null;
  const operand = calls.slice(x, [0, cropTop, cropLeft, 0], [n, keptH, keptW, c]);
  const padding: ExplicitPadding = [
    [0, 0],
    [Math.max(0, rows.before), Math.max(0, rows.after)],
    [Math.max(0, cols.before), Math.max(0, cols.after)],
    [0, 0],
  ];
  return { operand, padding };
}

/**
 * dy [N, oh, ow, C] → [N, oh·sh, ow·sw, C] with dy[i, j] at (i·sh, j·sw) and zeros elsewhere,
 * the input of a strided conv's input gradient. Each axis is one rank-4 zero pad of a size-1
 * axis inserted after it, which wasm's PadV2 does in one pass.
 */
export function spreadByStride(calls: WasmKernelCalls, dy: tf.TensorInfo, [sh, sw]: [number, number]): tf.TensorInfo {
  const [n, oh, ow, c] = dy.shape;
  let spread = dy;
  if (sh > 1) {
    spread = calls.reshape(spread, [n * oh, 1, ow, c]);
    spread = calls.pad(spread, [[0, 0], [0, sh - 1], [0, 0], [0, 0]]);
  }
  if (sw > 1) {
    spread = calls.reshape(spread, [n * oh * sh, ow, 1, c]);
    spread = calls.pad(spread, [[0, 0], [0, 0], [0, sw - 1], [0, 0]]);
  }
  return spread === dy ? dy : calls.reshape(spread, [n, oh * sh, ow * sw, c]);
}

/**
 * kernel [kh, kw, a, b] → [rows.length, cols.length, a + extraInner, b] with tap (i, j) =
 * kernel[rows[i], cols[j]] followed by extraInner·b zeros: a 180° flip ([kh − 1, …, 0] both
 * ways) or one phase's taps of it (input-gradient.ts), with zero input channels where
 * filter-packing.ts asks for them. Each tap is one contiguous a·b block, copied on the wasm heap.
 * wasm's Reverse and StridedSlice walk every element with generic index arithmetic: ≈ 1 ms each
 * on a 3×3×64×64 kernel here (as much as a tenth of the convolution they feed), and the 64
 * phase slices of a 16×16×21×21 kernel took 33 ms against 5 ms for the convolutions.
 */
export function gatherTaps(calls: WasmKernelCalls, kernel: tf.TensorInfo, rows: number[], cols: number[], extraInner = 0): tf.TensorInfo {
  const [kh, kw, a, b] = kernel.shape;
  const block = a * b;
  const tapSize = (a + extraInner) * b;
  const out = calls.adopt(calls.backend.makeOutput([rows.length, cols.length, a + extraInner, b], 'float32'));
  // Views are taken after the allocation, which may have grown the heap.
  const source = calls.backend.typedArrayFromHeap(kernel);
  const target = calls.backend.typedArrayFromHeap(out);
  rows.forEach((u, i) => {
    cols.forEach((v, j) => {
      if (u < 0 || u >= kh || v < 0 || v >= kw) throw new Error(`graft: kernel tap (${u}, ${v}) outside ${kh}×${kw}`);
      const from = (u * kw + v) * block;
      const to = (i * cols.length + j) * tapSize;
      target.set(source.subarray(from, from + block), to);
      // A fresh buffer is not zeroed.
      if (extraInner > 0) target.fill(0, to + block, to + tapSize);
    });
  });
  return out;
}

/** [n − 1, n − 2, …, 0] */
export function reversedRange(n: number): number[] {
  return Array.from({ length: n }, (_, i) => n - 1 - i);
}

