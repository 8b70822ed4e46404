/**
 * Registers graft's wasm training kernels (see each module for the tfjs-backend-wasm 4.22 gap it
 * fills), replacing tfjs's own registration where that one is wrong or slow. Idempotent, and
 * independent of whether the wasm backend has started: a replacement that delegates to the
 * original kernel carries the original's setup function along, which tfjs runs for every
 * registered kernel when the backend is (re)selected.
 */
import * as tf from '@tensorflow/tfjs';
// Registers the wasm backend and its kernels, which these replace or build on.
import '@tensorflow/tfjs-backend-wasm';
import { adamUpdateConfig } from './adam-update.js';
import { wrapBatchMatMul } from './batch-mat-mul.js';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-backprop-input.js';
import { identityConfig } from './identity.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { wrapMean, wrapSum } from './reduce.js';
import { wrapSlice } from './slice.js';
import { tileConfig } from './tile.js';
import { wrapTranspose } from './transpose.js';

/** Kernels that need nothing from the one they replace (if any). */
const STANDALONE_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  maxPoolGradConfig,
  tileConfig,
  identityConfig,
  adamUpdateConfig,
];

/** Kernels that wrap tfjs's own (delegating to it for the cases it does well). */
const WRAPPING_KERNELS: readonly { kernelName: string; wrap: (original: tf.KernelConfig) => tf.KernelConfig }[] = [
  { kernelName: tf.BatchMatMul, wrap: wrapBatchMatMul },
  { kernelName: tf.Sum, wrap: wrapSum },
  { kernelName: tf.Mean, wrap: wrapMean },
  { kernelName: tf.Transpose, wrap: wrapTranspose },
  { kernelName: tf.Slice, wrap: wrapSlice },
];

/** Every config this module registered, to recognise its own on a second call. */
const registeredByGraft = new WeakSet<tf.KernelConfig>();

function install(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm') !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
  registeredByGraft.add(config);
}

function isGrafts(kernelName: string): boolean {
  const current = tf.getKernel(kernelName, 'wasm');
  return current !== undefined && registeredByGraft.has(current);
}

/** The names of the wasm kernels graft supplies or replaces. */
export const GRAFT_WASM_KERNEL_NAMES: readonly string[] = [...STANDALONE_KERNELS.map((k) => k.kernelName), ...WRAPPING_KERNELS.map((k) => k.kernelName)];

export function registerWasmTrainingKernels(): void {
  for (const config of STANDALONE_KERNELS) {
    if (!isGrafts(config.kernelName)) install(config);
  }
  for (const { kernelName, wrap } of WRAPPING_KERNELS) {
    if (isGrafts(kernelName)) continue;
    const original = tf.getKernel(kernelName, 'wasm');
    if (original === undefined) throw new Error(`graft: tfjs-backend-wasm registered no ${kernelName} kernel (is it imported?)`);
    install(wrap(original));
  }
}
