import { DTYPES, type AnyTypedArray, type DType } from './dtype.js';
import { bfloat16ToFloat32, float16ToFloat32 } from './float16.js';

/** A named array from a source file, in the source's own layout (NCHW, OIHW, [out, in]). */
export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: AnyTypedArray;
}

/** Every tensor of a source file by its name there (`conv1/W`, `features.0.weight`, `conv1.0`). */
export type TensorMap = Map<string, Tensor>;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function makeTensor(dtype: DType, shape: readonly number[], data: AnyTypedArray): Tensor {
  const expected = sizeOf(shape);
  if (data.length !== expected) {
    throw new RangeError(`tensor of shape [${shape.join(', ')}] needs ${expected} elements, got ${data.length}`);
  }
  if (!(data instanceof DTYPES[dtype].array)) {
    throw new TypeError(`dtype ${dtype} needs a ${DTYPES[dtype].array.name}, got ${data.constructor.name}`);
  }
  return { dtype, shape: [...shape], data };
}

export function byteLength(tensor: Tensor): number {
  return tensor.data.byteLength;
}

/** The values as float32; float32 data is returned as is (no copy). */
export function toFloat32(tensor: Tensor): Float32Array {
  const { dtype, data } = tensor;
  switch (dtype) {
    case 'float32':
      return data as Float32Array;
    case 'float16':
      return float16ToFloat32(data as Uint16Array);
    case 'bfloat16':
      return bfloat16ToFloat32(data as Uint16Array);
    case 'int64': {
      const source = data as BigInt64Array;
      const out = new Float32Array(source.length);
      for (let i = 0; i < source.length; i++) out[i] = Number(source[i]);
      return out;
    }
    default:
      return Float32Array.from(data as Exclude<AnyTypedArray, BigInt64Array>);
  }
}

export function float32Tensor(shape: readonly number[], data: Float32Array): Tensor {
  return makeTensor('float32', shape, data);
}
