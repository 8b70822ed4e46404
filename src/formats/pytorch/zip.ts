/**
 * A minimal zip reader over a file already in memory: the central directory (zip64 included, as
 * torch's miniz writer emits for large archives) and each entry's data. torch.save stores entries
 * uncompressed and 64-byte aligned, so an entry is a view of the file's own buffer; a deflated
 * entry (a re-zipped checkpoint) is inflated with zlib. Every offset and size is checked against
 * the buffer before it is used. (jszip would copy every entry, doubling a 500 MB file.)
 */
import { inflateRawSync } from 'node:zlib';
import { FormatError, UnsupportedError } from '../../errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;

const utf8 = new TextDecoder('utf-8');

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && ZIP_MAGIC.every((b, i) => head[i] === b);
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  /** The entry's bytes: a view of the file for stored entries, an inflated copy for deflated ones. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new FormatError(this.file, name, 'no such entry in the zip archive');
    const at = entry.localHeaderOffset;
    this.need(at, LOCAL_HEADER_SIZE, `local header of ${name}`);
    if (this.view.getUint32(at, true) !== LOCAL_SIGNATURE) throw new FormatError(this.file, at, `no local header for ${name}`);
    // The local name and extra lengths may differ from the central directory's (torch pads the
    // local extra field to align the data), so the data offset comes from the local header.
    const start = at + LOCAL_HEADER_SIZE + this.view.getUint16(at + 26, true) + this.view.getUint16(at + 28, true);
    this.need(start, entry.compressedSize, `data of ${name}`);
    const data = this.bytes.subarray(start, start + entry.compressedSize);
    if (entry.method === 0) {
      if (entry.size !== entry.compressedSize) throw new FormatError(this.file, at, `stored entry ${name} has two different sizes`);
      return data;
    }
    if (entry.method !== 8) throw new UnsupportedError(`${this.file}: zip entry ${name} uses compression method ${entry.method}; only stored and deflated entries are read`);
    // Deflate expands at most 1032:1; a larger declared size is a lie.
    if (entry.size > entry.compressedSize * 1032 + 64) throw new FormatError(this.file, at, `${name} declares ${entry.size} bytes from ${entry.compressedSize} compressed`);
    let inflated: Buffer;
    try {
      // maxOutputLength stops a zip bomb at the declared size.
      inflated = inflateRawSync(data, { maxOutputLength: Math.max(1, entry.size) });
    } catch (error) {
      throw new FormatError(this.file, start, `cannot inflate ${name}: ${(error as Error).message}`);
    }
    if (inflated.length !== entry.size) throw new FormatError(this.file, start, `${name} inflates to ${inflated.length} bytes, not the declared ${entry.size}`);
    return new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.length);
  }

  private need(at: number, length: number, what: string): void {
    if (at < 0 || length < 0 || at + length > this.bytes.length) {
      throw new FormatError(this.file, at, `${what} (${length} bytes) runs past the end of the file (${this.bytes.length} bytes)`);
    }
  }

  private u64(at: number, what: string): number {
    const value = this.view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(this.file, at, `${what} out of range`);
    return Number(value);
  }

  private findEndOfCentralDirectory(): number {
    const bytes = this.bytes;
    const lowest = Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT);
    for (let at = bytes.length - EOCD_SIZE; at >= lowest; at--) {
      if (bytes[at] === 0x50 && bytes[at + 1] === 0x4b && this.view.getUint32(at, true) === EOCD_SIGNATURE) {
        // The comment must run exactly to the end of the file, or this is a stray signature.
        if (at + EOCD_SIZE + this.view.getUint16(at + 20, true) === bytes.length) return at;
      }
    }
    throw new FormatError(this.file, undefined, 'zip archive without an end-of-central-directory record (truncated file?)');
  }

  private readCentralDirectory(): void {
    const eocd = this.findEndOfCentralDirectory();
    let count = this.view.getUint16(eocd + 10, true);
    let size = this.view.getUint32(eocd + 12, true);
    let offset = this.view.getUint32(eocd + 16, true);
    if (this.view.getUint16(eocd + 4, true) !== 0 || this.view.getUint16(eocd + 6, true) !== 0) {
      throw new UnsupportedError(`${this.file}: multi-part zip archives are not supported`);
    }
    const locator = eocd - 20;
    if (locator >= 0 && this.view.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
      const record = this.u64(locator + 8, 'zip64 end-of-central-directory offset');
      this.need(record, 56, 'zip64 end-of-central-directory record');
      if (this.view.getUint32(record, true) !== ZIP64_EOCD_SIGNATURE) throw new FormatError(this.file, record, 'bad zip64 end-of-central-directory record');
      count = this.u64(record + 32, 'zip64 entry count');
      size = this.u64(record + 40, 'zip64 central directory size');
      offset = this.u64(record + 48, 'zip64 central directory offset');
    }
    this.need(offset, size, 'central directory');
    if (count > size / CENTRAL_HEADER_SIZE) throw new FormatError(this.file, eocd, `${count} entries cannot fit a central directory of ${size} bytes`);
    let at = offset;
    const end = offset + size;
    for (let i = 0; i < count; i++) {
      if (at + CENTRAL_HEADER_SIZE > end || this.view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
        throw new FormatError(this.file, at, `bad central directory entry ${i}`);
      }
      const flags = this.view.getUint16(at + 8, true);
      const method = this.view.getUint16(at + 10, true);
      let compressedSize = this.view.getUint32(at + 20, true);
      let entrySize = this.view.getUint32(at + 24, true);
      const nameLength = this.view.getUint16(at + 28, true);
      const extraLength = this.view.getUint16(at + 30, true);
      const commentLength = this.view.getUint16(at + 32, true);
      let localHeaderOffset = this.view.getUint32(at + 42, true);
      const next = at + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
      if (next > end) throw new FormatError(this.file, at, `central directory entry ${i} runs past the directory`);
      const name = utf8.decode(this.bytes.subarray(at + CENTRAL_HEADER_SIZE, at + CENTRAL_HEADER_SIZE + nameLength));
      // Zip64 extended information (header 0x0001) holds, in this order, the 32-bit fields
      // that are saturated at 0xffffffff.
      let extra = at + CENTRAL_HEADER_SIZE + nameLength;
      const extraEnd = extra + extraLength;
      while (extra + 4 <= extraEnd) {
        const id = this.view.getUint16(extra, true);
        const length = this.view.getUint16(extra + 2, true);
        if (extra + 4 + length > extraEnd) throw new FormatError(this.file, extra, `bad extra field in ${name}`);
        if (id === 0x0001) {
          let field = extra + 4;
          const take = (what: string) => {
            if (field + 8 > extra + 4 + length) throw new FormatError(this.file, field, `short zip64 field in ${name}`);
            const value = this.u64(field, what);
            field += 8;
            return value;
          };
          if (entrySize === 0xffffffff) entrySize = take('zip64 size');
          if (compressedSize === 0xffffffff) compressedSize = take('zip64 compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('zip64 header offset');
        }
        extra += 4 + length;
      }
      if (flags & 1) throw new UnsupportedError(`${this.file}: zip entry ${name} is encrypted`);
      if (this.entries.has(name)) throw new FormatError(this.file, at, `zip entry ${name} appears twice`);
      this.need(localHeaderOffset, LOCAL_HEADER_SIZE, `local header of ${name}`);
      this.entries.set(name, { name, method, flags, compressedSize, size: entrySize, localHeaderOffset });
      at = next;
    }
  }
}
