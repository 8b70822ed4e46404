/**
 * Layout transforms between the sources' layouts (NCHW activations, OIHW kernels, [out, in] dense
 * weights) and TensorFlow.js's (NHWC, HWIO kernels, [in, out] dense weights). Float32 only: callers
 * widen first with `toFloat32`.
 */
import { sizeOf } from './tensor.js';

/** out[permuted index] = data[index], for `perm` as in numpy.transpose: out.shape[i] = shape[perm[i]]. */
export function transpose(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  if (perm.length !== rank) throw new RangeError(`perm [${perm}] does not fit rank ${rank}`);
  if (data.length !== sizeOf(shape)) throw new RangeError(`data length ${data.length} ≠ shape [${shape}]`);
  const outShape = perm.map((p) => shape[p]);
  const inStrides = stridesOf(shape);
  // Stride in the input of each output axis.
  const strideOfOutAxis = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  if (rank === 0 || data.length === 0) {
    out.set(data);
    return out;
  }
  const innerSize = outShape[rank - 1];
  const innerStride = strideOfOutAxis[rank - 1];
  const index = new Array<number>(rank - 1).fill(0);
  let o = 0;
  let base = 0;
  const outer = data.length / innerSize;
  for (let n = 0; n < outer; n++) {
    for (let k = 0, i = base; k < innerSize; k++, i += innerStride) out[o++] = data[i];
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      base += strideOfOutAxis[axis];
      if (index[axis] < outShape[axis]) break;
      base -= strideOfOutAxis[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
  return out;
}

export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Convolution kernel [O, I, kh, kw] → [kh, kw, I, O]. Grouped kernels ([O, I/g, kh, kw]) keep I/g. */
export function oihwToHwio(data: Float32Array, shape: readonly number[]): Float32Array {
  return new AxisToLastTranspose(data, shape, [1, 2, 0]).all();
}

/**
 * Depthwise kernel: source [C·m, 1, kh, kw] (group == C input channels, m outputs each) → tfjs
 * [kh, kw, C, m]. Output channel c·m + j of the source is channel (c, j) in tfjs: same order.
 */
export function oihwToDepthwise(data: Float32Array, shape: readonly number[], inChannels: number): Float32Array {
  const [outChannels, one, kh, kw] = shape;
  if (one !== 1 || outChannels % inChannels !== 0) {
    throw new RangeError(`kernel [${shape}] is not depthwise over ${inChannels} channels`);
  }
  return transpose(data, [inChannels, outChannels / inChannels, kh, kw], [2, 3, 0, 1]);
}

/** Transposed-convolution kernel [I, O, kh, kw] (Caffe Deconvolution, Chainer, PyTorch) → tfjs [kh, kw, O, I]. */
export function iohwToHwoi(data: Float32Array, shape: readonly number[]): Float32Array {
  return new AxisToLastTranspose(data, shape, [1, 2, 0]).all();
}

/** Dense weight [out, in] → [in, out]. */
export function outInToInOut(data: Float32Array, shape: readonly number[]): Float32Array {
  return new AxisToLastTranspose(data, shape, [0]).all();
}

/**
 * Dense weight [out, C·H·W] whose input was flattened from an NCHW blob → tfjs [H·W·C, out], since
 * in tfjs the flatten runs over NHWC. Equivalent to reshaping to [out, C, H, W] and transposing to
 * [H, W, C, out].
 */
export function chwDenseToHwcInOut(
  data: Float32Array,
  outFeatures: number,
  chw: readonly [number, number, number],
): Float32Array {
  const [c, h, w] = chw;
  return new AxisToLastTranspose(data, [outFeatures, c, h, w], [1, 2, 0]).all();
}

/** Activations NCHW → NHWC and back. */
export function nchwToNhwc(data: Float32Array, shape: readonly number[]): Float32Array {
  return transpose(data, shape, [0, 2, 3, 1]);
}

export function nhwcToNchw(data: Float32Array, shape: readonly number[]): Float32Array {
  return transpose(data, shape, [0, 3, 1, 2]);
}

/**
 * The transposes a converter needs all move axis 0 (output channels / units) to the end and
 * reorder the rest: OIHW → HWIO, [out, C·H·W] → [H·W·C, out], [out, in] → [in, out]. This plans
 * such a move once and fills any range of output rows, so a writer can stream a 400 MB weight in
 * small chunks. Blocked over 16 source rows at a time, so reads stay in cache and writes are runs.
 */
export class AxisToLastTranspose {
  readonly rows: number;
  readonly cols: number;
  /** Source column of each output row. */
  private readonly sourceColumn: Int32Array;

  /**
   * `shape` is the source shape [rows, ...rest]; output shape is [...restPerm.map(i => rest[i]), rows].
   */
  constructor(
    private readonly data: Float32Array,
    shape: readonly number[],
    restPerm: readonly number[],
  ) {
    const [rows, ...rest] = shape;
    this.rows = rows;
    this.cols = sizeOf(rest);
    if (data.length !== rows * this.cols) throw new RangeError(`data length ${data.length} ≠ shape [${shape}]`);
    if (restPerm.length !== rest.length) throw new RangeError(`perm [${restPerm}] does not fit [${rest}]`);
    const outRest = restPerm.map((p) => rest[p]);
    const restStrides = stridesOf(rest);
    const strideOfOutAxis = restPerm.map((p) => restStrides[p]);
    this.sourceColumn = new Int32Array(this.cols);
    const index = new Array<number>(rest.length).fill(0);
    for (let r = 0, column = 0; r < this.cols; r++) {
      this.sourceColumn[r] = column;
      for (let axis = rest.length - 1; axis >= 0; axis--) {
        index[axis]++;
        column += strideOfOutAxis[axis];
        if (index[axis] < outRest[axis]) break;
        column -= strideOfOutAxis[axis] * outRest[axis];
        index[axis] = 0;
      }
    }
  }

  /** Output rows [start, end) (each `rows` long) into `out`, or a new array. */
  fill(start: number, end: number, out = new Float32Array((end - start) * this.rows)): Float32Array {
    const { data, rows, cols, sourceColumn } = this;
    // 8 source rows per pass and multi-MB output chunks measured fastest on VGG16's fc6
    // ([4096, 25088]: 0.45 s against 2.8 s for the element-wise transpose).
    const block = 8;
    for (let o0 = 0; o0 < rows; o0 += block) {
      const o1 = Math.min(o0 + block, rows);
      for (let r = start; r < end; r++) {
        const source = sourceColumn[r];
        const target = (r - start) * rows;
        for (let o = o0; o < o1; o++) out[target + o] = data[o * cols + source];
      }
    }
    return out;
  }

  /**
   * The whole output in chunks of about `chunkElements` values. Chunks alternate between two
   * buffers, so a consumer may still be writing chunk k while chunk k + 1 is computed, but must be
   * done with chunk k before asking for chunk k + 2.
   */
  *chunks(chunkElements = 1 << 23): Generator<Float32Array> {
    const rowsPerChunk = Math.max(1, Math.min(this.cols, Math.floor(chunkElements / Math.max(1, this.rows))));
    const buffers = [new Float32Array(rowsPerChunk * this.rows)];
    if (rowsPerChunk < this.cols) buffers.push(new Float32Array(rowsPerChunk * this.rows));
    for (let r = 0, k = 0; r < this.cols; r += rowsPerChunk, k++) {
      const end = Math.min(r + rowsPerChunk, this.cols);
      yield this.fill(r, end, buffers[k % buffers.length].subarray(0, (end - r) * this.rows));
    }
  }

  all(): Float32Array {
    return this.fill(0, this.cols);
  }
}
