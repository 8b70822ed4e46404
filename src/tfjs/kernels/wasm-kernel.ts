/**
 * Typed definition of a wasm kernel: tfjs's KernelFunc receives untyped maps of inputs and
 * attributes; this checks the named inputs are there (float32, as every kernel here computes in)
 * and hands them over with the attribute type tfjs declares for the kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export interface WasmKernelArgs<Name extends string, Attrs> {
  inputs: Record<Name, tf.TensorInfo>;
  attrs: Attrs;
  backend: BackendWasm;
}

export function defineWasmKernel<Name extends string, Attrs>(
  kernelName: string,
  inputNames: readonly Name[],
  compute: (args: WasmKernelArgs<Name, Attrs>) => tf.TensorInfo | tf.TensorInfo[],
  setupFunc?: tf.KernelConfig['setupFunc'],
): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const named = {} as Record<Name, tf.TensorInfo>;
    for (const name of inputNames) {
      const info = inputs[name];
      if (info === undefined) throw new Error(`graft wasm ${kernelName}: input '${name}' is missing`);
      if (info.dtype !== 'float32') throw new Error(`graft wasm ${kernelName}: input '${name}' is ${info.dtype}, not float32`);
      named[name] = info;
    }
    return compute({ inputs: named, attrs: (attrs ?? {}) as unknown as Attrs, backend: backend as BackendWasm });
  };
  return { kernelName, backendName: 'wasm', kernelFunc, ...(setupFunc ? { setupFunc } : {}) };
}

/** A TensorInfo's shape as the 4-tuple tfjs's conv/pool geometry functions take. */
export function shape4(x: tf.TensorInfo, kernelName: string): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`graft wasm ${kernelName}: expected a rank-4 tensor, got shape [${x.shape}]`);
  return x.shape as [number, number, number, number];
}

/** graft's models are NHWC, as is every wasm conv kernel these are built from. */
export function assertChannelsLast(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`graft wasm ${kernelName}: data format ${dataFormat} is not supported; use NHWC`);
  }
}
