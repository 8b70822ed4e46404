/**
 * bench/train-speed: training speed on the wasm backend.
 *
 *   (a) resnet18 full fine-tune (torchvision architecture, random weights, nothing frozen,
 *       BatchNorm in training mode, new 2-class head, Adam; src/train/loop.ts trainEpoch run by
 *       bench/profile-train.ts --plain, with the training-only fast layers and the heap-sized
 *       passes runTraining uses): images/s at batch 32 (smaller --batches are tried only if a
 *       child fails), on 1 thread and on all threads, each in its own child
 *       process; beside it, where /usr/bin/python3 has torch and torchvision, the same workload in
 *       PyTorch CPU (bench/finetune_torch.py resnet18-train: batch 32, torch.set_num_threads(2),
 *       train mode, Adam) and the ratios. Rates are from the median of --steps timed steps after
 *       a warm-up step. Target (issue 8): ≥ 5.2 images/s on all threads of the 2-core machine.
 * *   (c) threads: every graft wasm gradient kernel (src/tfjs/kernels) beside the forward kernel it
 *       mirrors, and the main forward ops, in GFLOP/s on 1 thread and on all threads (the
 *       threaded SIMD build, src/tfjs/wasm-threads.ts), a few small element-wise ops (where
 *       handing work to another thread costs more than it saves), then training steps of a small
 *       CNN and of a VGG-like block.
 *       FLOPs count 2 per multiply-add of the convolution or product itself (a backward kernel is
 *       credited with its forward's FLOPs); pooling has none, so it is in ms only. Times are the
 *       best of --repeats runs after a warm-up: the least disturbed by whatever else runs. "cores
 *       busy" is the process's CPU time over wall time while timing (per thread count): on a
 *       machine that other work keeps busy, threads that get no core show there.
 *
 *   npm run build && node dist/bench/train-speed.js [--part a,c] [--threads 1,2] [--repeats 5] [--json out.json]
 *       [--steps 3] [--batches 32,16,8] [--torch-threads 2] [--skip-torch] [--webgpu]
 *
 * --threads: the thread counts to compare (default 1 and the machine's cores).
 * --json: part c's timings, or with part a only, part a's results.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { describeBackend, useBackend } from '../src/tfjs/backend.js';
import { defaultThreadCount, wasmThreadsInfo } from '../src/tfjs/wasm-threads.js';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

// ---- (c) threads ---------------------------------------------------------------------------------

interface Case {
  group: string;
  what: string;
  /** null: no FLOPs to count (pooling). */
  flops: number | null;
  /** Makes its inputs and returns them with the timed call (which disposes its outputs). */
  setup: () => { run: () => void; inputs: tf.Tensor[] };
  /** Time one run after the warm-up (tfjs's own slow kernels), not the best of --repeats. */
  once?: boolean;
}

interface Timing {
  group: string;
  what: string;
  threads: number;
  ms: number;
  gflops: number | null;
  /** Process CPU time over wall time while timing: how many cores the runs kept busy. */
  cores: number;
}

let repeats = 5;

/** Best of `times` runs after a warm-up, in ms, and the cores they kept busy. */
function bestMs(run: () => void, times = repeats): { ms: number; cores: number } {
  run();
  let best = Infinity;
  const cpu = process.cpuUsage();
  const began = performance.now();
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  const used = process.cpuUsage(cpu);
  return { ms: best, cores: (used.user + used.system) / 1000 / (performance.now() - began) };
}

/** Seeded-free but reproducible enough: timings do not depend on the values. */
const uniform = (shape: number[]) => tf.randomUniform(shape, -1, 1, 'float32', 1);

function kernelCase(group: string, what: string, flops: number | null, kernel: string, make: () => Record<string, tf.Tensor>, attrs: tf.NamedAttrMap): Case {
  return {
    group,
    what,
    flops,
    setup: () => {
      const inputs = make();
      return {
        inputs: Object.values(inputs),
        run: () => {
          const out = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor | tf.Tensor[];
          // Reading one value waits for the result (wasm is synchronous anyway) and keeps it honest.
          (Array.isArray(out) ? out[0] : out).dataSync();
          tf.dispose(out);
        },
      };
    },
  };
}

/**
 * A kernel config of tfjs-backend-wasm's own, captured before graft replaced it, called directly on
 * the current backend (its setup, which tfjs no longer runs once it is unregistered, first).
 */
function originalCase(group: string, what: string, flops: number, config: tf.KernelConfig | undefined, make: () => Record<string, tf.Tensor>, attrs: tf.NamedAttrMap): Case[] {
  if (config === undefined) return [];
  return [
    {
      group,
      what,
      flops,
      once: true,
      setup: () => {
        const backend = tf.backend() as BackendWasm;
        config.setupFunc?.(backend);
        const inputs = make();
        return {
          inputs: Object.values(inputs),
          run: () => {
            const out = config.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
            backend.disposeData(out.dataId);
          },
        };
      },
    },
  ];
}

/** tfjs-backend-wasm's kernels that graft replaces (slow ones), for comparison. */
interface Originals {
  conv2DBackpropInput?: tf.KernelConfig;
  batchMatMul?: tf.KernelConfig;
}

/** Read as this module loads: before any useBackend registers graft's kernels in their place. */
const ORIGINALS: Originals = { conv2DBackpropInput: tf.getKernel(tf.Conv2DBackpropInput, 'wasm'), batchMatMul: tf.getKernel(tf.BatchMatMul, 'wasm') };

function threadCases(originals: Originals): Case[] {
  const cases: Case[] = [];
  const n = 4;
  const conv = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  for (const [label, size, cin, cout, stride] of [
    ['conv 3×3 4×56×56×64 → 64, stride 1', 56, 64, 64, 1],
    ['conv 3×3 4×56×56×64 → 128, stride 2', 56, 64, 128, 2],
    ['conv 3×3 4×14×14×256 → 256, stride 1', 14, 256, 256, 1],
  ] as const) {
    const out = Math.ceil(size / stride);
    const flops = 2 * n * out * out * cout * cin * 9;
    const attrs = { ...conv, strides: stride };
    const x = () => uniform([n, size, size, cin]);
    const w = () => uniform([3, 3, cin, cout]);
    const dy = () => uniform([n, out, out, cout]);
    cases.push(
      kernelCase(label, 'forward Conv2D', flops, tf.Conv2D, () => ({ x: x(), filter: w() }), attrs),
      kernelCase(label, 'Conv2DBackpropFilter (graft)', flops, tf.Conv2DBackpropFilter, () => ({ x: x(), dy: dy() }), { ...attrs, filterShape: [3, 3, cin, cout] }),
      kernelCase(label, 'Conv2DBackpropInput (graft)', flops, tf.Conv2DBackpropInput, () => ({ dy: dy(), filter: w() }), { ...attrs, inputShape: [n, size, size, cin] }),
    );
    if (size === 56) {
      cases.push(...originalCase(label, 'Conv2DBackpropInput (tfjs-backend-wasm)', flops, originals.conv2DBackpropInput, () => ({ dy: dy(), filter: w() }), { ...attrs, inputShape: [n, size, size, cin] }));
    }
  }
  {
    // FCN-32s's upsampling: conv2dTranspose 64×64 stride 32 is Conv2DBackpropInput forward.
    const label = 'conv2dTranspose 64×64 stride 32, 1×16×16×21 → 544×544×21 (FCN-32s)';
    const flops = 2 * 16 * 16 * 64 * 64 * 21 * 21;
    const attrs = { strides: 32, pad: 'valid', dataFormat: 'NHWC', dilations: 1, inputShape: [1, 544, 544, 21] };
    const make = () => ({ dy: uniform([1, 16, 16, 21]), filter: uniform([64, 64, 21, 21]) });
    cases.push(
      kernelCase(label, 'Conv2DBackpropInput (graft)', flops, tf.Conv2DBackpropInput, make, attrs),
      ...originalCase(label, 'Conv2DBackpropInput (tfjs-backend-wasm)', flops, originals.conv2DBackpropInput, make, attrs),
    );
  }
  {
    const label = 'depthwise 3×3 4×56×56×64, stride 1';
    const flops = 2 * n * 56 * 56 * 64 * 9;
    const attrs = { strides: 1, pad: 'same', dilations: 1 };
    cases.push(
      kernelCase(label, 'forward DepthwiseConv2dNative', flops, tf.DepthwiseConv2dNative, () => ({ x: uniform([n, 56, 56, 64]), filter: uniform([3, 3, 64, 1]) }), attrs),
      kernelCase(label, 'DepthwiseConv2dNativeBackpropFilter (graft)', flops, tf.DepthwiseConv2dNativeBackpropFilter, () => ({ x: uniform([n, 56, 56, 64]), dy: uniform([n, 56, 56, 64]) }), { ...attrs, filterShape: [3, 3, 64, 1] }),
      kernelCase(label, 'DepthwiseConv2dNativeBackpropInput (graft)', flops, tf.DepthwiseConv2dNativeBackpropInput, () => ({ dy: uniform([n, 56, 56, 64]), filter: uniform([3, 3, 64, 1]) }), { ...attrs, inputShape: [n, 56, 56, 64] }),
    );
  }
  {
    const label = 'max pool 3×3 stride 2, 4×56×56×64';
    const pool = { filterSize: 3, strides: 2, pad: 'same' };
    cases.push(
      kernelCase(label, 'forward MaxPool', null, tf.MaxPool, () => ({ x: uniform([n, 56, 56, 64]) }), pool),
      kernelCase(
        label,
        'MaxPoolGrad (graft)',
        null,
        tf.MaxPoolGrad,
        () => {
          const input = uniform([n, 56, 56, 64]);
          const output = tf.maxPool(input as tf.Tensor4D, 3, 2, 'same');
          return { dy: tf.onesLike(output), input, output };
        },
        pool,
      ),
    );
  }
  for (const [label, m, k, nOut] of [
    ['dense 64×1024 → 1024', 64, 1024, 1024],
    ['dense 256×4096 → 1000', 256, 4096, 1000],
  ] as const) {
    const flops = 2 * m * k * nOut;
    cases.push(
      kernelCase(label, 'forward x·w (BatchMatMul)', flops, tf.BatchMatMul, () => ({ a: uniform([m, k]), b: uniform([k, nOut]) }), { transposeA: false, transposeB: false }),
      kernelCase(label, 'dx = dy·wᵀ (graft BatchMatMul)', flops, tf.BatchMatMul, () => ({ a: uniform([m, nOut]), b: uniform([k, nOut]) }), { transposeA: false, transposeB: true }),
      kernelCase(label, 'dw = xᵀ·dy (graft BatchMatMul)', flops, tf.BatchMatMul, () => ({ a: uniform([m, k]), b: uniform([m, nOut]) }), { transposeA: true, transposeB: false }),
    );
    if (m === 64) {
      cases.push(
        ...originalCase(label, 'dx = dy·wᵀ (tfjs-backend-wasm)', flops, originals.batchMatMul, () => ({ a: uniform([m, nOut]), b: uniform([k, nOut]) }), { transposeA: false, transposeB: true }),
        ...originalCase(label, 'dw = xᵀ·dy (tfjs-backend-wasm)', flops, originals.batchMatMul, () => ({ a: uniform([m, k]), b: uniform([m, nOut]) }), { transposeA: true, transposeB: false }),
      );
    }
  }
  {
    const label = 'matMul 1024×1024·1024×1024';
    cases.push(kernelCase(label, 'forward BatchMatMul', 2 * 1024 ** 3, tf.BatchMatMul, () => ({ a: uniform([1024, 1024]), b: uniform([1024, 1024]) }), { transposeA: false, transposeB: false }));
  }
  {
    // Small element-wise ops (activations, Adam's updates): XNNPACK splits some of them over the
    // threads too, and waking a sleeping thread can cost more than the work.
    const label = 'small element-wise ops (no FLOPs counted)';
    cases.push(
      kernelCase(label, 'Relu 32×32×32×32', null, tf.Relu, () => ({ x: uniform([32, 32, 32, 32]) }), {}),
      kernelCase(label, 'Square 2048×256', null, tf.Square, () => ({ x: uniform([2048, 256]) }), {}),
      kernelCase(label, 'Add 2048×256', null, tf.Add, () => ({ a: uniform([2048, 256]), b: uniform([2048, 256]) }), {}),
      kernelCase(label, 'MaxPool 2×2 32×32×32×32', null, tf.MaxPool, () => ({ x: uniform([32, 32, 32, 32]) }), { filterSize: 2, strides: 2, pad: 'valid' }),
    );
  }
  return cases;
}

interface StepModel {
  group: string;
  input: [number, number, number];
  batch: number;
  layers: (init: (seed: number) => ReturnType<typeof tf.initializers.glorotUniform>) => tf.layers.Layer[];
}

/** Training steps: a small CNN (many small ops), and one whose convolutions dominate. */
const STEP_MODELS: StepModel[] = [
  {
    group: 'training step, small CNN (conv, pool, depthwise, dense), batch 32 of 32×32×3',
    input: [32, 32, 3],
    batch: 32,
    layers: (init) => [
      tf.layers.conv2d({ inputShape: [32, 32, 3], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: init(3) }),
      tf.layers.conv2d({ filters: 128, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(4) }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(5) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(6) }),
    ],
  },
  {
    group: 'training step, VGG-like block (4 conv 3×3, 64–128 channels), batch 8 of 56×56×3',
    input: [56, 56, 3],
    batch: 8,
    layers: (init) => [
      tf.layers.conv2d({ inputShape: [56, 56, 3], filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 128, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.conv2d({ filters: 128, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(4) }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(5) }),
    ],
  },
];

/** One trainOnBatch (forward, backward, Adam update, the loss read back), best of `repeats`. */
async function timeTrainingStep(spec: StepModel, threads: number): Promise<Timing> {
  const model = tf.sequential({ layers: spec.layers((seed) => tf.initializers.glorotUniform({ seed })) });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const xs = uniform([spec.batch, ...spec.input]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: spec.batch }, (_, i) => i % 10), 'int32'), 10));
  const step = async () => {
    const start = performance.now();
    await model.trainOnBatch(xs, ys);
    return performance.now() - start;
  };
  await step();
  let best = Infinity;
  const cpu = process.cpuUsage();
  const began = performance.now();
  for (let i = 0; i < repeats; i++) best = Math.min(best, await step());
  const used = process.cpuUsage(cpu);
  const cores = (used.user + used.system) / 1000 / (performance.now() - began);
  tf.dispose([xs, ys]);
  model.optimizer.dispose();
  model.dispose();
  return { group: spec.group, what: 'model.trainOnBatch (forward, backward, Adam)', threads, ms: best, gflops: null, cores };
}

async function threadsPart(): Promise<void> {
  const counts = (option('threads') ?? `1,${defaultThreadCount()}`).split(',').map(Number);
  if (counts.some((t) => !Number.isInteger(t) || t < 1)) throw new Error('--threads: a list of whole numbers ≥ 1, e.g. 1,2');
  const timings: Timing[] = [];
  console.log(`(c) wasm kernels, threads ${counts.join(' vs ')}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; best of ${repeats}`);
  for (const threads of counts) {
    await useBackend('wasm', { threads });
    const info = wasmThreadsInfo();
    console.log(`backend: ${describeBackend()}${info?.fallback ? ` (fell back: ${info.fallback})` : ''}`);
    for (const c of threadCases(ORIGINALS)) {
      const { run, inputs } = c.setup();
      const { ms, cores } = bestMs(run, c.once ? 1 : repeats);
      tf.dispose(inputs);
      timings.push({ group: c.group, what: c.what, threads, ms, gflops: c.flops === null ? null : c.flops / ms / 1e6, cores });
    }
    for (const spec of STEP_MODELS) timings.push(await timeTrainingStep(spec, threads));
    if (tf.memory().numTensors !== 0) console.log(`(${tf.memory().numTensors} tensors left on the backend)`);
  }
  // One row per kernel: GFLOP/s (or ms) per thread count, and the speed-up of the last over the first.
  const rate = (t: Timing | undefined) => (t === undefined ? '' : t.gflops === null ? `${t.ms.toFixed(1)} ms` : `${t.gflops.toFixed(1)} GF/s`);
  let group = '';
  const header = `  ${'kernel'.padEnd(46)}${counts.map((t) => `${t} thread${t === 1 ? '' : 's'}`.padStart(13)).join('')}   speed-up   cores busy`;
  for (const row of timings.filter((t) => t.threads === counts[0])) {
    if (row.group !== group) {
      group = row.group;
      console.log(`\n${group}`);
      console.log(header);
    }
    const same = counts.map((threads) => timings.find((t) => t.group === row.group && t.what === row.what && t.threads === threads));
    const first = same[0];
    const last = same[same.length - 1];
    const speedup = first && last ? first.ms / last.ms : NaN;
    const busy = same.map((t) => (t === undefined ? '-' : t.cores.toFixed(1))).join(' / ');
    console.log(`  ${row.what.padEnd(46)}${same.map((t) => rate(t).padStart(13)).join('')}   ${`${speedup.toFixed(2)}×`.padStart(8)}   ${busy}`);
  }
  const json = option('json');
  if (json) writeFileSync(json, `${JSON.stringify({ part: 'c', counts, loadavg: loadavg(), timings }, null, 2)}\n`);
}

// ---- (a) resnet18 full fine-tune ----------------------------------------------------------------

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

interface ResnetRun {
  threads: number;
  backend: string;
  batch: number;
  /** Batches tried before (bigger ones that failed), with why. */
  failed: string[];
  imagesPerSecond: number;
  stepSeconds: number[];
  heapMB: number;
}

/** One graft child (bench/profile-train.js --child --plain) at `batch`; null when it fails (e.g. the heap). */
function graftResnet(threads: number, batch: number, steps: number, webgpu = false): { run?: ResnetRun; why?: string } {
  const script = path.join(here, 'profile-train.js');
  const out = path.join(tmpdir(), `graft-train-speed-${process.pid}-${threads}-${batch}.json`);
  const child = spawnSync(process.execPath, [script, '--child', '--plain', '--threads', String(threads), '--batch', String(batch), '--steps', String(steps), '--out', out, ...(webgpu ? ['--webgpu'] : [])], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (child.status !== 0 || !existsSync(out)) {
    const lines = (child.stderr ?? '').trim().split('\n').filter((l) => /Error|memory|abort/i.test(l));
    return { why: `batch ${batch}: ${child.signal ? `killed (${child.signal})` : `exit ${child.status}`}${lines.length ? `: ${lines[0].slice(0, 120)}` : ''}` };
  }
  const r = JSON.parse(readFileSync(out, 'utf8')) as { backend: string; batch: number; medianMs: number; stepMsEach: number[]; heapMB: number };
  rmSync(out, { force: true });
  return { run: { threads, backend: r.backend, batch: r.batch, failed: [], imagesPerSecond: (r.batch * 1000) / r.medianMs, stepSeconds: r.stepMsEach.map((ms) => ms / 1000), heapMB: r.heapMB } };
}

interface TorchRun {
  imagesPerSecond: number;
  batch: number;
  threads: number;
  batchSeconds: number[];
}

function torchResnet(threads: number, steps: number): TorchRun | string {
  const script = [path.resolve(here, '../../bench/finetune_torch.py'), path.resolve(here, 'finetune_torch.py')].find(existsSync);
  if (!script) return 'bench/finetune_torch.py not found';
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} cannot import torch and torchvision`;
  const child = spawnSync(PYTHON, [script, 'resnet18-train', '--batches', String(steps), '--batch', '32', '--threads', String(threads)], { encoding: 'utf8', timeout: 600_000 });
  const line = (child.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    const r = JSON.parse(line) as { imagesPerSecond: number; batch: number; batchSeconds: number[] };
    return { imagesPerSecond: r.imagesPerSecond, batch: r.batch, threads, batchSeconds: r.batchSeconds };
  } catch {
    return `PyTorch child failed (exit ${child.status}): ${(child.stderr ?? '').trim().split('\n').pop()}`;
  }
}

async function resnetPart(): Promise<void> {
  const counts = (option('threads') ?? `1,${defaultThreadCount()}`).split(',').map(Number);
  const steps = Number(option('steps') ?? 3);
  const batches = (option('batches') ?? '32,16,8').split(',').map(Number);
  const torchThreads = Number(option('torch-threads') ?? 2);
  console.log(`(a) resnet18 full fine-tune (Adam, BatchNorm training, 224×224), graft wasm threads ${counts.join(' vs ')}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; median of ${steps} steps`);
  const runs: ResnetRun[] = [];
  for (const threads of counts) {
    const failed: string[] = [];
    for (const batch of batches) {
      const { run, why } = graftResnet(threads, batch, steps);
      if (run) {
        runs.push({ ...run, failed });
        break;
      }
      failed.push(why!);
      console.log(`  graft, ${threads} thread(s): ${why}; trying a smaller batch`);
    }
  }
  // WebGPU where an adapter is at hand (CI's lavapipe is software Vulkan on the CPU: a code-path
  // figure, not a GPU one): --webgpu, one run at the first batch that fits.
  if (process.argv.includes('--webgpu')) {
    const { probeWebGpuIsolated } = await import('../src/tfjs/webgpu.js');
    const probe = await probeWebGpuIsolated();
    if (!probe.ok) console.log(`  graft webgpu: skipped, ${probe.reason}`);
    else {
      const failed: string[] = [];
      for (const batch of batches) {
        const { run, why } = graftResnet(0, batch, Math.min(steps, 2), true);
        if (run) {
          runs.push({ ...run, failed });
          break;
        }
        failed.push(why!);
        console.log(`  graft webgpu: ${why}; trying a smaller batch`);
      }
    }
  }
  const torch = process.argv.includes('--skip-torch') ? 'skipped (--skip-torch)' : torchResnet(torchThreads, steps);
  console.log(`\n  ${'run'.padEnd(40)}${'batch'.padStart(6)}${'images/s'.padStart(10)}${'× PyTorch'.padStart(11)}   steps (s)`);
  const torchRate = typeof torch === 'string' ? null : torch.imagesPerSecond;
  for (const r of runs) {
    const ratio = torchRate === null ? '' : `${(r.imagesPerSecond / torchRate).toFixed(2)}×`;
    const note = r.batch !== batches[0] ? ` (batch ${batches[0]} did not fit: ${r.failed[0] ?? ''})` : '';
    console.log(`  ${`graft ${r.backend}`.padEnd(40)}${String(r.batch).padStart(6)}${r.imagesPerSecond.toFixed(2).padStart(10)}${ratio.padStart(11)}   ${r.stepSeconds.map((x) => x.toFixed(2)).join(' / ')}; heap ${r.heapMB.toFixed(0)} MB${note}`);
  }
  if (typeof torch === 'string') console.log(`  PyTorch: ${torch}`);
  else console.log(`  ${`PyTorch CPU (${torch.threads} threads)`.padEnd(40)}${String(torch.batch).padStart(6)}${torch.imagesPerSecond.toFixed(2).padStart(10)}${'1.00×'.padStart(11)}   ${torch.batchSeconds.map((x) => x.toFixed(2)).join(' / ')}`);
  const best = Math.max(0, ...runs.map((r) => r.imagesPerSecond));
  console.log(`  target ≥ 5.2 images/s on all threads: best ${best.toFixed(2)} images/s${best >= 5.2 ? ' (met)' : ' (not met)'}`);
  const json = option('json');
  if (json && option('part') === 'a') writeFileSync(json, `${JSON.stringify({ part: 'a', counts, loadavg: loadavg(), runs, torch }, null, 2)}\n`);
}

// ---- dispatch ----------------------------------------------------------------------------------

const PARTS: Record<string, () => Promise<void>> = { a: resnetPart, c: threadsPart };

async function main(): Promise<void> {
  repeats = Number(option('repeats') ?? 5);
  const part = option('part');
  const chosen = part === undefined ? Object.keys(PARTS) : part.split(',');
  for (const name of chosen) {
    const run = PARTS[name];
    if (!run) throw new Error(`--part: one of ${Object.keys(PARTS).join(', ')}`);
    await run();
  }
}

await main();
