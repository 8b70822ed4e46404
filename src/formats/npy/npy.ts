/**
 * NumPy .npy files (format versions 1–3). Our own reader rather than npyjs, which cannot do
 * big-endian data, fortran_order, or bounds checks of the declared shape (TRAPS.md).
 * Header: magic \x93NUMPY, major, minor, header length (uint16 for v1, uint32 for v2/v3), then a
 * Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import { DTYPES, type AnyTypedArray, type DType } from '../../tensor/dtype.js';
import { makeTensor, sizeOf, type Tensor } from '../../tensor/tensor.js';
import { transpose } from '../../tensor/layout.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

const DESCR_TO_DTYPE: Record<string, DType> = {
  f4: 'float32',
  f8: 'float64',
  f2: 'float16',
  i8: 'int64',
  i4: 'int32',
  i2: 'int16',
  i1: 'int8',
  u1: 'uint8',
  b1: 'bool',
};

export function isNpy(head: Uint8Array): boolean {
  return MAGIC.every((b, i) => head[i] === b);
}

/**
 * Decodes one .npy image. `file` names it in errors (for npz: `archive.npz:key.npy`). The result
 * views `bytes` when it is aligned little-endian C-order data, otherwise it is a converted copy.
 */
export function readNpy(bytes: Uint8Array, file: string): Tensor {
  if (bytes.byteLength < 10 || !isNpy(bytes)) throw new FormatError(file, 0, 'not a .npy file (bad magic)');
  const major = bytes[6];
  let headerLength: number;
  let headerStart: number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new FormatError(file, 8, 'truncated header');
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new FormatError(file, 6, `unknown .npy format version ${major}`);
  }
  if (headerStart + headerLength > bytes.byteLength) {
    throw new FormatError(file, 8, `header declares ${headerLength} bytes but the file has ${bytes.byteLength - headerStart}`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const { descr, fortranOrder, shape } = parseHeader(header, file);
  const byteOrder = descr[0];
  const code = descr.slice(1);
  if (code === 'O' || code.startsWith('O')) {
    throw new UnsupportedError(`${file}: holds Python objects (dtype ${descr}); object arrays need pickle, which graft never runs`);
  }
  const dtype = DESCR_TO_DTYPE[code];
  if (!dtype || !'<>|='.includes(byteOrder)) throw new UnsupportedError(`${file}: unsupported dtype ${descr}`);
  const itemSize = DTYPES[dtype].bytes;
  const count = sizeOf(shape);
  const dataStart = headerStart + headerLength;
  const needed = count * itemSize;
  if (dataStart + needed > bytes.byteLength) {
    throw new FormatError(file, dataStart, `shape (${shape.join(', ')}) of ${descr} needs ${needed} bytes but ${bytes.byteLength - dataStart} follow the header`);
  }
  let raw = bytes.subarray(dataStart, dataStart + needed);
  if (byteOrder === '>' && itemSize > 1) raw = byteSwapped(raw, itemSize);
  let data: AnyTypedArray;
  const Array = DTYPES[dtype].array;
  if (raw.byteOffset % itemSize === 0) data = new Array(raw.buffer as ArrayBuffer, raw.byteOffset, count);
  // A copy into a fresh ArrayBuffer: Buffer#slice is a view of Node's shared pool, not a copy.
  else data = new Array(new Uint8Array(raw).buffer, 0, count);
  if (fortranOrder && shape.length > 1) {
    if (dtype !== 'float32') throw new UnsupportedError(`${file}: fortran_order arrays of ${descr} are not supported`);
    // Fortran order is C order of the reversed shape; transposing back gives C order.
    const reversed = [...shape].reverse();
    const perm = reversed.map((_, i) => reversed.length - 1 - i);
    data = transpose(data as Float32Array, reversed, perm);
  }
  return makeTensor(dtype, shape, data);
}

function byteSwapped(raw: Uint8Array, itemSize: number): Uint8Array {
  const out = new Uint8Array(raw.byteLength);
  for (let i = 0; i < raw.byteLength; i += itemSize) {
    for (let j = 0; j < itemSize; j++) out[i + j] = raw[i + itemSize - 1 - j];
  }
  return out;
}

function parseHeader(header: string, file: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(file, 10, `malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(n) || n < 0) throw new FormatError(file, 10, `bad dimension ${s} in .npy shape`);
      return n;
    });
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Encodes a float32 array as a version 1 .npy file. */
export function writeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Data starts on a 64-byte boundary (numpy's own rule since 1.x).
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
