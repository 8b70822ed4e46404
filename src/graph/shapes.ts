/**
 * Output shapes in the source's layout (NCHW), for architecture definitions: the parameter shapes
 * a file must hold follow from these (a Linear after a flatten needs C·H·W inputs).
 */
import { UnsupportedError } from '../errors.js';
import type { Pair } from './graph.js';

export function convOutputLength(size: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

export function deconvOutputLength(size: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return stride * (size - 1) + dilation * (kernel - 1) + 1 - 2 * pad;
}

/**
 * Pooled length along one axis (rules in graph.ts): 'ceil' is PyTorch's pooling_output_shape;
 * Caffe's pooling_layer.cpp drops the last window only when some pad is non-zero, which differs
 * only when pad = 0 and kernel < stride (a window wholly outside the input).
 */
export function poolOutputLength(
  size: number,
  kernel: number,
  stride: number,
  pad: number,
  rounding: 'floor' | 'ceil' | 'cover_all',
): number {
  const span = size + 2 * pad - kernel;
  if (rounding === 'floor') return Math.floor(span / stride) + 1;
  if (rounding === 'cover_all') return Math.floor((span + stride - 1) / stride) + 1;
  let out = Math.ceil(span / stride) + 1;
  if ((out - 1) * stride >= size + pad) out--;
  return out;
}

export function spatialOutput(
  shape: readonly number[],
  channels: number,
  length: (size: number, axis: 0 | 1) => number,
): number[] {
  if (shape.length !== 4) throw new UnsupportedError(`expected an NCHW value, got shape [${shape.join(', ')}]`);
  const [n, , h, w] = shape;
  const out = [n, channels, length(h, 0), length(w, 1)];
  if (out[2] <= 0 || out[3] <= 0) {
    throw new UnsupportedError(`the input [${shape.join(', ')}] is too small for this layer (output ${out[2]}×${out[3]})`);
  }
  return out;
}

export function pair(value: number | Pair | undefined, fallback: number): Pair {
  if (value === undefined) return [fallback, fallback];
  return typeof value === 'number' ? [value, value] : value;
}
