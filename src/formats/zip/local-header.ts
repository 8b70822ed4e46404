/**
 * Local headers: the zip magic at the start of a file, the first entry's name (for recognising
 * a format from a file's head), and where each entry's data starts.
 */
import { FormatError } from '../../errors.js';
import type { ZipEntry } from './central-directory.js';
import { decodeEntryName, viewOf } from './fields.js';
import type { ZipSource } from './source.js';

export const LOCAL_HEADER_SIZE = 30;
const LOCAL_HEADER_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const LOCAL_HEADER_SIGNATURE = 0x04034b50;

/** Whether `head` starts with a local header, as any non-empty archive does. */
export function hasZipMagic(head: Uint8Array): boolean {
  return head.length >= LOCAL_HEADER_MAGIC.length && LOCAL_HEADER_MAGIC.every((b, i) => head[i] === b);
}

/** The name of the first entry, when `head` holds all of its local header. */
export function firstEntryName(head: Uint8Array): string | undefined {
  if (head.length < LOCAL_HEADER_SIZE || !hasZipMagic(head)) return undefined;
  const nameLength = viewOf(head).getUint16(26, true);
  if (LOCAL_HEADER_SIZE + nameLength > head.length) return undefined;
  return decodeEntryName(head.subarray(LOCAL_HEADER_SIZE, LOCAL_HEADER_SIZE + nameLength));
}

/**
 * Where `entry`'s data starts. Only this comes from the local header: its name and extra
 * lengths may differ from the central directory's (torch pads the local extra field so that
 * the data is 64-byte aligned; numpy adds a local zip64 field).
 */
export function entryDataOffset(source: ZipSource, entry: ZipEntry, file: string): number {
  const at = entry.localHeaderOffset;
  if (at + LOCAL_HEADER_SIZE > source.size) throw new FormatError(file, at, `${entry.name}: local header lies past the end of the file`);
  const header = viewOf(source.read(at, LOCAL_HEADER_SIZE));
  if (header.getUint32(0, true) !== LOCAL_HEADER_SIGNATURE) throw new FormatError(file, at, `${entry.name}: bad local header signature`);
  const start = at + LOCAL_HEADER_SIZE + header.getUint16(26, true) + header.getUint16(28, true);
  if (start + entry.compressedSize > source.size) {
    throw new FormatError(file, start, `${entry.name}: its ${entry.compressedSize} bytes run past the end of the file (truncated?)`);
  }
  return start;
}
