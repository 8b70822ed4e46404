/**
 * Convolution gradients as one matrix product over an im2col patch matrix, for layers whose
 * batch·output area is small beside their kernel volume (the deep layers of a ResNet).
 *
 * The patch matrix is built here in its transposed form patchesᵀ [kh·kw·Cin, N·oh·ow], so that
 * the XNNPACK product (tfjs-backend-wasm's BatchMatMul, threaded) packs only dy, the smaller
 * operand, as its right-hand side: XNNPACK repacks a fresh right-hand operand on every call, at
 * roughly 13 ns an element here. Building the patches is a JS copy (heap-tasks.ts, on all
 * threads), O(size of the patches) = O(FLOPs / Cout); the product carries the FLOPs.
 *
 * Row (u, v, c), column (n, i, j) of patchesᵀ is x[n, i·sh + u·dh − pt, j·sw + v·dw − pl, c]
 * (zero outside x); it is read from x transposed to [C, N, H, W] so that each row is a run of
 * (strided) reads along a row of one channel plane, written contiguously.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ConvAxis } from './conv-geometry.js';
import { heapOffset, runOnHeap } from './heap-workers.js';
import type { WasmKernelCalls } from './kernel-calls.js';

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
  const [n, , , channels] = x.shape;
  const patches = calls.adopt(calls.backend.makeOutput([1, n * oh * ow, rows.kernel * cols.kernel * channels], 'float32'));
  const { backend } = calls;
  runOnHeap(backend, 'patchRows', { x: heapOffset(backend, x), patches: heapOffset(backend, patches), batch: n, channels, rows, cols });
  return patches;
}

/** patchesᵀ [1, kh·kw·Cin, N·oh·ow], read from x as channel planes. */
function patchColumns(calls: WasmKernelCalls, x: tf.TensorInfo, [rows, cols]: [ConvAxis, ConvAxis], oh: number, ow: number): tf.TensorInfo {
  const [n, , , channels] = x.shape;
  const planes = calls.transpose(x, [3, 0, 1, 2]);
  const patches = calls.adopt(calls.backend.makeOutput([1, rows.kernel * cols.kernel * channels, n * oh * ow], 'float32'));
  const { backend } = calls;
  runOnHeap(backend, 'patchColumns', { planes: heapOffset(backend, planes), patches: heapOffset(backend, patches), batch: n, channels, rows, cols });
  calls.free(planes);
  return patches;
}
