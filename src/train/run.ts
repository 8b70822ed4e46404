/**
 * A training run: epochs of trainEpoch + evaluate over a train/validation split, with Chainer-style
 * reports, best/last checkpoints and resumable state in the run directory.
 *
 *   DIR/log.json  DIR/loss.png  DIR/accuracy.png  DIR/best/  DIR/last/  DIR/state.json
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { GraftError } from '../errors.js';
import type { GraftJson } from '../tfjs/graft-json.js';
import { snapshotModelDirectory } from '../tfjs/model-dir.js';
import { writeDirectoryAtomically } from '../util/files.js';
import { checkGpuErrors } from '../tfjs/webgpu.js';
import { planFeatureCache, computeFeatures, type CachePlan } from './cache.js';
import { chooseMicroBatch } from './memory.js';
import { type Classifier, withActivation } from './classifier.js';
import { evaluate, trainEpoch, type Examples } from './loop.js';
import { useFastTrainingLayers } from './fast-layers.js';
import { disposeGroups, optimizerGroups, type OptimizerOptions, type OptimizerGroup } from './optimizers.js';
import { Random } from './random.js';
import { LogReport, epochProgress, plotCurves, printReportHeader, printReportRow, type EpochRecord } from './report/index.js';

export interface RunOptions {
  out: string;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerOptions;
  weightDecay?: number;
  seed: number;
  /** Reshuffle training data every epoch (default true, as Keras's fit). */
  shuffle?: boolean;
  /** Cache the frozen, deterministic prefix's features (default true). */
  cache?: boolean;
  /**
   * Examples per forward/backward pass (gradient accumulation over a larger batch); default:
   * the whole batch, or what fits in the wasm heap (src/train/memory.ts).
   */
  microBatch?: number;
  /** Epochs already done (resume). */
  startEpoch?: number;
  startIteration?: number;
  startElapsed?: number;
  bestAccuracy?: number;
  bestEpoch?: number;
  /** graft.json of the saved checkpoints (class names, input spec, provenance). */
  graft: GraftJson;
  /** Optimizer state from a previous run, by group factor. */
  optimizerState?: Map<number, NamedTensor[]>;
  shouldStop?: () => boolean;
  log: (line: string) => void;
  progress?: boolean;
}

export interface RunResult {
  records: EpochRecord[];
  stopped: boolean;
  best?: { epoch: number; accuracy: number };
  cachedAt?: string;
}

type NamedTensor = { name: string; tensor: tf.Tensor };

interface State {
  epoch: number;
  iteration: number;
  elapsed: number;
  bestAccuracy: number | null;
  bestEpoch: number | null;
  seed: number;
  optimizer: OptimizerOptions;
  groups: { factor: number; weights: { name: string; shape: number[] }[] }[];
}

export async function runTraining(classifier: Classifier, train: Examples, validation: Examples | undefined, options: RunOptions): Promise<RunResult> {
  await fs.mkdir(options.out, { recursive: true });
  const report = options.startEpoch ? await LogReport.resume(options.out) : new LogReport(options.out);
  useFastTrainingLayers(classifier.logits);
  let model = classifier.logits;
  let trainData = train;
  let validationData = validation;
  let plan: CachePlan | undefined;
  let livePrefix: tf.LayersModel | undefined;
  const frozenPrefix = planFeatureCache(classifier.logits);
  if (options.cache !== false) plan = frozenPrefix;
  if (plan) {
    options.log(`caching the output of ${plan.cutLayer}: the layers up to it are frozen and deterministic`);
    const features = await computeFeatures(plan.prefix, train.data, train.shape, train.count, options.batchSize);
    trainData = { ...train, data: features.data, shape: features.shape };
    if (validation) {
      const v = await computeFeatures(plan.prefix, validation.data, validation.shape, validation.count, options.batchSize);
      validationData = { ...validation, data: v.data, shape: v.shape };
    }
    model = plan.suffix;
  } else if (frozenPrefix) {
    livePrefix = frozenPrefix.prefix;
    model = frozenPrefix.suffix;
  }
  const microBatch = chooseMicroBatch(model, options.batchSize, options.microBatch);
  if (microBatch < options.batchSize) {
    options.log(
      `${options.microBatch ? '' : 'to fit in memory, '}each batch of ${options.batchSize} runs as passes of ${microBatch} with gradients summed (BatchNorm statistics per pass)`,
    );
  }
  // Evaluation runs the whole model when only training skips the prefix's tape.
  const evaluationModel = livePrefix ? classifier.logits : model;
  const groups = optimizerGroups(classifier.logits, options.optimizer);
  if (groups.length === 0) throw new GraftError('nothing to train: every layer is frozen');
  try {
    await restoreOptimizerState(groups, options.optimizerState);
  } catch (error) {
    disposeGroups(groups);
    throw error;
  }
  const saved = withActivation(classifier);
  let iteration = options.startIteration ?? 0;
  const elapsedBefore = options.startElapsed ?? 0;
  const started = Date.now();
  let best = options.bestAccuracy !== undefined ? { epoch: options.bestEpoch ?? 0, accuracy: options.bestAccuracy } : undefined;
  let stopped = false;
  let checkpoint: Promise<void> = Promise.resolve();
  if (!options.startEpoch) options.log(printReportHeader());
  try {
    for (let epoch = (options.startEpoch ?? 0) + 1; epoch <= options.epochs; epoch++) {
      const bar = epochProgress(epoch, Math.ceil(trainData.count / options.batchSize), options.progress ?? process.stderr.isTTY === true);
      let result;
      try {
        result = await trainEpoch({
          model,
          prefix: livePrefix,
          microBatch,
          activation: classifier.activation,
          classes: classifier.classes,
          groups,
          examples: trainData,
          batchSize: options.batchSize,
          // One generator per epoch, seeded by (seed, epoch): a resumed run shuffles exactly as an
          // uninterrupted one would.
          random: options.shuffle === false ? undefined : new Random(options.seed * 100003 + epoch),
          weightDecay: options.weightDecay,
          shouldStop: options.shouldStop,
          onBatch: (m) => bar.tick(m.loss, m.accuracy),
        });
      } finally {
        bar.stop();
      }
      if (!result) {
        stopped = true;
        options.log(`stopped during epoch ${epoch}; ${epoch > 1 ? `epoch ${epoch - 1} is saved in ${path.join(options.out, 'last')}` : 'no epoch was completed'}`);
        break;
      }
      iteration += result.iterations;
      const record: EpochRecord = { epoch, iteration, 'main/loss': result.loss, 'main/accuracy': result.accuracy, elapsed_time: 0 };
      let score = result.accuracy;
      if (validationData && validationData.count > 0) {
        const v = await evaluate(evaluationModel, classifier.activation, classifier.classes, validationData, options.batchSize);
        record['validation/main/loss'] = v.loss;
        record['validation/main/accuracy'] = v.accuracy;
        score = v.accuracy;
      }
      // WebGPU only: the epoch's last optimizer step is checked before its weights are saved.
      checkGpuErrors();
      record.elapsed_time = elapsedBefore + (Date.now() - started) / 1000;
      await report.append(record);
      options.log(printReportRow(record));
      // ModelCheckpoint(save_best_only): the best by validation accuracy, else by training accuracy.
      const improved = !best || score > best.accuracy;
      if (improved) best = { epoch, accuracy: score };
      // The weights and optimizer state are read out now; the files are written while the next
      // epoch trains (VGG16: 553 MB a checkpoint), one checkpoint at a time, and always finished
      // before runTraining returns, so last/ holds the last completed epoch even after Ctrl-C.
      const writeModel = await snapshotModelDirectory(saved);
      const writeOptimizer = await snapshotState(options, groups, { epoch, iteration, elapsed: record.elapsed_time, bestAccuracy: best!.accuracy, bestEpoch: best!.epoch });
      await checkpoint;
      checkpoint = (async () => {
        await writeModel(path.join(options.out, 'last'), withTraining(options.graft, epoch, record));
        if (improved) {
          // The same files as last/ (same weights, same graft.json): a copy, not a second
          // serialisation of every weight.
          await writeDirectoryAtomically(path.join(options.out, 'best'), true, (dir) => fs.cp(path.join(options.out, 'last'), dir, { recursive: true }));
        }
        await writeOptimizer();
      })();
      // A failure surfaces at the next await of `checkpoint`, not as an unhandled rejection.
      checkpoint.catch(() => undefined);
      await plotCurves(report.records, 'loss', path.join(options.out, 'loss.png'));
      await plotCurves(report.records, 'accuracy', path.join(options.out, 'accuracy.png'));
      if (options.shouldStop?.()) {
        stopped = true;
        options.log(`stopped after epoch ${epoch}; it is saved in ${path.join(options.out, 'last')}`);
        break;
      }
    }
  } catch (error) {
    // The checkpoint being written still completes (last/ stays whole); the first error is the one reported.
    await checkpoint.catch(() => undefined);
    throw error;
  } finally {
    disposeGroups(groups);
  }
  // The last checkpoint's files (their values were read out before the groups were freed).
  await checkpoint;
  return { records: report.records, stopped, best, cachedAt: plan?.cutLayer };
}

function withTraining(graft: GraftJson, epoch: number, record: EpochRecord): GraftJson {
  return { ...graft, training: { ...(graft.training ?? {}), epoch, metrics: record } } as GraftJson;
}

/** Reads the optimizer state out now; the returned function writes it with state.json. */
async function snapshotState(options: RunOptions, groups: OptimizerGroup[], progress: Omit<State, 'seed' | 'optimizer' | 'groups'>): Promise<() => Promise<void>> {
  const dir = path.join(options.out, 'last');
  const state: State = { ...progress, seed: options.seed, optimizer: options.optimizer, groups: [] };
  const buffers: Uint8Array[] = [];
  for (const group of groups) {
    const weights = await group.optimizer.getWeights();
    const entry = { factor: group.factor, weights: [] as { name: string; shape: number[] }[] };
    for (const w of weights) {
      // Float32 throughout: the first entry, 'iter', is an int32 scalar, and its raw bits read
      // back as a float would be a denormal (Adam would redo its bias correction from step 1).
      const values = Float32Array.from(await w.tensor.data());
      buffers.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      entry.weights.push({ name: w.name, shape: w.tensor.shape });
    }
    // getWeights returns the optimizer's live slot variables (Adam's m and v, momentum's
    // accumulations) plus one fresh 'iter' scalar: dispose only the latter.
    tf.dispose(weights.filter((w) => !(w.tensor instanceof tf.Variable)).map((w) => w.tensor));
    state.groups.push(entry);
  }
  return async () => {
    await fs.writeFile(path.join(dir, 'optimizer.bin'), Buffer.concat(buffers));
    await fs.writeFile(path.join(options.out, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  };
}

export interface SavedState {
  epoch: number;
  iteration: number;
  elapsed: number;
  bestAccuracy?: number;
  bestEpoch?: number;
  optimizer: OptimizerOptions;
  seed: number;
  optimizerState: Map<number, NamedTensor[]>;
}

/** Reads DIR/state.json and DIR/last/optimizer.bin written by a previous run. */
export async function readState(dir: string): Promise<SavedState> {
  let state: State;
  try {
    state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as State;
  } catch (error) {
    throw new GraftError(`${dir}: not a graft run directory to resume (state.json: ${(error as Error).message})`);
  }
  const bytes = await fs.readFile(path.join(dir, 'last', 'optimizer.bin'));
  const optimizerState = new Map<number, NamedTensor[]>();
  let offset = 0;
  for (const group of state.groups) {
    const tensors: NamedTensor[] = [];
    for (const w of group.weights) {
      const count = w.shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count * 4));
      offset += count * 4;
      tensors.push({ name: w.name, tensor: tf.tensor(values, w.shape) });
    }
    optimizerState.set(group.factor, tensors);
  }
  return {
    epoch: state.epoch,
    iteration: state.iteration,
    elapsed: state.elapsed,
    bestAccuracy: state.bestAccuracy ?? undefined,
    bestEpoch: state.bestEpoch ?? undefined,
    optimizer: state.optimizer,
    seed: state.seed,
    optimizerState,
  };
}

async function restoreOptimizerState(groups: OptimizerGroup[], state: Map<number, NamedTensor[]> | undefined): Promise<void> {
  if (!state) return;
  for (const group of groups) {
    const saved = state.get(group.factor);
    // tfjs optimizers bind slot variables by position in the gradient map, which follows
    // group.variables: the same order as when the state was written. Check that it still fits
    // (slot k belongs to variable k mod n), or a slot would silently update another weight.
    const slots = saved?.slice(1) ?? [];
    const n = group.variables.length;
    const fits = saved !== undefined && slots.length % n === 0 && slots.every((s, k) => sameShape(s.tensor.shape, group.variables[k % n].shape));
    if (!fits || state.size !== groups.length) {
      for (const tensors of state.values()) tf.dispose(tensors.map((s) => s.tensor));
      throw new GraftError('cannot resume: the saved optimizer state belongs to other trainable layers (give the first run\'s --freeze, --freeze-to, --unfreeze-from and --lr-mult, or none)');
    }
    await group.optimizer.setWeights(saved);
  }
  // setWeights made variables of its own from these (and read the iteration count).
  for (const saved of state.values()) tf.dispose(saved.map((s) => s.tensor));
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
