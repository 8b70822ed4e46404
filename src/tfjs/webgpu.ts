/**
 * TensorFlow.js's WebGPU backend under Node. The GPU comes from the optional peer `webgpu` (Dawn:
 * its binary is inside the npm tarball and needs only the system's Vulkan loader), so nothing is
 * downloaded at install. Everything WebGPU-specific lives here:
 *
 * - probing: is the package there, is there an adapter, is it hardware or a software rasterizer
 *   (lavapipe, SwiftShader: fine for tests, never picked by `--backend auto`);
 * - starting: registering tfjs's backend on our own device, and never leaving the engine broken
 *   when that fails (a failed setBackend('webgpu') sticks until removeBackend('webgpu'));
 * - guarding: a tensor larger than the device's biggest storage binding does not throw in Dawn, it
 *   computes zeros and reports an "uncaptured" error on the device. checkGpuLimits() refuses such a
 *   model up front and checkGpuErrors() stops a run at the first uncaptured error.
 */
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GraftError, UsageError } from '../errors.js';
import { adapterAsData, rawAdapter, type RawAdapter } from './webgpu-probe.js';
import { flatLayers, outputShapes, perExample } from './layer-shapes.js';

export const WEBGPU_PACKAGE = 'webgpu';

/** What graft reports about the adapter it computes on. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU rasterizer (lavapipe/llvmpipe, SwiftShader, WARP): correct but slow. */
  software: boolean;
  /** The largest tensor, in bytes, one kernel can bind (min of the binding and buffer limits). */
  maxBindingBytes: number;
}

// The slice of the WebGPU API graft touches (the `webgpu` package is optional, so its types are not
// ours to import).
interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<AdapterLike | null>;
}
interface AdapterLike {
  readonly info?: Record<string, unknown> & { isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
  readonly limits: Record<string, number>;
  readonly features: { has(name: string): boolean };
  requestDevice(descriptor?: unknown): Promise<DeviceLike>;
}
interface DeviceLike {
  addEventListener(type: 'uncapturederror', listener: (event: { error: { message: string }; preventDefault(): void }) => void): void;
  readonly lost: Promise<{ reason?: string; message: string }>;
  destroy(): void;
}

export type WebGpuProbe = { ok: true; adapter: GpuAdapterInfo } | { ok: false; reason: string };

const NOT_INSTALLED = `the ${WEBGPU_PACKAGE} package is not installed (npm install ${WEBGPU_PACKAGE}@^0.6.2; see README, GPU section)`;

let instance: GpuLike | undefined;
let probed: Promise<WebGpuProbe> | undefined;
/** The adapter and device of the running backend (undefined until startWebGpu succeeds). */
let current: { adapter: GpuAdapterInfo; device: DeviceLike } | undefined;
/** The first uncaptured GPU error since the last check: later ones are mostly its consequences. */
let pendingError: string | undefined;

/** Dawn's instance, made once per process (and the GPU* constants tfjs reads from globalThis). */
async function gpuInstance(): Promise<GpuLike | string> {
  if (instance) return instance;
  let module: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    // A variable specifier: the package is an optional peer, absent from most installs.
    const name = WEBGPU_PACKAGE;
    module = (await import(name)) as typeof module;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === 'ERR_MODULE_NOT_FOUND' ? NOT_INSTALLED : `the ${WEBGPU_PACKAGE} package did not load (${firstLine(error)})`;
  }
  for (const [key, value] of Object.entries(module.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  instance = module.create([]);
  return instance;
}

function describeInfo(adapter: RawAdapter): GpuAdapterInfo {
  const text = (key: string) => (typeof adapter.info[key] === 'string' ? (adapter.info[key] as string) : '');
  const fields = { vendor: text('vendor'), architecture: text('architecture'), device: text('device'), description: text('description') };
  // isFallbackAdapter moved from the adapter to its info in the spec; Dawn sets it for lavapipe.
  // The names catch drivers that do not say so.
  const software =
    adapter.info.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true ||
    /llvmpipe|lavapipe|softpipe|swiftshader|basic render driver/i.test(Object.values(fields).join(' '));
  const { maxStorageBufferBindingSize = 0, maxBufferSize = maxStorageBufferBindingSize } = adapter.limits;
  return { ...fields, software, maxBindingBytes: Math.min(maxStorageBufferBindingSize, maxBufferSize) };
}

async function requestAdapter(gpu: GpuLike): Promise<AdapterLike | null> {
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

/** Whether WebGPU can run here, and on what; asked once per process. */
export function probeWebGpu(): Promise<WebGpuProbe> {
  probed ??= (async (): Promise<WebGpuProbe> => {
    const gpu = await gpuInstance();
    if (typeof gpu === 'string') return { ok: false, reason: gpu };
    try {
      const adapter = await rawAdapter(gpu);
      return adapter ? { ok: true, adapter: describeInfo(adapter) } : { ok: false, reason: NO_ADAPTER };
    } catch (error) {
      return { ok: false, reason: `no WebGPU adapter (${firstLine(error)})` };
    }
  })();
  return probed;
}

const NO_ADAPTER = 'no WebGPU adapter (Dawn found no usable GPU driver; on Linux it needs Vulkan)';

let probedIsolated: Promise<WebGpuProbe> | undefined;

/**
 * probeWebGpu() asked in a child process (src/tfjs/webgpu-probe.ts), for `--backend auto`: Dawn
 * stays out of this process, and its drivers' messages out of this process's stderr, unless WebGPU
 * is chosen. Costs nothing when the package is absent, one short-lived node process otherwise.
 */
export function probeWebGpuIsolated(): Promise<WebGpuProbe> {
  probedIsolated ??= (async (): Promise<WebGpuProbe> => {
    if (instance) return probeWebGpu();
    try {
      createRequire(import.meta.url).resolve(WEBGPU_PACKAGE);
    } catch {
      return { ok: false, reason: NOT_INSTALLED };
    }
    const script = fileURLToPath(new URL('./webgpu-probe.js', import.meta.url));
    const stdout = await new Promise<string>((resolve) => {
      execFile(process.execPath, [script], { timeout: 30_000, encoding: 'utf8' }, (error, out) => resolve(error ? '' : out));
    });
    let answer: RawAdapter | { error: string } | null;
    try {
      answer = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof answer;
    } catch {
      return { ok: false, reason: 'the WebGPU probe failed (crashed or timed out)' };
    }
    if (answer === null) return { ok: false, reason: NO_ADAPTER };
    if ('error' in answer) return { ok: false, reason: `no WebGPU adapter (${answer.error})` };
    return { ok: true, adapter: describeInfo(answer) };
  })();
  return probedIsolated;
}

/** The adapter of the running webgpu backend, if any. */
export function webgpuAdapter(): GpuAdapterInfo | undefined {
  return engineBackendName() === 'webgpu' ? current?.adapter : undefined;
}

/**
 * "mesa llvmpipe-llvm-15-0-6-256-bits; llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) 0.0.1; software": vendor
 * and device (Dawn gives them normalised, lower case with dashes), then the driver's description.
 */
export function describeAdapter(adapter: GpuAdapterInfo): string {
  const name = [adapter.vendor, adapter.device.replace(/^-+|-+$/g, '') || adapter.architecture].filter(Boolean).join(' ');
  return [name, adapter.description, adapter.software ? 'software' : ''].filter(Boolean).join('; ') || 'unknown adapter';
}

/**
 * Switches tfjs to WebGPU, on any adapter (software ones included: `auto` decides about those).
 * Throws a UsageError saying why when it cannot; the engine is then left as it was.
 */
export async function startWebGpu(): Promise<GpuAdapterInfo> {
  if (engineBackendName() === 'webgpu' && current) return current.adapter;
  const probe = await probeWebGpu();
  if (!probe.ok) throw new UsageError(`--backend webgpu: ${probe.reason}`);
  const gpu = instance!;
  // The package registers its own factory at import when navigator.gpu already exists; ours must be
  // the one used (it keeps the device, for its errors and limits), so drop any other first.
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  if (!current && tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  installNavigatorGpu(gpu);
  if (!tf.findBackendFactory('webgpu')) {
    // Priority 0: tfjs itself never picks it (wasm is 2); only useBackend does.
    tf.registerBackend('webgpu', async () => {
      const adapter = await requestAdapter(gpu);
      if (!adapter) throw new Error('the WebGPU adapter went away');
      const device = await adapter.requestDevice(deviceDescriptor(adapter));
      watchDevice(device);
      current = { adapter: describeInfo(adapterAsData(adapter)), device };
      return new WebGPUBackend(device as never, adapter.info as never);
    }, 0);
  }
  const previous = engineBackendName();
  let ok = false;
  let why = '';
  try {
    ok = await tf.setBackend('webgpu');
  } catch (error) {
    why = firstLine(error);
  }
  if (!ok) {
    // A failed setBackend leaves the engine pointing at a backend that does not exist: every later
    // op would fail. Forget webgpu and go back to what ran before.
    tf.removeBackend('webgpu');
    current?.device.destroy();
    current = undefined;
    if (previous && previous !== 'webgpu' && tf.findBackendFactory(previous)) await tf.setBackend(previous);
    throw new UsageError(`--backend webgpu: the backend could not start${why ? ` (${why})` : ''}`);
  }
  pendingError = undefined;
  return current!.adapter;
}

/** The backend the engine has set, without making it pick one (tf.getBackend() would). */
function engineBackendName(): string | undefined {
  return (tf.engine() as unknown as { backendName?: string | null }).backendName ?? undefined;
}

/** tfjs-backend-webgpu finds the GPU at navigator.gpu (Node ≥ 21 has a navigator of its own). */
function installNavigatorGpu(gpu: GpuLike): void {
  const global = globalThis as { navigator?: object };
  if (global.navigator) {
    if (!('gpu' in global.navigator)) Object.defineProperty(global.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

/** What tfjs-backend-webgpu's own factory asks for: the adapter's limits rather than the defaults. */
function deviceDescriptor(adapter: AdapterLike): unknown {
  const limits = adapter.limits;
  const keys = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  return {
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: Object.fromEntries(keys.filter((k) => limits[k] !== undefined).map((k) => [k, limits[k]])),
  };
}

function watchDevice(device: DeviceLike): void {
  device.addEventListener('uncapturederror', (event) => {
    // preventDefault: Dawn would also print the whole error to stdout, into --json output.
    event.preventDefault();
    pendingError ??= firstLine(event.error);
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') pendingError ??= `the GPU device was lost (${firstLine(info)})`;
  });
}

/**
 * Throws when the GPU reported an error since the last call: what it computed after it (often
 * zeros) must not be trained on or reported. Cheap; call it after each batch.
 */
export function checkGpuErrors(): void {
  if (pendingError === undefined) return;
  const message = pendingError;
  pendingError = undefined;
  throw new GraftError(`WebGPU error, stopping: ${message}`);
}

/**
 * Refuses, before anything runs, models whose weights or activations for `batchSize` examples
 * exceed what one GPU binding holds: Dawn would compute zeros for them. No-op on other backends.
 * Also reports any GPU error pending from earlier work (a cached prefix, a previous model).
 */
export function checkGpuLimits(models: tf.LayersModel | undefined | (tf.LayersModel | undefined)[], batchSize: number): void {
  checkGpuErrors();
  const adapter = webgpuAdapter();
  if (!adapter || adapter.maxBindingBytes <= 0) return;
  const limit = adapter.maxBindingBytes;
  const over = `more than this GPU binds at once (maxStorageBufferBindingSize ${mb(limit)})`;
  for (const model of [models].flat()) {
    for (const layer of model ? flatLayers(model) : []) {
      for (const weight of layer.weights) {
        const bytes = weight.shape.reduce<number>((a, b) => a * (b ?? 1), 1) * 4;
        if (bytes > limit) throw new UsageError(`weight ${weight.name} is ${mb(bytes)}, ${over}: use --backend wasm`);
      }
      for (const shape of outputShapes(layer)) {
        const bytesPerExample = perExample(shape) * 4;
        if (bytesPerExample * batchSize <= limit) continue;
        const fits = Math.floor(limit / bytesPerExample);
        const advice = fits >= 1 ? `at most ${fits} example${fits === 1 ? '' : 's'} at a time fit (--micro-batch ${fits} when training, fewer images per call when predicting), or use --backend wasm` : 'use --backend wasm';
        throw new UsageError(`the output of layer ${layer.name} for ${batchSize} examples is ${mb(bytesPerExample * batchSize)}, ${over}: ${advice}`);
      }
    }
  }
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 0)} MiB`;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error) ? String((error as { message: unknown }).message) : String(error);
  return message.split('\n')[0].trim();
}
