/**
 * The one dtype ↔ typed-array table. float16 and bfloat16 keep their raw 16-bit patterns in a
 * Uint16Array (JS has no half type); `toFloat32` widens them.
 */
export const DTYPES = {
  float32: { bytes: 4, array: Float32Array },
  float64: { bytes: 8, array: Float64Array },
  float16: { bytes: 2, array: Uint16Array },
  bfloat16: { bytes: 2, array: Uint16Array },
  int64: { bytes: 8, array: BigInt64Array },
  int32: { bytes: 4, array: Int32Array },
  int16: { bytes: 2, array: Int16Array },
  int8: { bytes: 1, array: Int8Array },
  uint8: { bytes: 1, array: Uint8Array },
  bool: { bytes: 1, array: Uint8Array },
} as const;

export type DType = keyof typeof DTYPES;

export type TypedArrayOf<D extends DType> = InstanceType<(typeof DTYPES)[D]['array']>;

export type AnyTypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export function isDType(name: string): name is DType {
  return Object.prototype.hasOwnProperty.call(DTYPES, name);
}

export function bytesPerElement(dtype: DType): number {
  return DTYPES[dtype].bytes;
}

/**
 * A typed array of `dtype` over `bytes` without copying when the bytes are aligned and the host is
 * little-endian (every platform Node supports is); otherwise an aligned copy.
 */
export function viewAs<D extends DType>(dtype: D, bytes: Uint8Array): TypedArrayOf<D> {
  const { bytes: size, array } = DTYPES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const length = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) {
    return new array(bytes.buffer as ArrayBuffer, bytes.byteOffset, length) as TypedArrayOf<D>;
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new array(copy.buffer, 0, length) as TypedArrayOf<D>;
}
