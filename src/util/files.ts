import { createHash } from 'node:crypto';
import { promises as fs, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import * as path from 'node:path';
import { GraftError, UsageError } from '../errors.js';

export type ProgressCallback = (phase: string, done: number, total: number) => void;

/**
 * Reads a whole file into one Buffer in 16 MiB steps so long reads can report progress. The buffer
 * is allocated once at the file's size: no growing copies.
 */
export function readFileWithProgress(file: string, onProgress?: ProgressCallback): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new UsageError(`${file}: ${describeFsError(error)}`);
  }
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.allocUnsafe(size);
    const step = 16 << 20;
    let offset = 0;
    while (offset < size) {
      const n = readSync(fd, buffer, offset, Math.min(step, size - offset), offset);
      if (n === 0) throw new GraftError(`${file}: file shrank while reading`);
      offset += n;
      onProgress?.('read', offset, size);
    }
    return buffer;
  } finally {
    closeSync(fd);
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ENOTDIR') return 'not a directory';
  return error instanceof Error ? error.message : String(error);
}

/**
 * Writes a directory atomically: `fill` writes into a temporary sibling, which is renamed onto
 * `target` only when everything succeeded, so a failure leaves nothing behind.
 */
export async function writeDirectoryAtomically(
  target: string,
  force: boolean,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
  const resolved = path.resolve(target);
  let exists = false;
  try {
    const stat = await fs.stat(resolved);
    if (!stat.isDirectory()) throw new UsageError(`${target}: exists and is not a directory`);
    const entries = await fs.readdir(resolved);
    exists = true;
    if (entries.length > 0 && !force) throw new UsageError(`${target}: directory is not empty (use --force to replace it)`);
  } catch (error) {
    if (error instanceof GraftError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`${target}: ${describeFsError(error)}`);
  }
  await fs.mkdir(path.dirname(resolved), { recursive: true });
  const temporary = `${resolved}.graft-tmp-${process.pid}-${Date.now().toString(36)}`;
  await fs.mkdir(temporary);
  try {
    await fill(temporary);
    if (exists) await fs.rm(resolved, { recursive: true, force: true });
    await fs.rename(temporary, resolved);
  } catch (error) {
    await fs.rm(temporary, { recursive: true, force: true });
    throw error;
  }
}
