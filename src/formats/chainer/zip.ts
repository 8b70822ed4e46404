/**
 * A minimal zip reader for .npz archives: the central directory (zip64 included), then each
 * entry's bytes, stored or deflated. Not jszip, which is async and copies every entry (TRAPS.md).
 *
 * Sizes, methods and offsets come from the central directory, never the local headers: numpy
 * writes its entries with `force_zip64=True` (numpy gh-10776), so a local header may hold
 * 0xFFFFFFFF placeholders with the real sizes in its extra field, and a streamed zip may hold
 * zeros with a data descriptor after the data. The local header is read only for where the
 * data starts.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { once } from 'node:events';
import * as zlib from 'node:zlib';
import { FormatError, UnsupportedError, UsageError } from '../../errors.js';
import { describeFsError } from '../../util/files.js';

export const ZIP_LOCAL_MAGIC = [0x50, 0x4b, 0x03, 0x04];

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_DIRECTORY = 0x06054b50;
const ZIP64_END_OF_DIRECTORY = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;

export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;

/** Deflate cannot expand data more than 1032:1 (zlib's technical notes); more is a corrupt header. */
const MAX_DEFLATE_RATIO = 1032;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  /** Uncompressed size. */
  size: number;
  localHeaderOffset: number;
}

/** Random access to an archive's bytes. */
export interface ZipSource {
  readonly size: number;
  /** `length` bytes at `offset` (the caller has checked the range). May view the source's memory. */
  read(offset: number, length: number): Uint8Array;
}

/** An archive already in memory: reads are zero-copy views. */
export function bufferSource(bytes: Uint8Array): ZipSource {
  return { size: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/**
 * An archive on disk, read one range at a time. Each read is a fresh buffer, so an entry's data
 * starts at offset 0 of its own ArrayBuffer: an .npy's 64-byte-aligned payload can then be viewed
 * as a Float32Array in place, which a view into a whole-file buffer (where entries start at odd
 * offsets) cannot, and compressed bytes live only while their entry is inflated.
 */
export class FileSource implements ZipSource {
  readonly size: number;
  private fd: number | undefined;

  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, 'r');
      this.size = fstatSync(this.fd).size;
    } catch (error) {
      if (this.fd !== undefined) closeSync(this.fd);
      throw new UsageError(`${file}: ${describeFsError(error)}`);
    }
  }

  read(offset: number, length: number): Uint8Array {
    if (this.fd === undefined) throw new Error(`${this.file}: read after close`);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new FormatError(this.file, offset + done, 'the file ended early (it changed while being read?)');
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export function hasZipMagic(head: Uint8Array): boolean {
  return ZIP_LOCAL_MAGIC.every((b, i) => head[i] === b);
}

/** The name of the first entry, when `head` holds all of its local header. */
export function firstEntryName(head: Uint8Array): string | undefined {
  if (head.length < 30 || !hasZipMagic(head)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const nameLength = view.getUint16(26, true);
  if (30 + nameLength > head.length) return undefined;
  return decodeName(head.subarray(30, 30 + nameLength), view.getUint16(6, true));
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function uint64(view: DataView, at: number, file: string, where: number): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(file, where, `64-bit field ${value} is out of range`);
  return Number(value);
}

// Bit 11 of the general-purpose flags marks UTF-8 names; without it the name is CP437, which
// agrees with Latin-1 on the ASCII names numpy writes.
function decodeName(bytes: Uint8Array, flags: number): string {
  return new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(bytes);
}

interface Directory {
  entries: number;
  offset: number;
  size: number;
}

/** Finds the end-of-central-directory record (and its zip64 form) in the archive's tail. */
function findDirectory(source: ZipSource, file: string): Directory {
  // The record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
  const tailLength = Math.min(source.size, 22 + 0xffff);
  const tailStart = source.size - tailLength;
  const tail = source.read(tailStart, tailLength);
  const view = viewOf(tail);
  let at = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (view.getUint32(i, true) === END_OF_DIRECTORY && i + 22 + view.getUint16(i + 20, true) <= tailLength) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new FormatError(file, undefined, 'not a zip archive (no end-of-central-directory record); an .npz is a zip of .npy files');
  const recordOffset = tailStart + at;
  if (view.getUint16(at + 4, true) !== 0 || view.getUint16(at + 6, true) !== 0) {
    throw new UnsupportedError(`${file}: multi-part zip archives are not supported`);
  }
  let entries = view.getUint16(at + 10, true);
  let size = view.getUint32(at + 12, true);
  let offset = view.getUint32(at + 16, true);
  // A zip64 locator sits just before the record when any of its fields overflowed.
  if (at >= 20 && view.getUint32(at - 20, true) === ZIP64_LOCATOR) {
    const zip64At = uint64(view, at - 12, file, recordOffset - 12);
    if (zip64At + 56 > source.size) throw new FormatError(file, recordOffset - 12, `zip64 directory record at ${zip64At} lies past the end of the file`);
    const record = viewOf(source.read(zip64At, 56));
    if (record.getUint32(0, true) !== ZIP64_END_OF_DIRECTORY) throw new FormatError(file, zip64At, 'bad zip64 end-of-central-directory signature');
    entries = uint64(record, 32, file, zip64At + 32);
    size = uint64(record, 40, file, zip64At + 40);
    offset = uint64(record, 48, file, zip64At + 48);
  }
  if (offset + size > source.size) {
    throw new FormatError(file, recordOffset, `central directory (${size} bytes at ${offset}) lies past the end of the ${source.size}-byte file (truncated?)`);
  }
  return { entries, offset, size };
}

/** Every entry of the archive, in central-directory order. */
export function readZipDirectory(source: ZipSource, file: string): ZipEntry[] {
  const directory = findDirectory(source, file);
  // 46 bytes is the smallest central header: a count beyond that is a corrupt record.
  if (directory.entries * 46 > directory.size) {
    throw new FormatError(file, undefined, `central directory of ${directory.size} bytes cannot hold ${directory.entries} entries`);
  }
  const bytes = source.read(directory.offset, directory.size);
  const view = viewOf(bytes);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let at = 0;
  for (let i = 0; i < directory.entries; i++) {
    const where = directory.offset + at;
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL_HEADER) {
      throw new FormatError(file, where, `central directory entry ${i} is corrupt (bad signature)`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc32 = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > bytes.length) throw new FormatError(file, where, `central directory entry ${i} runs past the directory`);
    const name = decodeName(bytes.subarray(at + 46, at + 46 + nameLength), flags);
    // Zip64 extra field: only the fields whose 32-bit slot overflowed, in this order.
    const extra = viewOf(bytes.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength));
    for (let e = 0; e + 4 <= extra.byteLength; ) {
      const id = extra.getUint16(e, true);
      const length = extra.getUint16(e + 2, true);
      if (id === ZIP64_EXTRA_ID) {
        let field = e + 4;
        const next = (): number => {
          if (field + 8 > e + 4 + length) throw new FormatError(file, where, `${name}: zip64 extra field is too short`);
          const value = uint64(extra, field, file, where);
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      e += 4 + length;
    }
    if (names.has(name)) throw new FormatError(file, where, `the archive holds two entries named ${name}`);
    names.add(name);
    entries.push({ name, method, flags, crc32, compressedSize, size, localHeaderOffset });
    at = end;
  }
  return entries;
}

/** Where `entry`'s data starts, from its local header. */
function dataOffset(source: ZipSource, entry: ZipEntry, file: string): number {
  if (entry.localHeaderOffset + 30 > source.size) {
    throw new FormatError(file, entry.localHeaderOffset, `${entry.name}: local header lies past the end of the file`);
  }
  const header = viewOf(source.read(entry.localHeaderOffset, 30));
  if (header.getUint32(0, true) !== LOCAL_HEADER) throw new FormatError(file, entry.localHeaderOffset, `${entry.name}: bad local header signature`);
  const start = entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (start + entry.compressedSize > source.size) {
    throw new FormatError(file, start, `${entry.name}: its ${entry.compressedSize} bytes run past the end of the file (truncated?)`);
  }
  return start;
}

export interface ReadEntryOptions {
  /** Compare the data's CRC-32 with the directory's (about 4 GB/s with Node's zlib.crc32). */
  verifyCrc?: boolean;
  /**
   * Deflated entries with more compressed bytes than this are inflated as a stream, in pieces,
   * so their compressed bytes are never all in memory beside the output (VGG16's fc6 alone is
   * 411 MB compressed). Default 32 MiB.
   */
  streamAbove?: number;
}

const STREAM_ABOVE = 32 << 20;
const STREAM_PIECE = 8 << 20;

/**
 * The uncompressed bytes of `entry`: what the source returns for a stored entry (a view of an
 * in-memory archive), or a buffer of exactly `entry.size` bytes for a deflated one. Declared
 * sizes are checked before anything is allocated.
 */
export async function readZipEntry(source: ZipSource, entry: ZipEntry, file: string, options: ReadEntryOptions = {}): Promise<Uint8Array> {
  const where = `${file}:${entry.name}`;
  if (entry.flags & 0x1) throw new UnsupportedError(`${where}: encrypted zip entries are not supported`);
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATED) {
    throw new UnsupportedError(`${where}: zip compression method ${entry.method} is not supported (only stored and deflated, as numpy writes)`);
  }
  if (entry.size > bufferConstants.MAX_LENGTH) {
    throw new UnsupportedError(`${where}: ${entry.size} bytes exceeds the largest buffer Node can allocate`);
  }
  const start = dataOffset(source, entry, file);
  let data: Uint8Array;
  if (entry.method === METHOD_STORED) {
    if (entry.compressedSize !== entry.size) {
      throw new FormatError(where, undefined, `stored entry declares ${entry.size} bytes but occupies ${entry.compressedSize}`);
    }
    data = source.read(start, entry.size);
  } else {
    if (entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
      throw new FormatError(where, undefined, `declares ${entry.size} bytes from ${entry.compressedSize} compressed, beyond what deflate can encode`);
    }
    data =
      entry.compressedSize > (options.streamAbove ?? STREAM_ABOVE)
        ? await inflateStreaming(source, start, entry, where)
        : inflateExactly(source.read(start, entry.compressedSize), entry.size, where);
  }
  if (options.verifyCrc && typeof zlib.crc32 === 'function' && zlib.crc32(data) >>> 0 !== entry.crc32) {
    throw new FormatError(where, undefined, 'CRC-32 mismatch: the data is corrupt');
  }
  return data;
}

/**
 * Inflates into one buffer of exactly `size` bytes. A chunkSize above the output size makes
 * zlib's sync path write everything into its single output buffer and return it without the
 * usual concatenation of 16 KiB chunks; maxOutputLength stops data that inflates past `size`.
 */
function inflateExactly(compressed: Uint8Array, size: number, where: string): Uint8Array {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(compressed, { chunkSize: Math.max(64, size + 1), maxOutputLength: Math.max(1, size) });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new FormatError(where, undefined, `inflates to more than its declared ${size} bytes`);
    throw new FormatError(where, undefined, `corrupt deflate data (${(error as Error).message})`);
  }
  if (out.length !== size) throw new FormatError(where, undefined, `inflates to ${out.length} bytes, not its declared ${size}`);
  return out;
}

/**
 * Inflates a large entry into one buffer of exactly `entry.size` bytes, feeding zlib (which works
 * on the libuv thread pool) the compressed bytes a piece at a time: the next piece is read while
 * the last one inflates, and only a piece or two of compressed data is ever held.
 */
async function inflateStreaming(source: ZipSource, start: number, entry: ZipEntry, where: string): Promise<Uint8Array> {
  const size = entry.size;
  const out = Buffer.allocUnsafe(size);
  let written = 0;
  let overflow = false;
  const inflater = zlib.createInflateRaw({ chunkSize: 4 << 20 });
  inflater.on('data', (chunk: Buffer) => {
    if (written + chunk.length > size) {
      overflow = true;
      inflater.destroy();
      return;
    }
    out.set(chunk, written);
    written += chunk.length;
  });
  const finished = new Promise<void>((resolve, reject) => {
    inflater.on('end', resolve);
    inflater.on('close', resolve);
    inflater.on('error', reject);
  });
  try {
    for (let offset = 0; offset < entry.compressedSize && !inflater.destroyed; offset += STREAM_PIECE) {
      const piece = source.read(start + offset, Math.min(STREAM_PIECE, entry.compressedSize - offset));
      if (!inflater.write(piece)) await Promise.race([once(inflater, 'drain'), finished]);
    }
    if (!inflater.destroyed) inflater.end();
    await finished;
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(where, undefined, `corrupt deflate data (${(error as Error).message})`);
  } finally {
    inflater.destroy();
  }
  if (overflow) throw new FormatError(where, undefined, `inflates to more than its declared ${size} bytes`);
  if (written !== size) throw new FormatError(where, undefined, `inflates to ${written} bytes, not its declared ${size}`);
  return out;
}
