/**
 * The JS loops of graft's wasm kernels, as tasks over the wasm heap that split into parts:
 * heap-workers.ts runs part 0 on the calling thread and the others on worker threads, which share
 * the threaded build's memory. Each task writes only its own part of its output, so the parts run
 * at once; tensors are given as float offsets into the heap. No tfjs here: workers load this alone.
 */
import type { ConvAxis } from './conv-geometry.js';
import { partRange } from './parts.js';
import { simdKernels, type SimdModules } from './simd.js';
import { transposeValues } from './transpose-values.js';

/**
 * The words of the Int32Array that heap-workers.ts shares with its workers: parts done, a part
 * failed, and from READY on one word per worker, 1 once it has loaded.
 */
export const CONTROL = { DONE: 0, FAILED: 1, READY: 2 } as const;

export interface MaxPoolGradTask {
  x: number;
  y: number;
  dy: number;
  dx: number;
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  strides: [number, number];
  dilations: [number, number];
  /** Effective (dilated) window extent. */
  window: [number, number];
  padTop: number;
  padLeft: number;
}

/**
 * MaxPoolGrad (max-pool-grad.ts) over a range of channels, dx already zeroed. Windows overlap, so
 * parts split the channels, never the pixels: no two parts add into the same cell.
 */
export function maxPoolGradPart(heap: Float32Array, t: MaxPoolGradTask, part: number, parts: number): void {
  const [c0, c1] = partRange(t.channels, part, parts, 16);
  if (c0 >= c1) return;
  const { channels, inHeight, inWidth } = t;
  const cells = new Int32Array(Math.ceil(t.window[0] / t.dilations[0]) * Math.ceil(t.window[1] / t.dilations[1]));
  for (let b = 0; b < t.batch; b++) {
    for (let oy = 0; oy < t.outHeight; oy++) {
      const top = oy * t.strides[0] - t.padTop;
      for (let ox = 0; ox < t.outWidth; ox++) {
        const left = ox * t.strides[1] - t.padLeft;
        let count = 0;
        for (let ky = 0; ky < t.window[0]; ky += t.dilations[0]) {
          const row = top + ky;
          if (row < 0 || row >= inHeight) continue;
          for (let kx = 0; kx < t.window[1]; kx += t.dilations[1]) {
            const col = left + kx;
            if (col < 0 || col >= inWidth) continue;
            cells[count++] = t.x + ((b * inHeight + row) * inWidth + col) * channels;
          }
        }
        const out = ((b * t.outHeight + oy) * t.outWidth + ox) * channels;
        for (let c = c0; c < c1; c++) {
          const max = heap[t.y + out + c];
          let winner = -1;
          let aboveMax = false;
          for (let i = 0; i < count; i++) {
            const value = heap[cells[i] + c];
            if (value >= max) {
              if (value > max) aboveMax = true;
              else if (winner < 0) winner = cells[i] + c;
            }
          }
          // y is not the max of the window's cells where the window holds NaN (wasm's max then
          // depends on where the NaN sits: NaN, −∞, or a value some cell exceeds) or where the
          // forward counted padding as a value: the cpu scan decides.
          if (winner < 0 || aboveMax) winner = firstGreatest(heap, cells, count, c);
          // Cells all −∞ (or NaN): none is strictly greater than the start value, nothing wins.
          else if (max === -Infinity) winner = -1;
          if (winner >= 0) heap[t.dx - t.x + winner] += heap[t.dy + out + c];
        }
      }
    }
  }
}

/** The cpu rule for one channel of one window: the first cell strictly greater than all before it, from −∞. */
function firstGreatest(heap: Float32Array, cells: Int32Array, count: number, channel: number): number {
  let best = -Infinity;
  let winner = -1;
  for (let i = 0; i < count; i++) {
    const value = heap[cells[i] + channel];
    if (value > best) {
      best = value;
      winner = cells[i] + channel;
    }
  }
  return winner;
}

/** Valid output indices i (0 ≤ i < out) with 0 ≤ i·s + u·d − p < input: [first, end). */
function validRange(axis: ConvAxis, tap: number): [number, number] {
  const offset = tap * axis.dilation - axis.padBefore;
  // i·s + offset ≥ 0 ⇔ i ≥ ⌈−offset / s⌉; i·s + offset ≤ input − 1 ⇔ i ≤ ⌊(input − 1 − offset) / s⌋.
  const first = Math.max(0, Math.ceil(-offset / axis.stride));
  const end = Math.min(axis.output, Math.floor((axis.input - 1 - offset) / axis.stride) + 1);
  return [first, Math.max(first, end)];
}

export interface PatchColumnsTask {
  /** x as channel planes [C, N, H, W]. */
  planes: number;
  /** patchesᵀ [kh·kw·C, N·oh·ow]. */
  patches: number;
  batch: number;
  channels: number;
  rows: ConvAxis;
  cols: ConvAxis;
}

/** Rows (u, v, c) of patchesᵀ (im2col.ts), a range of them per part. */
export function patchColumnsPart(heap: Float32Array, t: PatchColumnsTask, part: number, parts: number): void {
  const { rows, cols, channels, batch } = t;
  const [oh, ow] = [rows.output, cols.output];
  const columns = batch * oh * ow;
  const plane = rows.input * cols.input;
  const [first, end] = partRange(rows.kernel * cols.kernel * channels, part, parts);
  for (let r = first; r < end; r++) {
    const c = r % channels;
    const v = Math.floor(r / channels) % cols.kernel;
    const u = Math.floor(r / (channels * cols.kernel));
    const [iFirst, iEnd] = validRange(rows, u);
    const [jFirst, jEnd] = validRange(cols, v);
    const rowOffset = u * rows.dilation - rows.padBefore;
    const colOffset = v * cols.dilation - cols.padBefore;
    const rowStart = t.patches + r * columns;
    // A fresh buffer is not zeroed: the windows' cells in padding are written as zeros here.
    for (let b = 0; b < batch; b++) {
      const planeStart = t.planes + (c * batch + b) * plane;
      const imageStart = rowStart + b * oh * ow;
      if (iFirst > 0) heap.fill(0, imageStart, imageStart + iFirst * ow);
      if (iEnd < oh) heap.fill(0, imageStart + iEnd * ow, imageStart + oh * ow);
      for (let i = iFirst; i < iEnd; i++) {
        const from = planeStart + (i * rows.stride + rowOffset) * cols.input + colOffset;
        const to = imageStart + i * ow;
        for (let j = 0; j < jFirst; j++) heap[to + j] = 0;
        // Rows are short (7–56): a plain loop beats subarray().set()'s per-call cost.
        for (let j = jFirst, at = from + jFirst * cols.stride; j < jEnd; j++, at += cols.stride) heap[to + j] = heap[at];
        for (let j = jEnd; j < ow; j++) heap[to + j] = 0;
      }
    }
  }
}

export interface PatchRowsTask {
  /** x [N, H, W, C]. */
  x: number;
  /** patches [N·oh·ow, kh·kw·C]. */
  patches: number;
  batch: number;
  channels: number;
  rows: ConvAxis;
  cols: ConvAxis;
}

/** Rows (n, i, j) of patches (im2col.ts): each (row, tap) a contiguous block of C values of x, or zeros. */
export function patchRowsPart(heap: Float32Array, t: PatchRowsTask, part: number, parts: number): void {
  const { rows, cols, channels } = t;
  const [oh, ow] = [rows.output, cols.output];
  const depth = rows.kernel * cols.kernel * channels;
  const [first, end] = partRange(t.batch * oh * ow, part, parts);
  for (let r = first; r < end; r++) {
    const j = r % ow;
    const i = Math.floor(r / ow) % oh;
    const b = Math.floor(r / (ow * oh));
    const rowStart = t.patches + r * depth;
    for (let u = 0; u < rows.kernel; u++) {
      const y = i * rows.stride + u * rows.dilation - rows.padBefore;
      for (let v = 0; v < cols.kernel; v++) {
        const to = rowStart + (u * cols.kernel + v) * channels;
        const x = j * cols.stride + v * cols.dilation - cols.padBefore;
        if (y < 0 || y >= rows.input || x < 0 || x >= cols.input) {
          heap.fill(0, to, to + channels);
        } else {
          heap.copyWithin(to, t.x + ((b * rows.input + y) * cols.input + x) * channels, t.x + ((b * rows.input + y) * cols.input + x + 1) * channels);
        }
      }
    }
  }
}

/** What a task may need besides the heap's floats: the memory itself, for graft's SIMD kernels (simd.ts). */
export interface HeapContext {
  /** null where tfjs-backend-wasm does not expose it. */
  memory: WebAssembly.Memory | null;
  simd: SimdModules;
}

export interface DepthwiseFilterGradientTask {
  /** x [N, H, W, C], dy [N, oh, ow, C]: float offsets. */
  x: number;
  dy: number;
  /** One [kh, kw, C] sum per part, `stride` floats apart (float offset of the first). */
  sums: number;
  stride: number;
  batch: number;
  channels: number;
  rows: ConvAxis;
  cols: ConvAxis;
}

/**
 * The depthwise filter gradient (channel multiplier 1, channels in fours) of a range of images
 * per part, each part into its own sum (the caller adds them): the SIMD kernel in
 * simd/kernels.wat. Parts that split the channels instead wrote into the same cache lines of
 * the [kh, kw, C] result on every pixel, and two threads were slower than one.
 */
export function depthwiseFilterGradientPart(heap: Float32Array, t: DepthwiseFilterGradientTask, part: number, parts: number, context: HeapContext): void {
  const { rows, cols, channels } = t;
  const size = rows.kernel * cols.kernel * channels;
  const sum = t.sums + part * t.stride;
  heap.fill(0, sum, sum + size);
  const [b0, b1] = partRange(t.batch, part, parts);
  if (b0 >= b1) return;
  const kernels = context.memory === null ? null : simdKernels(context.memory, context.simd);
  if (kernels === null) throw new Error('graft: the SIMD kernels cannot run on this memory');
  kernels.depthwiseFilterGradient(
    (t.x + b0 * rows.input * cols.input * channels) * 4,
    (t.dy + b0 * rows.output * cols.output * channels) * 4,
    sum * 4,
    b1 - b0, rows.input, cols.input, channels,
    rows.output, cols.output, rows.kernel, cols.kernel,
    rows.stride, cols.stride, rows.dilation, cols.dilation,
    rows.padBefore, cols.padBefore,
  );
}

export interface TransposeTask {
  x: number;
  out: number;
  shape: number[];
  perm: number[];
}

/** A float32 Transpose (transpose-values.ts), a share of its outer indices or tile rows per part. */
export function transposePart(heap: Float32Array, t: TransposeTask, part: number, parts: number): void {
  const size = t.shape.reduce((n, d) => n * d, 1);
  transposeValues(heap.subarray(t.x, t.x + size), heap.subarray(t.out, t.out + size), t.shape, t.perm, part, parts);
}

export const HEAP_TASKS = {
  maxPoolGrad: maxPoolGradPart,
  patchColumns: patchColumnsPart,
  patchRows: patchRowsPart,
  transpose: transposePart,
  depthwiseFilterGradient: depthwiseFilterGradientPart,
} as const;

export type HeapTaskName = keyof typeof HEAP_TASKS;
export type HeapTaskArgs<Name extends HeapTaskName> = Parameters<(typeof HEAP_TASKS)[Name]>[1];
