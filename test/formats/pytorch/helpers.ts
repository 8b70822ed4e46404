import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import * as path from 'node:path';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { FIXTURES } from '../../helpers.js';

/** Files written by fixtures/make/pytorch_pth.py (torch.save of torch 1.13, and hand-made pickles). */
export const PTH = path.join(FIXTURES, 'pytorch', 'reader');

export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  sha256: string;
  sum: number;
  first: number[];
}

export interface Expected {
  file: string;
  format?: 'zip' | 'legacy';
  made_by: string;
  tensors?: Record<string, ExpectedTensor>;
  warnings?: string[];
  error?: { kind: string; contains: string[] };
  probe?: string;
}

export function expected(name: string): Expected {
  return JSON.parse(readFileSync(path.join(PTH, `${name}.json`), 'utf8')) as Expected;
}

export function fixture(file: string): string {
  return path.join(PTH, file);
}

/** Fresh bytes at offset 0 of their own ArrayBuffer, as readFileWithProgress gives for large files. */
export function fixtureBytes(file: string): Uint8Array {
  const data = readFileSync(fixture(file));
  const bytes = new Uint8Array(data.length);
  bytes.set(data);
  return bytes;
}

/** sha256 of the tensor's bytes, as the generator hashes torch's contiguous little-endian bytes. */
export function tensorSha256(tensor: Tensor): string {
  const { data } = tensor;
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

// ---- a small pickle writer for hand-made files (opcode names from pickletools) -----------------

const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

export const op = {
  proto: (v: number) => [0x80, v],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  setitems: [0x75],
  setitem: [0x73],
  append: [0x61],
  reduce: [0x52],
  build: [0x62],
  newobj: [0x81],
  binpersid: [0x51],
  none: [0x4e],
  newfalse: [0x89],
  str: (s: string) => {
    const b = [...Buffer.from(s, 'utf8')];
    return [0x58, ...u32(b.length), ...b];
  },
  int: (n: number) => [0x4a, ...u32(n)],
  global: (module: string, name: string) => [0x63, ...ascii(module), 10, ...ascii(name), 10],
  stackGlobal: (module: string, name: string) => [...op.str(module), ...op.str(name), 0x93],
  tupleOf: (...items: number[][]) => [0x28, ...items.flat(), 0x74],
};

/** `_rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel[, None]), offset, size, stride, False, OrderedDict())` */
export function tensorPickle(opts: { key: string; numel: number; offset?: number; size: number[]; stride: number[]; storage?: string; legacy?: boolean }): number[] {
  const pid = op.tupleOf(op.str('storage'), op.global('torch', opts.storage ?? 'FloatStorage'), op.str(opts.key), op.str('cpu'), op.int(opts.numel), ...(opts.legacy ? [op.none] : []));
  return [
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.tupleOf(
      pid,
      op.binpersid,
      op.int(opts.offset ?? 0),
      op.tupleOf(...opts.size.map(op.int)),
      op.tupleOf(...opts.stride.map(op.int)),
      op.newfalse,
      op.global('collections', 'OrderedDict'),
      op.emptyTuple,
      op.reduce,
    ),
    ...op.reduce,
  ];
}

/** A dict pickle `{key: value, ...}` from value pickles. */
export function dictPickle(entries: [string, number[]][]): number[] {
  return [...op.proto(2), ...op.emptyDict, ...op.mark, ...entries.flatMap(([k, v]) => [...op.str(k), ...v]), ...op.setitems, ...op.stop];
}

/** A legacy-format file: magic, protocol 1001, sys_info, `object`, key list, storages. */
export function legacyFile(object: number[], storages: { key: string; count: number; data: Uint8Array }[]): Uint8Array {
  const magic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
  const protocol = [0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e];
  const sysInfo = [0x80, 0x02, 0x7d, 0x2e];
  const keys = [...op.proto(2), ...op.emptyList, ...op.mark, ...storages.flatMap((s) => op.str(s.key)), 0x65, ...op.stop];
  const parts: number[] = [...magic, ...protocol, ...sysInfo, ...object, ...keys];
  for (const s of storages) {
    const count = Buffer.alloc(8);
    count.writeBigInt64LE(BigInt(s.count));
    parts.push(...count, ...s.data);
  }
  return Uint8Array.from(parts);
}

export function floatBytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/**
 * A minimal zip writer (no zip64) for hand-made archives: stored entries, or deflated ones with
 * `deflate: true`. CRCs are written as 0: graft's reader does not check them.
 */
export function zipFile(entries: { name: string; data: Uint8Array; deflate?: boolean; declaredSize?: number }[]): Uint8Array {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const body = entry.deflate ? deflateRawSync(entry.data) : Buffer.from(entry.data);
    const size = entry.declaredSize ?? entry.data.length;
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(entry.deflate ? 8 : 0, 8);
    header.writeUInt32LE(body.length, 18);
    header.writeUInt32LE(size, 22);
    header.writeUInt16LE(name.length, 26);
    local.push(header, name, body);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(entry.deflate ? 8 : 0, 10);
    record.writeUInt32LE(body.length, 20);
    record.writeUInt32LE(size, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt32LE(offset, 42);
    central.push(record, name);
    offset += header.length + name.length + body.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...local, directory, end]));
}
