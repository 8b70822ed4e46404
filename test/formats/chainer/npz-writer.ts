/**
 * Test-only writers for .npy images and zip archives, so each reader case (dtypes, byte orders,
 * header versions, zip64, corruptions) is built explicitly. Real numpy/Chainer files are covered
 * by the shared fixtures and by numpy-compat.test.ts.
 */
import * as zlib from 'node:zlib';

export interface NpyOptions {
  fortran?: boolean;
  version?: 1 | 2 | 3;
  /** Replaces the whole header dict text (for malformed cases). */
  header?: string;
}

/** An .npy image with `descr` and `shape` over the raw `data` bytes (not checked). */
export function npyBytes(descr: string, shape: readonly number[], data: Uint8Array, options: NpyOptions = {}): Uint8Array {
  const version = options.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = options.header ?? `{'descr': '${descr}', 'fortran_order': ${options.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const prefix = version === 1 ? 10 : 12;
  header += ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const headerBytes = Buffer.from(header, version === 3 ? 'utf8' : 'latin1');
  const out = new Uint8Array(prefix + headerBytes.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0], 0);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerBytes.length, true);
  else view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, prefix);
  out.set(data, prefix + headerBytes.length);
  return out;
}

export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

export function float32Npy(shape: readonly number[], values: Float32Array): Uint8Array {
  return npyBytes('<f4', shape, bytesOf(values));
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

export interface ZipOptions {
  /** Write zip64 records and extra fields (with 0xFFFFFFFF placeholders) for every entry. */
  zip64?: boolean;
}

/** A zip archive as Python's zipfile writes one (local headers, data, central directory, end record). */
export function zipArchive(inputs: readonly ZipInput[], options: ZipOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const input of inputs) {
    const name = Buffer.from(input.name, 'utf8');
    const body = input.deflate ? new Uint8Array(zlib.deflateRawSync(input.data)) : input.data;
    const crc = zlib.crc32(input.data) >>> 0;
    const method = input.deflate ? 8 : 0;
    const zip64Extra = new Uint8Array(options.zip64 ? 28 : 0);
    if (options.zip64) {
      const x = new DataView(zip64Extra.buffer);
      x.setUint16(0, 1, true);
      x.setUint16(2, 24, true);
      x.setBigUint64(4, BigInt(input.data.byteLength), true);
      x.setBigUint64(12, BigInt(body.byteLength), true);
      x.setBigUint64(20, BigInt(offset), true);
    }
    const local = new Uint8Array(30 + name.length + (options.zip64 ? 20 : 0));
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, options.zip64 ? 45 : 20, true);
    l.setUint16(6, 0x800, true);
    l.setUint16(8, method, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, options.zip64 ? 0xffffffff : body.byteLength, true);
    l.setUint32(22, options.zip64 ? 0xffffffff : input.data.byteLength, true);
    l.setUint16(26, name.length, true);
    l.setUint16(28, options.zip64 ? 20 : 0, true);
    local.set(name, 30);
    if (options.zip64) {
      // The local header's zip64 field holds the two sizes only.
      local.set(zip64Extra.subarray(0, 20), 30 + name.length);
      new DataView(local.buffer).setUint16(30 + name.length + 2, 16, true);
    }
    const header = new Uint8Array(46 + name.length + zip64Extra.length);
    const c = new DataView(header.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, options.zip64 ? 45 : 20, true);
    c.setUint16(8, 0x800, true);
    c.setUint16(10, method, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, options.zip64 ? 0xffffffff : body.byteLength, true);
    c.setUint32(24, options.zip64 ? 0xffffffff : input.data.byteLength, true);
    c.setUint16(28, name.length, true);
    c.setUint16(30, zip64Extra.length, true);
    c.setUint32(42, options.zip64 ? 0xffffffff : offset, true);
    header.set(name, 46);
    header.set(zip64Extra, 46 + name.length);
    central.push(header);
    parts.push(local, body);
    offset += local.length + body.byteLength;
  }
  const directoryOffset = offset;
  const directorySize = central.reduce((sum, h) => sum + h.length, 0);
  parts.push(...central);
  offset += directorySize;
  if (options.zip64) {
    const record = new Uint8Array(56);
    const r = new DataView(record.buffer);
    r.setUint32(0, 0x06064b50, true);
    r.setBigUint64(4, 44n, true);
    r.setUint16(12, 45, true);
    r.setUint16(14, 45, true);
    r.setBigUint64(24, BigInt(inputs.length), true);
    r.setBigUint64(32, BigInt(inputs.length), true);
    r.setBigUint64(40, BigInt(directorySize), true);
    r.setBigUint64(48, BigInt(directoryOffset), true);
    const locator = new Uint8Array(20);
    const k = new DataView(locator.buffer);
    k.setUint32(0, 0x07064b50, true);
    k.setBigUint64(8, BigInt(offset), true);
    k.setUint32(16, 1, true);
    parts.push(record, locator);
  }
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, options.zip64 ? 0xffff : inputs.length, true);
  e.setUint16(10, options.zip64 ? 0xffff : inputs.length, true);
  e.setUint32(12, options.zip64 ? 0xffffffff : directorySize, true);
  e.setUint32(16, options.zip64 ? 0xffffffff : directoryOffset, true);
  parts.push(end);
  return Buffer.concat(parts);
}

/** An .npz of float32 arrays by key (each key gets `.npy`, as numpy.savez names them). */
export function npzOf(arrays: Record<string, { shape: number[]; values: Float32Array }>, deflate = false): Uint8Array {
  return zipArchive(Object.entries(arrays).map(([key, a]) => ({ name: `${key}.npy`, data: float32Npy(a.shape, a.values), deflate })));
}

/** Deterministic values in [-0.5, 0.5) (xorshift32). */
export function randomFloats(count: number, seed = 1): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 4294967296 - 0.5;
  }
  return out;
}
