/**
 * sha256 of a file on a worker thread, so hashing a 550 MB weights file runs on the second core
 * while the main thread parses and writes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export function sha256OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: file });
    worker.once('message', (digest: string) => resolve(digest));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`hash worker exited with ${code}`));
    });
  });
}

if (!isMainThread && parentPort) {
  const hash = createHash('sha256');
  const port = parentPort;
  createReadStream(workerData as string, { highWaterMark: 4 << 20 })
    .on('data', (chunk) => hash.update(chunk as Buffer))
    .on('end', () => port.postMessage(hash.digest('hex')))
    .on('error', (error) => {
      throw error;
    });
}
