/**
 * Library level: the builder and the model directory it is written to. Tensor leaks across
 * convert / load / predict / dispose; a LeNet directory loads in plain tfjs with no graft code;
 * strict binding of graph parameters to source tensors; the shard files byte for byte.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../../src/errors.js';
import type { Graph, GraphNode } from '../../src/graph/graph.js';
import { float32Tensor, type TensorMap } from '../../src/tensor/tensor.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { buildModel } from '../../src/tfjs/builder.js';
import { convertModel } from '../../src/tfjs/convert.js';
import { GRAFT_VERSION, type GraftJson } from '../../src/tfjs/graft-json.js';
import { loadModelDirectory, SHARD_BYTES, writeModelDirectory } from '../../src/tfjs/model-dir.js';
import { predictArray } from '../../src/tfjs/predict.js';
import { writeNpy } from '../../src/formats/npy/npy.js';
import { FIXTURES, REPO, SHARED_FIXTURES, relativeError } from '../helpers.js';
import { randomValues, seededRandom } from './layers/helpers.js';

const LENET_DIR = path.join(SHARED_FIXTURES, 'real', 'caffe-lenet');
const work = mkdtempSync(path.join(tmpdir(), 'graft-builder-'));
after(() => rmSync(work, { recursive: true, force: true }));

const lenet = path.join(work, 'lenet');
const grouped = path.join(work, 'depthwise');
/** 2 LeNet inputs; with one channel, NCHW [2, 1, 28, 28] and NHWC [2, 28, 28, 1] hold the same order. */
const x = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => ((i * 37) % 251) / 251);
const xFile = path.join(work, 'x.npy');

before(async () => {
  await useBackend('cpu');
  const start = tf.memory().numTensors;
  await convertModel({ input: path.join(LENET_DIR, 'lenet_iter_10000.caffemodel'), prototxt: path.join(LENET_DIR, 'deploy.prototxt'), output: lenet });
  // Converting builds the model (zero-filled variables) and disposes it.
  assert.equal(tf.memory().numTensors, start, 'convertModel leaves no tensors behind');
  const depthwise = path.join(FIXTURES, 'caffe', 'depthwise');
  await convertModel({ input: path.join(depthwise, 'net.caffemodel'), prototxt: path.join(depthwise, 'net.prototxt'), output: grouped });
  writeFileSync(xFile, writeNpy(x, [2, 1, 28, 28]));
});

// ---- (a) leaks ------------------------------------------------------------------------------

test('no tensor leaks: predictArray, model.predict and dispose return to the starting count', async () => {
  await useBackend('wasm');
  const start = tf.memory().numTensors;
  let reference: Float32Array | undefined;
  for (const layer of [undefined, 'pool2', 'ip2', undefined]) {
    const result = await predictArray({ model: lenet, input: xFile, layer });
    assert.equal(tf.memory().numTensors, start, `after predictArray --layer ${layer}`);
    if (layer === undefined) reference ??= result.data;
  }
  const loaded = await loadModelDirectory(lenet);
  // conv1, conv2, ip1, ip2: a kernel and a bias each.
  assert.equal(tf.memory().numTensors - start, 8);
  const loadedCount = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const y = tf.tidy(() => loaded.model.predict(tf.tensor(x, [2, 28, 28, 1])) as tf.Tensor);
    const values = (await y.data()) as Float32Array;
    y.dispose();
    assert.ok(relativeError(values, reference!) < 1e-6);
    assert.equal(tf.memory().numTensors, loadedCount, `after predict #${i}`);
  }
  // Outside tidy, disposing input and output by hand.
  const input = tf.tensor(x, [2, 28, 28, 1]);
  const output = loaded.model.predict(input) as tf.Tensor;
  assert.equal(tf.memory().numTensors, loadedCount + 2);
  input.dispose();
  output.dispose();
  assert.equal(tf.memory().numTensors, loadedCount);
  loaded.model.dispose();
  assert.equal(tf.memory().numTensors, start, 'model.dispose() frees every weight');
});

test('a model built with weight values (mode values) frees them all on dispose', async () => {
  await useBackend('cpu');
  const start = tf.memory().numTensors;
  const { graph, tensors } = denseGraph(6, 4, 3);
  const built = buildModel(graph, tensors);
  assert.equal(tf.memory().numTensors - start, 4);
  built.model.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test('a failed build leaks nothing: the variables of the layers built before the failing one are freed', async () => {
  await useBackend('cpu');
  const start = tf.memory().numTensors;
  // fc1 is built (kernel + bias in memory) before fc2 fails, on a missing tensor or a wrong shape.
  const missing = denseGraph(6, 4, 3);
  missing.tensors.delete('fc2/b');
  assert.throws(() => buildModel(missing.graph, missing.tensors), GraftError);
  assert.equal(tf.memory().numTensors, start, 'after a missing tensor');
  const misshapen = denseGraph(6, 4, 3);
  misshapen.tensors.set('fc2/W', float32Tensor([3, 5], new Float32Array(15)));
  assert.throws(() => buildModel(misshapen.graph, misshapen.tensors), GraftError);
  assert.equal(tf.memory().numTensors, start, 'after a wrong shape');
});

test('a failed load leaks nothing: variables tfjs created before the weights failed to bind are freed', async () => {
  await useBackend('cpu');
  const dir = path.join(work, 'lenet-bad-manifest');
  cpSync(lenet, dir, { recursive: true });
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  assert.deepEqual(json.weightsManifest[0].weights[0].shape, [5, 5, 1, 20]);
  json.weightsManifest[0].weights[0].shape = [20, 5, 5, 1]; // same size, so the byte count still fits
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  const start = tf.memory().numTensors;
  await assert.rejects(loadModelDirectory(dir), (e: unknown) => e instanceof GraftError && /cannot load the model/.test(e.message));
  assert.equal(tf.memory().numTensors, start);
  // And the good directory still loads and frees cleanly afterwards.
  const loaded = await loadModelDirectory(lenet);
  assert.equal(tf.memory().numTensors - start, 8);
  loaded.model.dispose();
  assert.equal(tf.memory().numTensors, start);
});

// ---- (b) plain tfjs ---------------------------------------------------------------------------

/** Loads a model directory in a fresh Node process that imports nothing but @tensorflow/tfjs. */
function loadInPlainTfjs(dir: string): Promise<{ ok: boolean; message?: string; classes?: string[]; values?: number[] }> {
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import { readFileSync } from 'node:fs';
    import * as path from 'node:path';
    const dir = process.env.GRAFT_TEST_MODEL;
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const all = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(path.join(dir, p))));
    const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
    const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
    await tf.setBackend('cpu');
    let result;
    try {
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
      const x = tf.tensor(Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => ((i * 37) % 251) / 251), [2, 28, 28, 1]);
      const y = model.predict(x);
      result = { ok: true, classes: model.layers.map((l) => l.getClassName()), values: Array.from(await y.data()) };
    } catch (error) {
      result = { ok: false, message: error.message };
    }
    process.stdout.write('\\n' + JSON.stringify(result) + '\\n');
  `;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: REPO, env: { ...process.env, GRAFT_TEST_MODEL: dir }, encoding: 'utf8', maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!));
      },
    );
  });
}

test('the LeNet model.json loads with plain tf.loadLayersModel, no registerGraftLayers, and predicts the same', async () => {
  const model = JSON.parse(readFileSync(path.join(lenet, 'model.json'), 'utf8')) as {
    modelTopology: { config: { layers: { class_name: string }[] } };
  };
  assert.deepEqual(model.modelTopology.config.layers.filter((l) => l.class_name.startsWith('Graft')), []);
  const [plain, control] = await Promise.all([loadInPlainTfjs(lenet), loadInPlainTfjs(grouped)]);
  assert.ok(plain.ok, plain.message);
  assert.deepEqual(plain.classes, ['InputLayer', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'ReLU', 'Dense', 'Softmax']);
  await useBackend('wasm');
  const ours = await predictArray({ model: lenet, input: xFile });
  assert.deepEqual(ours.shape, [2, 10]);
  assert.ok(relativeError(plain.values!, ours.data) < 1e-5, `plain tfjs vs graft: ${relativeError(plain.values!, ours.data)}`);
  // Control: the same child cannot load a model with a graft layer, so it really runs without them.
  assert.equal(control.ok, false);
  assert.match(control.message!, /GraftGroupedConv2D/);
});

// ---- (c) strict binding -------------------------------------------------------------------

/** x [N, inF] → fc1 (units1, bias) → fc2 (units2, bias), with seeded random weights. */
function denseGraph(inF: number, units1: number, units2: number, bias2 = true): { graph: Graph; tensors: TensorMap } {
  const nodes: GraphNode[] = [
    { name: 'fc1', op: 'dense', inputs: ['x'], outputs: ['y'], attrs: { units: units1, bias: true }, params: { W: 'fc1/W', b: 'fc1/b' } },
    {
      name: 'fc2',
      op: 'dense',
      inputs: ['y'],
      outputs: ['z'],
      attrs: { units: units2, bias: bias2 },
      params: bias2 ? { W: 'fc2/W', b: 'fc2/b' } : { W: 'fc2/W' },
    },
  ];
  const random = seededRandom(inF * 7 + units1);
  const tensors: TensorMap = new Map([
    ['fc1/W', float32Tensor([units1, inF], randomValues(units1 * inF, random))],
    ['fc1/b', float32Tensor([units1], randomValues(units1, random))],
    ['fc2/W', float32Tensor([units2, units1], randomValues(units2 * units1, random))],
  ]);
  if (bias2) tensors.set('fc2/b', float32Tensor([units2], randomValues(units2, random)));
  return { graph: { name: 'dense', inputs: [{ name: 'x', shape: [1, inF] }], outputs: ['z'], nodes, blobs: { x: 'x', y: 'y', z: 'z' } }, tensors };
}

function convGraph(): { graph: Graph; tensors: TensorMap } {
  const nodes: GraphNode[] = [
    {
      name: 'conv',
      op: 'conv2d',
      inputs: ['data'],
      outputs: ['c'],
      attrs: { filters: 4, kernel: [3, 3], stride: [1, 1], pad: [0, 0], dilation: [1, 1], groups: 1, bias: true },
      params: { W: 'conv/0', b: 'conv/1' },
    },
  ];
  const tensors: TensorMap = new Map([
    ['conv/0', float32Tensor([4, 2, 3, 3], new Float32Array(72).fill(0.5))],
    ['conv/1', float32Tensor([4], new Float32Array(4))],
  ]);
  return { graph: { name: 'conv', inputs: [{ name: 'data', shape: [1, 2, 6, 6] }], outputs: ['c'], nodes, blobs: {} }, tensors };
}

function expectGraftError(fn: () => unknown, ...mentions: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof GraftError, `not a GraftError: ${error}`);
    for (const m of mentions) assert.ok(error.message.includes(m), `${JSON.stringify(error.message)} should mention ${JSON.stringify(m)}`);
    return true;
  });
}

test('strict binding: a parameter naming a tensor missing from the TensorMap throws, naming the tensor', async () => {
  await useBackend('cpu');
  const { graph, tensors } = denseGraph(6, 4, 3);
  tensors.delete('fc2/b');
  expectGraftError(() => buildModel(graph, tensors), 'fc2/b', 'fc2');
  const conv = convGraph();
  conv.graph.nodes[0].params.W = 'conv/weights';
  expectGraftError(() => buildModel(conv.graph, conv.tensors), 'conv/weights');
});

test('strict binding: a tensor of the wrong shape throws, naming the layer and both shapes', async () => {
  await useBackend('cpu');
  const { graph, tensors } = denseGraph(6, 4, 3);
  tensors.set('fc2/W', float32Tensor([3, 5], new Float32Array(15)));
  expectGraftError(() => buildModel(graph, tensors), 'fc2', '[3, 5]', '[3, 4]');
  // Transposed ([in, out] instead of [out, in]) is caught too, though the size is right.
  const transposed = denseGraph(6, 4, 3);
  transposed.tensors.set('fc1/W', float32Tensor([6, 4], new Float32Array(24)));
  expectGraftError(() => buildModel(transposed.graph, transposed.tensors), 'fc1', '[6, 4]', '[4, 6]');
  const conv = convGraph();
  conv.tensors.set('conv/0', float32Tensor([4, 3, 3, 3], new Float32Array(108)));
  expectGraftError(() => buildModel(conv.graph, conv.tensors), 'conv', '[4, 3, 3, 3]', '[4, 2, 3, 3]');
  conv.tensors.set('conv/0', float32Tensor([4, 2, 3, 3], new Float32Array(72)));
  conv.tensors.set('conv/1', float32Tensor([5], new Float32Array(5)));
  expectGraftError(() => buildModel(conv.graph, conv.tensors), 'conv', '[5]', '[4]');
});

test('strict binding: tensors no layer uses are reported in unusedTensors', async () => {
  await useBackend('cpu');
  const { graph, tensors } = denseGraph(6, 4, 3);
  const clean = buildModel(graph, tensors);
  assert.deepEqual(clean.unusedTensors, []);
  assert.deepEqual(clean.weights.map((w) => `${w.name}<-${w.sources.join('+')}`), ['fc1/kernel<-fc1/W', 'fc1/bias<-fc1/b', 'fc2/kernel<-fc2/W', 'fc2/bias<-fc2/b']);
  clean.model.dispose();
  tensors.set('fc3/W', float32Tensor([2, 3], new Float32Array(6)));
  tensors.set('bn/mean', float32Tensor([4], new Float32Array(4)));
  const extra = buildModel(graph, tensors);
  assert.deepEqual([...extra.unusedTensors].sort(), ['bn/mean', 'fc3/W']);
  extra.model.dispose();
});

// ---- (d) shards -----------------------------------------------------------------------------

function syntheticGraftJson(): GraftJson {
  return {
    graft: GRAFT_VERSION,
    format: 'graft',
    source: { path: 'synthetic', sha256: '0'.repeat(64), bytes: 0 },
    input: { name: 'x', shape: [1, 1200], sourceLayout: 'NC', modelLayout: 'NC' },
    outputs: ['z'],
    layers: {},
    weights: {},
    warnings: [],
  };
}

test('shards: 4 bytes per parameter, 4 MiB files but the last, values transformed [out, in] → [in, out]', async () => {
  await useBackend('cpu');
  const IN = 1200;
  const OUT = 1000;
  const { graph, tensors } = denseGraph(IN, OUT, 10, false);
  const built = buildModel(graph, tensors);
  const parameters = built.model.countParams();
  assert.equal(parameters, IN * OUT + OUT + OUT * 10);
  const dir = path.join(work, 'dense');
  try {
    await writeModelDirectory(dir, built.model, built.weights, syntheticGraftJson());
  } finally {
    built.model.dispose();
  }
  const model = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
    weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
  };
  assert.equal(model.weightsManifest.length, 1);
  const [{ paths, weights }] = model.weightsManifest;
  assert.deepEqual(paths, ['group1-shard1of2.bin', 'group1-shard2of2.bin']);
  assert.deepEqual(readdirSync(dir).sort(), ['graft.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin', 'model.json']);
  assert.deepEqual(weights, [
    { name: 'fc1/kernel', shape: [IN, OUT], dtype: 'float32' },
    { name: 'fc1/bias', shape: [OUT], dtype: 'float32' },
    { name: 'fc2/kernel', shape: [OUT, 10], dtype: 'float32' },
  ]);
  const sizes = paths.map((p) => statSync(path.join(dir, p)).size);
  assert.equal(SHARD_BYTES, 4 * 1024 * 1024);
  assert.equal(sizes[0], 4 * 1024 * 1024);
  assert.equal(sizes[0] + sizes[1], 4 * parameters);
  assert.equal(sizes[1], 4 * parameters - 4 * 1024 * 1024);

  const bytes = Buffer.concat(paths.map((p) => readFileSync(path.join(dir, p))));
  const stored = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const W1 = tensors.get('fc1/W')!.data as Float32Array; // [OUT, IN]
  const b1 = tensors.get('fc1/b')!.data as Float32Array;
  const W2 = tensors.get('fc2/W')!.data as Float32Array; // [10, OUT]
  const kernel1 = stored.subarray(0, IN * OUT); // [IN, OUT]: kernel1[i * OUT + o] = W1[o * IN + i]
  const bias1 = stored.subarray(IN * OUT, IN * OUT + OUT);
  const kernel2 = stored.subarray(IN * OUT + OUT); // [OUT, 10]: kernel2[i * 10 + o] = W2[o * OUT + i]
  // A few entries spelled out.
  assert.equal(kernel1[0], W1[0]); // (i 0, o 0)
  assert.equal(kernel1[1], W1[IN]); // (i 0, o 1) = W1[1][0]
  assert.equal(kernel1[OUT], W1[1]); // (i 1, o 0) = W1[0][1]
  assert.equal(kernel1[5 * OUT + 7], W1[7 * IN + 5]);
  assert.equal(kernel1[IN * OUT - 1], W1[IN * OUT - 1]); // (i 1199, o 999)
  // The last float of shard 1 and the first of shard 2: float 1,048,576 = (i 1048, o 576).
  assert.equal(kernel1[1048 * OUT + 575], W1[575 * IN + 1048]);
  assert.equal(kernel1[1048 * OUT + 576], W1[576 * IN + 1048]);
  assert.equal(kernel2[3 * 10 + 9], W2[9 * OUT + 3]);
  // And every entry.
  let mismatches = 0;
  for (let o = 0; o < OUT; o++) for (let i = 0; i < IN; i++) if (kernel1[i * OUT + o] !== W1[o * IN + i]) mismatches++;
  for (let o = 0; o < 10; o++) for (let i = 0; i < OUT; i++) if (kernel2[i * 10 + o] !== W2[o * OUT + i]) mismatches++;
  assert.equal(mismatches, 0);
  assert.deepEqual(Array.from(bias1), Array.from(b1));

  // Loaded back, the model computes (x·W1ᵀ + b1)·W2ᵀ as written out here.
  const input = randomValues(IN, seededRandom(99));
  const hidden = new Float64Array(OUT);
  for (let o = 0; o < OUT; o++) {
    let s = b1[o];
    for (let i = 0; i < IN; i++) s += input[i] * W1[o * IN + i];
    hidden[o] = s;
  }
  const expected = Array.from({ length: 10 }, (_, o) => hidden.reduce((s, h, i) => s + h * W2[o * OUT + i], 0));
  const loaded = await loadModelDirectory(dir);
  try {
    const y = tf.tidy(() => loaded.model.predict(tf.tensor(input, [1, IN])) as tf.Tensor);
    const actual = (await y.data()) as Float32Array;
    y.dispose();
    assert.ok(relativeError(actual, expected) < 1e-4, `predict vs hand computation: ${relativeError(actual, expected)}`);
  } finally {
    loaded.model.dispose();
  }
});

test('writeModelDirectory binds weights strictly both ways and writes nothing when they do not match', async () => {
  await useBackend('cpu');
  const { graph, tensors } = denseGraph(6, 4, 3);
  const built = buildModel(graph, tensors);
  try {
    const missing = path.join(work, 'strict-missing');
    await assert.rejects(
      writeModelDirectory(missing, built.model, built.weights.filter((w) => w.name !== 'fc2/kernel'), syntheticGraftJson()),
      (e: unknown) => e instanceof GraftError && e.message.includes('fc2/kernel'),
    );
    const extra = path.join(work, 'strict-extra');
    const stray = { name: 'fc9/kernel', shape: [2], sources: ['fc9/W'], make: () => new Float32Array(2) };
    await assert.rejects(
      writeModelDirectory(extra, built.model, [...built.weights, stray], syntheticGraftJson()),
      (e: unknown) => e instanceof GraftError && e.message.includes('fc9/kernel'),
    );
    const wrong = path.join(work, 'strict-shape');
    const reshaped = built.weights.map((w) => (w.name === 'fc1/bias' ? { ...w, shape: [2, 2] } : w));
    await assert.rejects(
      writeModelDirectory(wrong, built.model, reshaped, syntheticGraftJson()),
      (e: unknown) => e instanceof GraftError && e.message.includes('fc1/bias') && e.message.includes('[2,2]'),
    );
    for (const dir of [missing, extra, wrong]) assert.ok(!existsSync(dir), dir);
    assert.deepEqual(readdirSync(work).filter((f) => f.includes('graft-tmp')), []);
  } finally {
    built.model.dispose();
  }
});
