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
  return transpose(data, shape, [2, 3, 1, 0]);
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
  return transpose(data, shape, [2, 3, 1, 0]);
}

/** Dense weight [out, in] → [in, out]. */
export function outInToInOut(data: Float32Array, shape: readonly number[]): Float32Array {
  return transpose(data, shape, [1, 0]);
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
  return transpose(data, [outFeatures, c, h, w], [2, 3, 1, 0]);
}

/** Activations NCHW → NHWC and back. */
export function nchwToNhwc(data: Float32Array, shape: readonly number[]): Float32Array {
  return transpose(data, shape, [0, 2, 3, 1]);
}

export function nhwcToNchw(data: Float32Array, shape: readonly number[]): Float32Array {
  return transpose(data, shape, [0, 3, 1, 2]);
}
