/**
 * bench/finetune: graft's training path on the wasm backend (one thread) against PyTorch CPU on the
 * same machine (bench/finetune_torch.py, torch.set_num_threads(2)). Random init throughout
 * (torchvision vgg16() / resnet18(), seed 0, written by torch.save and converted by graft), on a
 * generated 2-class folder of 224×224 JPEGs. Targets (issue):
 *
 *   (a) the Chainer seed's recipe on VGG16: features through fc7 (+ReLU, dropout: Chainer's 'fc7'),
 *       fc7 and a new 2-class head trained (head at 10× the rate, Adam), everything up to fc6
 *       frozen, batch 32; 20 epochs over 1,400 training + 600 validation images. graft with feature
 *       caching, end to end, should take ≤ 1/10 of PyTorch's naive run (issue: ~190 min naive).
 *   (b) full fine-tuning of resnet18 at batch 32: images/s (issue: PyTorch 10.3 images/s here).
 *
 * What is measured and what is extrapolated:
 *   - rates (images/s) are measured on a few batches of 32 after one warm-up batch (median batch):
 *     the frozen-prefix forward (the cache fill: graft's computeFeatures on the cache plan's prefix),
 *     the naive training step (trainEpoch on the whole model, --no-cache), resnet18's training step;
 *   - one epoch on cached features (trainEpoch + evaluate on the suffix over 1,400 + 600 synthetic
 *     4096-d fc6 features) is measured at full size; so are image decoding, model loading and one
 *     checkpoint save (runTraining writes last/ every epoch and best/ when validation improves);
 *   - the 20-epoch, 1,400 + 600 totals are extrapolated from those (formulas printed with the table);
 *   - a real `trainModel` run with caching on a smaller generated set (--images, --epochs) is
 *     measured end to end and set against the same formula at its size, to check the extrapolation.
 *
 *   npm run build && node dist/bench/finetune.js [--images 200] [--epochs 20] [--batches 3]
 *       [--graft-threads 1] [--threads 2 (PyTorch's)]
 *       [--skip-torch] [--part all|a|b|a-rates|a-graft|a-prefix|a-naive|a-torch|a-real|b-graft|b-torch|table]
 *       [--child-timeout 420]   (the issue's full size, measured rather than extrapolated:
 *                                --part a-real --images 2000 --graft-threads 2 --child-timeout 1800)
 *       [--dir /tmp/graft-bench-finetune] [--clean]
 *
 * Every step is a fresh child process (peak RSS from process.resourceUsage / getrusage) and writes
 * its result to DIR/results/; each invocation prints the table from all results present, so the
 * parts can be run one at a time (a = a-prefix + a-naive + a-torch + a-real, b = b-graft + b-torch; each of
 * those stays under 10 minutes on the 2-core machine) and combined. DIR
 * (models, images, results) is kept for the next part; --clean removes it first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const here = path.dirname(fileURLToPath(import.meta.url));
// dist/bench/finetune.js → bench/finetune_torch.py (tsc leaves the .py where it is).
const TORCH_SCRIPT = [path.resolve(here, '../../bench/finetune_torch.py'), path.resolve(here, 'finetune_torch.py')].find(existsSync)!;

/** wasm threads for graft's children (the parent's --graft-threads; the issue's baseline is 1). */
let graftThreads = 1;

const BATCH = 32;
/** Longest a child may run (each stays well under it on the 2-core machine); --child-timeout S
 * for a full-size real run (--images 2000: 1,400 + 600, about 20 minutes). */
let CHILD_TIMEOUT_S = 420;
const TRAIN = 1400;
const VALIDATION = 600;
const EPOCHS = 20;
const FEATURES = 4096;
/** The seed's recipe on torchvision's layer names: cut after fc7's ReLU + dropout, freeze through drop6. */
const CUT_AT = 'classifier.5';
const FREEZE_TO = 'classifier.2';
const LR_MULT = ['head=10'];

// ---- child processes: the timed work ------------------------------------------------------------

interface Timings {
  /** Wall seconds of each batch after the warm-up one. */
  batchSeconds: number[];
  /** This process's CPU seconds (user + system) of each of those batches. */
  cpuSeconds: number[];
  warmupSeconds: number;
  /** Batch size over the median wall time of a batch. */
  imagesPerSecond: number;
  /** Batch size over the median CPU time of a batch: the rate on an idle core (one thread). */
  imagesPerCpuSecond: number;
  batch: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const now = () => performance.now() / 1000;
const cpu = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

/** Batch-end marks: wall and CPU time at the start and after each batch. */
class Marks {
  private wall = [now()];
  private cpu = [cpu()];

  mark(): void {
    this.wall.push(now());
    this.cpu.push(cpu());
  }

  /** Per-batch durations; the first batch is the warm-up. */
  timings(batch: number): Timings {
    const diff = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]);
    const [warmupSeconds, ...batchSeconds] = diff(this.wall);
    const cpuSeconds = diff(this.cpu).slice(1);
    return { warmupSeconds, batchSeconds, cpuSeconds, imagesPerSecond: batch / median(batchSeconds), imagesPerCpuSecond: batch / median(cpuSeconds), batch };
  }
}

function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** `count` examples cycled from `examples` (the measured batches need (1 + K)·32 of them). */
function firstExamples(examples: { data: Float32Array; labels: Int32Array; count: number; shape: number[] }, count: number) {
  const size = examples.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const row = i % examples.count;
    data.set(examples.data.subarray(row * size, (row + 1) * size), i * size);
    labels[i] = examples.labels[row];
  }
  return { data, labels, count, shape: examples.shape };
}

/** ReLU'd Gaussian rows standing in for cached fc6 features (timing does not depend on values). */
function syntheticFeatures(count: number, width: number, seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const data = new Float32Array(count * width);
  for (let i = 0; i < data.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    data[i] = Math.max(0, r * Math.cos(a));
    if (i + 1 < data.length) data[i + 1] = Math.max(0, r * Math.sin(a));
  }
  const labels = Int32Array.from({ length: count }, (_, i) => i % 2);
  return { data, labels, count, shape: [width] };
}

async function childConvert(input: string, output: string) {
  const { convertModel } = await import('../src/tfjs/convert.js');
  const t = now();
  const summary = await convertModel({ input, output, force: true });
  return { seconds: now() - t, layers: summary.layers, parameters: summary.parameters, maxRssBytes: peakRss() };
}

/** The seed's classifier on the converted VGG16: cut, frozen, cache plan, decoded images. */
async function seedSetup(model: string, images: string) {
  const { useBackend, describeBackend } = await import('../src/tfjs/backend.js');
  const { loadModelDirectory } = await import('../src/tfjs/model-dir.js');
  const { inputSpecFor } = await import('../src/tfjs/predict.js');
  const { loadDataset } = await import('../src/train/data/dataset.js');
  const { cutAt } = await import('../src/train/surgery.js');
  const { applyFreezing } = await import('../src/train/freeze.js');
  const { planFeatureCache } = await import('../src/train/cache.js');
  const { parseLrMult } = await import('../src/train/optimizers.js');

  await useBackend('wasm', { threads: graftThreads });
  const backend = describeBackend();
  let [t, c] = [now(), cpu()];
  const loaded = await loadModelDirectory(model);
  const loadSeconds = now() - t;
  const loadCpuSeconds = cpu() - c;
  const spec = inputSpecFor(loaded.model, loaded.graft);
  [t, c] = [now(), cpu()];
  const dataset = await loadDataset(images, { imageSpec: spec });
  const decodeSeconds = now() - t;
  // sharp decodes on its own threads: CPU time over all of them.
  const decodeCpuSeconds = cpu() - c;
  const classifier = cutAt(loaded.model, CUT_AT, 2);
  const frozen = applyFreezing(classifier.logits, { freezeTo: FREEZE_TO });
  const plan = planFeatureCache(classifier.logits);
  if (!plan) throw new Error('no cache plan for the seed recipe');
  const trainable = classifier.logits.trainableWeights.map((w) => w.originalName);
  log(`child: ${backend}, model loaded in ${loadSeconds.toFixed(1)} s, ${dataset.examples.count} images decoded in ${decodeSeconds.toFixed(1)} s; cache at ${plan.cutLayer}; trainable ${trainable.join(', ')}`);
  const optimizer = { name: 'adam' as const, learningRate: 1e-4, lrMult: parseLrMult(LR_MULT) };
  return { backend, loaded, dataset, classifier, frozen, plan, trainable, optimizer, loadSeconds, loadCpuSeconds, decodeSeconds, decodeCpuSeconds };
}

/** (a) the frozen-prefix forward (cache fill), epochs on cached features, a checkpoint save, decoding, loading. */
async function childSeedPrefix(model: string, images: string, batches: number, work: string) {
  const { saveModelDirectory } = await import('../src/tfjs/model-dir.js');
  const { computeFeatures } = await import('../src/train/cache.js');
  const { optimizerGroups, disposeGroups } = await import('../src/train/optimizers.js');
  const { trainEpoch, evaluate } = await import('../src/train/loop.js');
  const { withActivation } = await import('../src/train/classifier.js');
  const { Random } = await import('../src/train/random.js');
  const s = await seedSetup(model, images);
  const { classifier, plan } = s;

  // The cache fill: the frozen prefix over (1 + K) batches, as runTraining calls it.
  const examples = firstExamples(s.dataset.examples, (1 + batches) * BATCH);
  const marks = new Marks();
  await computeFeatures(plan.prefix, examples.data, examples.shape, examples.count, BATCH, () => marks.mark());
  const features = marks.timings(BATCH);
  log(`child: frozen prefix ${features.batchSeconds.map((x) => x.toFixed(1)).join(' / ')} s per batch, CPU ${features.cpuSeconds.map((x) => x.toFixed(1)).join(' / ')} s (warm-up ${features.warmupSeconds.toFixed(1)} s)`);

  // Epochs on cached features at full size: trainEpoch on the suffix + evaluate.
  const train = syntheticFeatures(TRAIN, FEATURES, 1);
  const validation = syntheticFeatures(VALIDATION, FEATURES, 2);
  const groups = optimizerGroups(classifier.logits, s.optimizer);
  const cachedEpochs: { train: number; validation: number; cpu: number }[] = [];
  for (let epoch = 1; epoch <= 3; epoch++) {
    const [t0, c0] = [now(), cpu()];
    await trainEpoch({ model: plan.suffix, activation: classifier.activation, classes: classifier.classes, groups, examples: train, batchSize: BATCH, random: new Random(epoch) });
    const t1 = now();
    await evaluate(plan.suffix, classifier.activation, classifier.classes, validation, BATCH);
    cachedEpochs.push({ train: t1 - t0, validation: now() - t1, cpu: cpu() - c0 });
  }
  disposeGroups(groups);
  // The first epoch packs weights and compiles; the steady state is what 20 epochs see.
  const cachedEpochSeconds = median(cachedEpochs.slice(1).map((e) => e.train + e.validation));
  const cachedEpochCpuSeconds = median(cachedEpochs.slice(1).map((e) => e.cpu));
  log(`child: cached epochs (train+validation) ${cachedEpochs.map((e) => `${e.train.toFixed(2)}+${e.validation.toFixed(2)}`).join(' / ')} s`);

  // One checkpoint as runTraining writes it (the whole model with softmax).
  const saved = withActivation(classifier);
  const saves: number[] = [];
  const saveCpu: number[] = [];
  for (let i = 0; i < 2; i++) {
    const [t, c] = [now(), cpu()];
    await saveModelDirectory(path.join(work, 'checkpoint'), saved, { ...s.loaded.graft!, classNames: s.dataset.classNames });
    saves.push(now() - t);
    saveCpu.push(cpu() - c);
  }
  rmSync(path.join(work, 'checkpoint'), { recursive: true, force: true });
  log(`child: checkpoint save ${saves.map((x) => x.toFixed(1)).join(' / ')} s`);
  return {
    backend: s.backend,
    loadSeconds: s.loadSeconds,
    loadCpuSeconds: s.loadCpuSeconds,
    decodeImages: s.dataset.examples.count,
    decodeSeconds: s.decodeSeconds,
    decodeCpuSeconds: s.decodeCpuSeconds,
    decodeImagesPerSecond: s.dataset.examples.count / s.decodeSeconds,
    cutLayer: plan.cutLayer,
    frozen: s.frozen.length,
    trainable: s.trainable,
    features,
    cachedEpochs,
    cachedEpochSeconds,
    cachedEpochCpuSeconds,
    saveSeconds: median(saves),
    saveCpuSeconds: median(saveCpu),
    maxRssBytes: peakRss(),
  };
}

/**
 * trainEpoch over `examples` in batches of `batch`, timed per batch, with the wasm heap after each
 * (it only grows: what the step needs, and whether it creeps up). A run that runs out of heap
 * after the warm-up batch and at least one more keeps the timings of those that finished.
 */
async function timedTraining(classifier: { logits: import('@tensorflow/tfjs').LayersModel; activation: 'softmax' | 'sigmoid'; classes: number }, groups: import('../src/train/optimizers.js').OptimizerGroup[], examples: ReturnType<typeof firstExamples>, batch: number, label: string, plan?: { prefix: import('@tensorflow/tfjs').LayersModel; suffix: import('@tensorflow/tfjs').LayersModel }) {
  const tf = await import('@tensorflow/tfjs');
  const { disposeGroups } = await import('../src/train/optimizers.js');
  const { trainEpoch } = await import('../src/train/loop.js');
  const { chooseMicroBatch } = await import('../src/train/memory.js');
  // As runTraining does: the frozen prefix (if any) outside the tape, and passes that fit the heap.
  const model = plan?.suffix ?? classifier.logits;
  const microBatch = chooseMicroBatch(model, batch);
  if (microBatch < batch) log(`child: ${label}: batches of ${batch} as passes of ${microBatch}`);
  const heap = () => (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
  const marks = new Marks();
  const heapBytes: number[] = [];
  let error: string | undefined;
  try {
    await trainEpoch({ model, prefix: plan?.prefix, microBatch, activation: classifier.activation, classes: classifier.classes, groups, examples, batchSize: batch, onBatch: () => (marks.mark(), heapBytes.push(heap())) });
    disposeGroups(groups);
  } catch (e) {
    error = `${(e as Error).name}: ${(e as Error).message}`;
    log(`child: ${label} at batch ${batch} failed after ${heapBytes.length} batch(es): ${error}`);
    if (heapBytes.length < 2) throw e;
  }
  const timings = marks.timings(batch);
  log(`child: ${label} at batch ${batch}: ${timings.batchSeconds.map((x) => x.toFixed(1)).join(' / ')} s per batch, CPU ${timings.cpuSeconds.map((x) => x.toFixed(1)).join(' / ')} s (warm-up ${timings.warmupSeconds.toFixed(1)} s); wasm heap after each: ${heapBytes.map((b) => (b / 1e6).toFixed(0)).join(' / ')} MB`);
  return { timings, heapBytes, microBatch, failedAfter: error ? { batches: heapBytes.length, error } : undefined };
}

/** (a) the naive step (--no-cache): the whole model per batch (the frozen prefix outside the tape), fc7 + head trained. */
async function childSeedNaive(model: string, images: string, batches: number, batch: number) {
  const { optimizerGroups } = await import('../src/train/optimizers.js');
  const s = await seedSetup(model, images);
  const examples = firstExamples(s.dataset.examples, (1 + batches) * batch);
  const run = await timedTraining(s.classifier, optimizerGroups(s.classifier.logits, s.optimizer), examples, batch, 'naive training', s.plan);
  return { backend: s.backend, naive: run.timings, microBatch: run.microBatch, heapBytes: run.heapBytes, failedAfter: run.failedAfter, maxRssBytes: peakRss() };
}

/** (a) a real cached run: trainModel as `graft finetune` calls it, with timestamps on its log lines. */
async function childSeedReal(model: string, images: string, epochs: number, out: string) {
  const { trainModel } = await import('../src/train/finetune.js');
  const lines: { t: number; line: string }[] = [];
  const t = now();
  const summary = await trainModel({
    from: model,
    data: images,
    out,
    cutAt: CUT_AT,
    freezeTo: FREEZE_TO,
    lrMult: LR_MULT,
    batchSize: BATCH,
    epochs,
    valSplit: 0.3,
    cache: true,
    backend: 'wasm',
    threads: graftThreads,
    progress: false,
    log: (line) => {
      lines.push({ t: now() - t, line });
      log(`child +${(now() - t).toFixed(1)}s: ${line}`);
    },
  });
  const seconds = now() - t;
  const cpuSeconds = cpu();
  // Checkpoints written: last/ every epoch, best/ whenever validation accuracy improved.
  let bestSaves = 0;
  let bestSoFar = -Infinity;
  for (const record of summary.records) {
    const score = record['validation/main/accuracy'] ?? record['main/accuracy'];
    if (score > bestSoFar) [bestSoFar, bestSaves] = [score, bestSaves + 1];
  }
  const at = (re: RegExp) => lines.find((l) => re.test(l.line))?.t;
  // Phases from the log: 'data: …' after decoding, 'caching …' before the fill, the report header after it.
  const dataAt = at(/^data: /) ?? 0;
  const cacheStart = at(/^caching the output/) ?? dataAt;
  const headerIndex = lines.findIndex((l) => /epoch/.test(l.line) && /main\/loss/.test(l.line));
  const trainingStart = headerIndex >= 0 ? lines[headerIndex].t : cacheStart;
  return {
    seconds,
    cpuSeconds,
    trainCount: summary.trainCount,
    validationCount: summary.validationCount,
    epochs: summary.records.length,
    bestSaves,
    cachedAt: summary.cachedAt,
    best: summary.best,
    phases: { loadAndDecode: dataAt, cacheFill: trainingStart - cacheStart, epochs: seconds - trainingStart },
    epochSeconds: (seconds - trainingStart) / Math.max(1, summary.records.length),
    lastRecord: summary.records[summary.records.length - 1],
    maxRssBytes: peakRss(),
  };
}

/** (b) resnet18, nothing frozen, new 2-class fc: the training step. */
async function childResnet(model: string, images: string, batches: number, batch: number) {
  const { useBackend, describeBackend } = await import('../src/tfjs/backend.js');
  const { loadModelDirectory } = await import('../src/tfjs/model-dir.js');
  const { inputSpecFor } = await import('../src/tfjs/predict.js');
  const { loadDataset } = await import('../src/train/data/dataset.js');
  const { asClassifier } = await import('../src/train/classifier.js');
  const { replaceHead } = await import('../src/train/surgery.js');
  const { applyFreezing } = await import('../src/train/freeze.js');
  const { optimizerGroups } = await import('../src/train/optimizers.js');

  await useBackend('wasm', { threads: graftThreads });
  const backend = describeBackend();
  const loaded = await loadModelDirectory(model);
  const dataset = await loadDataset(images, { imageSpec: inputSpecFor(loaded.model, loaded.graft) });
  const classifier = replaceHead(asClassifier(loaded.model), 2);
  const frozen = applyFreezing(classifier.logits, {});
  const trainableParams = classifier.logits.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
  const examples = firstExamples(dataset.examples, (1 + batches) * batch);
  const run = await timedTraining(classifier, optimizerGroups(classifier.logits, { name: 'adam', learningRate: 1e-4 }), examples, batch, 'resnet18 training');
  return { backend, frozen: frozen.length, trainableParams, training: run.timings, microBatch: run.microBatch, heapBytes: run.heapBytes, failedAfter: run.failedAfter, maxRssBytes: peakRss() };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function child(step: string, args: string[]): Promise<void> {
  graftThreads = Number(process.env.GRAFT_BENCH_THREADS ?? '1');
  let result: unknown;
  try {
    if (step === 'convert') result = await childConvert(args[0], args[1]);
    else if (step === 'a-prefix') result = await childSeedPrefix(args[0], args[1], Number(args[2]), args[3]);
    else if (step === 'a-naive') result = await childSeedNaive(args[0], args[1], Number(args[2]), Number(args[3]));
    else if (step === 'a-real') result = await childSeedReal(args[0], args[1], Number(args[2]), args[3]);
    else if (step === 'b') result = await childResnet(args[0], args[1], Number(args[2]), Number(args[3]));
    else throw new Error(`unknown child step ${step}`);
  } catch (error) {
    // Reported as a result: a training step that cannot run (wasm's 4 GB heap) is a finding.
    const e = error as Error;
    log(e.stack ?? String(e));
    process.stdout.write(`${JSON.stringify({ error: `${e.name}: ${e.message}`, batch: Number(args[3]), maxRssBytes: peakRss() })}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- the parent: setup, children, results, table -------------------------------------------------

function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

function uptime(): string {
  return loadavg().map((l) => l.toFixed(2)).join(', ');
}

/** Runs a child (node or python), streaming its stderr, and returns its last JSON line. */
function runChild<T>(command: string, args: string[], label: string, env: NodeJS.ProcessEnv = process.env): T & { wallSeconds: number; load: { before: string; after: string } } {
  const before = uptime();
  const t = now();
  log(`[${new Date().toISOString().slice(11, 19)}] ${label} (load ${before})`);
  // A child that hangs (the threaded wasm build can spin instead of aborting when its heap runs
  // out) is killed and reported as a failure, as an abort would be.
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'], env, timeout: CHILD_TIMEOUT_S * 1000, killSignal: 'SIGKILL' });
  let parsed: T;
  try {
    parsed = lastJsonLine<T>(result.stdout);
  } catch {
    if (result.signal !== 'SIGKILL') throw new Error(`${label} failed (exit ${result.status ?? result.signal}) without a result`);
    parsed = { error: `hung: killed after ${CHILD_TIMEOUT_S} s without a result`, batch: Number(args[args.length - 1]), maxRssBytes: NaN } as T;
  }
  const wallSeconds = now() - t;
  log(`  ${result.status === 0 ? 'done' : result.signal === 'SIGKILL' ? 'HUNG, killed' : 'FAILED'} in ${wallSeconds.toFixed(1)} s (load ${uptime()})`);
  return { ...parsed, wallSeconds, load: { before, after: uptime() } };
}

function nodeChild<T>(step: string, args: string[], label: string, threads = 1) {
  return runChild<T>(process.execPath, [fileURLToPath(import.meta.url), '--child', step, ...args], label, { ...process.env, GRAFT_BENCH_THREADS: String(threads) });
}

function torchChild<T>(mode: string, args: string[], threads: number) {
  return runChild<T>(PYTHON, [TORCH_SCRIPT, mode, ...args, '--threads', String(threads)], `torch ${mode} ${args.join(' ')}`);
}

/** A 2-class folder of `count` 224×224 JPEGs: smooth colour fields, tinted by class, with noise. */
async function makeImages(dir: string, count: number): Promise<void> {
  const { default: sharp } = await import('sharp');
  const size = 224;
  let s = 12345;
  const random = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    const classDir = path.join(dir, label ? 'dog' : 'cat');
    mkdirSync(classDir, { recursive: true });
    const pixels = Buffer.alloc(size * size * 3);
    const [fx, fy, phase] = [random() * 0.1, random() * 0.1, random() * 6.28];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const wave = 0.5 + 0.5 * Math.sin(fx * x + fy * y + phase);
        const o = (y * size + x) * 3;
        pixels[o] = Math.min(255, 60 + 120 * wave + (label ? 0 : 60) + 20 * random());
        pixels[o + 1] = Math.min(255, 80 + 100 * wave + 20 * random());
        pixels[o + 2] = Math.min(255, 60 + 120 * (1 - wave) + (label ? 60 : 0) + 20 * random());
      }
    }
    await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 90 }).toFile(path.join(classDir, `${String(i).padStart(5, '0')}.jpg`));
  }
}

interface Args {
  dir: string;
  images: number;
  epochs: number;
  batches: number;
  threads: number;
  graftThreads: number;
  parts: Set<string>;
}

function parseArgs(argv: string[]): Args & { clean: boolean } {
  const value = (flag: string, fallback: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : fallback);
  const part = value('--part', 'all');
  const groups: Record<string, string[]> = {
    all: ['a-prefix', 'a-naive', 'a-torch', 'a-real', 'b-graft', 'b-torch'],
    a: ['a-prefix', 'a-naive', 'a-torch', 'a-real'],
    'a-rates': ['a-prefix', 'a-naive', 'a-torch'],
    'a-graft': ['a-prefix', 'a-naive'],
    b: ['b-graft', 'b-torch'],
    table: [],
  };
  const single = ['a-prefix', 'a-naive', 'a-torch', 'a-real', 'b-graft', 'b-torch'];
  if (!(part in groups) && !single.includes(part)) throw new Error(`--part ${part}: choose from ${[...Object.keys(groups), ...single].join(', ')}`);
  const skipTorch = argv.includes('--skip-torch');
  const parts = new Set((groups[part] ?? [part]).filter((p) => !(skipTorch && p.endsWith('-torch'))));
  return {
    dir: value('--dir', path.join(tmpdir(), 'graft-bench-finetune')),
    images: Number(value('--images', '200')),
    epochs: Number(value('--epochs', '20')),
    batches: Number(value('--batches', '3')),
    threads: Number(value('--threads', '2')),
    graftThreads: Number(value('--graft-threads', '1')),
    parts,
    clean: argv.includes('--clean'),
  };
}

type Results = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function readResults(dir: string): Results {
  const results: Results = {};
  const folder = path.join(dir, 'results');
  if (!existsSync(folder)) return results;
  for (const file of readdirSync(folder)) if (file.endsWith('.json')) results[file.slice(0, -5)] = JSON.parse(readFileSync(path.join(folder, file), 'utf8'));
  return results;
}

function saveResult(dir: string, name: string, value: unknown): void {
  mkdirSync(path.join(dir, 'results'), { recursive: true });
  writeFileSync(path.join(dir, 'results', `${name}.json`), `${JSON.stringify({ ...(value as object), at: new Date().toISOString() }, null, 1)}\n`);
}

async function setup(args: Args, needs: { vgg: boolean; resnet: boolean }): Promise<{ vgg: string; resnet: string; images: string }> {
  mkdirSync(args.dir, { recursive: true });
  const vggPth = path.join(args.dir, 'vgg16.pth');
  const resnetPth = path.join(args.dir, 'resnet18.pth');
  if (!existsSync(vggPth) || !existsSync(resnetPth)) {
    runChild(PYTHON, [TORCH_SCRIPT, 'make', args.dir], 'torch.save(vgg16(), resnet18()) with random init');
  }
  const vgg = path.join(args.dir, 'vgg16-tfjs');
  const resnet = path.join(args.dir, 'resnet18-tfjs');
  if (needs.vgg && !existsSync(path.join(vgg, 'model.json'))) nodeChild('convert', [vggPth, vgg], 'graft convert vgg16.pth');
  if (needs.resnet && !existsSync(path.join(resnet, 'model.json'))) nodeChild('convert', [resnetPth, resnet], 'graft convert resnet18.pth');
  const images = path.join(args.dir, `images-${args.images}`);
  if (!existsSync(images)) {
    const t = now();
    await makeImages(images, args.images);
    log(`wrote ${args.images} 224×224 JPEGs (2 classes) to ${images} in ${(now() - t).toFixed(1)} s`);
  }
  return { vgg, resnet, images };
}

// ---- the table --------------------------------------------------------------------------------

const fmt = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const minutes = (seconds: number | undefined) => (seconds === undefined || !Number.isFinite(seconds) ? '–' : `${(seconds / 60).toFixed(1)} min`);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !Number.isFinite(a / b) ? '–' : `${(a / b).toFixed(2)}×`);
const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : `${(bytes / 1e6).toFixed(0)} MB`);

interface Rates {
  prefix?: number;
  naive?: number;
}

/**
 * 20 epochs of 1,400 + 600 images, from the measured parts (formulas printed with the table);
 * `idle` takes every graft figure from CPU time and PyTorch's from CPU time / threads.
 */
function extrapolate(g: Results | undefined, tc: Results | undefined, graft: Rates, torch: Rates, idle: boolean, savesPerEpoch: number) {
  const all = TRAIN + VALIDATION;
  const saves = g ? savesPerEpoch * (idle ? g.saveCpuSeconds : g.saveSeconds) : NaN;
  const fixed = g ? (idle ? g.loadCpuSeconds : g.loadSeconds) + (all * (idle ? g.decodeCpuSeconds : g.decodeSeconds)) / g.decodeImages : NaN;
  const cachedEpoch = (idle ? g?.cachedEpochCpuSeconds : g?.cachedEpochSeconds) ?? NaN;
  const torchEpoch = (idle ? tc?.epochCpuSeconds / tc?.threads : tc?.epochSeconds) ?? NaN;
  return {
    graftNaive: fixed + EPOCHS * (TRAIN / (graft.naive ?? NaN) + VALIDATION / (graft.prefix ?? NaN) + saves),
    graftCached: fixed + all / (graft.prefix ?? NaN) + EPOCHS * (cachedEpoch + saves),
    torchNaive: EPOCHS * (TRAIN / (torch.naive ?? NaN) + VALIDATION / (torch.prefix ?? NaN)),
    torchCached: all / (torch.prefix ?? NaN) + EPOCHS * torchEpoch,
  };
}

function printTable(results: Results, graftThreads: number): void {
  const p = `graft-t${graftThreads}`;
  const g = results[`${p}-a-prefix`];
  const naiveRuns = Object.entries(results).filter(([name]) => name.startsWith(`${p}-a-naive-`)).map(([, r]) => r);
  const failed = naiveRuns.filter((r) => r.error).sort((a, b) => b.batch - a.batch);
  const gn = naiveRuns.filter((r) => !r.error).sort((a, b) => b.naive.batch - a.naive.batch)[0];
  const real = results[`${p}-a-real`];
  const tf = results['torch-vgg-features'];
  const tt = results['torch-vgg-train'];
  const tc = results['torch-vgg-cached'];
  const resnetRuns = Object.entries(results).filter(([name]) => name.startsWith(`${p}-b-`)).map(([, r]) => r);
  const gbFailed = resnetRuns.filter((r) => r.error).sort((a, b) => b.batch - a.batch);
  const gb = resnetRuns.filter((r) => !r.error).sort((a, b) => b.training.batch - a.training.batch)[0];
  const tb = results['torch-resnet18-train'];
  // CPU-time rates: with one thread, batch / CPU seconds is graft's rate on an idle core (with N
  // threads, its CPU time over all of them: the rate per core). PyTorch's threads: batch / (CPU
  // seconds / threads), its rate with every core to itself (an optimistic bound: it assumes
  // perfect scaling; OpenMP's spin-waiting counts as CPU time, so it can also read low).
  const torchIdle = (r: Results | undefined) => (r ? r.batch / (median(r.cpuSeconds) / r.threads) : undefined);
  // runTraining writes last/ every epoch and best/ when validation improves: as often as in the
  // real run when there is one, else every epoch (the bound).
  const savesPerEpoch = real ? 1 + real.bestSaves / real.epochs : 2;
  const wall = extrapolate(g, tc, { prefix: g?.features.imagesPerSecond, naive: gn?.naive.imagesPerSecond }, { prefix: tf?.imagesPerSecond, naive: tt?.imagesPerSecond }, false, savesPerEpoch);
  const idle = extrapolate(g, tc, { prefix: g?.features.imagesPerCpuSecond, naive: gn?.naive.imagesPerCpuSecond }, { prefix: torchIdle(tf), naive: torchIdle(tt) }, true, savesPerEpoch);

  const rows: string[][] = [];
  const row = (what: string, kind: string, graft: string, torch: string, r = '', graftIdle = '', torchIdleText = '', rIdle = '', issue = '') =>
    rows.push([what, kind, graft, torch, r, graftIdle, torchIdleText, rIdle, issue]);
  row(`(a) VGG16, Chainer seed recipe; graft wasm ${graftThreads} thread(s), PyTorch ${tf?.threads ?? tt?.threads ?? '?'}`, '', 'graft wall', 'PyTorch wall', 'graft/PT', 'graft CPU-t', 'PyTorch CPU-t', 'graft/PT', 'issue PT');
  if (g || tf) {
    row('frozen-prefix forward (cache fill) @32, images/s', 'measured', fmt(g?.features.imagesPerSecond), fmt(tf?.imagesPerSecond), ratio(g?.features.imagesPerSecond, tf?.imagesPerSecond),
      fmt(g?.features.imagesPerCpuSecond), fmt(torchIdle(tf)), ratio(g?.features.imagesPerCpuSecond, torchIdle(tf)), '3.7');
  }
  for (const f of failed) row(`naive training step @${f.batch}`, 'measured', 'FAILS', '', '', '', '', '', f.error.slice(0, 60));
  if (gn || tt) {
    const partial = gn?.failedAfter ? ` (${gn.naive.batchSeconds.length} batches, then out of heap)` : '';
    row(`naive training step (no cache), images/s: graft @${gn?.naive.batch ?? '–'}${partial}, PyTorch @${tt?.batch ?? '–'}`, 'measured', fmt(gn?.naive.imagesPerSecond), fmt(tt?.imagesPerSecond), ratio(gn?.naive.imagesPerSecond, tt?.imagesPerSecond),
      fmt(gn?.naive.imagesPerCpuSecond), fmt(torchIdle(tt)), ratio(gn?.naive.imagesPerCpuSecond, torchIdle(tt)), '3.3');
  }
  if (g || tc) {
    const torchEpochIdle = tc ? tc.epochCpuSeconds / tc.threads : undefined;
    row('epoch on cached features (1400 train + 600 val), s', 'measured', fmt(g?.cachedEpochSeconds), fmt(tc?.epochSeconds), ratio(g?.cachedEpochSeconds, tc?.epochSeconds),
      fmt(g?.cachedEpochCpuSeconds), fmt(torchEpochIdle), ratio(g?.cachedEpochCpuSeconds, torchEpochIdle));
  }
  if (g) {
    row('JPEG decode + preprocess (sharp threads), images/s', 'measured', fmt(g.decodeImagesPerSecond, 1), 'not timed', '', fmt(g.decodeImages / g.decodeCpuSeconds, 1));
    row('model load (553 MB), s', 'measured', fmt(g.loadSeconds, 1), '–', '', fmt(g.loadCpuSeconds, 1));
    row('checkpoint save (whole model), s', 'measured', fmt(g.saveSeconds, 1), 'none', '', fmt(g.saveCpuSeconds, 1));
  }
  row('20 epochs naive (no cache), end to end', 'extrapolated', minutes(wall.graftNaive), minutes(wall.torchNaive), ratio(wall.graftNaive, wall.torchNaive),
    minutes(idle.graftNaive), minutes(idle.torchNaive), ratio(idle.graftNaive, idle.torchNaive), '~190 min');
  row('20 epochs with caching, end to end', 'extrapolated', minutes(wall.graftCached), minutes(wall.torchCached), ratio(wall.graftCached, wall.torchCached),
    minutes(idle.graftCached), minutes(idle.torchCached), ratio(idle.graftCached, idle.torchCached), '~9 min');
  const verdict = (x: { graftCached: number; torchNaive: number }) => (Number.isFinite(x.torchNaive / x.graftCached) ? `${(x.torchNaive / x.graftCached).toFixed(1)}× ${x.graftCached <= x.torchNaive / 10 ? 'MET' : 'NOT MET'}` : '–');
  row('TARGET PyTorch naive / graft cached ≥ 10×', 'extrapolated', verdict(wall), '', '', verdict(idle), '', '', '');
  // The issue's PyTorch figures (3.3 images/s training, 3.7 forward: ~190 min naive), measured on an idle machine.
  const issueNaive = EPOCHS * (TRAIN / 3.3 + VALIDATION / 3.7);
  row(`TARGET vs the issue's PyTorch naive (${minutes(issueNaive)})`, 'extrapolated', verdict({ graftCached: wall.graftCached, torchNaive: issueNaive }), '', '',
    verdict({ graftCached: idle.graftCached, torchNaive: issueNaive }), '', '', `needs ≤ ${minutes(issueNaive / 10)}`);
  if (real) {
    const fill = real.trainCount + real.validationCount;
    const all = TRAIN + VALIDATION;
    const saves = 1 + real.bestSaves / real.epochs;
    const predicted = g ? g.loadSeconds + (fill * g.decodeSeconds) / g.decodeImages + fill / g.features.imagesPerSecond + real.epochs * (g.cachedEpochSeconds * (fill / all) + saves * g.saveSeconds) : undefined;
    const predictedIdle = g ? g.loadCpuSeconds + (fill * g.decodeCpuSeconds) / g.decodeImages + fill / g.features.imagesPerCpuSecond + real.epochs * (g.cachedEpochCpuSeconds * (fill / all) + saves * g.saveCpuSeconds) : undefined;
    row(`real cached trainModel run: ${real.trainCount} + ${real.validationCount} images, ${real.epochs} epochs, ${real.bestSaves} best/ saves`, 'measured', minutes(real.seconds), '', '', minutes(real.cpuSeconds));
    row('  the same by the formula above', 'extrapolated', minutes(predicted), '', `real/formula ${ratio(real.seconds, predicted)}`, minutes(predictedIdle), '', `real/formula ${ratio(real.seconds, predictedIdle)}`);
    row('  phases: load + decode / cache fill / epochs, s', 'measured', `${fmt(real.phases.loadAndDecode, 0)} / ${fmt(real.phases.cacheFill, 0)} / ${fmt(real.phases.epochs, 0)}`, '', '');
    row('  cache fill rate in that run, images/s', 'measured', fmt(fill / real.phases.cacheFill), '', '');
    row('  per epoch (train + val + checkpoints + plots), s', 'measured', fmt(real.epochSeconds, 1), '', '');
    if (real.trainCount === TRAIN && real.validationCount === VALIDATION && real.epochs === EPOCHS) {
      // The issue's workload itself, run rather than extrapolated.
      const measured = { graftCached: real.seconds, torchNaive: wall.torchNaive };
      row('TARGET (full-size real run) PyTorch naive / graft cached ≥ 10×', 'measured', verdict(measured), '', '', '', '', '', '');
      row(`TARGET (full-size real run) vs the issue's PyTorch naive (${minutes(issueNaive)})`, 'measured', verdict({ graftCached: real.seconds, torchNaive: issueNaive }), '', '', '', '', '', `needs ≤ ${minutes(issueNaive / 10)}`);
    }
  }
  const rss = (...rs: (Results | undefined)[]) => mb(Math.max(...rs.map((r) => r?.maxRssBytes ?? 0)) || undefined);
  row('peak RSS (any step)', 'measured', rss(g, gn, real, ...failed), rss(tt, tf, tc), '');
  if (gb || tb || gbFailed.length) {
    row('(b) resnet18 full fine-tune (nothing frozen), Adam', '', '', '', '');
    for (const f of gbFailed) row(`  graft training step @${f.batch}`, 'measured', 'FAILS', '', '', '', '', '', f.error.slice(0, 60));
    const partial = gb?.failedAfter ? ` (${gb.training.batchSeconds.length} batches, then out of heap)` : '';
    row(`  training step, images/s: graft @${gb?.training.batch ?? '–'}${gb?.microBatch && gb.microBatch < gb.training.batch ? ` (passes of ${gb.microBatch})` : ''}${partial}, PyTorch @${tb?.batch ?? '–'}`, 'measured', fmt(gb?.training?.imagesPerSecond), fmt(tb?.imagesPerSecond), ratio(gb?.training?.imagesPerSecond, tb?.imagesPerSecond),
      fmt(gb?.training?.imagesPerCpuSecond), fmt(torchIdle(tb)), ratio(gb?.training?.imagesPerCpuSecond, torchIdle(tb)), '10.3');
    row('  peak RSS', 'measured', rss(gb, ...gbFailed), rss(tb), '');
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(`\n${line(rows[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.slice(1).map(line).join('\n')}`);

  const batches = (t: { batchSeconds: number[]; cpuSeconds?: number[] } | undefined) =>
    t ? `${t.batchSeconds.map((x) => x.toFixed(1)).join(' / ')} s${t.cpuSeconds ? ` (CPU ${t.cpuSeconds.map((x) => x.toFixed(1)).join(' / ')})` : ''}` : '–';
  const epochs = (r: Results | undefined) => (r ? r.map((e: { train: number; validation: number }) => `${e.train.toFixed(2)}+${e.validation.toFixed(2)}`).join(' / ') : '–');
  console.log('\nper batch, after one warm-up batch (rates use the median):');
  if (g) console.log(`  graft prefix @32: ${batches(g.features)}, warm-up ${fmt(g.features.warmupSeconds, 1)} s; cached epochs train+val ${epochs(g.cachedEpochs)} s`);
  if (gn) console.log(`  graft naive step @${gn.naive.batch}: ${batches(gn.naive)}, warm-up ${fmt(gn.naive.warmupSeconds, 1)} s`);
  if (tf || tt) console.log(`  PyTorch prefix @32: ${batches(tf)}; naive step @32: ${batches(tt)}; cached epochs ${epochs(tc?.epochs)} s`);
  if (gb || tb) console.log(`  resnet18: graft @${gb?.training.batch ?? '–'} ${batches(gb?.training)}, warm-up ${fmt(gb?.training?.warmupSeconds, 1)} s; PyTorch @32 ${batches(tb)}`);
  const heaps = [gn, gb].filter((r) => r?.heapBytes).map((r) => `${r === gn ? 'naive VGG16' : 'resnet18'} @${(r === gn ? r.naive : r.training).batch}: ${r.heapBytes.map((b: number) => (b / 1e6).toFixed(0)).join(' / ')} MB`);
  if (heaps.length) console.log(`  wasm heap after each graft batch (4 GB at most): ${heaps.join('; ')}`);
  console.log('\nextrapolation to 20 epochs of 1400 training + 600 validation images (validation at the prefix rate: the prefix is all but 0.1% of the FLOPs):');
  console.log(`  graft naive  = load + decode(2000) + 20 · (1400 / naive rate + 600 / prefix rate + ${savesPerEpoch.toFixed(2)} checkpoint saves)`);
  console.log(`  graft cached = load + decode(2000) + 2000 / prefix rate + 20 · (cached epoch + ${savesPerEpoch.toFixed(2)} checkpoint saves)`);
  console.log('  PyTorch naive = 20 · (1400 / naive rate + 600 / prefix rate);  PyTorch cached = 2000 / prefix rate + 20 · cached epoch');
  console.log(`  PyTorch: compute only, inputs already in memory. graft saves last/ every epoch and best/ when validation improves: ${real ? 'as often as in the real run' : '2 per epoch, the bound (no real run yet)'}.`);
  console.log(`  "CPU-t" columns: rates from process CPU time (graft: ${graftThreads === 1 ? '1 thread, i.e. as if the core were idle' : `${graftThreads} threads summed: per-core rates, not an idle-machine estimate`}; PyTorch: CPU time / threads, as if idle with perfect scaling).`);
  const loads = Object.entries(results)
    .filter(([, r]) => r?.load)
    .map(([name, r]) => `${name.padEnd(22)} ${r.load.before} → ${r.load.after}  (${r.at?.slice(0, 19) ?? ''})`);
  if (loads.length) console.log(`\nload averages (1, 5, 15 min; 2 cores) before → after each step:\n  ${loads.join('\n  ')}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') return child(argv[1], argv.slice(2));
  const args = parseArgs(argv);
  if (argv.includes('--child-timeout')) CHILD_TIMEOUT_S = Number(argv[argv.indexOf('--child-timeout') + 1]);
  if (args.clean) rmSync(args.dir, { recursive: true, force: true });
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`skipped: ${PYTHON} cannot import torch and torchvision (Debian's python3-torch, python3-torchvision make the models)`);
    return;
  }
  const needs = { vgg: args.parts.has('a-prefix') || args.parts.has('a-naive') || args.parts.has('a-real'), resnet: args.parts.has('b-graft') };
  const paths = args.parts.size ? await setup(args, needs) : undefined;
  const k = String(args.batches);
  const gt = args.graftThreads;
  const g = `graft-t${gt}`;
  if (paths && args.parts.has('a-prefix')) {
    saveResult(args.dir, `${g}-a-prefix`, nodeChild('a-prefix', [paths.vgg, paths.images, k, args.dir], `graft (a) frozen prefix: ${args.batches} + 1 batches of ${BATCH}; cached epochs; checkpoint (${gt} thread(s))`, gt));
  }
  if (paths && args.parts.has('a-naive')) {
    // The naive step at batch 32 may not fit wasm's 4 GB heap: then at 16, 8, 4, 2, over as many
    // images (K·32) as at 32. A run that fails after some batches keeps their timings.
    for (const file of readdirSync(path.join(args.dir, 'results'))) if (file.startsWith(`${g}-a-naive-`)) rmSync(path.join(args.dir, 'results', file));
    for (const batch of [BATCH, BATCH / 2, BATCH / 4, BATCH / 8, BATCH / 16]) {
      const count = (args.batches * BATCH) / batch;
      const result = nodeChild<{ error?: string }>('a-naive', [paths.vgg, paths.images, String(count), String(batch)], `graft (a) naive step: ${count} + 1 batches of ${batch} (${gt} thread(s))`, gt);
      saveResult(args.dir, `${g}-a-naive-${batch}`, result);
      if (!result.error) break;
    }
  }
  if (paths && args.parts.has('a-torch')) {
    saveResult(args.dir, 'torch-vgg-features', torchChild('vgg-features', ['--batches', k], args.threads));
    saveResult(args.dir, 'torch-vgg-train', torchChild('vgg-train', ['--batches', k], args.threads));
    saveResult(args.dir, 'torch-vgg-cached', torchChild('vgg-cached', ['--train', String(TRAIN), '--val', String(VALIDATION), '--epochs', '3'], args.threads));
  }
  if (paths && args.parts.has('a-real')) {
    const out = path.join(args.dir, 'run-a');
    rmSync(out, { recursive: true, force: true });
    saveResult(args.dir, `${g}-a-real`, nodeChild('a-real', [paths.vgg, paths.images, String(args.epochs), out], `graft (a) real cached run: ${args.images} images, ${args.epochs} epochs (${gt} thread(s))`, gt));
    rmSync(out, { recursive: true, force: true });
  }
  if (paths && args.parts.has('b-graft')) {
    // As the naive step: batch 32 may not fit wasm's 4 GB heap, then smaller ones over K·32 images.
    for (const file of readdirSync(path.join(args.dir, 'results'))) if (file.startsWith(`${g}-b-`)) rmSync(path.join(args.dir, 'results', file));
    for (const batch of [BATCH, BATCH / 2, BATCH / 4, BATCH / 8]) {
      const count = (args.batches * BATCH) / batch;
      const result = nodeChild<{ error?: string }>('b', [paths.resnet, paths.images, String(count), String(batch)], `graft (b) resnet18: ${count} + 1 batches of ${batch} (${gt} thread(s))`, gt);
      saveResult(args.dir, `${g}-b-${batch}`, result);
      if (!result.error) break;
    }
  }
  if (paths && args.parts.has('b-torch')) saveResult(args.dir, 'torch-resnet18-train', torchChild('resnet18-train', ['--batches', k], args.threads));
  printTable(readResults(args.dir), args.graftThreads);
  console.log(`\nresults in ${path.join(args.dir, 'results')} (this run: load ${uptime()})`);
}

await main();
