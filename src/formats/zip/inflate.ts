/**
 * Inflating a deflated entry into one buffer of exactly its declared size, whole or as a stream.
 * `label` names the entry in errors (`archive.npz:conv1/W.npy`).
 */
import { once } from 'node:events';
import * as zlib from 'node:zlib';
import { FormatError } from '../../errors.js';
import type { ZipSource } from './source.js';

/**
 * A chunkSize above the output size makes zlib's sync path write everything into its single
 * output buffer and return it, without the usual concatenation of 16 KiB chunks (which would
 * briefly hold the entry twice); maxOutputLength stops data that inflates past `size` (a zip
 * bomb) before it is all allocated.
 */
export function inflateExactly(compressed: Uint8Array, size: number, label: string): Uint8Array {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(compressed, { chunkSize: Math.max(64, size + 1), maxOutputLength: Math.max(1, size) });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new FormatError(label, undefined, `inflates to more than its declared ${size} bytes`);
    throw new FormatError(label, undefined, `corrupt deflate data (${(error as Error).message})`);
  }
  if (out.length !== size) throw new FormatError(label, undefined, `inflates to ${out.length} bytes, not its declared ${size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

const STREAM_PIECE = 8 << 20;

/**
 * The same for a large entry, feeding zlib (which works on the libuv thread pool) the compressed
 * bytes a piece at a time: the next piece is read while the last one inflates, and only a piece
 * or two of compressed data is held beside the output (VGG16's fc6 alone is 411 MB compressed).
 */
export async function inflateStreaming(source: ZipSource, start: number, compressedSize: number, size: number, label: string): Promise<Uint8Array> {
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
    for (let offset = 0; offset < compressedSize && !inflater.destroyed; offset += STREAM_PIECE) {
      const piece = source.read(start + offset, Math.min(STREAM_PIECE, compressedSize - offset));
      if (!inflater.write(piece)) await Promise.race([once(inflater, 'drain'), finished]);
    }
    if (!inflater.destroyed) inflater.end();
    await finished;
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(label, undefined, `corrupt deflate data (${(error as Error).message})`);
  } finally {
    inflater.destroy();
  }
  if (overflow) throw new FormatError(label, undefined, `inflates to more than its declared ${size} bytes`);
  if (written !== size) throw new FormatError(label, undefined, `inflates to ${written} bytes, not its declared ${size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
