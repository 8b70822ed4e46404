/**
 * Where an archive's bytes come from: a file already in memory (PyTorch reads the whole .pth)
 * or a file handle read one range at a time (Chainer's .npz, whose entries are inflated anyway).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError, UsageError } from '../../errors.js';
import { describeFsError } from '../../util/files.js';

/** Random access to an archive's bytes. */
export interface ZipSource {
  readonly size: number;
  /**
   * `length` bytes at `offset` (the caller has checked the range), as a plain Uint8Array: a
   * Buffer's slice() is a view where a Uint8Array's is a copy, and readers slice to copy.
   */
  read(offset: number, length: number): Uint8Array;
}

/** An archive already in memory: reads are zero-copy views of it. */
export function bufferSource(bytes: Uint8Array): ZipSource {
  const whole = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { size: whole.byteLength, read: (offset, length) => whole.subarray(offset, offset + length) };
}

/**
 * An archive on disk. Each read is a fresh allocation (8-byte aligned, at offset 0 of its own
 * ArrayBuffer from 4 KiB up), so an .npy's 64-byte-aligned payload can be viewed as a
 * Float32Array in place, which a view into a whole-file buffer (where numpy's entries start at
 * odd offsets) cannot; and compressed bytes live only while their entry is inflated.
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
      // readSync takes at most 2 GiB at a time.
      const n = readSync(this.fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new FormatError(this.file, offset + done, 'the file ended early (it changed while being read?)');
      done += n;
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
