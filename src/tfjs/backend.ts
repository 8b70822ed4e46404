/**
 * Backend selection. 'wasm' (SIMD, embedded, nothing downloaded) is the default; 'cpu' is pure JS,
 * used where no arithmetic happens (conversion) or as a reference. 'tensorflow' and
 * 'tensorflow-gpu' are the optional peers @tensorflow/tfjs-node and @tensorflow/tfjs-node-gpu
 * (they download libtensorflow when installed, so graft never installs them itself); 'auto' takes
 * the GPU one, then the CPU one, when present, else wasm.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors.js';
import { registerWasmTrainingKernels } from './kernels/register.js';

export type BackendName = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'tensorflow-gpu';

export const BACKEND_NAMES: BackendName[] = ['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'];

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

/** Switches tfjs to `name` and returns the backend actually in use ('tensorflow' for both node peers). */
export async function useBackend(name: BackendName = 'auto'): Promise<string> {
  if (!BACKEND_NAMES.includes(name)) throw new UsageError(`unknown backend ${name} (choose from ${BACKEND_NAMES.join(', ')})`);
  // Production mode drops tfjs's debug checks and its console banner about tfjs-node.
  tf.enableProdMode();
  let wanted: string = name;
  if (name === 'auto') {
    wanted = (await loadNodeBackend('tensorflow-gpu')) || (await loadNodeBackend('tensorflow')) ? 'tensorflow' : 'wasm';
  } else if (name === 'tensorflow' || name === 'tensorflow-gpu') {
    if (!(await loadNodeBackend(name))) {
      throw new UsageError(`--backend ${name} needs ${NODE_PACKAGES[name]}: npm install ${NODE_PACKAGES[name]} (see README, GPU section)`);
    }
    wanted = 'tensorflow';
  }
  // wasm lacks or gets wrong several gradient kernels that training needs (src/tfjs/kernels).
  if (wanted === 'wasm') registerWasmTrainingKernels();
  if (tf.getBackend() !== wanted) {
    const ok = await tf.setBackend(wanted);
    if (!ok) throw new UsageError(`the ${wanted} backend could not start`);
  }
  await tf.ready();
  return tf.getBackend();
}
