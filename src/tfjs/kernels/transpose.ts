/**
 * Transpose for wasm, replacing tfjs-backend-wasm 4.22's, whose C++ walks the output with
 * generic index arithmetic and, when the innermost axis moves, reads with a large stride through
 * the whole input: 55–80 ms for [100352, 64] → [64, 100352] here, 15–30 ns an element. graft's
 * gradient kernels (conv2d-backprop-*.ts, batch-mat-mul.ts) transpose on every call.
 *
 * Here: adjacent axes that stay adjacent are merged first; where the innermost axis moves and
 * both axes it trades places with are long (tiledTransposePays: [100352, 64] → [64, 100352]
 * 16 against 50 ms, a conv kernel's [3, 3, 512, 512] → [3, 3, 512, 512]ᵀ 5 against 12 ms), the
 * transpose is a batch of 2-D transposes between the input's innermost axis and the axis that
 * becomes the output's innermost, done in 32×32 tiles so that reads and writes both stay within
 * a few cache lines. Everything else goes to wasm's own kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Numeric = Float32Array | Int32Array | Uint8Array;

const TILE = 32;

/** Merges input axes that stay next to each other, in order: [shape, perm] of the reduced problem. */
export function collapse(shape: number[], perm: number[]): [number[], number[]] {
  // Drop size-1 axes (they move nothing), then merge runs perm[i + 1] = perm[i] + 1.
  const kept = perm.filter((axis) => shape[axis] !== 1);
  if (kept.length === 0) return [[1], [0]];
  const groups: number[][] = [];
  for (const axis of kept) {
    const last = groups[groups.length - 1];
    // Adjacent in the input once size-1 axes are ignored.
    if (last !== undefined && nextKept(shape, last[last.length - 1]) === axis) last.push(axis);
    else groups.push([axis]);
  }
  // Each group becomes one axis; number them in input order.
  const order = [...groups].sort((a, b) => a[0] - b[0]);
  const newShape = order.map((g) => g.reduce((n, axis) => n * shape[axis], 1));
  const newPerm = groups.map((g) => order.indexOf(g));
  return [newShape, newPerm];
}

function nextKept(shape: number[], axis: number): number {
  let next = axis + 1;
  while (next < shape.length && shape[next] === 1) next++;
  return next;
}

function strides(shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    out[axis] = stride;
    stride *= shape[axis];
  }
  return out;
}

/**
 * Whether the tiled path pays: the innermost axis moves and both sides of the 2-D transposes are
 * at least a tile long. wasm's own kernel is as fast or faster (measured here) where the
 * innermost axis stays (row copies: 1.4 against 8 ms for [16, 56, 56, 64] → [56, 56, 16, 64]) or
 * one side is short ([16, 56, 56, 64] → [64, 56, 56, 16]: 6 against 9 ms).
 */
export function tiledTransposePays(inShape: number[], inPerm: number[]): boolean {
  const [shape, perm] = collapse(inShape, inPerm);
  const last = shape.length - 1;
  if (last === 0 || perm[last] === last) return false;
  return shape[perm[last]] >= TILE && shape[last] >= TILE;
}

export function transposeValues(source: Numeric, target: Numeric, inShape: number[], inPerm: number[]): void {
  const [shape, perm] = collapse(inShape, inPerm);
  const rank = shape.length;
  if (rank === 1) {
    target.set(source.subarray(0, shape[0]));
    return;
  }
  const outShape = perm.map((axis) => shape[axis]);
  const inStrides = strides(shape);
  const outStrides = strides(outShape);
  // Output axis j reads input axis perm[j]; its input stride:
  const readStride = perm.map((axis) => inStrides[axis]);
  const last = rank - 1;
  if (perm[last] === last) {
    // Innermost axis stays: copy rows of it.
    const row = shape[last];
    const outer = outShape.slice(0, last);
    forEachIndex(outer, readStride.slice(0, last), outStrides.slice(0, last), (from, to) => {
      for (let i = 0; i < row; i++) target[to + i] = source[from + i];
    });
    return;
  }
  // The output's innermost axis (input axis p, input stride sp) and the output axis q that the
  // input's innermost axis lands on (output stride sq): 2-D transposes of [shape[p], shape[last]].
  const p = perm[last];
  const q = perm.indexOf(last);
  const rows = shape[p];
  const cols = shape[last];
  const sp = inStrides[p];
  const sq = outStrides[q];
  const otherAxes = perm.map((_, j) => j).filter((j) => j !== last && j !== q);
  forEachIndex(
    otherAxes.map((j) => outShape[j]),
    otherAxes.map((j) => readStride[j]),
    otherAxes.map((j) => outStrides[j]),
    (from, to) => {
      for (let i0 = 0; i0 < rows; i0 += TILE) {
        const i1 = Math.min(rows, i0 + TILE);
        for (let j0 = 0; j0 < cols; j0 += TILE) {
          const j1 = Math.min(cols, j0 + TILE);
          for (let j = j0; j < j1; j++) {
            const write = to + j * sq;
            const read = from + j;
            for (let i = i0; i < i1; i++) target[write + i] = source[read + i * sp];
          }
        }
      }
    },
  );
}

/** Calls body(inputOffset, outputOffset) for every index of `shape` (row-major), offsets by strides. */
function forEachIndex(shape: number[], inStrides: number[], outStrides: number[], body: (from: number, to: number) => void): void {
  const rank = shape.length;
  if (shape.some((d) => d === 0)) return;
  const index = new Array<number>(rank).fill(0);
  let from = 0;
  let to = 0;
  for (;;) {
    body(from, to);
    let axis = rank - 1;
    while (axis >= 0) {
      index[axis]++;
      from += inStrides[axis];
      to += outStrides[axis];
      if (index[axis] < shape[axis]) break;
      from -= inStrides[axis] * shape[axis];
      to -= outStrides[axis] * shape[axis];
      index[axis] = 0;
      axis--;
    }
    if (axis < 0) return;
  }
}

/**
 * graft's Transpose, carrying `original`'s setup along: tfjs-backend-wasm's own kernels (Sum,
 * Mean, Max, cumulative ops, ...) call its transpose function directly, which that setup binds.
 */
export function wrapTranspose(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') || !tiledTransposePays(x.shape, perm)) return original.kernelFunc(args);
    const wasm = args.backend as BackendWasm;
    const outShape = perm.map((axis) => x.shape[axis]);
    const out = wasm.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
    transposeValues(wasm.typedArrayFromHeap(x) as Numeric, wasm.typedArrayFromHeap(out) as Numeric, x.shape, perm);
    return out;
  };
  return { kernelName: tf.Transpose, backendName: 'wasm', kernelFunc, ...(original.setupFunc ? { setupFunc: original.setupFunc } : {}) };
}
