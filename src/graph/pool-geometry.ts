/**
 * Pooled output size under each framework's rounding rule (see Pool2dNode in graph.ts).
 * Caffe (pooling_layer.cpp) and PyTorch (ceil_mode) round up, then drop a last window that would
 * start inside the bottom/right padding; Chainer's cover_all adds s − 1 before flooring.
 */
export function poolOutputSize(
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
  if (pad > 0 && (out - 1) * stride >= size + pad) out--;
  return out;
}
