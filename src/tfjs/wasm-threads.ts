/**
 * tfjs-backend-wasm's threaded SIMD build, started under Node.
 *
 * tfjs 4.22 never runs it there: `WASM_HAS_MULTITHREAD_SUPPORT` is forced off under Node (tfjs
 * issue 3830), and forced on, its loader still fails, because it hands Emscripten a Blob URL both
 * for the pthread worker script and for the main script each worker imports, which Node's
 * `Worker` and the worker's `importScripts` cannot load. The C++ side also caps the pool at
 * logical cores / 2 (and 8), so a 2-core machine would get one thread anyway.
 *
 * graft starts that build itself, from the package's own files, and registers it as the 'wasm'
 * backend (tfjs's kernels for 'wasm' and graft's own, src/tfjs/kernels, run on it unchanged):
 *   - the Emscripten factory `wasm-out/tfjs-backend-wasm-threaded-simd.js` (CommonJS), called with
 *     `mainScriptUrlOrBlob` = that file's path (each worker evaluates it) and a `locateFile` that
 *     gives the worker script as a real file: the source the package exports as
 *     `wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`'s `wasmWorkerContents`, written once to
 *     a per-user temp folder (named by its hash, so concurrent processes share it);
 *   - an `instantiateWasm` hook that instantiates `tfjs-backend-wasm-threaded-simd.wasm` with the
 *     import `_emscripten_num_logical_cores` (found by its function name) answering 2 × the thread
 *     count wanted, which lifts the cores / 2 cap;
 *   - the package's exported `BackendWasm` class on that module (after the same `cwrap`s tfjs's
 *     `init()` makes) with `setThreadsCount(n)`; `get_threads_count` and the Emscripten
 *     `PThread` pool then say how many threads run.
 * Emscripten's own Node listeners (`uncaughtException`, `unhandledRejection`, which rethrow) are
 * removed again, worker errors are caught instead of thrown, and the workers are unref'd so they
 * never keep a finished process alive.
 *
 * Anything missing or failing on the way (a file, an export, a worker that does not load within
 * the time limit, fewer than two threads, a wrong product in the check after start) falls back
 * to tfjs's own single-threaded SIMD build with one warning line on stderr; never a crash.
 * `--threads 1` uses that build directly.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import * as wasmPackage from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

/** What a started wasm backend runs. */
export interface WasmThreadsInfo {
  /** Threads asked for. */
  requested: number;
  /** Threads computing (the main one included): 1 on the single-threaded build. */
  threads: number;
  /** Whether this is the threaded build. */
  threaded: boolean;
  /** Why it runs single-threaded although more threads were asked for. */
  fallback?: string;
}

/**
 * The default thread count: $GRAFT_THREADS when set (a whole number ≥ 1), else the machine's cores
 * (as this process may use them).
 */
export function defaultThreadCount(): number {
  const fromEnv = process.env.GRAFT_THREADS;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (Number.isInteger(n) && n >= 1) return n;
    console.warn(`graft: GRAFT_THREADS=${fromEnv} is not a whole number ≥ 1; using all cores`);
  }
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

// ---- the package's threaded build ---------------------------------------------------------------

/** A pthread worker as Emscripten keeps it: a Node Worker with its own handler properties. */
type PoolWorker = Worker & { onerror?: (error: unknown) => void };

interface PThreadPool {
  unusedWorkers: PoolWorker[];
  runningWorkers: PoolWorker[];
  terminateAllThreads(): void;
}

interface EmscriptenModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  PThread?: PThreadPool;
  tfjs?: unknown;
}

type Imports = Record<string, Record<string, unknown>>;

interface FactoryConfig {
  mainScriptUrlOrBlob: string;
  locateFile(file: string, prefix: string): string;
  instantiateWasm(imports: Imports, receiveInstance: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void): object;
  onAbort(what: unknown): void;
  print(text: string): void;
  printErr(text: string): void;
  // Emscripten uses this object as the Module: PThread and the rest appear on it.
  PThread?: PThreadPool;
}

/** The pieces of tfjs-backend-wasm graft's threaded start is made of (overridable by tests). */
export interface ThreadedParts {
  /** The Emscripten module factory of the threaded SIMD build. */
  factory: (config: FactoryConfig) => Promise<EmscriptenModule>;
  /** The factory's file, which every worker evaluates (a path, not a Blob URL). */
  mainScript: string;
  /** The pthread worker's source. */
  workerSource: string;
  /** The threaded SIMD binary. */
  wasmPath: string;
  /** Whether to lift tfjs's cores / 2 cap (false only to test the path where that fails). */
  liftCoreCap: boolean;
}

/** Loads a file of the package (CommonJS): `require`, unless a test simulates another tfjs. */
let loadModule: (file: string) => unknown = (file) => require(file);

function loadParts(): ThreadedParts {
  let packageDir: string;
  try {
    packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  } catch {
    throw new Error('@tensorflow/tfjs-backend-wasm/package.json cannot be resolved');
  }
  const out = path.join(packageDir, 'wasm-out');
  const mainScript = path.join(out, 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = path.join(out, 'tfjs-backend-wasm-threaded-simd.worker.js');
  const wasmPath = path.join(out, 'tfjs-backend-wasm-threaded-simd.wasm');
  for (const file of [mainScript, workerModule, wasmPath]) {
    if (!fs.existsSync(file)) throw new Error(`${path.relative(packageDir, file)} is missing from tfjs-backend-wasm`);
  }
  const factory: unknown = loadModule(mainScript);
  if (typeof factory !== 'function') throw new Error('wasm-out/tfjs-backend-wasm-threaded-simd.js exports no module factory');
  const workerSource: unknown = (loadModule(workerModule) as { wasmWorkerContents?: unknown } | null)?.wasmWorkerContents;
  if (typeof workerSource !== 'string') throw new Error('wasm-out/tfjs-backend-wasm-threaded-simd.worker.js exports no wasmWorkerContents');
  return { factory: factory as ThreadedParts['factory'], mainScript, workerSource, wasmPath, liftCoreCap: true };
}

// ---- the worker script, as a real file ----------------------------------------------------------

/** A folder of ours under the temp dir: made by this user, not writable by others. */
function cacheDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  try {
    const dir = path.join(os.tmpdir(), `graft-${uid ?? os.userInfo().username}`, 'wasm-threads');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(dir);
    const ours = stat.isDirectory() && (uid === null || stat.uid === uid) && (process.platform === 'win32' || (stat.mode & 0o022) === 0);
    if (ours) return dir;
  } catch {
    // fall through to a private folder
  }
  return fs.mkdtempSync(path.join(os.tmpdir(), 'graft-wasm-threads-'));
}

/**
 * Writes the worker source to `<tmp>/graft-<uid>/wasm-threads/worker-<hash>.cjs` (once; an existing
 * file is used only when its content is the same), and returns its path.
 */
function workerFile(source: string): string {
  // The package's own loader escapes the newlines that its template literal turned the `\n`
  // escapes of the worker's string literals into; without this the worker is a syntax error.
  const text = source.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = cacheDir();
  const file = path.join(dir, `worker-${hash}.cjs`);
  try {
    if (fs.readFileSync(file, 'utf8') === text) return file;
  } catch {
    // not there yet
  }
  const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(partial, text, { mode: 0o600 });
  fs.renameSync(partial, file);
  return file;
}

// ---- starting it --------------------------------------------------------------------------------

const NODE_LISTENER_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Listener = (...args: unknown[]) => void;
const processEvents = process as unknown as { listeners(event: string): Listener[]; removeListener(event: string, listener: Listener): void };

function listenerSnapshot(): Map<string, Set<Listener>> {
  return new Map(NODE_LISTENER_EVENTS.map((event) => [event, new Set(processEvents.listeners(event))]));
}

/** Removes the process listeners added since `before` (Emscripten's, which rethrow). */
function removeAddedListeners(before: Map<string, Set<Listener>>): void {
  for (const event of NODE_LISTENER_EVENTS) {
    for (const listener of processEvents.listeners(event)) {
      if (!before.get(event)?.has(listener)) processEvents.removeListener(event, listener);
    }
  }
}

/** Replaces the import behind emscripten_num_logical_cores; false when there is none by that name. */
function liftCoreCap(imports: Imports, threads: number): boolean {
  let found = false;
  for (const table of Object.values(imports)) {
    if (table === null || typeof table !== 'object') continue;
    for (const [key, value] of Object.entries(table)) {
      if (typeof value === 'function' && (value.name === '_emscripten_num_logical_cores' || key === 'emscripten_num_logical_cores')) {
        // init_with_threads_count caps at this / 2.
        table[key] = () => 2 * threads;
        found = true;
      }
    }
  }
  return found;
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

function workersOf(config: FactoryConfig): PoolWorker[] {
  const pool = config.PThread;
  return pool ? [...(pool.unusedWorkers ?? []), ...(pool.runningWorkers ?? [])] : [];
}

function terminate(config: FactoryConfig): void {
  try {
    config.PThread?.terminateAllThreads();
  } catch {
    for (const worker of workersOf(config)) void worker.terminate();
  }
}

/** How long the workers may take to load before graft gives up on threads. */
let startTimeoutMs = 30_000;

/**
 * Starts the threaded build with `threads` threads and returns a BackendWasm on it, or throws
 * (having cleaned up) with the reason.
 */
async function startThreaded(parts: ThreadedParts, threads: number): Promise<{ backend: wasmPackage.BackendWasm; threads: number }> {
  if (typeof wasmPackage.BackendWasm !== 'function' || typeof wasmPackage.setThreadsCount !== 'function') {
    throw new Error('tfjs-backend-wasm exports no BackendWasm or setThreadsCount');
  }
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('this Node has no SharedArrayBuffer');
  const workerPath = workerFile(parts.workerSource);
  let started = false;
  let lifted = false;
  const lines: string[] = [];
  // Emscripten's stderr: kept for the reason while starting, passed through afterwards.
  let printErr = (text: string): void => {
    lines.push(text);
  };
  let failWith: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    failWith = (error) => reject(error instanceof Error ? error : new Error(message(error)));
  });
  failed.catch(() => undefined);
  const guarded = new WeakSet<PoolWorker>();
  const onWorkerError = (error: unknown) => {
    if (!started) failWith(new Error(`a worker thread failed: ${message(error)}`));
    else process.stderr.write(`graft: a wasm worker thread failed: ${message(error)}\n`);
  };
  /** Catches the workers' errors instead of Emscripten's handler, which throws them. */
  const guardWorkers = () => {
    for (const worker of workersOf(config)) {
      if (!guarded.has(worker)) {
        guarded.add(worker);
        // Before Emscripten listens (its listener calls worker.onerror), an error must not go unhandled.
        worker.on('error', (error) => {
          if (worker.onerror !== onWorkerError) onWorkerError(error);
        });
        worker.on('exit', (code) => {
          if (!started) failWith(new Error(`a worker thread exited (code ${code})`));
        });
      }
      if (worker.onerror !== undefined) worker.onerror = onWorkerError;
    }
  };
  const config: FactoryConfig = {
    mainScriptUrlOrBlob: parts.mainScript,
    locateFile: (file, prefix) => (file.endsWith('.worker.js') ? workerPath : file.endsWith('.wasm') ? parts.wasmPath : prefix + file),
    instantiateWasm: (imports, receiveInstance) => {
      lifted = parts.liftCoreCap && liftCoreCap(imports, threads);
      fs.promises
        .readFile(parts.wasmPath)
        .then((bytes) => WebAssembly.instantiate(bytes, imports as WebAssembly.Imports))
        .then(({ instance, module }) => {
          // Posts the compiled module to every worker, setting their (throwing) onerror.
          receiveInstance(instance, module);
          guardWorkers();
        })
        .catch(failWith);
      return {};
    },
    onAbort: (what) => failWith(new Error(`aborted: ${message(what)}`)),
    // stdout may carry JSON: anything Emscripten prints goes to stderr.
    print: (text) => process.stderr.write(`${text}\n`),
    printErr: (text) => printErr(text),
  };
  const before = listenerSnapshot();
  let timer: NodeJS.Timeout | undefined;
  try {
    let ready: Promise<EmscriptenModule>;
    try {
      ready = Promise.resolve(parts.factory(config));
    } finally {
      // Emscripten adds its listeners as the factory runs (synchronously).
      removeAddedListeners(before);
    }
    guardWorkers();
    timer = setTimeout(() => failWith(new Error(`its worker threads did not start within ${startTimeoutMs / 1000} s`)), startTimeoutMs);
    const module = await Promise.race([ready, failed]);
    if (typeof module?.cwrap !== 'function' || module.PThread === undefined) throw new Error('the threaded module has no cwrap or PThread');
    // As tfjs's init() does for its own modules.
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    const getThreadsCount = module.cwrap('get_threads_count', 'number', []);
    wasmPackage.setThreadsCount(threads);
    // Creates XNNPACK's pool: pthreadpool_create waits until its threads run.
    const backend = new wasmPackage.BackendWasm(module as unknown as ConstructorParameters<typeof wasmPackage.BackendWasm>[0]);
    started = true;
    printErr = (text) => {
      process.stderr.write(`${text}\n`);
    };
    guardWorkers();
    // The pool's threads wait on futexes: they must not keep a finished process alive.
    for (const worker of workersOf(config)) worker.unref();
    const running = getThreadsCount();
    if (running < 2) {
      backend.dispose();
      throw new Error(lifted ? `only ${running} thread started` : `tfjs capped its thread pool at cores / 2 = ${running}`);
    }
    if (module.PThread.runningWorkers.length !== running - 1) {
      backend.dispose();
      throw new Error(`${running} threads reported but ${module.PThread.runningWorkers.length + 1} running`);
    }
    return { backend, threads: running };
  } catch (error) {
    terminate(config);
    const detail = lines.length > 0 ? `; ${message(lines[lines.length - 1])}` : '';
    throw new Error(`${message(error)}${detail}`);
  } finally {
    clearTimeout(timer);
  }
}

// ---- the 'wasm' backend registration ------------------------------------------------------------

type Factory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

/** tfjs's own 'wasm' factory (single-threaded SIMD under Node), for one thread and the fallback. */
let original: { factory: Factory; priority: number } | null = null;
/** Threads the next start of our factory asks for. */
let configuredThreads = 1;
/** Set once the threaded build failed in this process: later starts go single-threaded at once. */
let brokenReason: string | null = null;
let partsHook: ((parts: ThreadedParts) => ThreadedParts) | null = null;
let checkHook: (() => string | null) | null = null;

const infoByBackend = new WeakMap<tf.KernelBackend, WasmThreadsInfo>();

function warnFallback(reason: string, requested: number): void {
  console.warn(`graft: wasm threads unavailable (${reason}); running 1 thread instead of ${requested}`);
}

async function graftWasmFactory(): Promise<tf.KernelBackend> {
  if (original === null) throw new Error('graft: the wasm backend factory ran before tfjs-backend-wasm registered its own');
  const requested = configuredThreads;
  let fallback: string | undefined;
  if (requested > 1 && brokenReason === null) {
    try {
      const base = loadParts();
      const { backend, threads } = await startThreaded(partsHook ? partsHook(base) : base, requested);
      infoByBackend.set(backend, { requested, threads, threaded: true });
      return backend;
    } catch (error) {
      brokenReason = message(error);
      warnFallback(brokenReason, requested);
    }
  }
  if (requested > 1) fallback = brokenReason ?? undefined;
  wasmPackage.setThreadsCount?.(1);
  const backend = await original.factory();
  infoByBackend.set(backend, { requested, threads: 1, threaded: false, ...(fallback ? { fallback } : {}) });
  return backend;
}

/** Keeps tfjs's own 'wasm' factory, when that is the registered one. */
function captureOriginal(): void {
  const current = tf.findBackendFactory('wasm');
  if (current !== null && current !== undefined && current !== graftWasmFactory) {
    original = { factory: current, priority: tf.engine().registryFactory['wasm']?.priority ?? 2 };
  }
}

/** Makes graft's factory the registered 'wasm' one (there must be no live wasm backend). */
function installFactory(): void {
  captureOriginal();
  const current = tf.findBackendFactory('wasm');
  if (current === graftWasmFactory) return;
  if (original === null) throw new Error('graft: tfjs-backend-wasm registered no wasm backend (is it imported?)');
  if (current !== null && current !== undefined) tf.removeBackend('wasm');
  tf.registerBackend('wasm', graftWasmFactory, original.priority);
}

function infoOf(backend: tf.KernelBackend): WasmThreadsInfo {
  // A wasm backend graft did not start is tfjs's own: single-threaded under Node.
  return infoByBackend.get(backend) ?? { requested: 1, threads: 1, threaded: false };
}

/** A product computed on the backend against one computed here (the threads split it). */
function productProblem(): string | null {
  const [m, k, n] = [96, 64, 80];
  const a = Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 23) / 11 - 1);
  const b = Float32Array.from({ length: k * n }, (_, i) => ((i * 104729) % 19) / 9 - 1);
  const got = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync());
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
      worst = Math.max(worst, Math.abs(sum - got[i * n + j]));
      scale = Math.max(scale, Math.abs(sum));
    }
  }
  return worst <= 1e-5 * Math.max(scale, 1) ? null : `a check product was wrong (max error ${worst.toExponential(2)})`;
}

/** Threaded backends whose check product came out right. */
const checked = new WeakSet<tf.KernelBackend>();

/**
 * Selects the 'wasm' backend with `threads` threads (1: tfjs's single-threaded SIMD build) and
 * says what runs. A wasm backend already running with another count is replaced when it holds no
 * tensors; otherwise it is kept (its tensors would be lost), with a warning. A threaded backend's
 * first selection checks a product against one computed here; a wrong one means one thread.
 */
export async function selectWasm(threads: number): Promise<WasmThreadsInfo> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`graft: the wasm thread count must be a whole number ≥ 1, not ${threads}`);
  captureOriginal();
  const live = tf.engine().registry['wasm'];
  let keep = false;
  if (live !== undefined) {
    const info = infoOf(live);
    const same = info.requested === threads || (threads === 1 && !info.threaded);
    keep = same || live.numDataIds() > 0;
    if (!same && keep) {
      console.warn(`graft: the wasm backend already runs ${info.threads} thread(s) and holds tensors; keeping it (a thread count applies from the wasm backend's start)`);
    }
    if (!keep) tf.removeBackend('wasm');
  }
  if (!keep) {
    installFactory();
    configuredThreads = threads;
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend could not start');
  const backend = tf.engine().registry['wasm'];
  const info = infoOf(backend);
  if (!info.threaded || checked.has(backend)) return info;
  let problem: string | null;
  try {
    problem = checkHook ? checkHook() : productProblem();
  } catch (error) {
    problem = `a check product failed: ${message(error)}`;
  }
  if (problem === null) {
    checked.add(backend);
    return info;
  }
  brokenReason = problem;
  warnFallback(problem, info.requested);
  if (backend.numDataIds() > 0) throw new Error(`the threaded wasm backend computes wrongly (${problem}) and already holds tensors`);
  tf.removeBackend('wasm');
  installFactory();
  configuredThreads = info.requested;
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend could not start');
  return infoOf(tf.engine().registry['wasm']);
}

/**
 * Makes a plain `tf.setBackend('wasm')` start the threaded build with the default thread count
 * (when no wasm backend runs yet). Never throws: without it, wasm is tfjs's own, single-threaded.
 */
export function installWasmThreads(): void {
  try {
    captureOriginal();
    if (tf.engine().registry['wasm'] === undefined && original !== null) {
      configuredThreads = defaultThreadCount();
      installFactory();
    }
  } catch {
    // tfjs's own registration stays
  }
}

/** What the live wasm backend runs, or null when none has started. */
export function wasmThreadsInfo(): WasmThreadsInfo | null {
  const live = tf.engine().registry['wasm'];
  return live === undefined ? null : infoOf(live);
}

export interface WasmThreadsTestOptions {
  /** Loads the package's CommonJS files instead of `require` (e.g. to drop an export). */
  load?: (file: string, require: NodeJS.Require) => unknown;
  /** Edits the pieces once loaded (e.g. a worker source that fails). */
  parts?: (parts: ThreadedParts) => ThreadedParts;
  /** The limit on the workers' start (default 30 s). */
  timeoutMs?: number;
  /** Replaces the check product after the start: a string is what went wrong. */
  check?: () => string | null;
}

/**
 * For tests only: simulate a changed tfjs, shorten the start's time limit, and forget an earlier
 * failure (no options: back to normal). Also drops the live wasm backend, so the next selectWasm
 * starts afresh.
 */
export function resetWasmThreadsForTesting(options: WasmThreadsTestOptions = {}): void {
  const { load } = options;
  loadModule = load ? (file) => load(file, require) : (file) => require(file);
  partsHook = options.parts ?? null;
  checkHook = options.check ?? null;
  startTimeoutMs = options.timeoutMs ?? 30_000;
  brokenReason = null;
  captureOriginal();
  if (tf.engine().registry['wasm'] !== undefined) tf.removeBackend('wasm');
  installFactory();
}
