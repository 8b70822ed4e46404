/**
 * graft's wasm kernels' JS loops (heap-tasks.ts) on all of the wasm backend's threads.
 *
 * The threaded build's memory is a SharedArrayBuffer, so worker threads can read and write the
 * tensors in place: a task's part 0 runs on the calling thread, parts 1… on workers, and the call
 * returns when all are done (the calling thread blocks in Atomics.wait; kernels are synchronous).
 * While a JS loop runs, XNNPACK's threads sit idle, so this takes no core from anything. On the
 * 2-core machine (bench/train-speed --part a, resnet18 at 32 on 2 threads) moving MaxPoolGrad and
 * the im2col patches here took 5.15 to 5.35 images/s, and the transposes 5.65.
 *
 * The pool starts with useBackend('wasm') (startHeapWorkers), or else with the first task (one
 * worker per extra thread, unref'd so they never keep a process alive); until a worker has
 * loaded, and whenever one fails, its parts run on the calling thread. On the single-threaded build everything runs
 * on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type * as tf from '@tensorflow/tfjs';
import { CONTROL, HEAP_TASKS, type HeapContext, type HeapTaskArgs, type HeapTaskName } from './heap-tasks.js';
import { simdKernels, simdModules } from './simd.js';
import { wasmThreadsInfo } from '../wasm-threads.js';

const { DONE, FAILED, READY } = CONTROL;

/** How long the calling thread waits for a worker's part before giving up on the run. */
const PART_TIMEOUT_MS = 120_000;

interface Pool {
  threads: number;
  /** The backend memory the workers were given (they instantiate the SIMD kernels on it once). */
  memory: WebAssembly.Memory | null;
  workers: Worker[];
  control: Int32Array;
  broken: boolean;
}

let pool: Pool | null = null;
/** Set when a pool's worker failed or exited on its own: from then on everything runs on the calling thread. */
let workersFailed = false;

/** The threads heap tasks run on for `backend`: the wasm backend's threads when they share memory. */
export function heapThreads(backend: BackendWasm): number {
  const info = wasmThreadsInfo();
  if (info === null || !info.threaded) return 1;
  return heapOf(backend) instanceof SharedArrayBuffer ? info.threads : 1;
}

function heapOf(backend: BackendWasm): ArrayBufferLike {
  return (backend as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer;
}

/**
 * tfjs-backend-wasm's WebAssembly.Memory: Emscripten's `wasmMemory` on the threaded build, the
 * instance's exported `memory` (under `asm`) on the single-threaded one.
 */
function memoryOf(backend: BackendWasm): WebAssembly.Memory | null {
  const { wasm } = backend as unknown as { wasm: { wasmMemory?: unknown; asm?: { memory?: unknown } } };
  const memory = wasm.wasmMemory ?? wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/** Whether graft's SIMD kernels (simd.ts) run on this backend's memory. */
export function heapSimd(backend: BackendWasm): boolean {
  const memory = memoryOf(backend);
  return memory !== null && simdKernels(memory) !== null;
}

function poolFor(threads: number, memory: WebAssembly.Memory | null): Pool | null {
  if (threads < 2 || workersFailed) return null;
  if (pool !== null && pool.threads === threads && pool.memory === memory) return pool.broken ? null : pool;
  stopHeapWorkers();
  const control = new Int32Array(new SharedArrayBuffer(4 * (READY + threads - 1)));
  const workers: Worker[] = [];
  const started: Pool = { threads, memory, workers, control, broken: false };
  for (let index = 0; index < threads - 1; index++) {
    // A WebAssembly.Memory arrives in a worker as a new object each time it is sent, which would
    // defeat the per-memory instance cache: it is sent once, here.
    const worker = new Worker(new URL('./heap-worker.js', import.meta.url), { workerData: { control, index, memory, simd: simdModules() } });
    worker.unref();
    // A worker that dies mid-part never signals (the wait times out); after any failure the
    // pool is left alone and the parts run here.
    const fail = () => {
      if (!started.broken) workersFailed = true;
      started.broken = true;
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    workers.push(worker);
  }
  pool = started;
  return pool;
}

/** The pool's workers that have loaded. */
function readyWorkers(running: Pool): Worker[] {
  return running.workers.filter((_, index) => Atomics.load(running.control, READY + index) === 1);
}

/** How the heap tasks run now: threads of the live wasm backend, workers loaded, parts run on workers so far. */
export interface HeapWorkerStats {
  threads: number;
  ready: number;
  partsOnWorkers: number;
}

let partsOnWorkers = 0;

export function heapWorkerStats(): HeapWorkerStats {
  const ready = pool === null || pool.broken ? 0 : readyWorkers(pool).length;
  return { threads: pool?.threads ?? 1, ready, partsOnWorkers };
}

/**
 * Starts the pool for the live wasm backend and waits (up to `timeoutMs`) until its workers
 * have loaded, so that the first tasks already use them: the number of workers ready.
 */
export async function startHeapWorkers(backend: BackendWasm, timeoutMs = 10_000): Promise<number> {
  const running = poolFor(heapThreads(backend), memoryOf(backend));
  if (running === null) return 0;
  const deadline = Date.now() + timeoutMs;
  while (readyWorkers(running).length < running.workers.length && !running.broken && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return readyWorkers(running).length;
}

/** Ends the worker threads (a new pool starts with the next task). */
export function stopHeapWorkers(): void {
  if (pool === null) return;
  const old = pool;
  pool = null;
  old.broken = true;
  for (const worker of old.workers) void worker.terminate();
}

/** The float offset of a float32 tensor in the wasm heap. */
export function heapOffset(backend: BackendWasm, info: tf.TensorInfo): number {
  const data = (backend as unknown as { dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined } }).dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error('graft: a tensor the wasm backend does not hold');
  return data.memoryOffset / 4;
}

/** How many parts runOnHeap would split a task into now: 1 + the workers ready. */
export function heapParts(backend: BackendWasm): number {
  const running = poolFor(heapThreads(backend), memoryOf(backend));
  if (running === null) return 1;
  return 1 + readyWorkers(running).length;
}

/** Runs all parts of `task` over the backend's heap, on as many threads as it has (at most `maxParts` parts). */
export function runOnHeap<Name extends HeapTaskName>(backend: BackendWasm, name: Name, args: HeapTaskArgs<Name>, maxParts = Infinity): void {
  const task = HEAP_TASKS[name] as (heap: Float32Array, args: HeapTaskArgs<Name>, part: number, parts: number, context: HeapContext) => void;
  const buffer = heapOf(backend);
  const memory = memoryOf(backend);
  const context: HeapContext = { memory, simd: simdModules() };
  const heap = new Float32Array(buffer);
  const threads = heapThreads(backend);
  const running = poolFor(threads, memory);
  if (running === null) {
    task(heap, args, 0, 1, context);
    return;
  }
  const { control } = running;
  const ready = readyWorkers(running).slice(0, Math.max(0, maxParts - 1));
  const parts = ready.length + 1;
  Atomics.store(control, DONE, 0);
  Atomics.store(control, FAILED, 0);
  ready.forEach((worker, index) => worker.postMessage({ name, args, buffer, part: index + 1, parts }));
  partsOnWorkers += ready.length;
  let failure: unknown = null;
  try {
    task(heap, args, 0, parts, context);
  } catch (error) {
    failure = error;
  }
  const deadline = Date.now() + PART_TIMEOUT_MS;
  for (let done = Atomics.load(control, DONE); done < parts - 1; done = Atomics.load(control, DONE)) {
    const left = deadline - Date.now();
    if (left <= 0) {
      running.broken = true;
      workersFailed = true;
      throw new Error(`graft: a heap worker did not finish its part of ${name} within ${PART_TIMEOUT_MS / 1000} s`);
    }
    Atomics.wait(control, DONE, done, left);
  }
  if (failure !== null) throw failure;
  if (Atomics.load(control, FAILED) !== 0) {
    // A part failed on a worker: do the whole task here (parts only write their own outputs).
    running.broken = true;
    workersFailed = true;
    task(heap, args, 0, 1, context);
  }
}
