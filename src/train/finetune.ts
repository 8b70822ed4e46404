/**
 * `graft finetune` and `graft train`: the seeds' recipes as one call. Load a converted model (or
 * build a spec from scratch), adapt its head to the data's classes, freeze, split, train with
 * reports and checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { buildExactly } from '../graph/architectures/index.js';
import { readArchitectureSpec } from '../graph/spec.js';
import type { InputSpec } from '../input/preprocess.js';
import { describeBackend, useBackend, type BackendName } from '../tfjs/backend.js';
import { buildModel } from '../tfjs/builder.js';
import { GRAFT_VERSION, type GraftJson } from '../tfjs/graft-json.js';
import { loadModelDirectory } from '../tfjs/model-dir.js';
import { inputSpecFor, type PreprocessOverrides } from '../tfjs/predict.js';
import { sha256OfFile } from '../util/hash-worker.js';
import { asClassifier, type Classifier } from './classifier.js';
import { loadDataset, subset, type Dataset } from './data/dataset.js';
import { stratifiedSplit } from './data/split.js';
import { applyFreezing, type FreezeOptions } from './freeze.js';
import { initialTensors } from './init.js';
import type { OptimizerName, OptimizerOptions } from './optimizers.js';
import { parseLrMult } from './optimizers.js';
import { plotBoundaryOfModel } from './boundary.js';
import { readState, runTraining, type RunResult } from './run.js';
import { cutAt, gapHead, reinitialize, replaceHead } from './surgery.js';

export interface TrainOptions extends PreprocessOverrides, FreezeOptions {
  /** A model directory to fine-tune (graft finetune)... */
  from?: string;
  /** ...or a spec.json to train from scratch (graft train). */
  arch?: string;
  inputShape?: number[];
  data: string;
  /** Held-out data instead of a split of --data. */
  validationData?: string;
  out: string;
  numClasses?: number;
  cutAt?: string;
  head?: 'gap';
  reinit?: string[];
  optimizer?: OptimizerName;
  lr?: number;
  momentum?: number;
  lrMult?: string[];
  weightDecay?: number;
  batchSize?: number;
  /** Examples per forward/backward pass (gradient accumulation); default: see src/train/memory.ts. */
  microBatch?: number;
  epochs?: number;
  valSplit?: number;
  seed?: number;
  limitPerClass?: number;
  labelColumn?: string;
  cache?: boolean;
  shuffle?: boolean;
  backend?: BackendName;
  /** wasm threads (default: the machine's cores; 1 = single-threaded). */
  threads?: number;
  /** Continue the run in `out` (its last/ checkpoint, log and optimizer state). */
  resume?: boolean;
  shouldStop?: () => boolean;
  log?: (line: string) => void;
  progress?: boolean;
}

export interface TrainSummary extends RunResult {
  backend: string;
  out: string;
  classNames: string[];
  trainCount: number;
  validationCount: number;
  skipped: Dataset['skipped'];
  frozen: string[];
  trainableParams: number;
}

async function loadStartingModel(options: TrainOptions, log: (line: string) => void): Promise<{ model: tf.LayersModel; graft: GraftJson }> {
  if (options.resume) {
    const loaded = await loadModelDirectory(path.join(options.out, 'last'));
    if (!loaded.graft) throw new UsageError(`${options.out}: last/ has no graft.json to resume from`);
    return { model: loaded.model, graft: loaded.graft };
  }
  if (options.from) {
    const loaded = await loadModelDirectory(options.from);
    const graft: GraftJson = loaded.graft ?? {
      graft: GRAFT_VERSION,
      format: 'graft',
      source: { path: path.resolve(options.from), sha256: '', bytes: 0 },
      input: { name: 'input', shape: [1, ...(loaded.model.inputs[0].shape.slice(1) as number[])], sourceLayout: 'NC', modelLayout: 'NC' },
      outputs: [],
      layers: {},
      weights: {},
      warnings: [],
    };
    return { model: loaded.model, graft };
  }
  if (!options.arch) throw new UsageError('give --from MODEL_DIR (fine-tune) or --arch spec.json (train from scratch)');
  const architecture = await readArchitectureSpec(options.arch, 'pytorch');
  const inputShape = options.inputShape ?? architecture.inputShape;
  // The spec fixes every size; fresh values (Keras's glorot-uniform / zeros) stand in for a file.
  const first = architecture.build(new Map(), { inputShape });
  const tensors = initialTensors(first.expected, options.seed ?? 0);
  const built = buildModel(buildExactly(options.arch, architecture, tensors, inputShape).graph, tensors);
  log(`built ${architecture.name} from ${options.arch} with fresh weights (seed ${options.seed ?? 0})`);
  const spatial = inputShape.length === 4;
  const graft: GraftJson = {
    graft: GRAFT_VERSION,
    format: 'graft',
    source: { path: path.resolve(options.arch), sha256: await sha256OfFile(options.arch), bytes: (await fs.stat(options.arch)).size },
    input: { name: 'input', shape: inputShape, sourceLayout: spatial ? 'NCHW' : 'NC', modelLayout: spatial ? 'NHWC' : 'NC', ...architecture.input },
    outputs: [],
    layers: {},
    weights: {},
    warnings: [],
  };
  return { model: built.model, graft };
}

/** The classifier to train: the model's own head when it fits the data, else a new one. */
function adaptHead(model: tf.LayersModel, classes: number, options: TrainOptions, seed: number, log: (line: string) => void, blobs: Record<string, string> = {}): Classifier {
  if (options.cutAt !== undefined) {
    log(`cutting at ${options.cutAt} and adding a new ${classes}-class Dense head`);
    // A source blob name (graft.json `layers`) means the source's value: Chainer's `fc7` and Caffe's
    // in-place `fc7` blob are the activations after ReLU, not the Dense layer's raw output.
    const layer = model.layers.some((l) => l.name === blobs[options.cutAt!]) ? blobs[options.cutAt] : options.cutAt;
    if (layer !== options.cutAt) log(`--cut-at ${options.cutAt}: the source's ${options.cutAt} is layer ${layer}`);
    return cutAt(model, layer, classes, seed);
  }
  if (options.head === 'gap') {
    log(`replacing the top with GlobalAveragePooling2D + a new ${classes}-class Dense head`);
    return gapHead(model, classes, seed);
  }
  const classifier = asClassifier(model);
  const fits = classifier.classes === classes || (classifier.activation === 'sigmoid' && classifier.classes === 1 && classes === 2);
  if (options.numClasses !== undefined || !fits) {
    const units = classes === 2 && classifier.activation === 'sigmoid' && classifier.classes === 1 ? 1 : classes;
    log(`replacing the last Dense layer (${classifier.classes} outputs) with a new one of ${units}`);
    return replaceHead(classifier, units, seed);
  }
  return classifier;
}

export async function trainModel(options: TrainOptions): Promise<TrainSummary> {
  const log = options.log ?? (() => undefined);
  const backend = await useBackend(options.backend, { threads: options.threads });
  log(`backend: ${describeBackend()}`);
  const resumed = options.resume ? await readState(options.out) : undefined;
  const { model, graft } = await loadStartingModel(options, log);
  // The models live only for this call: free their weights however it ends (a library caller
  // training repeatedly in one process would otherwise keep every run's variables).
  const owned: tf.LayersModel[] = [model];
  try {
    return await trainLoaded(options, { backend, log, resumed, model, graft, owned });
  } finally {
    disposeWeights(owned);
  }
}

function disposeWeights(models: tf.LayersModel[]): void {
  const weights = new Set(models.flatMap((m) => m.layers.flatMap((layer) => layer.weights)));
  for (const weight of weights) weight.dispose();
}

interface Loaded {
  backend: string;
  log: (line: string) => void;
  resumed: Awaited<ReturnType<typeof readState>> | undefined;
  model: tf.LayersModel;
  graft: GraftJson;
  owned: tf.LayersModel[];
}

async function trainLoaded(options: TrainOptions, { backend, log, resumed, model, graft, owned }: Loaded): Promise<TrainSummary> {
  const seed = resumed?.seed ?? options.seed ?? 0;
  // --resume goes on with the first run's settings (kept in last/graft.json) unless given again:
  // another batch size or split would make a different run, not a continued one.
  const previous: Record<string, unknown> = options.resume ? (graft.training ?? {}) : {};
  const setting = <T>(given: T | undefined, key: string, fallback: T): T => given ?? (previous[key] as T | undefined) ?? fallback;
  const batchSize = setting(options.batchSize, 'batchSize', 32);
  const valSplit = setting(options.valSplit, 'valSplit', 0.3);
  const weightDecay = setting<number | undefined>(options.weightDecay, 'weightDecay', undefined);
  const shuffle = setting(options.shuffle, 'shuffle', true);
  const limitPerClass = setting<number | undefined>(options.limitPerClass, 'limitPerClass', undefined);
  const labelColumn = setting<string | undefined>(options.labelColumn, 'labelColumn', undefined);
  const validationData = setting<string | undefined>(options.validationData, 'validationData', undefined);

  const spatial = model.inputs[0].shape.length === 4;
  const imageSpec: InputSpec | undefined = spatial ? inputSpecFor(model, graft, options) : undefined;
  const knownClasses = options.resume ? graft.classNames : undefined;
  const dataset = await loadDataset(options.data, { imageSpec, limitPerClass, seed, labelColumn, classNames: knownClasses });
  if (dataset.skipped.length > 0) {
    log(`skipped ${dataset.skipped.length} unreadable file(s): ${dataset.skipped.slice(0, 5).map((s) => `${s.path} (${s.reason})`).join('; ')}${dataset.skipped.length > 5 ? '; …' : ''}`);
  }
  const classes = options.numClasses ?? dataset.classNames.length;
  if (options.numClasses !== undefined && options.numClasses < dataset.classNames.length) {
    throw new UsageError(`--num-classes ${options.numClasses}: the data has ${dataset.classNames.length} classes`);
  }

  let train = dataset.examples;
  let validation: typeof train | undefined;
  if (validationData) {
    validation = (await loadDataset(validationData, { imageSpec, labelColumn, classNames: dataset.classNames })).examples;
  } else if (valSplit > 0) {
    const split = stratifiedSplit(train.labels, valSplit, seed);
    validation = subset(train, split.validation);
    train = subset(train, split.train);
  }
  const perClass = (labels: Int32Array) => dataset.classNames.map((name, c) => `${name} ${labels.filter((l) => l === c).length}`).join(', ');
  log(`data: ${train.count} training (${perClass(train.labels)})${validation ? `, ${validation.count} validation (${perClass(validation.labels)})` : ''}`);

  const classifier = options.resume ? asClassifier(model) : adaptHead(model, classes, options, seed, log, graft.layers);
  owned.push(classifier.logits);
  if (options.reinit?.length) log(`re-initialised: ${reinitialize(classifier.logits, options.reinit, seed).join(', ')}`);
  // Resumed without freezing flags: freeze what the first run froze (last/model.json keeps each
  // layer's trainable flag), so the same variables train and the saved optimizer state fits them.
  const keepFrozen = options.resume && options.freeze === undefined && options.freezeTo === undefined && options.unfreezeFrom === undefined;
  const frozen = applyFreezing(
    classifier.logits,
    keepFrozen ? { freeze: classifier.logits.layers.flatMap((layer, i) => (layer.trainable ? [] : [String(i)])) } : options,
  );
  const trainableParams = classifier.logits.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
  log(`frozen: ${frozen.length ? frozen.join(', ') : 'nothing'}; trainable parameters: ${trainableParams.toLocaleString('en-US')}`);

  const { optimizer, optimizerState } = resumedOptimizer(options, resumed, log);
  const checkpointGraft: GraftJson = {
    ...graft,
    classNames: dataset.classNames,
    ...(imageSpec ? { input: { ...graft.input, channelOrder: imageSpec.channelOrder, scale: imageSpec.scale, mean: imageSpec.mean, std: imageSpec.std } } : {}),
    training: {
      ...(graft.training ?? {}),
      from: options.from ? path.resolve(options.from) : options.arch ? path.resolve(options.arch) : graft.training?.from,
      data: path.resolve(options.data),
      optimizer,
      batchSize,
      seed,
      valSplit,
      weightDecay,
      shuffle,
      limitPerClass,
      labelColumn,
      validationData: validationData ? path.resolve(validationData) : undefined,
    },
  };
  const result = await runTraining(classifier, train, validation, {
    out: options.out,
    epochs: options.epochs ?? 10,
    batchSize,
    optimizer,
    weightDecay,
    seed,
    shuffle,
    cache: options.cache,
    microBatch: options.microBatch,
    startEpoch: resumed?.epoch,
    startIteration: resumed?.iteration,
    startElapsed: resumed?.elapsed,
    bestAccuracy: resumed?.bestAccuracy,
    bestEpoch: resumed?.bestEpoch,
    optimizerState,
    graft: checkpointGraft,
    shouldStop: options.shouldStop,
    log,
    progress: options.progress,
  });
  if (dataset.kind === 'table' && train.shape.length === 1 && train.shape[0] === 2) {
    const file = path.join(options.out, 'boundary.png');
    await plotBoundaryOfModel(classifier, dataset, file);
    log(`decision boundary: ${file}`);
  }
  return {
    ...result,
    backend,
    out: options.out,
    classNames: dataset.classNames,
    trainCount: train.count,
    validationCount: validation?.count ?? 0,
    skipped: dataset.skipped,
    frozen,
    trainableParams,
  };
}

/**
 * The optimizer of a run: the first run's on --resume, with its saved state (Adam's moments), and
 * what is given again applied on top, as one would lower the rate of a resumed Keras or PyTorch
 * run: a new --lr or --momentum keeps the state; another --optimizer or --lr-mult starts the
 * optimizer afresh (its slots, or its groups, would not fit), and says so.
 */
function resumedOptimizer(
  options: TrainOptions,
  resumed: Awaited<ReturnType<typeof readState>> | undefined,
  log: (line: string) => void,
): { optimizer: OptimizerOptions; optimizerState: Map<number, { name: string; tensor: tf.Tensor }[]> | undefined } {
  const name = options.optimizer ?? resumed?.optimizer.name ?? 'adam';
  const fresh: OptimizerOptions = {
    name,
    learningRate: options.lr ?? (name === 'adam' ? 1e-4 : 0.01),
    momentum: options.momentum,
    lrMult: parseLrMult(options.lrMult),
  };
  if (!resumed) return { optimizer: fresh, optimizerState: undefined };
  const saved = resumed.optimizer;
  const lrMult = options.lrMult === undefined ? saved.lrMult : fresh.lrMult;
  const sameGroups = JSON.stringify(lrMult ?? []) === JSON.stringify(saved.lrMult ?? []);
  if (name !== saved.name || !sameGroups) {
    tf.dispose([...(resumed.optimizerState?.values() ?? [])].flatMap((slots) => slots.map((s) => s.tensor)));
    log(`${name !== saved.name ? `--optimizer ${name} (the run used ${saved.name})` : '--lr-mult changed'}: the optimizer starts afresh`);
    return { optimizer: { ...fresh, lrMult }, optimizerState: undefined };
  }
  const optimizer: OptimizerOptions = {
    ...saved,
    learningRate: options.lr ?? saved.learningRate,
    momentum: options.momentum ?? saved.momentum,
  };
  if (optimizer.learningRate !== saved.learningRate) log(`learning rate ${saved.learningRate} → ${optimizer.learningRate} (the optimizer's state is kept)`);
  return { optimizer, optimizerState: resumed.optimizerState };
}
