/**
 * Image-folder datasets, the articles' layout: one subfolder per class (`PetImages/Cat`,
 * `PetImages/Dog`). Files that do not decode are skipped, counted and reported, never fatal: real
 * folders hold corrupt JPEGs and stray files (the Kaggle cats-and-dogs set has both).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { decodeImageFile } from '../../input/decode-image.js';
import { imageToInput, type InputSpec } from '../../input/preprocess.js';
import { describeFsError } from '../../util/files.js';
import { Random } from '../random.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.tif', '.tiff']);

export interface ImageFile {
  path: string;
  label: number;
}

export interface ImageFolder {
  root: string;
  classNames: string[];
  files: ImageFile[];
  /** Files without an image extension, left out. */
  ignored: string[];
}

export async function scanImageFolder(root: string, options: { limitPerClass?: number; seed?: number } = {}): Promise<ImageFolder> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new UsageError(`${root}: ${describeFsError(error)}`);
  }
  const classNames = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (classNames.length < 2) {
    throw new UsageError(`${root}: needs one subfolder per class (at least two), found ${classNames.length ? classNames.join(', ') : 'none'}`);
  }
  const files: ImageFile[] = [];
  const ignored: string[] = [];
  const random = new Random(options.seed ?? 0);
  for (const [label, name] of classNames.entries()) {
    const dir = path.join(root, name);
    const names = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    let images = names.filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase()));
    ignored.push(...names.filter((n) => !IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())).map((n) => path.join(dir, n)));
    if (options.limitPerClass !== undefined && images.length > options.limitPerClass) {
      // A seeded sample, not the first N names: names often encode an order (ids, dates).
      images = random.shuffle(images).slice(0, options.limitPerClass).sort();
    }
    if (images.length === 0) throw new UsageError(`${dir}: class folder has no images`);
    for (const image of images) files.push({ path: path.join(dir, image), label });
  }
  return { root, classNames, files, ignored };
}

export interface LoadedImages {
  /** [count, height, width, channels] NHWC, preprocessed for the model. */
  data: Float32Array;
  labels: Int32Array;
  count: number;
  files: string[];
  skipped: { path: string; reason: string }[];
}

/** Decodes and preprocesses `files`, several at a time (sharp decodes on its own threads). */
export async function loadImages(
  files: ImageFile[],
  spec: InputSpec,
  options: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<LoadedImages> {
  const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
  const size = spec.height * spec.width * channels;
  const decoded: (Float32Array | undefined)[] = new Array(files.length);
  const skipped: LoadedImages['skipped'] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        decoded[i] = imageToInput(await decodeImageFile(files[i].path), spec);
      } catch (error) {
        skipped.push({ path: files[i].path, reason: (error as Error).message });
      }
      options.onProgress?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  const kept = files.map((f, i) => ({ f, x: decoded[i] })).filter((e) => e.x !== undefined);
  const data = new Float32Array(kept.length * size);
  kept.forEach((e, i) => data.set(e.x!, i * size));
  skipped.sort((a, b) => a.path.localeCompare(b.path));
  return {
    data,
    labels: Int32Array.from(kept, (e) => e.f.label),
    count: kept.length,
    files: kept.map((e) => e.f.path),
    skipped,
  };
}
