/**
 * A tfjs layers-model directory: model.json + binary shards (the format `tf.loadLayersModel`
 * reads), plus graft.json. Weights are streamed to the shards one at a time from their bound
 * sources, so a model is never held twice in memory while it is written.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FormatError, GraftError, UsageError } from '../errors.js';
import { describeFsError, writeDirectoryAtomically, type ProgressCallback } from '../util/files.js';
import { float32ToFloat16 } from '../tensor/float16.js';
import type { BoundWeight } from './inject.js';
import { registerGraftLayers } from './layers/index.js';
import type { GraftJson } from './graft-json.js';

export const SHARD_BYTES = 4 * 1024 * 1024;

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** tfjs's own half-precision storage: 2 bytes per value, widened to float32 on load. */
  quantization?: { dtype: 'float16' };
}

export interface WriteOptions {
  force?: boolean;
  onProgress?: ProgressCallback;
  generatedBy?: string;
  /** 'float16' halves the shards (tfjs-converter's float16 quantization). */
  dtype?: 'float32' | 'float16';
}

/**
 * Writes `model`'s topology and the values of `weights` (bound strictly both ways to the model's
 * variables: a variable without a bound weight, or a bound weight no variable has, is an error).
 */
export async function writeModelDirectory(
  target: string,
  model: tf.LayersModel,
  weights: BoundWeight[],
  graft: GraftJson,
  options: WriteOptions = {},
): Promise<void> {
  const byName = new Map(weights.map((w) => [w.name, w]));
  const ordered: BoundWeight[] = [];
  for (const variable of model.weights) {
    const bound = byName.get(variable.originalName);
    if (!bound) throw new GraftError(`model weight ${variable.originalName} has no source tensor`);
    if (bound.shape.join() !== variable.shape.join()) {
      throw new GraftError(`model weight ${variable.originalName} is [${variable.shape}] but its source gives [${bound.shape}]`);
    }
    ordered.push(bound);
    byName.delete(variable.originalName);
  }
  if (byName.size > 0) throw new GraftError(`source weights bound to no model variable: ${[...byName.keys()].join(', ')}`);
  await writeLayersModelFiles(target, model.toJSON(null, false), ordered, graft, options);
}

/** model.json (with `topology`), the shards of `ordered` (in the topology's weight order) and graft.json. */
async function writeLayersModelFiles(target: string, topology: unknown, ordered: BoundWeight[], graft: GraftJson, options: WriteOptions): Promise<void> {
  const half = options.dtype === 'float16';
  const bytesPerValue = half ? 2 : 4;
  const totalBytes = ordered.reduce((sum, w) => sum + bytesPerValue * w.shape.reduce((a, b) => a * b, 1), 0);
  const shardCount = Math.max(1, Math.ceil(totalBytes / SHARD_BYTES));
  const shardNames = Array.from({ length: shardCount }, (_, i) => `group1-shard${i + 1}of${shardCount}.bin`);
  const specs: WeightSpec[] = ordered.map((w) => ({
    name: w.name,
    shape: w.shape,
    dtype: 'float32',
    ...(half ? { quantization: { dtype: 'float16' as const } } : {}),
  }));
  const modelJson = {
    format: 'layers-model',
    generatedBy: options.generatedBy ?? `graft ${graft.graft}`,
    convertedBy: `graft ${graft.graft}`,
    modelTopology: topology,
    weightsManifest: [{ paths: shardNames, weights: specs }],
  };

  await writeDirectoryAtomically(target, options.force ?? false, async (dir) => {
    const writer = new ShardWriter(dir, shardNames, options.onProgress, totalBytes);
    for (const weight of ordered) {
      const expected = weight.shape.reduce((a, b) => a * b, 1);
      let made = 0;
      for (const values of weight.chunks ? weight.chunks() : [weight.make()]) {
        made += values.length;
        const stored = half ? float32ToFloat16(values) : values;
        await writer.write(new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength));
      }
      if (made !== expected) throw new GraftError(`weight ${weight.name}: made ${made} values for [${weight.shape}]`);
    }
    await writer.close();
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    await fs.writeFile(path.join(dir, 'graft.json'), `${JSON.stringify(graft, null, 2)}\n`);
  });
}

/** Cuts a byte stream into fixed-size shard files. */
class ShardWriter {
  private index = 0;
  private handle: fs.FileHandle | undefined;
  private filled = 0;
  private written = 0;

  constructor(
    private readonly dir: string,
    private readonly names: string[],
    private readonly onProgress: ProgressCallback | undefined,
    private readonly total: number,
  ) {}

  private pending: Promise<void> = Promise.resolve();

  /**
   * Starts writing `bytes` once the previous write is done, and returns without waiting for it:
   * the next chunk is computed while this one goes to disk. `bytes` must stay unchanged until the
   * following call returns (AxisToLastTranspose.chunks alternates two buffers for this).
   */
  async write(bytes: Uint8Array): Promise<void> {
    await this.pending;
    this.pending = this.writeNow(bytes);
    // An error surfaces at the next write or at close; keep it from being reported as unhandled.
    this.pending.catch(() => undefined);
  }

  private async writeNow(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      if (!this.handle) this.handle = await fs.open(path.join(this.dir, this.names[this.index]), 'w');
      const n = Math.min(SHARD_BYTES - this.filled, bytes.byteLength - offset);
      await this.handle.write(bytes, offset, n);
      offset += n;
      this.filled += n;
      this.written += n;
      this.onProgress?.('write', this.written, this.total);
      if (this.filled === SHARD_BYTES && this.index < this.names.length - 1) {
        await this.handle.close();
        this.handle = undefined;
        this.index++;
        this.filled = 0;
      }
    }
  }

  async close(): Promise<void> {
    await this.pending;
    if (!this.handle && this.index < this.names.length) {
      // A model with no weights still gets its one (empty) shard so model.json's paths exist.
      this.handle = await fs.open(path.join(this.dir, this.names[this.index]), 'w');
    }
    await this.handle?.close();
    this.handle = undefined;
  }
}

export interface LoadedModel {
  model: tf.LayersModel;
  graft: GraftJson | undefined;
  dir: string;
}

/** Loads a model directory written by graft (or any tfjs layers-model directory) in Node. */
export async function loadModelDirectory(dir: string): Promise<LoadedModel> {
  registerGraftLayers();
  const modelPath = path.join(dir, 'model.json');
  let text: string;
  try {
    text = await fs.readFile(modelPath, 'utf8');
  } catch (error) {
    throw new UsageError(`${dir}: not a model directory (model.json: ${describeFsError(error)})`);
  }
  let json: {
    modelTopology?: unknown;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FormatError(modelPath, undefined, `invalid JSON (${(error as Error).message})`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new FormatError(modelPath, undefined, 'not a tfjs layers model (needs modelTopology and weightsManifest)');
  }
  const buffers: Buffer[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const shard of group.paths) {
      const shardPath = path.join(dir, shard);
      try {
        buffers.push(await fs.readFile(shardPath));
      } catch (error) {
        throw new FormatError(shardPath, undefined, describeFsError(error));
      }
    }
    specs.push(...group.weights);
  }
  const expected = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * storedBytes(s), 0);
  const weightData = concat(buffers);
  if (weightData.byteLength !== expected) {
    throw new FormatError(modelPath, undefined, `shards hold ${weightData.byteLength} bytes but the manifest declares ${expected}`);
  }
  let graft: GraftJson | undefined;
  try {
    graft = JSON.parse(await fs.readFile(path.join(dir, 'graft.json'), 'utf8')) as GraftJson;
  } catch {
    graft = undefined;
  }
  // tfjs creates the variables before it binds the weights; when binding fails it drops the model
  // without disposing them, so free whatever appeared during the attempt.
  // The decoded weight tensors are tracked by an engine scope (variables share their data, so
  // closing the scope frees only what a failed load abandoned).
  const variablesBefore = new Set(Object.keys(tf.engine().registeredVariables));
  tf.engine().startScope();
  try {
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: specs, weightData }),
    );
    return { model, graft, dir };
  } catch (error) {
    for (const [name, variable] of Object.entries(tf.engine().registeredVariables)) {
      if (!variablesBefore.has(name)) variable.dispose();
    }
    throw new FormatError(modelPath, undefined, `cannot load the model: ${(error as Error).message}`);
  } finally {
    tf.engine().endScope();
  }
}

function storedBytes(spec: tf.io.WeightsManifestEntry): number {
  const quantized = spec.quantization?.dtype;
  if (quantized) return quantized === 'float16' || quantized === 'uint16' ? 2 : 1;
  return spec.dtype === 'bool' || spec.dtype === 'string' ? 1 : 4;
}

function concat(buffers: Buffer[]): ArrayBuffer {
  const total = buffers.reduce((sum, b) => sum + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    out.set(b, offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

/**
 * Saves a live model (a checkpoint, a fine-tuned model) as a model directory: its variables' current
 * values are read once and streamed like a conversion's weights.
 */
export async function saveModelDirectory(target: string, model: tf.LayersModel, graft: GraftJson, options: WriteOptions = {}): Promise<void> {
  await (await snapshotModelDirectory(model))(target, graft, options);
}

/**
 * Reads every weight of `model` out of the backend now and returns the writer of a model
 * directory holding those values: training can go on (and change the weights) while the files are
 * written (src/train/run.ts writes each epoch's checkpoint during the next epoch).
 */
export async function snapshotModelDirectory(model: tf.LayersModel): Promise<(target: string, graft: GraftJson, options?: WriteOptions) => Promise<void>> {
  const weights: BoundWeight[] = [];
  for (const variable of model.weights) {
    const values = (await variable.read().data()) as Float32Array;
    weights.push({ name: variable.originalName, shape: variable.shape as number[], sources: [], make: () => values });
  }
  // The topology as it is now, too.
  const topology = model.toJSON(null, false);
  return (target, graft, options = {}) => writeLayersModelFiles(target, topology, weights, graft, { ...options, force: true });
}
