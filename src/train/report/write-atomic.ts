import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Writes `data` to `file` through a temporary file in the same directory and a rename, so a reader
 * (pandas polling log.json, an image viewer showing loss.png, or `--resume` after a crash) sees either
 * the old file or the new one, never half of one. Creates the directory when missing.
 */
export async function writeFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
