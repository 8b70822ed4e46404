/**
 * Model surgery on the converted LeNet: --num-classes replaces the last Dense, --cut-at adds a new
 * Dense head on a layer's output (flattened when spatial), --head gap pools the last spatial output,
 * --reinit restarts layers from a seeded fresh initialisation. Then the same through trainModel:
 * the saved checkpoints have the new structure, load and predict.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { asClassifier, type Classifier } from '../../src/train/classifier.js';
import { trainModel } from '../../src/train/finetune.js';
import { cutAt, gapHead, reinitialize, replaceHead } from '../../src/train/surgery.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { loadModelDirectory } from '../../src/tfjs/model-dir.js';
import { predictImages } from '../../src/tfjs/predict.js';
import { CLASSES, convertLeNet, makeImageFolder, type ImageFolderInfo } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-surgery-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const lenet = path.join(work, 'lenet');
let images: ImageFolderInfo;

before(async () => {
  await useBackend();
  await convertLeNet(lenet);
  images = await makeImageFolder(path.join(work, 'images'), 15);
});

async function load(): Promise<tf.LayersModel> {
  return (await loadModelDirectory(lenet)).model;
}

function structure(classifier: Classifier): string[] {
  return classifier.logits.layers.map((l) => `${l.name}:${l.getClassName()}`);
}

function shapeOf(model: tf.LayersModel, layer: string, weight: 'kernel' | 'bias' = 'kernel'): number[] {
  return model.getLayer(layer).weights.find((w) => w.originalName.endsWith(weight))!.shape as number[];
}

const read = (model: tf.LayersModel, layer: string) => Float32Array.from(model.getLayer(layer).getWeights()[0].dataSync());

test('LeNet as a classifier: the Softmax is stripped, ip2 gives the logits', async () => {
  const model = await load();
  const classifier = asClassifier(model);
  assert.equal(classifier.activation, 'softmax');
  assert.equal(classifier.classes, 10);
  assert.equal(classifier.logits.layers.at(-1)!.name, 'ip2');
  model.dispose();
});

test('--num-classes: a new last Dense of N units under the same name; the rest is shared, untouched', async () => {
  const model = await load();
  const conv1 = read(model, 'conv1');
  const three = replaceHead(asClassifier(model), 3, 7);
  assert.deepEqual(structure(three), ['data:InputLayer', 'conv1:Conv2D', 'pool1:MaxPooling2D', 'conv2:Conv2D', 'pool2:MaxPooling2D', 'ip1_flatten:Flatten', 'ip1:Dense', 'relu1:ReLU', 'ip2:Dense']);
  assert.deepEqual(three.logits.outputs[0].shape, [null, 3]);
  assert.deepEqual(shapeOf(three.logits, 'ip2'), [500, 3]);
  assert.equal(three.activation, 'softmax');
  assert.deepEqual(three.logits.getLayer('ip2').getWeights()[1].dataSync(), new Float32Array(3));
  assert.deepEqual(read(three.logits, 'conv1'), conv1);
  // Seeded: the same seed gives the same head, another seed another one.
  assert.deepEqual(read(replaceHead(asClassifier(model), 3, 7).logits, 'ip2'), read(three.logits, 'ip2'));
  assert.notDeepEqual(read(replaceHead(asClassifier(model), 3, 8).logits, 'ip2'), read(three.logits, 'ip2'));
  // One unit: a sigmoid classifier.
  const binary = replaceHead(asClassifier(model), 1);
  assert.equal(binary.activation, 'sigmoid');
  assert.deepEqual(binary.logits.outputs[0].shape, [null, 1]);
  model.dispose();
});

test('--cut-at: a Dense head on the layer output, flattened when the output is spatial', async () => {
  const model = await load();
  const dense = cutAt(model, 'ip1', 4);
  assert.deepEqual(structure(dense).slice(-3), ['ip1_flatten:Flatten', 'ip1:Dense', 'head:Dense']);
  assert.ok(!structure(dense).some((s) => s.startsWith('relu1') || s.startsWith('ip2')));
  assert.deepEqual(shapeOf(dense.logits, 'head'), [500, 4]);
  assert.deepEqual(dense.logits.outputs[0].shape, [null, 4]);
  // By index, the same.
  assert.deepEqual(structure(cutAt(model, '6', 4)), structure(dense));

  const spatial = cutAt(model, 'pool2', 3);
  assert.deepEqual(structure(spatial).slice(-3), ['pool2:MaxPooling2D', 'head_flatten:Flatten', 'head:Dense']);
  assert.deepEqual(shapeOf(spatial.logits, 'head'), [4 * 4 * 50, 3]);
  const y = tf.tidy(() => (spatial.logits.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor).shape);
  assert.deepEqual(y, [2, 3]);
  model.dispose();
});

test('--head gap: everything after the last spatial output goes; GlobalAveragePooling2D + Dense', async () => {
  const model = await load();
  const gap = gapHead(model, 3);
  assert.deepEqual(structure(gap), ['data:InputLayer', 'conv1:Conv2D', 'pool1:MaxPooling2D', 'conv2:Conv2D', 'pool2:MaxPooling2D', 'head_gap:GlobalAveragePooling2D', 'head:Dense']);
  assert.deepEqual(gap.logits.getLayer('head_gap').outputShape, [null, 50]);
  assert.deepEqual(shapeOf(gap.logits, 'head'), [50, 3]);
  assert.equal(gap.activation, 'softmax');
  model.dispose();
});

test('--reinit: fresh, seeded Glorot-uniform kernels and zero biases for the chosen layers only', async () => {
  const model = await load();
  const conv1 = read(model, 'conv1');
  const ip1 = read(model, 'ip1');
  assert.deepEqual(reinitialize(model, ['ip*'], 3), ['ip1', 'ip2']);
  const fresh = read(model, 'ip1');
  assert.notDeepEqual(fresh, ip1);
  const limit = Math.sqrt(6 / (800 + 500));
  assert.ok(fresh.every((v) => Math.abs(v) <= limit));
  assert.ok(fresh.reduce((m, v) => Math.max(m, Math.abs(v)), 0) > 0.9 * limit, 'spans the Glorot range');
  assert.deepEqual(model.getLayer('ip1').getWeights()[1].dataSync(), new Float32Array(500));
  assert.deepEqual(read(model, 'conv1'), conv1);
  reinitialize(model, ['ip1'], 3);
  assert.deepEqual(read(model, 'ip1'), fresh);
  model.dispose();
});

test('surgery through trainModel: each checkpoint has the new structure, loads and predicts the class names', async () => {
  const cases = [
    { name: 'num-classes', options: { numClasses: 4 }, head: 'ip2', units: 4, log: /replacing the last Dense layer \(10 outputs\) with a new one of 4/ },
    { name: 'cut-at', options: { cutAt: 'pool2', freezeTo: 'pool2' }, head: 'head', units: 3, log: /cutting at pool2/ },
    { name: 'gap', options: { head: 'gap' as const }, head: 'head', units: 3, log: /GlobalAveragePooling2D/ },
    { name: 'reinit', options: { reinit: ['conv2'] }, head: 'ip2', units: 3, log: /re-initialised: conv2/ },
  ];
  for (const c of cases) {
    const out = path.join(work, `run-${c.name}`);
    const lines: string[] = [];
    const summary = await trainModel({ from: lenet, data: images.root, out, epochs: 1, seed: 1, progress: false, log: (l) => lines.push(l), ...c.options });
    assert.match(lines.join('\n'), c.log, c.name);
    assert.deepEqual(summary.classNames, [...CLASSES]);
    const { model, graft } = await loadModelDirectory(path.join(out, 'best'));
    assert.equal(model.getLayer(c.head).getClassName(), 'Dense', c.name);
    assert.deepEqual(model.outputs[0].shape, [null, c.units], c.name);
    // Saved with its softmax: a checkpoint predicts probabilities.
    assert.equal(model.layers.at(-1)!.getClassName(), 'Softmax');
    assert.deepEqual(graft?.classNames, [...CLASSES]);
    model.dispose();
    const topology = JSON.parse(readFileSync(path.join(out, 'best', 'model.json'), 'utf8'));
    assert.ok(JSON.stringify(topology).includes(`"name":"${c.head}"`));
    if (c.units === 3) {
      const result = await predictImages({ model: path.join(out, 'best'), images: images.samples, top: 1 });
      assert.ok(result.predictions.every((p) => CLASSES.includes(p.top[0].label as (typeof CLASSES)[number])), c.name);
    }
  }
});
