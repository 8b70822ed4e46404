/**
 * graft's wasm SIMD kernels (simd/kernels.wat, compiled into dist by scripts/build-wasm.mjs),
 * instantiated on tfjs-backend-wasm's own memory: a module per memory kind (the threaded build's
 * shared memory, or the single-threaded build's), an instance per memory and thread. No tfjs here:
 * heap workers load this too. Anything missing (the compiled file, an engine without SIMD, a
 * memory it cannot import) makes the kernels unavailable, and their callers take their other path.
 */
import { readFileSync } from 'node:fs';

export interface SimdKernels {
  depthwiseFilterGradient(
    x: number, dy: number, dw: number,
    n: number, h: number, w: number, c: number,
    oh: number, ow: number, kh: number, kw: number,
    sh: number, sw: number, dh: number, dv: number,
    pt: number, pl: number,
  ): void;
}

/** The compiled modules, for shared and for unshared memory; null where one could not be had. */
export interface SimdModules {
  shared: WebAssembly.Module | null;
  unshared: WebAssembly.Module | null;
}

let modules: SimdModules | undefined;

function compile(file: string): WebAssembly.Module | null {
  try {
    return new WebAssembly.Module(readFileSync(new URL(`./simd/${file}`, import.meta.url)));
  } catch {
    return null;
  }
}

export function simdModules(): SimdModules {
  modules ??= { shared: compile('kernels.wasm'), unshared: compile('kernels-unshared.wasm') };
  return modules;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();

/** The kernels on `memory` (this thread's instance), or null when they cannot run there. */
export function simdKernels(memory: WebAssembly.Memory, compiled: SimdModules = simdModules()): SimdKernels | null {
  const known = instances.get(memory);
  if (known !== undefined) return known;
  const module = memory.buffer instanceof SharedArrayBuffer ? compiled.shared : compiled.unshared;
  let kernels: SimdKernels | null = null;
  try {
    if (module !== null) kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdKernels;
  } catch {
    kernels = null;
  }
  instances.set(memory, kernels);
  return kernels;
}
