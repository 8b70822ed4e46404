/**
 * Tensors as torch.save describes them: a storage (raw bytes of one dtype, named by key) and a view
 * of it (element offset, size, stride), built by `torch._utils._rebuild_tensor_v2(storage,
 * storage_offset, size, stride, requires_grad, backward_hooks)`. Unpickling only records these
 * references and checks their arguments; `materializeTensor` reads the bytes later, for the
 * tensors that are needed, so optimizer state in a checkpoint costs nothing.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import { DTYPES, viewAs, type AnyTypedArray, type DType } from '../../tensor/dtype.js';
import { makeTensor, type Tensor } from '../../tensor/tensor.js';
import type { TorchScalarType } from './torch-types.js';

/** One storage as a persistent id names it. Legacy files may name a view of a root storage. */
export class StorageRef {
  readonly pyTypeName = 'torch storage';
  constructor(
    /** Zip: the `data/<key>` record. Legacy: the root storage's key. */
    readonly key: string,
    readonly type: TorchScalarType,
    /** Elements of `type` in this storage (or view). */
    readonly numel: number,
    /** Legacy view storages start this many elements into their root. */
    readonly elementOffset: number,
    readonly location: string,
  ) {}
}

export class TensorRef {
  readonly pyTypeName = 'torch.Tensor';
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
    /** `_rebuild_tensor_v3` names the tensor's dtype apart from the storage's. */
    readonly type: TorchScalarType = storage.type,
  ) {}

  get numel(): number {
    let n = 1;
    for (const d of this.size) n *= d;
    return n;
  }

  /** Torch sets attributes of tensor subclasses through BUILD; none matter for weights. */
  setState(): void {}
}

/** Bytes that non-contiguous views may still copy; a hostile file cannot ask for more. */
export class CopyBudget {
  constructor(private remaining: number) {}
  take(bytes: number): boolean {
    if (bytes > this.remaining) return false;
    this.remaining -= bytes;
    return true;
  }
}

const MAX_RANK = 64;

/** Checks a size or stride tuple from a pickle: non-negative safe integers. */
export function checkDims(value: unknown): number[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_RANK) return undefined;
  for (const d of value) if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return undefined;
  return value as number[];
}

export interface StorageSource {
  file: string;
  /** The bytes of the root storage `ref.key` (zip record, legacy payload). */
  bytesOf(ref: StorageRef, tensorKey: string): Uint8Array;
  littleEndian: boolean;
  budget: CopyBudget;
}

/**
 * The tensor's values in a TensorMap tensor: a view of the storage bytes when the tensor is
 * contiguous (zero copy when aligned), else a gathered copy (torch's `.contiguous()`).
 */
export function materializeTensor(ref: TensorRef, key: string, source: StorageSource): Tensor {
  const { file } = source;
  const dtype = ref.type.dtype;
  if (!dtype) throw new UnsupportedError(`${file}: tensor "${key}" has dtype ${ref.type.torchName}, which graft does not read`);
  if (ref.type.itemSize !== ref.storage.type.itemSize) {
    throw new UnsupportedError(`${file}: tensor "${key}" is a ${ref.type.torchName} view of a ${ref.storage.type.torchName} storage`);
  }
  const itemSize = DTYPES[dtype].bytes;
  const root = source.bytesOf(ref.storage, key);
  const storageStart = ref.storage.elementOffset * itemSize;
  const storageBytes = ref.storage.numel * itemSize;
  if (storageStart + storageBytes > root.length) {
    throw new FormatError(file, key, `storage "${ref.storage.key}" holds ${root.length} bytes, its declared ${ref.storage.numel} ${ref.storage.type.torchName} elements need ${storageStart + storageBytes}`);
  }
  const storage = root.subarray(storageStart, storageStart + storageBytes);
  const { size, stride, storageOffset } = ref;
  const numel = ref.numel;
  if (!Number.isSafeInteger(numel)) throw new FormatError(file, key, `tensor of size [${size}] is too large`);
  if (numel === 0) return makeTensor(dtype, size, new DTYPES[dtype].array(0));
  let last = storageOffset;
  for (let i = 0; i < size.length; i++) last += (size[i] - 1) * stride[i];
  if (!Number.isSafeInteger(last) || last >= ref.storage.numel) {
    throw new FormatError(file, key, `tensor of size [${size}], stride [${stride}] at offset ${storageOffset} reaches element ${last} of a storage of ${ref.storage.numel}`);
  }
  if (isContiguous(size, stride)) {
    const bytes = storage.subarray(storageOffset * itemSize, (storageOffset + numel) * itemSize);
    return makeTensor(dtype, size, viewAs(dtype, source.littleEndian ? bytes : swapBytes(bytes, itemSize)));
  }
  if (!source.budget.take(numel * itemSize)) {
    throw new FormatError(file, key, `a view of size [${size}], stride [${stride}] would copy ${numel * itemSize} bytes, more than the file can justify`);
  }
  const values = viewAs(dtype, source.littleEndian ? storage : swapBytes(storage, itemSize));
  return makeTensor(dtype, size, gather(values, dtype, size, stride, storageOffset));
}

/** Row-major strides, ignoring dimensions of size 1 (whose stride torch leaves arbitrary). */
export function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expected) return false;
    expected *= size[i];
  }
  return true;
}

type Indexable = { [index: number]: number | bigint; readonly length: number };

/** out[i] = values[offset + Σ index_k · stride_k], over the row-major indices of `size`. */
function gather(values: AnyTypedArray, dtype: DType, size: readonly number[], stride: readonly number[], offset: number): AnyTypedArray {
  const numel = size.reduce((a, b) => a * b, 1);
  const out = new DTYPES[dtype].array(numel) as AnyTypedArray;
  const source = values as Indexable;
  const target = out as Indexable;
  const rank = size.length;
  const inner = size[rank - 1];
  const innerStride = stride[rank - 1];
  const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
  let base = offset;
  for (let o = 0; o < numel; ) {
    for (let k = 0, i = base; k < inner; k++, i += innerStride) target[o++] = source[i];
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      base += stride[axis];
      if (index[axis] < size[axis]) break;
      base -= stride[axis] * size[axis];
      index[axis] = 0;
    }
  }
  return out;
}

/** A byte-swapped copy, for archives whose `byteorder` record says big. */
function swapBytes(bytes: Uint8Array, itemSize: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += itemSize) {
    for (let k = 0; k < itemSize; k++) out[i + k] = bytes[i + itemSize - 1 - k];
  }
  return out;
}
