/**
 * The end-of-central-directory record, last in the archive, and its zip64 form: where the
 * central directory is and how many entries it lists.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import { readUint64, viewOf } from './fields.js';
import type { ZipSource } from './source.js';

const END_RECORD_SIGNATURE = 0x06054b50;
const END_RECORD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_END_RECORD_SIGNATURE = 0x06064b50;
const ZIP64_END_RECORD_SIZE = 56;

export interface CentralDirectoryLocation {
  entries: number;
  offset: number;
  size: number;
}

export function locateCentralDirectory(source: ZipSource, file: string): CentralDirectoryLocation {
  // The record is followed only by its comment (at most 64 KiB); a zip64 locator, when any field
  // overflowed, sits just before it. Reading that much of the tail finds both.
  const tailLength = Math.min(source.size, ZIP64_LOCATOR_SIZE + END_RECORD_SIZE + MAX_COMMENT);
  const tailStart = source.size - tailLength;
  const tail = viewOf(source.read(tailStart, tailLength));
  const at = findEndRecord(tail);
  if (at < 0) throw new FormatError(file, undefined, 'not a zip archive (no end-of-central-directory record)');
  const recordOffset = tailStart + at;
  if (tail.getUint16(at + 4, true) !== 0 || tail.getUint16(at + 6, true) !== 0) {
    throw new UnsupportedError(`${file}: multi-part zip archives are not supported`);
  }
  let location: CentralDirectoryLocation = {
    entries: tail.getUint16(at + 10, true),
    size: tail.getUint32(at + 12, true),
    offset: tail.getUint32(at + 16, true),
  };
  const locator = at - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && tail.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
    location = readZip64EndRecord(source, readUint64(tail, locator + 8, file, tailStart + locator + 8), file);
  }
  if (location.offset + location.size > source.size) {
    throw new FormatError(file, recordOffset, `central directory (${location.size} bytes at ${location.offset}) lies past the end of the ${source.size}-byte file (truncated?)`);
  }
  return location;
}

/**
 * Searching backwards, the first signature whose comment runs exactly to the end of the file:
 * the same four bytes inside a comment or in compressed data seldom also agree on that.
 */
function findEndRecord(tail: DataView): number {
  for (let at = tail.byteLength - END_RECORD_SIZE; at >= 0; at--) {
    if (tail.getUint32(at, true) === END_RECORD_SIGNATURE && at + END_RECORD_SIZE + tail.getUint16(at + 20, true) === tail.byteLength) return at;
  }
  return -1;
}

function readZip64EndRecord(source: ZipSource, at: number, file: string): CentralDirectoryLocation {
  if (at + ZIP64_END_RECORD_SIZE > source.size) throw new FormatError(file, at, 'zip64 end-of-central-directory record lies past the end of the file');
  const record = viewOf(source.read(at, ZIP64_END_RECORD_SIZE));
  if (record.getUint32(0, true) !== ZIP64_END_RECORD_SIGNATURE) throw new FormatError(file, at, 'bad zip64 end-of-central-directory signature');
  return {
    entries: readUint64(record, 32, file, at + 32),
    size: readUint64(record, 40, file, at + 40),
    offset: readUint64(record, 48, file, at + 48),
  };
}
