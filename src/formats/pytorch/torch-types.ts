/**
 * torch's dtypes and legacy storage classes as a pickle names them (`torch.float16`,
 * `torch.HalfStorage`), mapped to graft's dtypes. Types graft cannot hold (complex, quantized,
 * float8) keep their element size so a legacy file's storages can still be stepped over; only a
 * tensor of such a type that is actually needed is refused.
 */
import type { DType } from '../../tensor/dtype.js';

export interface TorchScalarType {
  /** torch's name: float32, complex64, qint8... */
  readonly torchName: string;
  /** graft's dtype, when graft reads this type. */
  readonly dtype: DType | undefined;
  readonly itemSize: number;
}

const TYPES: Record<string, TorchScalarType> = {};
function add(torchName: string, dtype: DType | undefined, itemSize: number, ...aliases: string[]): void {
  const type = { torchName, dtype, itemSize };
  for (const name of [torchName, ...aliases]) TYPES[name] = type;
}
add('float32', 'float32', 4, 'float');
add('float64', 'float64', 8, 'double');
add('float16', 'float16', 2, 'half');
add('bfloat16', 'bfloat16', 2);
add('int64', 'int64', 8, 'long');
add('int32', 'int32', 4, 'int');
add('int16', 'int16', 2, 'short');
add('int8', 'int8', 1);
add('uint8', 'uint8', 1);
add('bool', 'bool', 1);
add('complex32', undefined, 4, 'chalf');
add('complex64', undefined, 8, 'cfloat');
add('complex128', undefined, 16, 'cdouble');
add('qint8', undefined, 1);
add('quint8', undefined, 1);
add('qint32', undefined, 4);
add('quint4x2', undefined, 1);
add('quint2x4', undefined, 1);
add('float8_e4m3fn', undefined, 1);
add('float8_e5m2', undefined, 1);
add('uint16', undefined, 2);
add('uint32', undefined, 4);
add('uint64', undefined, 8);

/** `torch.float16` as a pickle global: the dtype objects of `_rebuild_tensor_v3` and checkpoints. */
export class TorchDType {
  readonly pyTypeName = 'torch.dtype';
  constructor(readonly type: TorchScalarType) {}
}

/** `torch.FloatStorage` and friends: what a persistent id names as the storage's type. */
export class TorchStorageType {
  readonly pyTypeName = 'torch storage class';
  constructor(
    readonly className: string,
    readonly type: TorchScalarType,
  ) {}
}

export function torchDTypeNamed(name: string): TorchDType | undefined {
  const type = Object.prototype.hasOwnProperty.call(TYPES, name) ? TYPES[name] : undefined;
  return type && new TorchDType(type);
}

// torch/storage.py `_get_dtype_from_pickle_storage_type` names: the legacy typed storages, plus
// the UntypedStorage of raw bytes.
const STORAGE_TYPES: Record<string, string> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
  ComplexHalfStorage: 'complex32',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
};

export function torchStorageTypeNamed(className: string): TorchStorageType | undefined {
  const name = Object.prototype.hasOwnProperty.call(STORAGE_TYPES, className) ? STORAGE_TYPES[className] : undefined;
  return name === undefined ? undefined : new TorchStorageType(className, TYPES[name]);
}
