/**
 * The central directory: every entry's name, method, CRC, sizes and local header offset. These
 * are the values to trust; the local headers may hold placeholders (numpy writes them with
 * `force_zip64=True`, numpy gh-10776) or zeros followed by a data descriptor (streamed zips).
 */
import { FormatError } from '../../errors.js';
import { locateCentralDirectory } from './end-record.js';
import { decodeEntryName, readUint64, viewOf } from './fields.js';
import { LOCAL_HEADER_SIZE } from './local-header.js';
import type { ZipSource } from './source.js';

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

const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const CENTRAL_HEADER_SIZE = 46;
const ZIP64_EXTRA_ID = 0x0001;
const SATURATED = 0xffffffff;

/** Every entry of the archive, in directory order; names are unique. */
export function readZipDirectory(source: ZipSource, file: string): ZipEntry[] {
  const location = locateCentralDirectory(source, file);
  if (location.entries * CENTRAL_HEADER_SIZE > location.size) {
    throw new FormatError(file, location.offset, `central directory of ${location.size} bytes cannot hold ${location.entries} entries`);
  }
  const directory = source.read(location.offset, location.size);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let at = 0;
  for (let i = 0; i < location.entries; i++) {
    const where = location.offset + at;
    const { entry, next } = readCentralHeader(directory, at, i, file, where);
    if (names.has(entry.name)) throw new FormatError(file, where, `zip entry ${entry.name} appears twice`);
    if (entry.localHeaderOffset + LOCAL_HEADER_SIZE > source.size) {
      throw new FormatError(file, where, `${entry.name}: local header at ${entry.localHeaderOffset} lies past the end of the file`);
    }
    names.add(entry.name);
    entries.push(entry);
    at = next;
  }
  return entries;
}

function readCentralHeader(directory: Uint8Array, at: number, index: number, file: string, where: number): { entry: ZipEntry; next: number } {
  const view = viewOf(directory);
  if (at + CENTRAL_HEADER_SIZE > directory.length || view.getUint32(at, true) !== CENTRAL_HEADER_SIGNATURE) {
    throw new FormatError(file, where, `central directory entry ${index} is corrupt (bad signature)`);
  }
  const nameLength = view.getUint16(at + 28, true);
  const extraLength = view.getUint16(at + 30, true);
  const commentLength = view.getUint16(at + 32, true);
  const nameStart = at + CENTRAL_HEADER_SIZE;
  const extraStart = nameStart + nameLength;
  const next = extraStart + extraLength + commentLength;
  if (next > directory.length) throw new FormatError(file, where, `central directory entry ${index} runs past the directory`);
  const entry: ZipEntry = {
    name: decodeEntryName(directory.subarray(nameStart, extraStart)),
    flags: view.getUint16(at + 8, true),
    method: view.getUint16(at + 10, true),
    crc32: view.getUint32(at + 16, true),
    compressedSize: view.getUint32(at + 20, true),
    size: view.getUint32(at + 24, true),
    localHeaderOffset: view.getUint32(at + 42, true),
  };
  applyZip64Extra(entry, directory.subarray(extraStart, extraStart + extraLength), file, where);
  return { entry, next };
}

/**
 * The zip64 extra field holds 64-bit values for only those of the three 32-bit fields that are
 * saturated at 0xFFFFFFFF, in this order: size, compressed size, local header offset.
 */
function applyZip64Extra(entry: ZipEntry, extra: Uint8Array, file: string, where: number): void {
  const view = viewOf(extra);
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = view.getUint16(at, true);
    const end = at + 4 + view.getUint16(at + 2, true);
    if (end > extra.length) throw new FormatError(file, where, `${entry.name}: extra field runs past its header`);
    if (id === ZIP64_EXTRA_ID) {
      let field = at + 4;
      const next = (): number => {
        if (field + 8 > end) throw new FormatError(file, where, `${entry.name}: zip64 extra field is too short`);
        const value = readUint64(view, field, file, where);
        field += 8;
        return value;
      };
      if (entry.size === SATURATED) entry.size = next();
      if (entry.compressedSize === SATURATED) entry.compressedSize = next();
      if (entry.localHeaderOffset === SATURATED) entry.localHeaderOffset = next();
    }
    at = end;
  }
}
