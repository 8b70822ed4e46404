/**
 * Every source-format reader, and the choice among them for a file: each reader rates the file's
 * first bytes and path, and the surest one opens it.
 */
import { open } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { caffeReader } from './caffe/reader.js';
import { chainerReader } from './chainer/reader.js';
import { pytorchReader } from './pytorch/reader.js';
import type { FormatReader } from './source.js';

export const READERS: FormatReader[] = [caffeReader, chainerReader, pytorchReader];

const HEAD_BYTES = 64;

export async function readHead(file: string, bytes = HEAD_BYTES): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: cannot open (${code === 'ENOENT' ? 'no such file' : ((error as Error).message ?? code)})`);
  }
  try {
    const head = new Uint8Array(bytes);
    const { bytesRead } = await handle.read(head, 0, bytes, 0);
    return head.subarray(0, bytesRead);
  } catch (error) {
    throw new UsageError(`${file}: cannot read (${(error as Error).message})`);
  } finally {
    await handle.close();
  }
}

export async function pickReader(file: string): Promise<FormatReader> {
  const head = await readHead(file);
  let best: FormatReader | undefined;
  let bestScore = 0;
  for (const reader of READERS) {
    const score = reader.match(head, file);
    if (score > bestScore) {
      best = reader;
      bestScore = score;
    }
  }
  if (!best) throw new UsageError(`${file}: not a Caffe, PyTorch or Chainer weights file`);
  return best;
}
