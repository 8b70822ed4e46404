/**
 * bench/profile-train: where a training step's time goes on the wasm backend.
 *
 * Builds torchvision resnet18 (the architecture graft recognises in .pth files, random He-normal
 * weights, BatchNorm in training mode, a new 2-class head as `graft finetune` makes), then runs
 * training steps the way src/train/loop.ts trainEpoch does (tf.variableGrads around
 * model.apply(x, {training: true}) and a softmax cross-entropy, then optimizer.applyGradients),
 * and reports where the wall time went:
 *   - per kernel name, per phase (forward: inside variableGrads' function; backward: the rest of
 *     variableGrads; optimizer: applyGradients), in ms per step and calls per step. Every wasm
 *     kernel's kernelFunc is wrapped with a timer (wasm kernels are synchronous, so the time around
 *     the call is the kernel's); kernels that graft's composite kernels call from inside
 *     (src/tfjs/kernels/kernel-calls.ts) are counted in their caller, and listed separately as
 *     "caller > callee" to show what a composite spends its time on;
 *   - "outside kernels": the phase's wall time minus its kernels' time: tfjs's engine bookkeeping,
 *     gradient functions, tape, tidy, tensor allocation and disposal in JS;
 *   - the slowest kernel calls by kernel and input shapes.
 *
 * Each (threads, batch) pair runs in its own child process (wasm threads are set per process, and
 * each keeps its own wasm heap).
 *
 *   npm run build && node dist/bench/profile-train.js [--threads 1,2] [--batch 8,16] [--steps 3]
 *       [--optimizer adam|sgd] [--top 25] [--json out.json] [--baseline] [--no-fast-layers]
 *
 * --baseline: tfjs-backend-wasm's own Tile, Identity, Sum, Mean and Transpose instead of graft's
 * (the profile before those replacements).
 *
 * --no-fast-layers: tfjs-layers' own BatchNormalization and Conv2D training computation, without
 * src/train/fast-layers.ts's patches (which runTraining applies, and so does this by default).
 *
 * bench/train-speed --part a runs the same child with --plain (no kernel timers) for images/s.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type * as tfTypes from '@tensorflow/tfjs';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

type Phase = 'forward' | 'backward' | 'optimizer' | 'other';
const PHASES: Phase[] = ['forward', 'backward', 'optimizer', 'other'];

interface KernelTotal {
  phase: Phase;
  name: string;
  ms: number;
  calls: number;
}

interface ChildResult {
  threads: number;
  backend: string;
  batch: number;
  optimizer: string;
  steps: number;
  /** Wall ms per step (mean over the timed steps), and per phase. */
  stepMs: number;
  stepMsEach: number[];
  /** Median wall ms of a step. */
  medianMs: number;
  phaseMs: Record<Phase, number>;
  /** Per step. */
  kernels: KernelTotal[];
  nested: KernelTotal[];
  slowest: { phase: Phase; key: string; ms: number; calls: number }[];
  heapMB: number;
  imagesPerSecond: number;
}

// ---- the child: one (threads, batch) ----------------------------------------------------------

/** Kernels graft replaced in this round (issue 8), restored to tfjs's by --baseline for before/after. */
const BASELINE_KERNELS = ['Tile', 'Identity', 'Sum', 'Mean', 'Transpose'];

async function child(threads: number, batch: number, steps: number, optimizerName: 'adam' | 'sgd', plain = false, baseline = false, fastLayers = true): Promise<ChildResult> {
  const tf = await import('@tensorflow/tfjs');
  const { useBackend, describeBackend } = await import('../src/tfjs/backend.js');
  const { architectures } = await import('../src/graph/architectures/index.js');
  const { buildModel } = await import('../src/tfjs/builder.js');
  const { float32Tensor } = await import('../src/tensor/tensor.js');
  const { asClassifier } = await import('../src/train/classifier.js');
  const { replaceHead } = await import('../src/train/surgery.js');
  const { optimizerGroups } = await import('../src/train/optimizers.js');
  const { Random } = await import('../src/train/random.js');
  const { useFastTrainingLayers } = await import('../src/train/fast-layers.js');

  // Captured before useBackend puts graft's in their place (the registry is global).
  await import('@tensorflow/tfjs-backend-wasm');
  const originals = BASELINE_KERNELS.map((name) => tf.getKernel(name, 'wasm'));
  // --webgpu (with --plain): the same trainEpoch on `--backend webgpu` (bench/train-speed part a).
  if (process.argv.includes('--webgpu')) await useBackend('webgpu');
  else await useBackend('wasm', { threads });
  if (baseline) {
    // tfjs's own kernels back.
    for (const config of originals) {
      if (config === undefined) continue;
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
      // Tile's setup (its C++ binding) never ran: graft's Tile has none.
      config.setupFunc?.(tf.backend());
    }
  }
  const backend = `${describeBackend()}${baseline ? ', tfjs Tile/Identity/Sum/Mean/Transpose' : ''}${fastLayers ? '' : ', tfjs BatchNorm/Conv2D training'}`;

  // resnet18 with random weights (He normal for weights, BatchNorm at its identity).
  const arch = architectures().find((a) => a.name === 'resnet18' && a.format === 'pytorch');
  if (!arch) throw new Error('resnet18 is not a registered architecture');
  const random = new Random(0);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
  const tensors = new Map();
  for (const [key, param] of arch.build(new Map(), {}).expected) {
    if (param.optional) continue;
    const size = param.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (/running_var$/.test(key) || (/\.weight$/.test(key) && param.shape.length === 1)) data.fill(1);
    else if (/weight$/.test(key)) {
      const fanIn = size / param.shape[0];
      const scale = Math.sqrt(2 / fanIn);
      for (let i = 0; i < size; i++) data[i] = normal() * scale;
    }
    tensors.set(key, float32Tensor(param.shape, data));
  }
  const { graph } = arch.build(tensors, {});
  const { model } = buildModel(graph, tensors);
  const classifier = replaceHead(asClassifier(model), 2);
  // As runTraining does.
  if (fastLayers) useFastTrainingLayers(classifier.logits);
  const groups = optimizerGroups(classifier.logits, { name: optimizerName, learningRate: 1e-4 });
  const variables = groups.flatMap((g) => g.variables);

  // Kernel timers: every wasm kernel's kernelFunc, wrapped in place (the registry keeps the config
  // objects, and the engine looks each one up per call).
  let phase: Phase = 'other';
  let depth = 0;
  const callers: string[] = [];
  const totals = new Map<string, KernelTotal>();
  const nested = new Map<string, KernelTotal>();
  const byShape = new Map<string, { phase: Phase; key: string; ms: number; calls: number }>();
  let recording = false;
  const add = (map: Map<string, KernelTotal>, key: string, name: string, ms: number) => {
    const entry = map.get(key) ?? { phase, name, ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls++;
    map.set(key, entry);
  };
  for (const config of plain ? [] : tf.getKernelsForBackend('wasm')) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    config.kernelFunc = (args) => {
      if (!recording) return inner(args);
      depth++;
      callers.push(name);
      const start = performance.now();
      try {
        return inner(args);
      } finally {
        const ms = performance.now() - start;
        callers.pop();
        depth--;
        if (depth === 0) {
          add(totals, `${phase}|${name}`, name, ms);
          const shapes = Object.entries(args.inputs)
            .map(([k, v]) => `${k}[${(v as { shape?: number[] } | undefined)?.shape?.join('×') ?? '-'}]`)
            .join(' ');
          const key = `${name} ${shapes}`;
          const entry = byShape.get(`${phase}|${key}`) ?? { phase, key, ms: 0, calls: 0 };
          entry.ms += ms;
          entry.calls++;
          byShape.set(`${phase}|${key}`, entry);
        } else {
          add(nested, `${phase}|${callers[0]} > ${name}`, `${callers[0]} > ${name}`, ms);
        }
      }
    };
  }

  const size = 224 * 224 * 3;
  const data = new Float32Array(batch * size);
  for (let i = 0; i < data.length; i++) data[i] = random.next() * 2 - 1;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 2);
  const phaseMs: Record<Phase, number> = { forward: 0, backward: 0, optimizer: 0, other: 0 };
  const step = async (): Promise<number> => {
    const t0 = performance.now();
    phase = 'other';
    const x = tf.tensor(data, [batch, 224, 224, 3]);
    const y = tf.tensor1d(labels, 'int32');
    let marks: number[] = [];
    const [loss, correct] = tf.tidy(() => {
      let correctCount: tfTypes.Scalar | undefined;
      let dataLoss: tfTypes.Scalar | undefined;
      const tForward = performance.now();
      phase = 'forward';
      const { grads } = tf.variableGrads(() => {
        const logits = classifier.logits.apply(x, { training: true }) as tfTypes.Tensor;
        const oneHot = tf.oneHot(y, 2);
        const lossValue = tf.losses.softmaxCrossEntropy(oneHot, logits) as tfTypes.Scalar;
        correctCount = tf.keep(logits.argMax(-1).equal(y).sum() as tfTypes.Scalar);
        dataLoss = tf.keep(lossValue);
        marks.push(performance.now());
        phase = 'backward';
        return lossValue;
      }, variables);
      const tOptimizer = performance.now();
      phase = 'optimizer';
      for (const group of groups) {
        const subset: tfTypes.NamedTensorMap = {};
        for (const v of group.variables) subset[v.name] = grads[v.name];
        group.optimizer.applyGradients(subset);
      }
      const tEnd = performance.now();
      phase = 'other';
      marks = [tForward, marks[0], tOptimizer, tEnd];
      return [dataLoss!, correctCount!];
    });
    await loss.data();
    await correct.data();
    tf.dispose([x, y, loss, correct]);
    const t1 = performance.now();
    if (recording) {
      phaseMs.forward += marks[1] - marks[0];
      phaseMs.backward += marks[2] - marks[1];
      phaseMs.optimizer += marks[3] - marks[2];
      phaseMs.other += t1 - t0 - (marks[3] - marks[0]);
    }
    return t1 - t0;
  };

  if (plain) {
    // bench/train-speed's rate: src/train/loop.ts trainEpoch itself over (1 + steps) batches, in
    // the passes runTraining would choose (batch 32 does not fit the wasm heap in one).
    const { trainEpoch } = await import('../src/train/loop.js');
    const { chooseMicroBatch } = await import('../src/train/memory.js');
    const microBatch = chooseMicroBatch(classifier.logits, batch);
    const count = (1 + steps) * batch;
    const examples = { data: new Float32Array(count * size), shape: [224, 224, 3], labels: Int32Array.from({ length: count }, (_, i) => i % 2), count };
    for (let i = 0; i < examples.data.length; i++) examples.data[i] = random.next() * 2 - 1;
    log(`child: ${backend}, batch ${batch} in passes of ${microBatch}, ${optimizerName}: trainEpoch over ${1 + steps} batches`);
    const marks = [performance.now()];
    await trainEpoch({ model: classifier.logits, microBatch, activation: 'softmax', classes: 2, groups, examples, batchSize: batch, onBatch: () => marks.push(performance.now()) });
    const times = marks.slice(1).map((m, i) => m - marks[i]);
    const each = times.slice(1);
    log(`child: warm-up ${(times[0] / 1000).toFixed(1)} s, steps ${each.map((m) => (m / 1000).toFixed(2)).join(' / ')} s`);
    const stepMs = each.reduce((a, b) => a + b, 0) / each.length;
    const heapBytes = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
    return {
      threads, backend: `${backend}, passes of ${microBatch}`, batch, optimizer: optimizerName, steps, stepMs, stepMsEach: each,
      medianMs: [...each].sort((a, b) => a - b)[Math.floor((each.length - 1) / 2)], phaseMs, kernels: [], nested: [], slowest: [],
      heapMB: heapBytes / 1e6, imagesPerSecond: (batch * 1000) / stepMs,
    };
  }
  log(`child: ${backend}, batch ${batch}, ${optimizerName}; warm-up step`);
  const warm = await step();
  log(`child: warm-up ${(warm / 1000).toFixed(1)} s`);
  recording = true;
  const each: number[] = [];
  for (let i = 0; i < steps; i++) {
    each.push(await step());
    log(`child: step ${i + 1}: ${(each[i] / 1000).toFixed(2)} s`);
  }
  const per = (list: KernelTotal[]) => list.map((k) => ({ ...k, ms: k.ms / steps, calls: k.calls / steps })).sort((a, b) => b.ms - a.ms);
  const stepMs = each.reduce((a, b) => a + b, 0) / steps;
  for (const p of PHASES) phaseMs[p] /= steps;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
  return {
    threads,
    backend,
    batch,
    optimizer: optimizerName,
    steps,
    stepMs,
    stepMsEach: each,
    medianMs: [...each].sort((a, b) => a - b)[Math.floor((each.length - 1) / 2)],
    phaseMs,
    kernels: per([...totals.values()]),
    nested: per([...nested.values()]),
    slowest: [...byShape.values()].map((k) => ({ ...k, ms: k.ms / steps, calls: k.calls / steps })).sort((a, b) => b.ms - a.ms).slice(0, 60),
    heapMB: heap / 1e6,
    imagesPerSecond: (batch * 1000) / stepMs,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ---- the parent: children and the report ------------------------------------------------------

function report(r: ChildResult, top: number): void {
  const kernelMs = (p: Phase) => r.kernels.filter((k) => k.phase === p).reduce((a, k) => a + k.ms, 0);
  console.log(`\n== resnet18 training step, batch ${r.batch}, ${r.backend}, ${r.optimizer}: ${(r.stepMs / 1000).toFixed(2)} s/step (${r.stepMsEach.map((m) => (m / 1000).toFixed(2)).join(' / ')}), ${r.imagesPerSecond.toFixed(2)} images/s; wasm heap ${r.heapMB.toFixed(0)} MB`);
  console.log(`  ${'phase'.padEnd(10)}${'wall ms'.padStart(10)}${'kernels ms'.padStart(12)}${'outside'.padStart(10)}`);
  for (const p of PHASES) {
    const k = kernelMs(p);
    console.log(`  ${p.padEnd(10)}${r.phaseMs[p].toFixed(0).padStart(10)}${k.toFixed(0).padStart(12)}${(r.phaseMs[p] - k).toFixed(0).padStart(10)}`);
  }
  console.log(`\n  top kernels (ms per step, calls per step, share of the step):`);
  for (const k of r.kernels.slice(0, top)) {
    console.log(`  ${k.phase.padEnd(10)}${k.name.padEnd(40)}${k.ms.toFixed(1).padStart(10)} ms${k.calls.toFixed(0).padStart(7)}×${((100 * k.ms) / r.stepMs).toFixed(1).padStart(7)}%`);
  }
  console.log(`\n  inside graft's composite kernels (top):`);
  for (const k of r.nested.slice(0, Math.min(top, 15))) {
    console.log(`  ${k.phase.padEnd(10)}${k.name.padEnd(52)}${k.ms.toFixed(1).padStart(10)} ms${k.calls.toFixed(0).padStart(7)}×`);
  }
  console.log(`\n  slowest kernel × shapes:`);
  for (const k of r.slowest.slice(0, top)) {
    console.log(`  ${k.phase.padEnd(10)}${k.ms.toFixed(1).padStart(8)} ms${k.calls.toFixed(0).padStart(4)}×  ${k.key}`);
  }
}

async function main(): Promise<void> {
  const optimizerName = (option('optimizer') ?? 'adam') as 'adam' | 'sgd';
  if (optimizerName !== 'adam' && optimizerName !== 'sgd') throw new Error('--optimizer adam|sgd');
  const steps = Number(option('steps') ?? 3);
  if (process.argv.includes('--child')) {
    const result = await child(
      Number(option('threads')),
      Number(option('batch')),
      steps,
      optimizerName,
      process.argv.includes('--plain'),
      process.argv.includes('--baseline'),
      !process.argv.includes('--no-fast-layers'),
    );
    writeFileSync(option('out')!, JSON.stringify(result));
    return;
  }
  const threads = (option('threads') ?? '1,2').split(',').map(Number);
  const batches = (option('batch') ?? '8,16').split(',').map(Number);
  const top = Number(option('top') ?? 25);
  console.log(`profile-train: resnet18, batches ${batches.join(', ')}, threads ${threads.join(', ')}, ${steps} timed steps after a warm-up; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: ChildResult[] = [];
  const script = fileURLToPath(import.meta.url);
  for (const t of threads) {
    for (const b of batches) {
      const out = `/tmp/graft-profile-train-${process.pid}-${t}-${b}.json`;
      const run = spawnSync(process.execPath, [script, '--child', '--threads', String(t), '--batch', String(b), '--steps', String(steps), '--optimizer', optimizerName, '--out', out, ...(process.argv.includes('--baseline') ? ['--baseline'] : []), ...(process.argv.includes('--no-fast-layers') ? ['--no-fast-layers'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
      if (run.status !== 0) {
        console.log(`\n== batch ${b}, ${t} thread(s): child failed (status ${run.status}, signal ${run.signal})`);
        continue;
      }
      const { readFileSync, rmSync } = await import('node:fs');
      const result = JSON.parse(readFileSync(out, 'utf8')) as ChildResult;
      rmSync(out, { force: true });
      results.push(result);
      report(result, top);
    }
  }
  console.log(`\nsummary (images/s):`);
  for (const r of results) console.log(`  batch ${String(r.batch).padStart(3)}, ${r.backend.padEnd(20)} ${r.imagesPerSecond.toFixed(2).padStart(7)} images/s  (${(r.stepMs / 1000).toFixed(2)} s/step)`);
  const json = option('json');
  if (json) writeFileSync(json, `${JSON.stringify({ loadavg: loadavg(), results }, null, 2)}\n`);
}

await main();
