/**
 * How many examples one forward/backward pass may take. tfjs's gradient tape keeps every
 * intermediate tensor of the forward pass until the backward pass has used it, and the wasm
 * backend keeps all tensors in one wasm32 heap that cannot grow past 4 GiB: past that it aborts
 * ("memory access out of bounds") and takes the process with it, so a batch is split before it
 * gets there (gradient accumulation, src/train/loop.ts). On WebGPU, one tensor may not exceed the
 * adapter's maxStorageBufferBindingSize (a larger one computes zeros), which bounds the pass the
 * same way. Other backends are left to their own memory.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import { flatLayers, outputShapes, perExample } from '../tfjs/layer-shapes.js';
import { webgpuAdapter } from '../tfjs/webgpu.js';

/** wasm32's ceiling (tfjs-backend-wasm is built with ALLOW_MEMORY_GROWTH up to 4 GiB). */
const WASM_HEAP_BYTES = 4 * 1024 ** 3;

/**
 * Heap bytes a training step takes per float of layer output, per example. Measured on the wasm
 * backend from the heap's growth between batch 4 and batch 8 of a resnet18 step (Adam, BatchNorm
 * in training mode through src/train/fast-layers.ts): 106 MB per example over 8.78 M output
 * floats, 12.1 bytes (tfjs's own BatchNorm chain kept twice that: 23.6). Rounded up: an estimate
 * too high only costs speed (more passes), one too low aborts the run.
 */
const STEP_BYTES_PER_OUTPUT_FLOAT = 13;

/** Kept below the ceiling: the allocator fragments, and an abort loses the whole run. */
const HEAP_USABLE_FRACTION = 0.85;

/** Heap kept free for the weights' gradients, optimizer slots, the batch and the allocator's slack. */
function reservedBytes(model: tf.LayersModel): number {
  const parameters = model.weights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
  // weights + gradients + running sum of gradients + two Adam slots, and 512 MiB of slack.
  return parameters * 4 * 5 + 512 * 1024 ** 2;
}

/** Each layer's output floats for one example. */
function outputFloats(model: tf.LayersModel): number[] {
  return flatLayers(model)
    .filter((layer) => layer.getClassName() !== 'InputLayer')
    .flatMap((layer) => outputShapes(layer).map(perExample));
}

/** Floats the layers of `model` output for one example (what the tape keeps, up to a factor). */
export function outputFloatsPerExample(model: tf.LayersModel): number {
  return outputFloats(model).reduce((a, b) => a + b, 0);
}

/** Equal passes rather than full ones and a remainder: 32 over a limit of 12 → 11, 11, 10. */
function equalPasses(batchSize: number, fits: number): number {
  if (fits >= batchSize) return batchSize;
  return Math.ceil(batchSize / Math.ceil(batchSize / fits));
}

/**
 * The micro-batch for training `model` at `batchSize` on the current backend: `requested` when
 * given, else the whole batch unless its tape would not fit in the wasm heap, or one of its layer
 * outputs would exceed WebGPU's binding limit.
 */
export function chooseMicroBatch(model: tf.LayersModel, batchSize: number, requested?: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1) throw new UsageError(`--micro-batch must be a whole number ≥ 1, not ${requested}`);
    return Math.min(requested, batchSize);
  }
  if (tf.getBackend() === 'webgpu') {
    const limit = webgpuAdapter()?.maxBindingBytes ?? 0;
    const largest = Math.max(1, ...outputFloats(model)) * 4;
    // Not even one example fits: left to checkGpuLimits, which says so before training starts.
    return limit > 0 && largest <= limit ? equalPasses(batchSize, Math.floor(limit / largest)) : batchSize;
  }
  if (tf.getBackend() !== 'wasm') return batchSize;
  const perExample = outputFloatsPerExample(model) * STEP_BYTES_PER_OUTPUT_FLOAT;
  const available = WASM_HEAP_BYTES * HEAP_USABLE_FRACTION - reservedBytes(model);
  return equalPasses(batchSize, Math.max(1, Math.floor(available / Math.max(perExample, 1))));
}
