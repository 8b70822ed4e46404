/** Shared by the layer tests: seeded data, tolerant comparison, backends, model round trips. */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerGraftLayers } from '../../../src/tfjs/layers/index.js';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

export async function useBackend(name: BackendName): Promise<void> {
  assert.ok(await tf.setBackend(name), `backend ${name} failed to initialize`);
  await tf.ready();
  assert.equal(tf.getBackend(), name);
}

/** mulberry32: reproducible data so a failure can be rerun. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [−1, 1); distinct with probability 1, so max pooling has no ties. */
export function randomValues(count: number, random: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = random() * 2 - 1;
  return out;
}

/** |a − e| ≤ tol · max(1, |e|) elementwise; ±Infinity must match exactly. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} ≠ ${expected.length}`);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${what}: [${i}] = ${a}, expected ${e}`);
      continue;
    }
    const err = Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(err <= worst)) {
      worst = err;
      worstAt = i;
    }
  }
  assert.ok(worst <= tol, `${what}: worst error ${worst} at [${worstAt}]: ${actual[worstAt]} vs ${expected[worstAt]} (tol ${tol})`);
}

/** Output of `layer` on `x` as plain numbers, with the layer built on first use. */
export function forward(layer: tf.layers.Layer, inputs: tf.Tensor | tf.Tensor[]): { shape: number[]; values: Float32Array } {
  // Values are read outside tidy: tidy walks whatever its callback returns, element by element.
  const y = tf.tidy(() => layer.apply(inputs) as tf.Tensor);
  const values = y.dataSync() as Float32Array;
  y.dispose();
  return { shape: y.shape, values };
}

/**
 * d(Σ w ⊙ f(x)) / dx by central differences of a float64 reference `f`: the gradient a layer
 * must reproduce, computed without tfjs.
 */
export function numericGradient(
  f: (x: Float64Array) => ArrayLike<number>,
  x: ArrayLike<number>,
  weights: ArrayLike<number>,
  eps = 1e-4,
): Float64Array {
  const point = Float64Array.from(x);
  const grad = new Float64Array(point.length);
  const loss = (): number => {
    const y = f(point);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += weights[i] * y[i];
    return s;
  };
  for (let i = 0; i < point.length; i++) {
    const keep = point[i];
    point[i] = keep + eps;
    const up = loss();
    point[i] = keep - eps;
    const down = loss();
    point[i] = keep;
    grad[i] = (up - down) / (2 * eps);
  }
  return grad;
}

export function assertAllFinite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++) assert.ok(Number.isFinite(values[i]), `${what}: [${i}] = ${values[i]}`);
}

/**
 * Saves `model` to memory (model.json topology + weight buffer, as tf.io writes it) and loads it
 * back through tf.loadLayersModel: the path a converted model takes to a browser.
 */
export async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  registerGraftLayers();
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  assert.ok(artifacts, 'save handler was not called');
  // Through a JSON string, as a file would carry it.
  const topology = JSON.parse(JSON.stringify(artifacts.modelTopology)) as object;
  return tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology: topology }));
}

/** The model rebuilt from model.toJSON() alone, then given the original's weights. */
export async function rebuildFromJson(model: tf.LayersModel): Promise<tf.LayersModel> {
  registerGraftLayers();
  // JSON.parse's `any` stands for tfjs's PyJsonDict, which it does not export.
  const copy = await tf.models.modelFromJSON({ modelTopology: JSON.parse(model.toJSON() as string) });
  copy.setWeights(model.getWeights());
  return copy;
}

/** The layer config as model.json stores it for the layer called `name`. */
export function storedLayerConfig(model: tf.LayersModel, name: string): Record<string, unknown> {
  const topology = JSON.parse(model.toJSON() as string) as { config: { layers: { config: Record<string, unknown> }[] } };
  const found = topology.config.layers.find((l) => l.config.name === name);
  assert.ok(found, `layer ${name} not in model.json`);
  return found.config;
}

/** Runs `predict` and checks no tensor outlives it. */
export function assertPredictDoesNotLeak(model: tf.LayersModel, input: tf.Tensor | tf.Tensor[]): void {
  // A first call may create lasting state (e.g. wasm's kernel setup); only later calls must be flat.
  tf.dispose(model.predict(input) as tf.Tensor);
  const before = tf.memory().numTensors;
  const out = model.predict(input) as tf.Tensor;
  out.dataSync();
  out.dispose();
  assert.equal(tf.memory().numTensors, before, 'predict left tensors behind');
  const inTidy = tf.tidy(() => (model.predict(input) as tf.Tensor).sum());
  inTidy.dispose();
  assert.equal(tf.memory().numTensors, before, 'predict inside tidy left tensors behind');
}
