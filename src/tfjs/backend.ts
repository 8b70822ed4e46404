/**
 * Backend selection. 'wasm' (SIMD, embedded, nothing downloaded) is the default for running
 * models; 'cpu' is pure JS, used where no arithmetic happens (conversion) or as a reference.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors.js';
import { registerWasmTrainingKernels } from './kernels/register.js';

export type BackendName = 'auto' | 'wasm' | 'cpu';

export const BACKEND_NAMES: BackendName[] = ['auto', 'wasm', 'cpu'];

/** Switches tfjs to `name` and returns the backend actually in use. */
export async function useBackend(name: BackendName = 'auto'): Promise<string> {
  const wanted = name === 'auto' ? 'wasm' : name;
  if (!BACKEND_NAMES.includes(name)) throw new UsageError(`unknown backend ${name} (choose from ${BACKEND_NAMES.join(', ')})`);
  // Production mode drops tfjs's debug checks and its console banner about tfjs-node.
  tf.enableProdMode();
  // wasm lacks or gets wrong several gradient kernels that fit needs (src/tfjs/kernels).
  if (wanted === 'wasm') registerWasmTrainingKernels();
  if (tf.getBackend() !== wanted) {
    const ok = await tf.setBackend(wanted);
    if (!ok) throw new UsageError(`the ${wanted} backend could not start`);
  }
  await tf.ready();
  return tf.getBackend();
}
