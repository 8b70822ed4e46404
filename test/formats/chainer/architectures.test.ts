/**
 * Chainer's zoo architectures recognised from real key sets (manifest_*.json: every key and shape
 * of VGG16Layers / ResNet50Layers as Chainer 7.8.1 saves them) filled with random arrays, and the
 * tfjs models built from them against Chainer's documented sizes.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { readChainerNpz } from '../../../src/formats/chainer/reader.js';
import { recognizeArchitecture, type Architecture } from '../../../src/graph/architectures/index.js';
import { ALEXNET } from '../../../src/graph/architectures/chainer/alexnet.js';
import { RESNET101_LAYERS, RESNET152_LAYERS } from '../../../src/graph/architectures/chainer/resnet.js';
import { VGG19_LAYERS } from '../../../src/graph/architectures/chainer/vgg.js';
import { makeTensor, sizeOf, type TensorMap } from '../../../src/tensor/tensor.js';
import { useBackend } from '../../../src/tfjs/backend.js';
import { buildModel, type BuiltModel } from '../../../src/tfjs/builder.js';
import type { Graph } from '../../../src/graph/graph.js';
import { SHARED_FIXTURES } from '../../helpers.js';
import { bytesOf, npyBytes, randomFloats, zipArchive } from './npz-writer.js';

const CHAINER = path.join(SHARED_FIXTURES, 'chainer');
const work = mkdtempSync(path.join(tmpdir(), 'graft-chainer-arch-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

interface Manifest {
  keys: Record<string, number[]>;
  persistent: Record<string, number[]>;
}
const manifest = (name: string): Manifest => JSON.parse(readFileSync(path.join(CHAINER, `manifest_${name}.json`), 'utf8')) as Manifest;
const shapesOf = (m: Manifest): Record<string, number[]> => ({ ...m.keys, ...m.persistent });

function randomTensors(shapes: Record<string, number[]>): TensorMap {
  const tensors: TensorMap = new Map();
  let seed = 1;
  for (const [key, shape] of Object.entries(shapes)) tensors.set(key, makeTensor('float32', shape, randomFloats(sizeOf(shape), seed++)));
  return tensors;
}

/** Zero-filled tensors of the shapes an architecture itself expects (untouched pages: no memory). */
function tensorsFor(architecture: Architecture): TensorMap {
  const { expected } = architecture.build(new Map(), {});
  const tensors: TensorMap = new Map();
  for (const [key, param] of expected) if (!param.optional) tensors.set(key, makeTensor('float32', param.shape, new Float32Array(sizeOf(param.shape))));
  return tensors;
}

async function build(graph: Graph, tensors: TensorMap): Promise<BuiltModel> {
  await useBackend('cpu');
  return buildModel(graph, tensors, { mode: 'shapes' });
}

/** tfjs output shape of a graph value or blob alias (NHWC for images). */
function shapeOf(built: BuiltModel, graph: Graph, blob: string): (number | null)[] {
  const id = graph.blobs[blob] ?? blob;
  return built.model.getLayer(built.values[id].layer).outputShape as (number | null)[];
}

function trainableParams(built: BuiltModel): number {
  return built.model.trainableWeights.reduce((sum, w) => sum + sizeOf(w.shape as number[]), 0);
}

test('manifest_VGG16Layers with random arrays: VGG16Layers, 138,357,544 parameters, prob [N, 1000]', async () => {
  const tensors = randomTensors(shapesOf(manifest('VGG16Layers')));
  const { architecture, built } = recognizeArchitecture('vgg16.npz', 'chainer', tensors);
  assert.equal(architecture.name, 'VGG16Layers');
  // prepare(): RGB → BGR, minus the mean pixel, 224×224.
  assert.deepEqual(architecture.input, { channelOrder: 'BGR', scale: 1, mean: [103.939, 116.779, 123.68] });
  assert.deepEqual(built.graph.inputs[0].shape, [1, 3, 224, 224]);
  assert.deepEqual(built.graph.outputs, ['prob']);
  const model = await build(built.graph, tensors);
  try {
    assert.equal(model.model.countParams(), 138_357_544);
    assert.deepEqual(model.model.outputs[0].shape, [null, 1000]);
    assert.deepEqual(model.unusedTensors, []);
    // Chainer's layer names mean the value after the link's activation (VGG16Layers.functions).
    assert.deepEqual(shapeOf(model, built.graph, 'pool5'), [null, 7, 7, 512]);
    assert.equal(built.graph.blobs.conv5_3, 'relu5_3');
    assert.deepEqual(shapeOf(model, built.graph, 'conv5_3'), [null, 14, 14, 512]);
    assert.equal(built.graph.blobs.fc7, 'drop7');
    assert.deepEqual(shapeOf(model, built.graph, 'fc7'), [null, 4096]);
    assert.deepEqual(shapeOf(model, built.graph, 'fc8'), [null, 1000]);
  } finally {
    model.model.dispose();
  }

  // A fine-tuned head (the seed's two classes) is still VGG16Layers, with its own class count.
  tensors.set('fc8/W', makeTensor('float32', [2, 4096], randomFloats(2 * 4096)));
  tensors.set('fc8/b', makeTensor('float32', [2], randomFloats(2)));
  const tuned = recognizeArchitecture('tuned.npz', 'chainer', tensors);
  assert.equal(tuned.architecture.name, 'VGG16Layers');
  const fc8 = tuned.built.graph.nodes.find((n) => n.name === 'fc8')!;
  assert.equal((fc8.attrs as { units: number }).units, 2);
});

test('manifest_ResNet50Layers as an .npz (with BN counters) reads as ResNet50Layers: 25,557,096 trainable, prob [N, 1000]', async () => {
  const m = manifest('ResNet50Layers');
  const shapes = shapesOf(m);
  const inputs = Object.entries(shapes).map(([key, shape], i) => ({
    name: `${key}.npy`,
    data: npyBytes('<f4', shape, bytesOf(randomFloats(sizeOf(shape), i + 1))),
  }));
  // Chainer 7's BatchNormalization also saves N (an int scalar) beside avg_mean/avg_var.
  for (const key of Object.keys(m.persistent).filter((k) => k.endsWith('/avg_mean'))) {
    inputs.push({ name: `${key.replace(/avg_mean$/, 'N')}.npy`, data: npyBytes('<i8', [], bytesOf(BigInt64Array.from([10n]))) });
  }
  const file = path.join(work, 'resnet50.npz');
  writeFileSync(file, zipArchive(inputs));
  const source = await readChainerNpz(file);
  assert.equal(source.tensors.size, Object.keys(shapes).length);

  const { architecture, built } = recognizeArchitecture(file, 'chainer', source.tensors);
  assert.equal(architecture.name, 'ResNet50Layers');
  assert.deepEqual(architecture.input, { channelOrder: 'BGR', scale: 1, mean: [103.063, 115.903, 123.152] });
  const bnChannels = Object.entries(m.persistent).filter(([k]) => k.endsWith('/avg_mean')).reduce((sum, [, s]) => sum + s[0], 0);
  const model = await build(built.graph, source.tensors);
  try {
    // ResNet50Layers' docstring: "ResNet50 has 25,557,096 trainable parameters"; tfjs also counts
    // the moving mean and variance of every BatchNormalization.
    assert.equal(trainableParams(model), 25_557_096);
    assert.equal(model.model.countParams(), 25_557_096 + 2 * bnChannels);
    assert.deepEqual(model.model.outputs[0].shape, [null, 1000]);
    assert.deepEqual(model.unusedTensors, []);
    // cover_all pooling: 112 → 56 (floor rounding would give 55).
    assert.deepEqual(shapeOf(model, built.graph, 'conv1'), [null, 112, 112, 64]);
    assert.deepEqual(shapeOf(model, built.graph, 'pool1'), [null, 56, 56, 64]);
    assert.deepEqual(shapeOf(model, built.graph, 'res2'), [null, 56, 56, 256]);
    assert.deepEqual(shapeOf(model, built.graph, 'res3'), [null, 28, 28, 512]);
    assert.deepEqual(shapeOf(model, built.graph, 'res4'), [null, 14, 14, 1024]);
    assert.deepEqual(shapeOf(model, built.graph, 'res5'), [null, 7, 7, 2048]);
    assert.deepEqual(shapeOf(model, built.graph, 'pool5'), [null, 1, 1, 2048]);
    assert.deepEqual(shapeOf(model, built.graph, 'fc6'), [null, 1000]);
  } finally {
    model.model.dispose();
  }
  // BottleneckA strides its 1×1 conv1 (MSRA layout), not the 3×3 conv2.
  const node = (name: string) => built.graph.nodes.find((n) => n.name === name)!.attrs as { stride: number[] };
  assert.deepEqual(node('res3/a/conv1').stride, [2, 2]);
  assert.deepEqual(node('res3/a/conv2').stride, [1, 1]);
  assert.deepEqual(node('res3/a/conv4').stride, [2, 2]);
});

test('recognition is exact: a missing or an extra key names the closest architecture and the difference', () => {
  const shapes = shapesOf(manifest('ResNet50Layers'));
  delete shapes['res5/b2/bn3/gamma'];
  const tensors = randomTensors(shapes);
  assert.throws(
    () => recognizeArchitecture('r.npz', 'chainer', tensors),
    (e: unknown) => e instanceof UsageError && /closest is ResNet50Layers \(missing res5\/b2\/bn3\/gamma\)/.test(e.message),
  );
  const vgg = randomTensors({ ...shapesOf(manifest('VGG16Layers')), 'fc9/W': [10, 1000] });
  assert.throws(() => recognizeArchitecture('v.npz', 'chainer', vgg), (e: unknown) => e instanceof UsageError && /closest is VGG16Layers \(unexpected fc9\/W\)/.test(e.message));
});

for (const [architecture, trainable] of [
  // The counts in chainer/links/model/vision/resnet.py's docstrings.
  [RESNET101_LAYERS, 44_549_224],
  [RESNET152_LAYERS, 60_192_872],
  // Keras' VGG19 and Caffe's bvlc_alexnet (groups 2 on conv2/4/5, 227×227).
  [VGG19_LAYERS, 143_667_240],
] as const) {
  test(`${architecture.name}: recognised from its own key set, ${trainable.toLocaleString('en-US')} trainable parameters`, async () => {
    const tensors = tensorsFor(architecture);
    const recognized = recognizeArchitecture('x.npz', 'chainer', tensors);
    assert.equal(recognized.architecture.name, architecture.name);
    const model = await build(recognized.built.graph, tensors);
    try {
      assert.equal(trainableParams(model), trainable);
      assert.deepEqual(model.model.outputs[0].shape, [null, 1000]);
    } finally {
      model.model.dispose();
    }
  });
}

test('AlexNet: groups read from the weights (Caffe\'s bvlc_alexnet: 60,965,224 parameters at 227×227)', async () => {
  const shapes: Record<string, number[]> = {
    'conv1/W': [96, 3, 11, 11], 'conv1/b': [96],
    'conv2/W': [256, 48, 5, 5], 'conv2/b': [256],
    'conv3/W': [384, 256, 3, 3], 'conv3/b': [384],
    'conv4/W': [384, 192, 3, 3], 'conv4/b': [384],
    'conv5/W': [256, 192, 3, 3], 'conv5/b': [256],
    'fc6/W': [4096, 9216], 'fc6/b': [4096],
    'fc7/W': [4096, 4096], 'fc7/b': [4096],
    'fc8/W': [1000, 4096], 'fc8/b': [1000],
  };
  const tensors: TensorMap = new Map(Object.entries(shapes).map(([k, s]) => [k, makeTensor('float32', s, new Float32Array(sizeOf(s)))]));
  const { architecture, built } = recognizeArchitecture('alex.npz', 'chainer', tensors);
  assert.equal(architecture, ALEXNET);
  const groups = Object.fromEntries(built.graph.nodes.filter((n) => n.op === 'conv2d').map((n) => [n.name, (n.attrs as { groups: number }).groups]));
  assert.deepEqual(groups, { conv1: 1, conv2: 2, conv3: 1, conv4: 2, conv5: 2 });
  const lrn = built.graph.nodes.find((n) => n.op === 'lrn')!;
  // Chainer's alpha is applied as is (Caffe's would be divided by n).
  assert.deepEqual(lrn.attrs, { size: 5, k: 2, alpha: 1e-4, beta: 0.75 });
  const model = await build(built.graph, tensors);
  try {
    assert.equal(model.model.countParams(), 60_965_224);
    assert.deepEqual(model.model.outputs[0].shape, [null, 1000]);
    // cover_all: 55 → 27 → 13 → 6, so fc6 takes 256·6·6.
    assert.deepEqual(shapeOf(model, built.graph, 'pool5'), [null, 6, 6, 256]);
  } finally {
    model.model.dispose();
  }
});

test('a reduced AlexNet needs the input size it was trained at: the mismatch names fc6/W', async () => {
  const source = await readChainerNpz(path.join(CHAINER, 'alexnet_small_classifier.npz'));
  assert.throws(
    () => recognizeArchitecture('alex.npz', 'chainer', source.tensors),
    (e: unknown) => e instanceof UsageError && /closest is AlexNet \(different shapes fc6\/W \[128,256\] \(expected \[128,2304\]\)\)/.test(e.message),
  );
  const { architecture } = recognizeArchitecture('alex.npz', 'chainer', source.tensors, { inputShape: [1, 3, 99, 99] });
  assert.equal(architecture.name, 'AlexNet');
});

test('the fixtures\' TinyResNet (bare BottleneckA stages) is ResNetChain; ResNet50Layers\' keys stay ResNet50Layers', async () => {
  const tiny = await readChainerNpz(path.join(CHAINER, 'tiny_resnet_bn.npz'));
  const { architecture, built } = recognizeArchitecture('tiny.npz', 'chainer', tiny.tensors, { inputShape: [1, 3, 64, 64] });
  assert.equal(architecture.name, 'ResNetChain');
  assert.deepEqual(built.graph.outputs, ['fc6']);
  const bn = built.graph.nodes.find((n) => n.op === 'batchnorm')!;
  assert.equal((bn.attrs as { eps: number }).eps, 2e-5);
  const named = recognizeArchitecture('r.npz', 'chainer', randomTensors(shapesOf(manifest('ResNet50Layers'))), { name: 'resnetchain' });
  assert.equal(named.architecture.name, 'ResNetChain');
  assert.deepEqual(named.built.graph.outputs, ['fc6']);
});

test('the seed\'s transfer-learning chain (VGG16Layers as `base`, L.Linear `fc` on fc7) is VGGLayersWithHead', async () => {
  const vgg = shapesOf(manifest('VGG16Layers'));
  const shapes: Record<string, number[]> = { 'fc/W': [2, 4096], 'fc/b': [2] };
  for (const [key, shape] of Object.entries(vgg)) shapes[`base/${key}`] = shape;
  const tensors: TensorMap = new Map(Object.entries(shapes).map(([k, s]) => [k, makeTensor('float32', s, new Float32Array(sizeOf(s)))]));
  const { architecture, built } = recognizeArchitecture('seed.npz', 'chainer', tensors);
  assert.equal(architecture.name, 'VGGLayersWithHead');
  assert.deepEqual(architecture.input, { channelOrder: 'BGR', scale: 1, mean: [103.939, 116.779, 123.68] });
  assert.deepEqual(built.graph.outputs, ['fc']);
  assert.deepEqual(built.graph.nodes.find((n) => n.name === 'fc')!.inputs, ['base/drop7']);
  const model = await build(built.graph, tensors);
  try {
    assert.deepEqual(model.model.outputs[0].shape, [null, 2]);
    // VGG16Layers minus fc8 plus the head.
    assert.equal(model.model.countParams(), 138_357_544 - (4096 * 1000 + 1000) + (4096 * 2 + 2));
    assert.deepEqual(model.unusedTensors, ['base/fc8/W', 'base/fc8/b']);
  } finally {
    model.model.dispose();
  }
  // Without the unused fc8 it is the same chain; a head on pool5 reads pool5.
  tensors.delete('base/fc8/W');
  tensors.delete('base/fc8/b');
  tensors.set('fc/W', makeTensor('float32', [2, 25088], new Float32Array(2 * 25088)));
  const onPool5 = recognizeArchitecture('seed.npz', 'chainer', tensors);
  assert.equal(onPool5.architecture.name, 'VGGLayersWithHead');
  assert.deepEqual(onPool5.built.graph.nodes.find((n) => n.name === 'fc')!.inputs, ['base/pool5']);
});

test('VGGLayersWithHead computes VGG16Layers\' fc7 followed by the head (slim widths, random weights)', async () => {
  const shapes: Record<string, number[]> = {};
  let channels = 3;
  [[4, 4], [6, 6], [8, 8, 8], [8, 8, 8], [8, 8, 8]].forEach((stage, s) =>
    stage.forEach((width, i) => {
      shapes[`conv${s + 1}_${i + 1}/W`] = [width, channels, 3, 3];
      shapes[`conv${s + 1}_${i + 1}/b`] = [width];
      channels = width;
    }),
  );
  Object.assign(shapes, { 'fc6/W': [16, 32], 'fc6/b': [16], 'fc7/W': [16, 16], 'fc7/b': [16], 'fc8/W': [5, 16], 'fc8/b': [5] });
  const plain = randomTensors(shapes);
  const head = { W: randomFloats(3 * 16, 99), b: randomFloats(3, 98) };
  const seeded: TensorMap = new Map([...plain].map(([k, t]) => [`base/${k}`, t]));
  seeded.set('fc/W', makeTensor('float32', [3, 16], head.W));
  seeded.set('fc/b', makeTensor('float32', [3], head.b));
  await useBackend('cpu');
  const inputShape = [1, 3, 64, 64];
  const reference = recognizeArchitecture('vgg.npz', 'chainer', plain, { inputShape });
  const withHead = recognizeArchitecture('seed.npz', 'chainer', seeded, { inputShape });
  assert.equal(reference.architecture.name, 'VGG16Layers');
  assert.equal(withHead.architecture.name, 'VGGLayersWithHead');
  const a = buildModel(reference.built.graph, plain);
  const b = buildModel(withHead.built.graph, seeded);
  try {
    const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 7);
    const fc7Layer = a.model.getLayer(a.values[reference.built.graph.blobs.fc7].layer);
    const fc7 = (tf.model({ inputs: a.model.inputs, outputs: fc7Layer.output as tf.SymbolicTensor }).predict(x) as tf.Tensor).arraySync() as number[][];
    const out = (b.model.predict(x) as tf.Tensor).arraySync() as number[][];
    for (let n = 0; n < 2; n++) {
      for (let j = 0; j < 3; j++) {
        let expected = head.b[j];
        for (let i = 0; i < 16; i++) expected += head.W[j * 16 + i] * fc7[n][i];
        assert.ok(Math.abs(out[n][j] - expected) < 1e-5 * Math.max(1, Math.abs(expected)), `${n},${j}: ${out[n][j]} vs ${expected}`);
      }
    }
    x.dispose();
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
});
