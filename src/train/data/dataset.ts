/**
 * Training data from `--data`: an image folder (one subfolder per class) preprocessed the way the
 * model's graft.json says, or a table (CSV/TSV/space-separated) fed as is.
 */
import { promises as fs } from 'node:fs';
import { UsageError } from '../../errors.js';
import type { InputSpec } from '../../input/preprocess.js';
import { describeFsError } from '../../util/files.js';
import type { Examples } from '../loop.js';
import { loadImages, scanImageFolder } from './image-folder.js';
import { readTable } from './table.js';

export interface Dataset {
  kind: 'images' | 'table';
  source: string;
  examples: Examples;
  classNames: string[];
  /** Files that could not be decoded (images), with why. */
  skipped: { path: string; reason: string }[];
  /** Non-image files in the class folders, left out. */
  ignored: string[];
  featureNames?: string[];
}

export interface DatasetOptions {
  /** Image preprocessing; required for image folders. */
  imageSpec?: InputSpec;
  limitPerClass?: number;
  seed?: number;
  labelColumn?: string | number;
  /** Class names the model already knows: labels are mapped onto them (evaluate, resume). */
  classNames?: string[];
  onProgress?: (done: number, total: number) => void;
}

export async function loadDataset(source: string, options: DatasetOptions): Promise<Dataset> {
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (error) {
    throw new UsageError(`${source}: ${describeFsError(error)}`);
  }
  if (stat.isDirectory()) {
    if (!options.imageSpec) throw new UsageError(`${source}: an image folder needs a model that takes images`);
    const folder = await scanImageFolder(source, { limitPerClass: options.limitPerClass, seed: options.seed });
    const remap = labelMap(folder.classNames, options.classNames, source);
    const files = folder.files.map((f) => ({ ...f, label: remap[f.label] }));
    const loaded = await loadImages(files, options.imageSpec, { onProgress: options.onProgress });
    if (loaded.count === 0) throw new UsageError(`${source}: none of the ${files.length} images could be read`);
    const channels = options.imageSpec.channelOrder === 'GRAY' ? 1 : 3;
    return {
      kind: 'images',
      source,
      examples: { data: loaded.data, labels: loaded.labels, count: loaded.count, shape: [options.imageSpec.height, options.imageSpec.width, channels] },
      classNames: options.classNames ?? folder.classNames,
      skipped: loaded.skipped,
      ignored: folder.ignored,
    };
  }
  const table = readTable(source, { labelColumn: options.labelColumn });
  const remap = labelMap(table.classNames, options.classNames, source);
  const labels = Int32Array.from(table.labels, (l) => remap[l]);
  return {
    kind: 'table',
    source,
    examples: { data: table.features, labels, count: table.rows, shape: [table.featureNames.length] },
    classNames: options.classNames ?? table.classNames,
    skipped: [],
    ignored: [],
    featureNames: table.featureNames,
  };
}

/** Index in `found` → index in `known` (identity when the model has no class names yet). */
function labelMap(found: string[], known: string[] | undefined, source: string): number[] {
  if (!known) return found.map((_, i) => i);
  return found.map((name) => {
    const index = known.indexOf(name);
    if (index < 0) throw new UsageError(`${source}: class "${name}" is not one the model knows (${known.join(', ')})`);
    return index;
  });
}

/** The rows `indices` of `examples` as a new Examples. */
export function subset(examples: Examples, indices: number[]): Examples {
  const size = examples.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(indices.length * size);
  indices.forEach((row, i) => data.set(examples.data.subarray(row * size, (row + 1) * size), i * size));
  return { data, shape: examples.shape, labels: Int32Array.from(indices, (row) => examples.labels[row]), count: indices.length };
}
