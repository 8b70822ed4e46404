/**
 * An entry's uncompressed bytes, synchronously (PyTorch decodes a file already in memory) or
 * asynchronously with large deflated entries inflated as a stream (Chainer reads from disk).
 * Stored entries of an in-memory archive are views of it: torch.save aligns them to 64 bytes
 * so that they can be viewed as typed arrays without a copy.
 */
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';
import { FormatError, UnsupportedError } from '../../errors.js';
import type { ZipEntry } from './central-directory.js';
import { inflateExactly, inflateStreaming } from './inflate.js';
import { entryDataOffset } from './local-header.js';
import type { ZipSource } from './source.js';

const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
const FLAG_ENCRYPTED = 0x1;

/** Deflate cannot expand data more than 1032:1 (zlib's technical notes); more is a corrupt header. */
const MAX_DEFLATE_RATIO = 1032;

export interface ReadEntryOptions {
  /** Compare the data's CRC-32 with the directory's (about 4 GB/s with Node's zlib.crc32). */
  verifyCrc?: boolean;
}

export interface StreamingReadOptions extends ReadEntryOptions {
  /**
   * Deflated entries with more compressed bytes than this are inflated as a stream, so their
   * compressed bytes are never all in memory beside the output. Default 32 MiB.
   */
  streamAbove?: number;
}

const STREAM_ABOVE = 32 << 20;

/** The name errors give an entry's data: the entry as a file inside the archive. */
function entryLabel(file: string, entry: ZipEntry): string {
  return `${file}:${entry.name}`;
}

/**
 * `entry`'s bytes: a view of an in-memory archive or a fresh buffer for a stored entry, a
 * buffer of exactly `entry.size` bytes for a deflated one.
 */
export function readZipEntrySync(source: ZipSource, entry: ZipEntry, file: string, options: ReadEntryOptions = {}): Uint8Array {
  const start = checkedDataOffset(source, entry, file);
  const label = entryLabel(file, entry);
  const data =
    entry.method === METHOD_STORED ? source.read(start, entry.size) : inflateExactly(source.read(start, entry.compressedSize), entry.size, label);
  return verified(data, entry, label, options);
}

/** The same, inflating deflated entries above `streamAbove` compressed bytes as a stream. */
export async function readZipEntry(source: ZipSource, entry: ZipEntry, file: string, options: StreamingReadOptions = {}): Promise<Uint8Array> {
  const streamed = entry.method === METHOD_DEFLATED && entry.compressedSize > (options.streamAbove ?? STREAM_ABOVE);
  if (!streamed) return readZipEntrySync(source, entry, file, options);
  const start = checkedDataOffset(source, entry, file);
  const label = entryLabel(file, entry);
  return verified(await inflateStreaming(source, start, entry.compressedSize, entry.size, label), entry, label, options);
}

/** Where the entry's data starts, once everything it declares has been found possible to read. */
function checkedDataOffset(source: ZipSource, entry: ZipEntry, file: string): number {
  const label = entryLabel(file, entry);
  if (entry.flags & FLAG_ENCRYPTED) throw new UnsupportedError(`${label}: encrypted zip entries are not supported`);
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATED) {
    throw new UnsupportedError(`${label}: zip compression method ${entry.method} is not supported (only stored and deflated)`);
  }
  if (entry.size > bufferConstants.MAX_LENGTH) {
    throw new UnsupportedError(`${label}: ${entry.size} bytes exceeds the largest buffer Node can allocate`);
  }
  const start = entryDataOffset(source, entry, file);
  if (entry.method === METHOD_STORED && entry.compressedSize !== entry.size) {
    throw new FormatError(label, undefined, `stored entry declares ${entry.size} bytes but occupies ${entry.compressedSize}`);
  }
  // The slack covers the fixed cost of a deflate stream, which dominates tiny entries.
  if (entry.method === METHOD_DEFLATED && entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new FormatError(label, undefined, `declares ${entry.size} bytes from ${entry.compressedSize} compressed, beyond what deflate can encode`);
  }
  return start;
}

function verified(data: Uint8Array, entry: ZipEntry, label: string, options: ReadEntryOptions): Uint8Array {
  // zlib.crc32 arrived in Node 20.15; on older releases the check is skipped.
  if (options.verifyCrc && typeof zlib.crc32 === 'function' && zlib.crc32(data) >>> 0 !== entry.crc32) {
    throw new FormatError(label, undefined, 'CRC-32 mismatch: the data is corrupt');
  }
  return data;
}
