/**
 * torchvision's architectures against manifests of the real full-size models (key → shape, written
 * by fixtures/make/torchvision_goldens.py from torchvision 0.14): each is recognised from its keys
 * and shapes alone, its graph has torchvision's parameter count, and near misses are explained.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import {
  architectures,
  compareParams,
  recognizeArchitecture,
  type BuiltArchitecture,
} from '../../src/graph/architectures/index.js';
import { TORCHVISION_ARCHITECTURES } from '../../src/graph/architectures/torchvision/index.js';
import type { Graph, GraphNode } from '../../src/graph/graph.js';
import type { TensorMap } from '../../src/tensor/tensor.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { buildModel } from '../../src/tfjs/builder.js';
import { manifestNames, manifestTensors, readManifest, shapeOnlyTensor } from './manifests.js';

const EXPECTED_ARCHITECTURES = [
  'alexnet',
  'vgg11',
  'vgg11_bn',
  'vgg13',
  'vgg13_bn',
  'vgg16',
  'vgg16_bn',
  'vgg19',
  'vgg19_bn',
  'resnet18',
  'resnet34',
  'resnet50',
  'resnet101',
  'resnet152',
  'mobilenet_v2',
  'squeezenet1_0',
  'squeezenet1_1',
];

/** Learnable parameters as torchvision counts them: every bound tensor but BatchNorm's running statistics. */
function parameterCount(built: BuiltArchitecture): number {
  let total = 0;
  for (const node of built.graph.nodes) {
    for (const [role, key] of Object.entries(node.params)) {
      if (role === 'mean' || role === 'variance') continue;
      total += built.expected.get(key)!.shape.reduce((a, b) => a * b, 1);
    }
  }
  return total;
}

function nodesOf<Op extends GraphNode['op']>(graph: Graph, op: Op): Extract<GraphNode, { op: Op }>[] {
  return graph.nodes.filter((n): n is Extract<GraphNode, { op: Op }> => n.op === op);
}

function withHead(tensors: TensorMap, prefix: string, classes: number): TensorMap {
  const copy: TensorMap = new Map(tensors);
  const weight = tensors.get(`${prefix}.weight`)!;
  copy.set(`${prefix}.weight`, shapeOnlyTensor([classes, ...weight.shape.slice(1)]));
  copy.set(`${prefix}.bias`, shapeOnlyTensor([classes]));
  return copy;
}

/** Where each family keeps its last layer. */
const HEADS: Record<string, string> = {
  alexnet: 'classifier.6',
  vgg: 'classifier.6',
  resnet: 'fc',
  mobilenet: 'classifier.1',
  squeezenet: 'classifier.1',
};

function headOf(name: string): string {
  return HEADS[Object.keys(HEADS).find((family) => name.startsWith(family))!];
}

test('every torchvision architecture graft defines has a manifest, and is registered for pytorch', () => {
  assert.deepEqual(manifestNames(), [...EXPECTED_ARCHITECTURES].sort());
  assert.deepEqual(TORCHVISION_ARCHITECTURES.map((a) => a.name), EXPECTED_ARCHITECTURES);
  const registered = architectures('pytorch').map((a) => a.name);
  for (const name of EXPECTED_ARCHITECTURES) assert.ok(registered.includes(name), `${name} is registered`);
  for (const a of TORCHVISION_ARCHITECTURES) {
    assert.equal(a.format, 'pytorch');
    assert.deepEqual(a.inputShape, [1, 3, 224, 224]);
    assert.deepEqual(a.input, { channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  }
});

for (const name of EXPECTED_ARCHITECTURES) {
  test(`${name}: recognised from its state-dict keys and shapes, with torchvision's parameter count`, () => {
    const manifest = readManifest(name);
    const { architecture, built } = recognizeArchitecture(`${name}.pth`, 'pytorch', manifestTensors(manifest));
    assert.equal(architecture.name, name);
    assert.equal(parameterCount(built), manifest.num_params);
    const comparison = compareParams(built.expected, manifestTensors(manifest));
    assert.deepEqual(comparison, { missing: [], unexpected: [], wrongShape: [] });
    const head = built.graph.nodes.find((n) => n.name === headOf(name))!;
    assert.equal(built.expected.get(head.params.W)!.shape[0], 1000);
    assert.deepEqual(built.graph.inputs, [{ name: 'input', shape: [1, 3, 224, 224] }]);
  });

  test(`${name}: a checkpoint fine-tuned to 2 classes is still recognised`, () => {
    const head = headOf(name);
    const tensors = withHead(manifestTensors(readManifest(name)), head, 2);
    const { architecture, built } = recognizeArchitecture(`${name}-2class.pth`, 'pytorch', tensors);
    assert.equal(architecture.name, name);
    const headNode = built.graph.nodes.find((n) => n.name === head)!;
    assert.deepEqual(built.expected.get(headNode.params.W)!.shape[0], 2);
  });
}

test('checkpoints saved before torch 0.4.1 (no num_batches_tracked) are recognised', () => {
  const tensors = manifestTensors(readManifest('resnet50'));
  for (const key of [...tensors.keys()]) if (key.endsWith('num_batches_tracked')) tensors.delete(key);
  assert.equal(recognizeArchitecture('old.pth', 'pytorch', tensors).architecture.name, 'resnet50');
});

test('an unknown key set names the closest architecture and the keys that differ', () => {
  const tensors = manifestTensors(readManifest('resnet50'));
  tensors.delete('layer4.2.bn3.running_var');
  tensors.set('layer4.2.se.fc.weight', shapeOnlyTensor([128, 2048]));
  tensors.set('layer1.0.conv2.weight', shapeOnlyTensor([64, 32, 3, 3]));
  assert.throws(
    () => recognizeArchitecture('custom.pth', 'pytorch', tensors),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, /closest is resnet50/);
      assert.match(error.message, /missing layer4\.2\.bn3\.running_var/);
      assert.match(error.message, /unexpected layer4\.2\.se\.fc\.weight/);
      assert.match(error.message, /layer1\.0\.conv2\.weight \[64,32,3,3\] \(expected \[64,64,3,3\]\)/);
      assert.match(error.message, /--arch/);
      return true;
    },
  );
});

test('--arch NAME must fit the file exactly, and says what differs', () => {
  const tensors = manifestTensors(readManifest('vgg16_bn'));
  assert.equal(recognizeArchitecture('x.pth', 'pytorch', tensors, { name: 'VGG16_BN' }).architecture.name, 'vgg16_bn');
  assert.throws(() => recognizeArchitecture('x.pth', 'pytorch', tensors, { name: 'vgg16' }), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /do not fit vgg16/);
    assert.match(error.message, /unexpected features\.1\.weight, features\.1\.bias, features\.1\.running_mean/);
    return true;
  });
});

test('a narrower model with the same modules matches its family (widths are read from the file)', () => {
  // resnet18 at half width: every conv, BatchNorm and fc input halves; the structure is unchanged.
  const manifest = readManifest('resnet18');
  const tensors: TensorMap = new Map();
  for (const [key, shape] of Object.entries(manifest.state_dict)) {
    const half = shape.map((d, axis) => {
      if (key === 'fc.weight') return axis === 1 ? d / 2 : d;
      if (key === 'fc.bias' || shape.length === 0) return d;
      if (key === 'conv1.weight' && axis === 1) return d;
      return axis < 2 ? d / 2 : d;
    });
    tensors.set(key, shapeOnlyTensor(half));
  }
  const { architecture, built } = recognizeArchitecture('narrow.pth', 'pytorch', tensors);
  assert.equal(architecture.name, 'resnet18');
  assert.equal(nodesOf(built.graph, 'conv2d').find((n) => n.name === 'layer4.1.conv2')!.attrs.filters, 256);
});

test('resnet: stem max pool pads 1, projections only where the shape changes, ReLU after the sum', () => {
  const r18 = recognizeArchitecture('r.pth', 'pytorch', manifestTensors(readManifest('resnet18'))).built.graph;
  const maxpool = nodesOf(r18, 'pool2d').find((n) => n.name === 'maxpool')!;
  assert.deepEqual([maxpool.attrs.kernel, maxpool.attrs.stride, maxpool.attrs.pad], [[3, 3], [2, 2], [1, 1]]);
  assert.deepEqual(
    nodesOf(r18, 'conv2d').filter((n) => n.name.includes('downsample')).map((n) => n.name),
    ['layer2.0.downsample.0', 'layer3.0.downsample.0', 'layer4.0.downsample.0'],
  );
  assert.ok(nodesOf(r18, 'conv2d').every((n) => n.name === 'fc' || !n.attrs.bias), 'no conv has a bias');
  assert.ok(nodesOf(r18, 'batchnorm').every((n) => n.attrs.eps === 1e-5));
  const add = r18.nodes.findIndex((n) => n.name === 'layer1.0.add');
  assert.equal(r18.nodes[add + 1].op, 'relu');
  assert.deepEqual(r18.nodes[add + 1].inputs, [r18.nodes[add].outputs[0]]);
  const avgpool = nodesOf(r18, 'adaptive_pool2d')[0];
  assert.deepEqual(avgpool.attrs, { mode: 'avg', output: [1, 1] });

  const r50 = recognizeArchitecture('r.pth', 'pytorch', manifestTensors(readManifest('resnet50'))).built.graph;
  assert.equal(nodesOf(r50, 'conv2d').filter((n) => n.name.endsWith('downsample.0')).length, 4);
  // torchvision's ResNet V1.5: the stride sits on the 3×3 conv2.
  const stride = (name: string) => nodesOf(r50, 'conv2d').find((n) => n.name === name)!.attrs.stride;
  assert.deepEqual([stride('layer2.0.conv1'), stride('layer2.0.conv2'), stride('layer2.0.downsample.0')], [[1, 1], [2, 2], [2, 2]]);
});

test('mobilenet_v2: depthwise convs, ReLU6, residual sums only at stride 1 with equal widths', () => {
  const graph = recognizeArchitecture('m.pth', 'pytorch', manifestTensors(readManifest('mobilenet_v2'))).built.graph;
  const convs = nodesOf(graph, 'conv2d');
  const depthwise = convs.filter((n) => n.attrs.groups > 1);
  assert.equal(depthwise.length, 17);
  assert.ok(depthwise.every((n) => n.attrs.groups === n.attrs.filters && n.attrs.kernel[0] === 3));
  assert.equal(convs.find((n) => n.name === 'features.1.conv.0.0')!.attrs.groups, 32);
  assert.equal(nodesOf(graph, 'relu6').length, 35);
  assert.deepEqual(
    nodesOf(graph, 'eltwise').map((n) => n.name),
    [3, 5, 6, 8, 9, 10, 12, 13, 15, 16].map((i) => `features.${i}.add`),
  );
  assert.deepEqual(nodesOf(graph, 'dropout').map((n) => n.attrs.rate), [0.2]);
});

test('squeezenet: ceil-mode max pools, Fire concatenations, conv classifier then global pool and flatten', () => {
  for (const name of ['squeezenet1_0', 'squeezenet1_1']) {
    const graph = recognizeArchitecture('s.pth', 'pytorch', manifestTensors(readManifest(name))).built.graph;
    const pools = nodesOf(graph, 'pool2d');
    assert.equal(pools.length, 3);
    assert.ok(pools.every((p) => p.attrs.rounding === 'ceil' && p.attrs.mode === 'max'));
    assert.equal(nodesOf(graph, 'concat').length, 8);
    assert.deepEqual(graph.nodes.slice(-4).map((n) => n.op), ['conv2d', 'relu', 'adaptive_pool2d', 'flatten']);
  }
});

test('vgg and alexnet: adaptive pools to 7×7 and 6×6, flatten, then the classifier', () => {
  const vgg = recognizeArchitecture('v.pth', 'pytorch', manifestTensors(readManifest('vgg16_bn'))).built.graph;
  assert.deepEqual(nodesOf(vgg, 'adaptive_pool2d')[0].attrs.output, [7, 7]);
  assert.equal(nodesOf(vgg, 'batchnorm').length, 13);
  assert.deepEqual(nodesOf(vgg, 'dense').map((n) => n.name), ['classifier.0', 'classifier.3', 'classifier.6']);
  const alexnet = recognizeArchitecture('a.pth', 'pytorch', manifestTensors(readManifest('alexnet'))).built.graph;
  assert.deepEqual(nodesOf(alexnet, 'adaptive_pool2d')[0].attrs.output, [6, 6]);
  assert.deepEqual(alexnet.nodes.slice(-9, -6).map((n) => n.op), ['adaptive_pool2d', 'flatten', 'dropout']);
});

test('--input-shape changes the graph input; a model too small for its input says so', () => {
  const tensors = manifestTensors(readManifest('resnet18'));
  const built = recognizeArchitecture('r.pth', 'pytorch', tensors, { name: 'resnet18', inputShape: [1, 3, 96, 128] }).built;
  assert.deepEqual(built.graph.inputs[0].shape, [1, 3, 96, 128]);
  assert.throws(
    () => recognizeArchitecture('a.pth', 'pytorch', manifestTensors(readManifest('alexnet')), { name: 'alexnet', inputShape: [1, 3, 32, 32] }),
    /too small/,
  );
});

test('every full-size architecture builds as a tfjs model with torchvision\'s trainable parameter count', async () => {
  await useBackend('cpu');
  for (const name of EXPECTED_ARCHITECTURES) {
    const manifest = readManifest(name);
    const tensors = manifestTensors(manifest);
    const { built } = recognizeArchitecture(`${name}.pth`, 'pytorch', tensors);
    // 'shapes' mode: zero-filled variables, the (absent) values are never read.
    const { model, unusedTensors } = buildModel(built.graph, tensors, { mode: 'shapes' });
    try {
      const trainable = model.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
      assert.equal(trainable, manifest.num_params, name);
      assert.deepEqual(model.inputs[0].shape, [null, 224, 224, 3], name);
      assert.deepEqual(model.outputs[0].shape, [null, 1000], name);
      assert.ok(unusedTensors.every((key) => key.endsWith('.num_batches_tracked')), `${name}: ${unusedTensors.join(', ')}`);
    } finally {
      model.dispose();
    }
  }
});
