/**
 * The value moves of graft's wasm Transpose (transpose.ts), without tfjs: also run as a heap task
 * (heap-tasks.ts) in parts on worker threads. A part covers a share of the outer indices, or
 * where there are too few of them, a share of the tiles' rows; parts write disjoint outputs.
 */
import { stridesOf } from '../../tensor/layout.js';
import { partRange } from './parts.js';

export type Numeric = Float32Array | Int32Array | Uint8Array;

export const TILE = 32;

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

/**
 * Whether the tiled path pays: the innermost axis moves and both sides of the 2-D transposes are
 * at least a tile long; on more than one thread (heap-workers.ts) also where the output's
 * innermost side is shorter, down to 8. wasm's own kernel is as fast or faster (measured here)
 * where the innermost axis stays (row copies: 1.4 against 3.9 ms on 2 threads for
 * [16, 57, 57, 64] → [57, 57, 16, 64]), where the input's innermost side is short (a stem's
 * [16, 230, 230, 3] → [3, 230, 230, 16]: 2.2 against 4.5 ms), and on one thread where the other
 * side is ([16, 56, 56, 64] → [64, 56, 56, 16]: 6.6 against 8.9 ms; on 2 threads 11.3 against 4.4).
 */
export function tiledTransposePays(inShape: number[], inPerm: number[], threads = 1): boolean {
  const [shape, perm] = collapse(inShape, inPerm);
  const last = shape.length - 1;
  if (last === 0 || perm[last] === last) return false;
  return shape[last] >= TILE && shape[perm[last]] >= (threads > 1 ? 8 : TILE);
}

export function transposeValues(source: Numeric, target: Numeric, inShape: number[], inPerm: number[], part = 0, parts = 1): void {
  const [shape, perm] = collapse(inShape, inPerm);
  const rank = shape.length;
  if (rank === 1) {
    const [first, end] = partRange(shape[0], part, parts, 1);
    target.set(source.subarray(first, end), first);
    return;
  }
  const outShape = perm.map((axis) => shape[axis]);
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(outShape);
  // Output axis j reads input axis perm[j]; its input stride:
  const readStride = perm.map((axis) => inStrides[axis]);
  const last = rank - 1;
  if (perm[last] === last) {
    // Innermost axis stays: copy rows of it.
    const row = shape[last];
    const outer = outShape.slice(0, last);
    const [first, end] = partRange(outer.reduce((n, d) => n * d, 1), part, parts, 1);
    forEachIndex(outer, readStride.slice(0, last), outStrides.slice(0, last), first, end, (from, to) => {
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
  const otherShape = otherAxes.map((j) => outShape[j]);
  const outerCount = otherShape.reduce((n, d) => n * d, 1);
  // Parts share the outer indices where there are enough of them, else the rows in whole tiles.
  const splitOuter = outerCount >= parts;
  const [outerFirst, outerEnd] = splitOuter ? partRange(outerCount, part, parts, 1) : [0, part === 0 ? outerCount : 0];
  const [rowFirst, rowEnd] = splitOuter ? [0, rows] : partRange(rows, part, parts, TILE);
  forEachIndex(
    otherShape,
    otherAxes.map((j) => readStride[j]),
    otherAxes.map((j) => outStrides[j]),
    splitOuter ? outerFirst : 0,
    splitOuter ? outerEnd : outerCount,
    (from, to) => {
      for (let i0 = rowFirst; i0 < rowEnd; i0 += TILE) {
        const i1 = Math.min(rowEnd, i0 + TILE);
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

/**
 * Calls body(inputOffset, outputOffset) for the row-major indices first … end − 1 of `shape`,
 * offsets by strides.
 */
function forEachIndex(shape: number[], inStrides: number[], outStrides: number[], first: number, end: number, body: (from: number, to: number) => void): void {
  const rank = shape.length;
  if (first >= end || shape.some((d) => d === 0)) return;
  const index = new Array<number>(rank).fill(0);
  let from = 0;
  let to = 0;
  for (let axis = rank - 1, rest = first; axis >= 0; axis--) {
    index[axis] = rest % shape[axis];
    rest = Math.floor(rest / shape[axis]);
    from += index[axis] * inStrides[axis];
    to += index[axis] * outStrides[axis];
  }
  for (let count = end - first; ; ) {
    body(from, to);
    if (--count === 0) return;
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
