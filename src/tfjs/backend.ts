/**
 * Backend selection. 'wasm' (SIMD, embedded, nothing downloaded) is the default, threaded over the
 * machine's cores unless told otherwise (src/tfjs/wasm-threads.ts); 'cpu' is pure JS,
 * used where no arithmetic happens (conversion) or as a reference. The GPU paths are optional
 * peers graft never installs itself: 'tensorflow' and 'tensorflow-gpu' are @tensorflow/tfjs-node
 * and @tensorflow/tfjs-node-gpu (they download libtensorflow when installed), 'webgpu' is
 * tfjs-backend-webgpu on the `webgpu` package's Dawn (src/tfjs/webgpu.ts). 'auto' takes, in order:
 * tfjs-node-gpu, WebGPU on a hardware adapter (a software one such as lavapipe is slower than
 * wasm), tfjs-node, wasm.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors.js';
import { BACKEND_NAMES, type BackendName } from './backend-names.js';
import { startHeapWorkers } from './kernels/heap-workers.js';
import { registerWasmTrainingKernels } from './kernels/register.js';
import { defaultThreadCount, installWasmThreads, selectWasm, wasmThreadsInfo } from './wasm-threads.js';
import { describeAdapter, probeWebGpuIsolated, startWebGpu, webgpuAdapter, type GpuAdapterInfo } from './webgpu.js';

// A plain tf.setBackend('wasm') in this process starts the threaded build too.
installWasmThreads();

export { BACKEND_NAMES, type BackendName } from './backend-names.js';

const NODE_PACKAGES: Record<'tensorflow' | 'tensorflow-gpu', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

/** Loads a tfjs-node package, which registers the 'tensorflow' backend; false when not installed. */
async function loadNodeBackend(kind: 'tensorflow' | 'tensorflow-gpu'): Promise<boolean> {
  if (tf.findBackend('tensorflow')) return true;
  try {
    await import(NODE_PACKAGES[kind]);
    return tf.findBackend('tensorflow') !== null;
  } catch {
    return false;
  }
}

export interface BackendOptions {
  /** wasm only: threads to compute on (default: the machine's cores; 1 = single-threaded). */
  threads?: number;
}

/**
 * The backend in use, its thread count (null where graft does not control it: tensorflow, webgpu)
 * and, for webgpu, the adapter.
 */
export interface BackendInfo {
  name: string;
  threads: number | null;
  adapter?: GpuAdapterInfo;
}

/** The backend tfjs computes on now, and its threads. */
export function backendInfo(): BackendInfo {
  const name = tf.getBackend();
  if (name === 'wasm') return { name, threads: wasmThreadsInfo()?.threads ?? 1 };
  if (name === 'webgpu') return { name, threads: null, adapter: webgpuAdapter() };
  return { name, threads: name === 'cpu' ? 1 : null };
}

/**
 * "wasm (2 threads)", "cpu (1 thread)", "webgpu (mesa llvmpipe-…; llvmpipe: Mesa 25.0.7 …; software)",
 * "tensorflow": the line every command prints. A webgpu info without its adapter gets the running one.
 */
export function describeBackend(info: BackendInfo = backendInfo()): string {
  if (info.name === 'webgpu') {
    const adapter = info.adapter ?? webgpuAdapter();
    return adapter ? `webgpu (${describeAdapter(adapter)})` : 'webgpu';
  }
  return info.threads === null ? info.name : `${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'})`;
}

/**
 * Switches tfjs to `name` and returns the backend actually in use ('tensorflow' for both node
 * peers); backendInfo() / describeBackend() then give its thread count.
 */
export async function useBackend(name: BackendName = 'auto', options: BackendOptions = {}): Promise<string> {
  if (!BACKEND_NAMES.includes(name)) throw new UsageError(`unknown backend ${name} (choose from ${BACKEND_NAMES.join(', ')})`);
  const { threads } = options;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new UsageError(`--threads must be a whole number ≥ 1, not ${threads}`);
  }
  // Production mode drops tfjs's debug checks and its console banner about tfjs-node.
  tf.enableProdMode();
  let wanted: string = name;
  if (name === 'auto') {
    wanted = (await loadNodeBackend('tensorflow-gpu')) ? 'tensorflow' : (await hardwareWebGpu()) ? 'webgpu' : (await loadNodeBackend('tensorflow')) ? 'tensorflow' : 'wasm';
  } else if (name === 'tensorflow' || name === 'tensorflow-gpu') {
    if (!(await loadNodeBackend(name))) {
      throw new UsageError(`--backend ${name} needs ${NODE_PACKAGES[name]}: npm install ${NODE_PACKAGES[name]} (see README, GPU section)`);
    }
    wanted = 'tensorflow';
  }
  if (wanted === 'webgpu') {
    // Explicitly asked for, a software adapter is fine (that is how CI runs this path); 'auto'
    // has checked for hardware already.
    await startWebGpu();
    return tf.getBackend();
  }
  if (wanted === 'wasm') {
    // wasm lacks or gets wrong several gradient kernels that training needs (src/tfjs/kernels).
    registerWasmTrainingKernels();
    try {
      await selectWasm(threads ?? defaultThreadCount());
      // The JS loops of graft's kernels on the same threads (off the single-threaded build).
      await startHeapWorkers(tf.engine().findBackend('wasm') as BackendWasm);
    } catch (error) {
      throw new UsageError(`the wasm backend could not start: ${error instanceof Error ? error.message : String(error)}`);
    }
    await tf.ready();
    return tf.getBackend();
  }
  if (tf.getBackend() !== wanted) {
    const ok = await tf.setBackend(wanted);
    if (!ok) throw new UsageError(`the ${wanted} backend could not start`);
  }
  await tf.ready();
  return tf.getBackend();
}

/** Whether WebGPU has a hardware adapter here (the package installed, a driver, not lavapipe). */
async function hardwareWebGpu(): Promise<boolean> {
  const probe = await probeWebGpuIsolated();
  return probe.ok && !probe.adapter.software;
}
