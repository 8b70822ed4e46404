/**
 * The Chainer reader: an .npz written by `chainer.serializers.save_npz` (a zip of .npy arrays,
 * deflated unless `compression=False`) → SourceModel with the model's tensors under their link
 * paths (`conv1/W`, `res2/a/bn1/avg_mean`). There is no graph in the file: the architecture
 * comes from graph/architectures (recognised from the keys and shapes) or `--arch`.
 */
import * as path from 'node:path';
import { UnsupportedError, UsageError } from '../../errors.js';
import type { Tensor, TensorMap } from '../../tensor/tensor.js';
import type { ProgressCallback } from '../../util/files.js';
import { isNpy, readNpy } from '../npy/npy.js';
import type { FormatReader, SourceModel } from '../source.js';
import { isBatchNormCounter, modelKeyLayout, summarizeIgnored } from './keys.js';
import { FileSource, firstEntryName, hasZipMagic, readZipDirectory, readZipEntry, type ZipEntry, type ZipSource } from '../zip/index.js';

export interface ChainerReadOptions {
  /**
   * Every array of the file (for `graft inspect`): the model's under their link paths, anything
   * else (optimizer state...) under its full key; arrays of non-numeric dtypes are skipped with a
   * warning instead of failing.
   */
  tensorsOnly?: boolean;
  onProgress?: ProgressCallback;
  /** Check each entry's CRC-32 (default true; costs about 0.15 s per 500 MB). */
  verifyCrc?: boolean;
  /** Deflated entries above this many compressed bytes inflate as a stream (zip.ts; default 32 MiB). */
  streamAbove?: number;
  /** Caffe's option; refused here rather than silently ignored. */
  prototxt?: string;
}

const NPY_SUFFIX = '.npy';

export async function readChainerNpz(file: string, options: ChainerReadOptions = {}): Promise<SourceModel> {
  if (options.prototxt !== undefined) throw new UsageError(`--prototxt is for Caffe models; ${file} is a Chainer .npz`);
  const source = new FileSource(file);
  try {
    return await readNpzFrom(source, file, options);
  } finally {
    source.close();
  }
}

/** The same from any ZipSource (an archive in memory, in tests). */
export async function readNpzFrom(source: ZipSource, file: string, options: ChainerReadOptions = {}): Promise<SourceModel> {
  const warnings: string[] = [];
  const arrays = new Map<string, ZipEntry>();
  const notArrays: string[] = [];
  for (const entry of readZipDirectory(source, file)) {
    if (entry.name.endsWith('/')) continue;
    if (entry.name.endsWith(NPY_SUFFIX)) arrays.set(entry.name.slice(0, -NPY_SUFFIX.length), entry);
    else notArrays.push(entry.name);
  }
  if (notArrays.length > 0) warnings.push(`entries that are not .npy arrays, ignored: ${notArrays.join(', ')}`);

  const layout = modelKeyLayout([...arrays.keys()], file);
  const { reads, outside } = planReads([...arrays.keys()], layout.prefix, options.tensorsOnly ?? false);
  if (layout.prefix) warnings.push(prefixWarning(layout.description!, layout.prefix, outside, options.tensorsOnly ?? false));

  const total = reads.reduce((sum, r) => sum + arrays.get(r.key)!.compressedSize, 0);
  let done = 0;
  const tensors: TensorMap = new Map();
  const skipped: string[] = [];
  for (const { key, name } of reads) {
    const entry = arrays.get(key)!;
    const bytes = await readZipEntry(source, entry, file, { verifyCrc: options.verifyCrc ?? true, streamAbove: options.streamAbove });
    const tensor = decodeArray(bytes, `${file}:${entry.name}`, key, options.tensorsOnly ? skipped : undefined);
    // An outside key equal to a model link path (never seen in practice) must not replace it.
    if (tensor && !tensors.has(name)) tensors.set(name, tensor);
    done += entry.compressedSize;
    options.onProgress?.('read', done, total);
  }
  if (skipped.length > 0) warnings.push(`arrays graft cannot read, not listed: ${skipped.join(', ')}`);
  return { format: 'chainer', path: file, tensors, warnings };
}

/**
 * Which arrays to read, under which names: the model's without the prefix, except BatchNorm
 * counters (not weights); with `everything` (inspect), the counters and the arrays outside the
 * model too, under their full keys.
 */
function planReads(keys: string[], prefix: string, everything: boolean): { reads: { key: string; name: string }[]; outside: string[] } {
  const inModel = keys.filter((key) => key.startsWith(prefix));
  const outside = keys.filter((key) => !key.startsWith(prefix));
  const names = new Set(inModel.map((key) => key.slice(prefix.length)));
  const reads = inModel
    .map((key) => ({ key, name: key.slice(prefix.length) }))
    .filter(({ name }) => everything || !isBatchNormCounter(name, names));
  if (everything) reads.push(...outside.map((key) => ({ key, name: key })));
  return { reads, outside };
}

function prefixWarning(description: string, prefix: string, outside: string[], listed: boolean): string {
  let text = `${description}: model arrays read from '${prefix}' without that prefix`;
  if (outside.length > 0) {
    const count = `${outside.length} other array${outside.length === 1 ? '' : 's'}`;
    text += listed ? `; ${count} listed under their full keys: ` : `; ignored ${count}: `;
    text += summarizeIgnored(outside);
  }
  return text;
}

/**
 * One .npy entry → Tensor. With `skipped`, an array of a dtype graft does not read (a string from
 * LogReport's state, a pickled object) is noted there instead of failing.
 */
function decodeArray(bytes: Uint8Array, where: string, key: string, skipped?: string[]): Tensor | undefined {
  const descr = npyDescr(bytes);
  try {
    if (descr === '|O') {
      // Chainer saves a parameter that was never initialised (a link built with in_size None and
      // never run forward) as numpy.asarray(None): a pickled object array.
      throw new UnsupportedError(
        `${where}: a pickled Python object (dtype |O), which graft never unpickles; Chainer writes an uninitialised parameter ` +
          '(a link created with in_size None and never run forward) this way: run one forward pass before save_npz',
      );
    }
    // A plain Uint8Array, not a Buffer: readNpy copies misaligned data with slice(), which on a
    // Buffer returns a view instead of a copy.
    return readNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), where);
  } catch (error) {
    if (skipped && error instanceof UnsupportedError) {
      skipped.push(`${key} (${descr ?? 'unknown dtype'})`);
      return undefined;
    }
    throw error;
  }
}

/** The dtype descriptor of an .npy image, read from its header without decoding anything else. */
function npyDescr(bytes: Uint8Array): string | undefined {
  if (bytes.length < 10 || !isNpy(bytes)) return undefined;
  const start = bytes[6] === 1 ? 10 : 12;
  const length = bytes[6] === 1 ? bytes[8] | (bytes[9] << 8) : new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, Math.min(bytes.length, start + length)));
  return /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
}

export const chainerReader: FormatReader<ChainerReadOptions> = {
  format: 'chainer',
  match(head: Uint8Array, file: string): number {
    const npz = path.extname(file).toLowerCase() === '.npz';
    if (hasZipMagic(head)) {
      const first = firstEntryName(head);
      if (first === undefined) return npz ? 0.9 : 0.2;
      if (first.endsWith(NPY_SUFFIX)) return 0.95;
      return npz ? 0.6 : 0;
    }
    // An archive with no entries starts with its end-of-directory record.
    const emptyZip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x05 && head[3] === 0x06;
    if (emptyZip) return npz ? 0.9 : 0.1;
    // Not a zip at all: still ours to explain when it is named .npz.
    return npz ? 0.7 : 0;
  },
  open: readChainerNpz,
};
