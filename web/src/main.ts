/**
 * The `graft serve` page: loads the served model directory with plain tf.loadLayersModel after
 * registerGraftLayers(), then classifies images the user chooses, drops or films. Pixels become
 * the model input through src/input/preprocess.ts, the module `graft predict` uses, with the
 * input spec graft.json asks for; probabilities and top-k as graft predict computes them.
 *
 * State for tests and scripts: <body data-state="loading|ready|predicting|done|error"> and
 * window.graft (backend, spec, the last result with every probability, the error).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { imageToInput, type InputSpec, type Pixels } from '../../src/input/preprocess.js';
import { inputSpecFromShape, toProbabilities, topK, type PageConfig, type Ranked } from '../../src/serve/shared.js';
import type { GraftJson } from '../../src/tfjs/graft-json.js';
import { registerGraftLayers } from '../../src/tfjs/layers/index.js';

const BACKENDS = ['webgpu', 'webgl', 'wasm'] as const;
const MODEL_URL = 'model/model.json';

interface Result {
  source: string;
  top: Ranked[];
  probabilities: number[];
  preprocessMs: number;
  inferenceMs: number;
}

interface PageState {
  state: string;
  config?: PageConfig;
  backend?: string;
  backendNotes: string[];
  spec?: InputSpec;
  classes?: number;
  labels?: string[];
  result?: Result;
  error?: { title: string; message: string; details: string[] };
}

declare global {
  interface Window {
    graft: PageState;
  }
}

const page: PageState = { state: 'loading', backendNotes: [] };
window.graft = page;

/** An error meant for the page, with what the user can do about it. */
class PageError extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

const $ = <T extends HTMLElement>(id: string) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page element #${id} is missing`);
  return element as T;
};

function setState(state: string): void {
  page.state = state;
  document.body.dataset.state = state;
}

function status(text: string, fraction?: number): void {
  $('status-text').textContent = text;
  const progress = $<HTMLProgressElement>('progress');
  if (fraction === undefined) progress.removeAttribute('value');
  else progress.value = fraction;
}

function showError(title: string, error: unknown, extra: string[] = []): void {
  const message = error instanceof Error ? error.message : String(error);
  const details = [...(error instanceof PageError ? error.details : []), ...extra];
  page.error = { title, message, details };
  $('error-title').textContent = title;
  $('error-message').textContent = message;
  const list = $('error-details');
  list.replaceChildren(...details.map((d) => Object.assign(document.createElement('li'), { textContent: d })));
  $('error').hidden = false;
}

function clearError(): void {
  page.error = undefined;
  $('error').hidden = true;
}

// ---------------------------------------------------------------- backend

/** The first of `order` that starts. */
async function startBackend(order: readonly string[]): Promise<string> {
  const failures: string[] = [];
  for (const name of order) {
    if (!tf.findBackendFactory(name)) {
      failures.push(`${name}: not in this page`);
      continue;
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        page.backendNotes.push(...failures);
        return name;
      }
      failures.push(`${name}: not available in this browser`);
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
    }
  }
  page.backendNotes.push(...failures);
  throw new PageError('No tfjs backend could start in this browser.', failures);
}

async function describeBackend(name: string): Promise<string> {
  try {
    if (name === 'wasm') {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      return `wasm${simd ? ' SIMD' : ''}${threads ? ', threads' : ''}`;
    }
    if (name === 'webgl') return `webgl ${tf.env().getNumber('WEBGL_VERSION')}`;
  } catch {
    // the flags are informative only
  }
  return name;
}

// ---------------------------------------------------------------- loading

async function fetchJson<T>(url: string, what: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new PageError(`Cannot reach graft serve for ${what} (${(error as Error).message}).`, ['Is graft serve still running?']);
  }
  if (!response.ok) throw new PageError(`${what}: HTTP ${response.status} ${response.statusText} (${(await response.text()).trim()})`);
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new PageError(`${what} is not valid JSON (${(error as Error).message}).`, [`The file may be truncated: write the directory again (graft convert ... --force).`]);
  }
}

interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: { shape: number[]; dtype: string; quantization?: { dtype: string } }[] }[];
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function weightBytes(manifest: ModelJson['weightsManifest']): number {
  let total = 0;
  for (const group of manifest ?? []) {
    for (const w of group.weights ?? []) total += (w.shape ?? []).reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.quantization?.dtype ?? w.dtype] ?? 4);
  }
  return total;
}

function megabytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

/** fetch that counts the weight bytes as they arrive, for the progress bar. */
function countingFetch(total: number): typeof fetch {
  let loaded = 0;
  return async (input, init) => {
    const response = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    // tfjs reads a weight file's error page as weights: stop at the status instead.
    if (!response.ok) throw new Error(`Request to ${url} failed with status code ${response.status}`);
    if (!response.body || url.endsWith('.json')) return response;
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        loaded += value.byteLength;
        if (total > 0) status(`Loading the weights: ${megabytes(loaded)} of ${megabytes(total)}`, Math.min(loaded / total, 1));
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

async function loadModel(config: PageConfig): Promise<{ model: tf.LayersModel; graft?: GraftJson }> {
  status('Reading model.json…');
  const json = await fetchJson<ModelJson>(MODEL_URL, 'model.json');
  if (typeof json !== 'object' || json === null) throw new PageError('model.json does not hold a JSON object.');
  if (json.format === 'graph-model') throw new PageError('model.json is a tfjs graph model; graft serve runs layers models (graft convert writes those).');
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new PageError('model.json has no modelTopology: it is not a tfjs layers model.', ['Serve a directory written by graft convert, graft finetune or graft train.']);
  }
  let graft: GraftJson | undefined;
  try {
    graft = await fetchJson<GraftJson>('model/graft.json', 'graft.json');
  } catch {
    page.backendNotes.push('no graft.json: preprocessing defaults to scale 1, no mean/std');
  }
  const total = weightBytes(json.weightsManifest);
  status(`Loading the weights (${megabytes(total)})…`, 0);
  registerGraftLayers();
  try {
    const model = await tf.loadLayersModel(MODEL_URL, { fetchFunc: countingFetch(total) });
    return { model, graft };
  } catch (error) {
    const message = (error as Error).message;
    const failed = /Request to (\S+) failed with status code (\d+)/.exec(message);
    if (failed) {
      const file = decodeURIComponent(failed[1].split('/').pop() ?? failed[1]);
      const others = config.problems.filter((p) => !p.includes(file));
      if (failed[2] === '404') {
        throw new PageError(`model.json lists the weight file ${file}, but the model directory has no such file.`, [
          ...others,
          'Copy the whole directory that graft convert or graft finetune wrote, every file model.json lists included.',
        ]);
      }
      throw new PageError(`graft serve answered HTTP ${failed[2]} for the weight file ${file}.`, others);
    }
    throw new PageError(`tfjs could not load the model: ${message}`, config.problems);
  }
}

function endsWithSoftmax(model: tf.LayersModel): boolean {
  const last = model.outputs[0].sourceLayer;
  return last.getClassName() === 'Softmax' || last.getConfig().activation === 'softmax';
}

/** One prediction on zeros: compiles shaders and shows up kernels the backend lacks before the user waits. */
async function warmUp(model: tf.LayersModel, spec: InputSpec): Promise<void> {
  const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
  const y = tf.tidy(() => first(model.predict(tf.zeros([1, spec.height, spec.width, channels]))));
  try {
    await y.data();
  } finally {
    y.dispose();
  }
}

function first(y: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(y) ? y[0] : y;
}

// ---------------------------------------------------------------- images

async function decodeImage(blob: Blob, name: string): Promise<{ pixels: Pixels; bitmap: ImageBitmap }> {
  let bitmap: ImageBitmap;
  try {
    // As sharp decodes for graft predict: the file's own values, no colour management, alpha kept apart.
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new PageError(`${name}: this browser cannot decode the file as an image.`, ['PNG and JPEG work everywhere.']);
  }
  return { pixels: pixelsOf(bitmap, bitmap.width, bitmap.height), bitmap };
}

function pixelsOf(source: CanvasImageSource, width: number, height: number): Pixels {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new PageError('This browser gives no 2-D canvas to read the image pixels.');
  context.drawImage(source, 0, 0);
  return { data: context.getImageData(0, 0, width, height).data, width, height, channels: 4 };
}

function drawPreview(source: CanvasImageSource, width: number, height: number): void {
  const canvas = $<HTMLCanvasElement>('preview');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')?.drawImage(source, 0, 0);
}

/** The model input turned back into 0..255 RGB at the model's resolution. */
function drawSeen(input: Float32Array, spec: InputSpec): void {
  const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
  const canvas = $<HTMLCanvasElement>('seen');
  canvas.width = spec.width;
  canvas.height = spec.height;
  const context = canvas.getContext('2d');
  if (!context) return;
  const image = context.createImageData(spec.width, spec.height);
  const order = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const at = (values: number[], c: number, fallback: number) => (values.length === 0 ? fallback : values.length === 1 ? values[0] : values[c]);
  for (let p = 0; p < spec.width * spec.height; p++) {
    for (let c = 0; c < 3; c++) {
      const k = channels === 1 ? 0 : c;
      const value = (input[p * channels + k] * at(spec.std, k, 1) + at(spec.mean, k, 0)) / spec.scale;
      image.data[p * 4 + order[c]] = value;
    }
    image.data[p * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// ---------------------------------------------------------------- page

function describeInput(spec: InputSpec): string {
  const list = (v: number[]) => (v.length === 0 ? '' : v.length === 1 ? String(v[0]) : `[${v.join(', ')}]`);
  const inverse = 1 / spec.scale;
  const scale = Number.isInteger(Math.round(inverse)) && Math.abs(inverse - Math.round(inverse)) < 1e-9 && inverse > 1 ? `1/${Math.round(inverse)}` : String(spec.scale);
  let formula = spec.scale === 1 ? 'pixel' : `pixel · ${scale}`;
  if (spec.mean.length) formula = `(${formula} − ${list(spec.mean)})`;
  if (spec.std.length) formula = `${formula} / ${list(spec.std)}`;
  return `${spec.width}×${spec.height} ${spec.channelOrder}, x = ${formula}`;
}

function showModelInfo(config: PageConfig, graft: GraftJson | undefined, spec: InputSpec, classes: number, labels: string[] | undefined): void {
  const rows: [string, string][] = [['directory', config.dir]];
  if (graft) {
    const from = graft.format === 'graft' ? 'built by graft' : `${graft.format} ${graft.source.path.split(/[\\/]/).pop() ?? ''}`;
    rows.push(['source', from]);
    if (graft.training) {
      const t = graft.training;
      const metrics = Object.entries(t.metrics ?? {})
        .filter(([k, v]) => typeof v === 'number' && /loss|accuracy/.test(k))
        .map(([k, v]) => `${k.replace('main/', '')} ${Number(v).toFixed(3)}`)
        .join(', ');
      rows.push(['fine-tuned', [t.from ? `from ${t.from}` : '', t.epoch !== undefined ? `epoch ${t.epoch}` : '', metrics].filter(Boolean).join(', ')]);
    }
  }
  rows.push(['input (graft.json)', describeInput(spec)]);
  const names = labels ? (config.labelsFile ? `names from ${config.labelsFile}` : 'names from graft.json') : 'no class names (pass --labels FILE)';
  rows.push(['classes', `${classes}, ${names}`]);
  if (labels && labels.length !== classes) rows.push(['warning', `${labels.length} class names for ${classes} outputs`]);
  $('model-info').replaceChildren(
    ...rows.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v })]),
  );
  $('about').hidden = false;
}

function percent(p: number): string {
  return p > 0 && p < 0.0001 ? '<0.01%' : `${(p * 100).toFixed(2)}%`;
}

function showResult(result: Result): void {
  const rows = result.top.map((r, i) => {
    const tr = document.createElement('tr');
    const rank = Object.assign(document.createElement('td'), { className: 'rank', textContent: String(i + 1) });
    const name = Object.assign(document.createElement('td'), { className: 'class' });
    name.append(r.label ?? `class ${r.index}`);
    if (r.label !== undefined) name.append(' ', Object.assign(document.createElement('span'), { className: 'index', textContent: `(${r.index})` }));
    const probability = Object.assign(document.createElement('td'), { className: 'probability' });
    const bar = Object.assign(document.createElement('div'), { className: 'bar' });
    const fill = document.createElement('span');
    fill.style.width = `${(r.probability * 100).toFixed(2)}%`;
    bar.append(fill, Object.assign(document.createElement('em'), { textContent: percent(r.probability) }));
    probability.append(bar);
    tr.append(rank, name, probability);
    return tr;
  });
  $('top').querySelector('tbody')?.replaceChildren(...rows);
  $('image-name').textContent = result.source;
  $('timing').textContent = `${page.backend}: inference ${result.inferenceMs.toFixed(1)} ms, preprocessing ${result.preprocessMs.toFixed(1)} ms`;
  $('result').hidden = false;
}

async function main(): Promise<void> {
  window.addEventListener('error', (event) => showError('Something went wrong', event.error ?? event.message));
  window.addEventListener('unhandledrejection', (event) => showError('Something went wrong', event.reason));

  const config = await fetchJson<PageConfig>('api/config', 'the server configuration');
  page.config = config;
  $('model-name').textContent = config.name;
  document.title = `${config.name} · graft`;

  status('Starting a tfjs backend…');
  tf.enableProdMode();
  // The wasm binaries are the package's own, served by graft serve beside this script.
  setWasmPaths(new URL('./', document.baseURI).href);
  // tfjs-backend-wasm's threaded build starts its workers from its own script, which a bundle
  // does not have: the single-threaded SIMD build runs instead.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const wanted = new URLSearchParams(location.search).get('backend');
  let backend = await startBackend(wanted ? [wanted] : BACKENDS);
  const { model, graft } = await loadModel(config);
  const spec = inputSpecFromShape(model.inputs[0].shape, graft?.input);
  page.spec = spec;
  status('Compiling…', 1);
  // A backend that cannot run this model (a missing kernel) gives way to the next one.
  for (;;) {
    try {
      await warmUp(model, spec);
      break;
    } catch (error) {
      const rest = BACKENDS.slice(BACKENDS.indexOf(backend as (typeof BACKENDS)[number]) + 1);
      if (wanted || rest.length === 0) throw new PageError(`The model does not run on the ${backend} backend: ${(error as Error).message}`);
      page.backendNotes.push(`${backend}: ${(error as Error).message}`);
      backend = await startBackend(rest);
    }
  }
  page.backend = backend;
  const badge = $('backend');
  badge.textContent = await describeBackend(backend);
  badge.title = ['tfjs backend in use', ...page.backendNotes].join('\n');
  badge.hidden = false;

  const outputShape = model.outputs[0].shape.slice(1) as number[];
  const classes = outputShape.reduce((a, b) => a * b, 1);
  const labels = config.labels ?? graft?.classNames;
  page.classes = classes;
  page.labels = labels;
  const softmax = endsWithSoftmax(model);
  showModelInfo(config, graft, spec, classes, labels);

  const classify = async (source: string, pixels: Pixels) => {
    setState('predicting');
    clearError();
    try {
      const t0 = performance.now();
      const input = imageToInput(pixels, spec);
      const t1 = performance.now();
      const channels = spec.channelOrder === 'GRAY' ? 1 : 3;
      const y = tf.tidy(() => first(model.predict(tf.tensor4d(input, [1, spec.height, spec.width, channels]))));
      let output: Float32Array;
      try {
        output = (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
      const t2 = performance.now();
      const probabilities = toProbabilities(output, softmax);
      drawSeen(input, spec);
      page.result = {
        source,
        top: topK(probabilities, config.top, labels),
        probabilities: Array.from(probabilities),
        preprocessMs: t1 - t0,
        inferenceMs: t2 - t1,
      };
      showResult(page.result);
      setState('done');
    } catch (error) {
      showError(`Could not classify ${source}`, error);
      setState('ready');
    }
  };

  const classifyFile = async (file: File) => {
    try {
      const { pixels, bitmap } = await decodeImage(file, file.name);
      drawPreview(bitmap, bitmap.width, bitmap.height);
      bitmap.close();
      await classify(file.name, pixels);
    } catch (error) {
      showError(`Could not read ${file.name}`, error);
      setState('ready');
    }
  };

  const fileInput = $<HTMLInputElement>('file');
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file) void classifyFile(file);
    fileInput.value = '';
  });
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (event) => {
    if (event.relatedTarget === null) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    document.body.classList.remove('dragging');
    const file = Array.from(event.dataTransfer?.files ?? []).find((f) => f.type.startsWith('image/')) ?? event.dataTransfer?.files[0];
    if (file) void classifyFile(file);
  });

  setupCamera(classify);

  $('loading').hidden = true;
  $('workspace').hidden = false;
  setState('ready');
}

function setupCamera(classify: (source: string, pixels: Pixels) => Promise<void>): void {
  if (!navigator.mediaDevices?.getUserMedia) return;
  const button = $<HTMLButtonElement>('camera');
  const capture = $<HTMLButtonElement>('capture');
  const video = $<HTMLVideoElement>('video');
  button.hidden = false;
  let stream: MediaStream | undefined;
  button.addEventListener('click', async () => {
    if (stream) {
      for (const track of stream.getTracks()) track.stop();
      stream = undefined;
      video.hidden = capture.hidden = true;
      button.textContent = 'Use the camera';
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (error) {
      showError('The camera is not available', error);
      return;
    }
    video.srcObject = stream;
    video.hidden = capture.hidden = false;
    button.textContent = 'Stop the camera';
  });
  capture.addEventListener('click', () => {
    if (!stream || video.videoWidth === 0) return;
    const { videoWidth: w, videoHeight: h } = video;
    drawPreview(video, w, h);
    void classify('camera frame', pixelsOf(video, w, h));
  });
}

main().catch((error) => {
  const dir = page.config ? [`Model directory: ${page.config.dir}`] : [];
  showError('The model could not be loaded', error, dir);
  $('loading').hidden = true;
  setState('error');
});
