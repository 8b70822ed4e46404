/**
 * The PyTorch reader: a file written by torch.save (zip or legacy format) → SourceModel with the
 * state dict's tensors, in their stored dtype, keyed as in the state dict. There is no graph: a
 * .pth holds weights only, and the architecture comes from graph/architectures.
 */
import * as path from 'node:path';
import { FormatError } from '../../errors.js';
import type { TensorMap } from '../../tensor/tensor.js';
import { readFileWithProgress, type ProgressCallback } from '../../util/files.js';
import type { FormatReader, SourceModel } from '../source.js';
import type { TorchContainer } from './container.js';
import { isLegacy, isTar, openLegacyFormat, tarFormatError } from './legacy.js';
import { findWeights } from './state-dict.js';
import { CopyBudget, materializeTensor } from './torch-tensors.js';
import { openZipFormat } from './zip-format.js';
import { hasZipMagic as isZip } from '../zip/index.js';

export interface PyTorchReadOptions {
  /** Only the tensors (for `graft inspect`); the same as a full read, since a .pth has no graph. */
  tensorsOnly?: boolean;
  onProgress?: ProgressCallback;
  /** The dtype the model will get; half-precision files are noted when they will be widened. */
  dtype?: 'float32' | 'float16';
}

export async function readPyTorchFile(file: string, options: PyTorchReadOptions = {}): Promise<SourceModel> {
  const bytes = readFileWithProgress(file, options.onProgress);
  return decodePyTorch(bytes, file, options, true);
}

/**
 * The same as readPyTorchFile over bytes already in memory; contiguous aligned tensors are views
 * of them. With `ownsBytes`, legacy storages may be shifted by a few bytes inside `bytes` so that
 * they are aligned and need no copy; without it, `bytes` is left as it is.
 */
export function decodePyTorch(bytes: Uint8Array, file: string, options: PyTorchReadOptions = {}, ownsBytes = false): SourceModel {
  const container = openContainer(bytes, file, ownsBytes);
  const { entries, warnings } = findWeights(container.root, file);
  // Non-contiguous views are copied; a legitimate file copies at most about its own size.
  const budget = new CopyBudget(bytes.length + (256 << 20));
  const source = { file, bytesOf: container.bytesOf, littleEndian: container.littleEndian, budget };
  const tensors: TensorMap = new Map();
  let done = 0;
  for (const [key, ref] of entries) {
    if (tensors.has(key)) throw new FormatError(file, key, 'two tensors have this key');
    tensors.set(key, materializeTensor(ref, key, source));
    options.onProgress?.('tensors', ++done, entries.length);
  }
  const halves = [...tensors.values()].filter((t) => t.dtype === 'float16' || t.dtype === 'bfloat16').length;
  if (halves > 0 && options.dtype !== 'float16' && !options.tensorsOnly) {
    warnings.push(`${halves} tensors are stored in half precision; the model gets float32 weights (--dtype float16 keeps them half)`);
  }
  if (container.kind === 'legacy') warnings.push('legacy torch.save format (before PyTorch 1.6)');
  return { format: 'pytorch', path: file, tensors, warnings };
}

function openContainer(bytes: Uint8Array, file: string, ownsBytes: boolean): TorchContainer {
  if (isZip(bytes)) return openZipFormat(bytes, file);
  if (isLegacy(bytes)) return openLegacyFormat(bytes, file, ownsBytes);
  if (isTar(bytes)) throw tarFormatError(file);
  if (bytes.length > 0 && bytes[0] === 0x80) return openLegacyFormat(bytes, file, ownsBytes);
  throw new FormatError(file, 0, 'neither a zip archive nor a pickle: not a file written by torch.save');
}

const EXTENSIONS = new Set(['.pth', '.pt', '.bin', '.ckpt', '.pkl', '.tar']);

/** Whether the first zip entry in `head` is `<folder>/data.pkl`; undefined when its name is cut off. */
function firstEntryIsDataPickle(head: Uint8Array): boolean | undefined {
  if (head.length < 30) return undefined;
  const nameLength = head[26] | (head[27] << 8);
  const name = new TextDecoder('latin1').decode(head.subarray(30, Math.min(head.length, 30 + nameLength)));
  if (30 + nameLength > head.length) return undefined;
  return /^[^/]+\/data\.pkl$/.test(name);
}

export const pytorchReader: FormatReader<PyTorchReadOptions> = {
  format: 'pytorch',
  match(head: Uint8Array, file: string): number {
    const byExtension = EXTENSIONS.has(path.extname(file).toLowerCase());
    if (isZip(head)) {
      // torch.save writes data.pkl first; a long archive folder name can hide it from the head.
      const dataPickle = firstEntryIsDataPickle(head);
      if (dataPickle === true) return 1;
      if (dataPickle === undefined && byExtension) return 0.9;
      return byExtension ? 0.3 : 0;
    }
    if (isLegacy(head)) return 1;
    return byExtension ? 0.3 : 0;
  },
  open: readPyTorchFile,
};
