/**
 * Slice for wasm, wrapping tfjs-backend-wasm 4.22's. Its non-contiguous path copies one innermost
 * row at a time with `subarray` + `set`, a new view object per row: the gradient of a Pad (the
 * slice of dy back to the unpadded shape, e.g. resnet18's max-pool padding, [16, 114, 114, 64] →
 * [16, 112, 112, 64]) makes 200,704 of them, ≈ 57 ms per call (5% of a resnet18 step at batch
 * 16, bench/profile-train). Here trailing axes that are taken whole are merged into the row,
 * and rows move inside the one heap array with copyWithin (long rows) or a plain loop (short
 * ones): no allocation per row. Contiguous slices and strings go to the original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Heap = Float32Array | Int32Array | Uint8Array;

/** Rows shorter than this are copied element by element (copyWithin's call costs more). */
const SHORT_ROW = 24;

/**
 * Copies the [begin, begin + size) box of an array of `shape` at heap[from...] into heap[to...],
 * densely.
 */
export function sliceRows(heap: Heap, from: number, to: number, shape: number[], begin: number[], size: number[]): void {
  const rank = shape.length;
  // The row: the innermost axis plus every axis outside it taken whole, merged.
  let inner = rank - 1;
  let row = size[rank - 1];
  while (inner > 0 && size[inner] === shape[inner] && begin[inner] === 0) {
    inner--;
    row *= size[inner];
  }
  // Strides of the input (in elements).
  const strides = new Array<number>(rank).fill(1);
  for (let axis = rank - 2; axis >= 0; axis--) strides[axis] = strides[axis + 1] * shape[axis + 1];
  let source = from;
  for (let axis = 0; axis <= inner; axis++) source += begin[axis] * strides[axis];
  // An odometer over the axes outside the row.
  const index = new Array<number>(inner).fill(0);
  let target = to;
  for (;;) {
    if (row < SHORT_ROW) for (let i = 0; i < row; i++) heap[target + i] = heap[source + i];
    else heap.copyWithin(target, source, source + row);
    target += row;
    let axis = inner - 1;
    while (axis >= 0) {
      index[axis]++;
      source += strides[axis];
      if (index[axis] < size[axis]) break;
      source -= size[axis] * strides[axis];
      index[axis] = 0;
      axis--;
    }
    if (axis < 0) return;
  }
}

interface WasmHeaps {
  HEAPF32: Float32Array;
  HEAP32: Int32Array;
  HEAPU8: Uint8Array;
}

export function wrapSlice(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { x } = inputs as { x: tf.TensorInfo };
      const wasm = backend as BackendWasm;
      if (x.dtype === 'string') return original.kernelFunc(args);
      const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, (attrs as unknown as tf.SliceAttrs).begin, (attrs as unknown as tf.SliceAttrs).size);
      if (tf.slice_util.isSliceContinous(x.shape, begin, size) || tf.util.sizeFromShape(size) === 0) return original.kernelFunc(args);
      const out = wasm.makeOutput(size, x.dtype);
      // The heap arrays are read after makeOutput: an allocation may grow (and replace) them.
      const heaps = (wasm as unknown as { wasm: WasmHeaps }).wasm;
      const bytes = x.dtype === 'bool' ? 1 : 4;
      const heap = x.dtype === 'float32' ? heaps.HEAPF32 : x.dtype === 'int32' ? heaps.HEAP32 : heaps.HEAPU8;
      const offset = (t: tf.TensorInfo) => (wasm.dataIdMap.get(t.dataId) as unknown as { memoryOffset: number }).memoryOffset / bytes;
      sliceRows(heap, offset(x), offset(out), x.shape, begin, size);
      return out;
    },
  };
}
