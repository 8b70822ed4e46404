/**
 * `--arch spec.json`: the layer-list format for custom models, in PyTorch and Chainer vocabulary.
 * Numbers against real PyTorch are in test/tfjs/pytorch-golden.test.ts (custom_sequential).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FormatError, UsageError } from '../../src/errors.js';
import { compareParams, type ExpectedParam } from '../../src/graph/architectures/index.js';
import type { Graph, GraphNode } from '../../src/graph/graph.js';
import { parseArchitectureSpec, readArchitectureSpec } from '../../src/graph/spec.js';
import { readPyTorchFile } from '../../src/formats/pytorch/reader.js';
import { FIXTURES } from '../helpers.js';

type Layer = Record<string, unknown>;

function spec(layers: Layer[], input: Record<string, unknown> = { shape: [1, 3, 8, 8] }): string {
  return JSON.stringify({ name: 'net', input, layers });
}

function build(layers: Layer[], format: 'pytorch' | 'chainer' = 'pytorch', input?: Record<string, unknown>) {
  return parseArchitectureSpec(spec(layers, input), 'net.json', format).build(new Map(), {});
}

function node<Op extends GraphNode['op']>(graph: Graph, op: Op, index = 0): Extract<GraphNode, { op: Op }> {
  const found = graph.nodes.filter((n): n is Extract<GraphNode, { op: Op }> => n.op === op);
  assert.ok(found[index], `a ${op} node #${index}`);
  return found[index];
}

function keys(expected: Map<string, ExpectedParam>): Record<string, number[]> {
  return Object.fromEntries([...expected].map(([key, p]) => [key, p.shape]));
}

/** Asserts a FormatError at `where` whose message matches `pattern`. */
function rejects(layers: Layer[] | string, where: string | undefined, pattern: RegExp, format: 'pytorch' | 'chainer' = 'pytorch') {
  const text = typeof layers === 'string' ? layers : spec(layers);
  assert.throws(
    () => parseArchitectureSpec(text, 'net.json', format),
    (error: unknown) => {
      assert.ok(error instanceof FormatError, String(error));
      assert.equal(error.file, 'net.json');
      assert.equal(error.where, where);
      assert.match(error.detail, pattern);
      return true;
    },
  );
}

test('the golden custom_sequential spec binds exactly the state dict torch.save wrote', async () => {
  const dir = path.join(FIXTURES, 'pytorch', 'goldens', 'custom_sequential');
  const architecture = await readArchitectureSpec(path.join(dir, 'spec.json'), 'pytorch');
  assert.equal(architecture.name, 'custom_net');
  assert.equal(architecture.format, 'pytorch');
  assert.deepEqual(architecture.inputShape, [1, 3, 20, 20]);
  assert.deepEqual(architecture.input, { channelOrder: 'RGB', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
  const { tensors } = await readPyTorchFile(path.join(dir, 'model.pth'));
  const built = architecture.build(tensors, {});
  assert.deepEqual(compareParams(built.expected, tensors), { missing: [], unexpected: [], wrongShape: [] });
  const graph = built.graph;
  assert.deepEqual(node(graph, 'pool2d', 0).attrs, { mode: 'max', kernel: [3, 3], stride: [2, 2], pad: [0, 0], global: false, rounding: 'ceil', avgDivisor: 'padded' });
  assert.deepEqual(node(graph, 'pool2d', 1).attrs, { mode: 'avg', kernel: [3, 3], stride: [2, 2], pad: [1, 1], global: false, rounding: 'ceil', avgDivisor: 'valid' });
  // PyTorch's LocalResponseNorm divides alpha by size; the graph wants the per-element coefficient.
  const lrn = node(graph, 'lrn').attrs;
  assert.deepEqual([lrn.size, lrn.beta, lrn.k], [3, 0.75, 2]);
  assert.ok(Math.abs(lrn.alpha - 0.3 / 3) < 1e-15, `alpha ${lrn.alpha}`);
  assert.deepEqual(node(graph, 'conv2d', 1).attrs, { filters: 16, kernel: [3, 3], stride: [1, 1], pad: [2, 2], dilation: [2, 2], groups: 2, bias: false });
  assert.deepEqual([node(graph, 'prelu', 0).attrs.channelShared, node(graph, 'prelu', 1).attrs.channelShared], [false, true]);
  assert.deepEqual(node(graph, 'adaptive_pool2d').attrs, { mode: 'avg', output: [2, 3] });
  assert.equal(node(graph, 'relu', 1).attrs.negativeSlope, 0.1);
  assert.deepEqual(graph.nodes.at(-1)!.op, 'softmax');
});

test('PyTorch vocabulary: defaults, names, "same" padding, BatchNorm1d, and in_* checks', () => {
  const { graph, expected } = build([
    { type: 'Conv2d', name: 'conv', out_channels: 4, kernel_size: [3, 5], padding: 'same', in_channels: 3 },
    { type: 'BatchNorm2d', name: 'bn' },
    { type: 'ReLU', name: 'act' },
    { type: 'MaxPool2d', kernel_size: 2 },
    { type: 'Flatten' },
    { type: 'Linear', name: 'fc', out_features: 5, in_features: 64 },
    { type: 'BatchNorm1d', name: 'bn_fc', eps: 1e-3, affine: false },
    { type: 'Dropout' },
    { type: 'Softmax', dim: -1 },
  ]);
  assert.deepEqual(keys(expected), {
    'conv.weight': [4, 3, 3, 5],
    'conv.bias': [4],
    'bn.running_mean': [4],
    'bn.running_var': [4],
    'bn.weight': [4],
    'bn.bias': [4],
    'bn.num_batches_tracked': [],
    'fc.weight': [5, 64],
    'fc.bias': [5],
    'bn_fc.running_mean': [5],
    'bn_fc.running_var': [5],
    'bn_fc.num_batches_tracked': [],
  });
  assert.ok(expected.get('bn.num_batches_tracked')!.optional);
  assert.deepEqual(node(graph, 'conv2d').attrs.pad, [1, 2]);
  assert.equal(node(graph, 'batchnorm').attrs.eps, 1e-5);
  assert.deepEqual(node(graph, 'batchnorm', 1).attrs, { eps: 1e-3, scale: false, center: false });
  assert.deepEqual(node(graph, 'pool2d').attrs.stride, [2, 2], 'stride defaults to kernel_size');
  assert.equal(node(graph, 'dropout').attrs.rate, 0.5);
  assert.equal(graph.nodes.find((n) => n.name === 'act')?.op, 'relu');
});

test('Chainer vocabulary: link paths with /, W and b, eps 2e-5, cover_all, LRN alpha as is, Linear flattens', () => {
  const { graph, expected } = build(
    [
      { type: 'Convolution2D', name: 'predictor/conv1', out_channels: 4, ksize: 3, pad: 1 },
      { type: 'BatchNormalization', name: 'predictor/bn1' },
      { type: 'relu' },
      { type: 'max_pooling_2d', ksize: 3, stride: 2 },
      { type: 'local_response_normalization' },
      { type: 'average_pooling_2d', ksize: 2 },
      { type: 'dropout', ratio: 0.25 },
      { type: 'Linear', name: 'predictor/fc', out_size: 3, nobias: true },
      { type: 'leaky_relu' },
      { type: 'softmax' },
    ],
    'chainer',
  );
  assert.deepEqual(keys(expected), {
    'predictor/conv1/W': [4, 3, 3, 3],
    'predictor/conv1/b': [4],
    'predictor/bn1/avg_mean': [4],
    'predictor/bn1/avg_var': [4],
    'predictor/bn1/gamma': [4],
    'predictor/bn1/beta': [4],
    'predictor/bn1/N': [],
    // 8 → conv 8 → max 3/2 with cover_all 4 (not 3) → avg 2/2 → 2: 4·2·2 inputs.
    'predictor/fc/W': [3, 16],
  });
  assert.equal(node(graph, 'batchnorm').attrs.eps, 2e-5);
  assert.equal(node(graph, 'pool2d', 0).attrs.rounding, 'cover_all');
  assert.deepEqual([node(graph, 'pool2d', 1).attrs.rounding, node(graph, 'pool2d', 1).attrs.avgDivisor], ['floor', 'window']);
  assert.deepEqual(node(graph, 'lrn').attrs, { size: 5, k: 2, alpha: 1e-4, beta: 0.75 });
  assert.equal(node(graph, 'relu', 1).attrs.negativeSlope, 0.2);
  assert.equal(node(graph, 'dropout').attrs.rate, 0.25);
  assert.equal(node(graph, 'dense').inputs[0], node(graph, 'dropout').outputs[0], 'no flatten node: L.Linear flattens C·H·W itself');
});

test('the input shape can be overridden at build time (--input-shape)', () => {
  const architecture = parseArchitectureSpec(spec([{ type: 'Conv2d', name: 'c', out_channels: 2, kernel_size: 3 }]), 'net.json', 'pytorch');
  const built = architecture.build(new Map(), { inputShape: [1, 3, 16, 12] });
  assert.deepEqual(built.graph.inputs[0].shape, [1, 3, 16, 12]);
});

test('invalid JSON is a FormatError at its line and column', () => {
  rejects('{\n  "name": "x",\n  "layers": [}\n', 'line 3:14', /invalid JSON: Unexpected token '}'$/);
  rejects('{\n  "name": "x"\n  "layers": []\n}', 'line 3:3', /invalid JSON: Expected ',' or '}' after property value$/);
  rejects('{"layers": [1, 2,]}', 'line 1:18', /invalid JSON/);
  rejects('{"name": "a\tb"}', 'line 1:12', /invalid JSON/);
  rejects('{"input": {', 'line 1:12', /invalid JSON/);
});

test('spec structure errors name the key', () => {
  rejects('[]', undefined, /JSON object/);
  rejects(JSON.stringify({ input: { shape: [1, 3, 8, 8] }, layers: [], extra: 1 }), 'extra', /unknown top-level key/);
  rejects(JSON.stringify({ layers: [{ type: 'ReLU' }] }), 'input', /shape/);
  rejects(JSON.stringify({ input: { shape: [1, 3, 8] }, layers: [{ type: 'ReLU' }] }), 'input.shape', /\[N, C, H, W\]/);
  rejects(JSON.stringify({ input: { shape: [1, 3, 8, 8], mean: [1, 2] }, layers: [{ type: 'ReLU' }] }), 'input.mean', /2 values for 3 channels/);
  rejects(JSON.stringify({ input: { shape: [1, 3, 8, 8] }, layers: [] }), 'layers', /non-empty/);
});

test('layer errors are FormatErrors at layers[i]', () => {
  const conv = { type: 'Conv2d', name: 'c', out_channels: 4, kernel_size: 3 };
  rejects([{ type: 'ReLU' }, { type: 'Conv3d' }], 'layers[1]', /unknown layer type "Conv3d".*known: Conv2d/);
  rejects([{ name: 'x' }], 'layers[0]', /needs a "type"/);
  rejects([{ type: 'Conv2d', out_channels: 4, kernel_size: 3 }], 'layers[0]', /Conv2d: needs a "name"/);
  rejects([{ ...conv, kernal_size: 3 }], 'layers[0]', /unknown argument "kernal_size" \(it takes in_channels, out_channels, kernel_size/);
  rejects([{ ...conv, kernel_size: 0 }], 'layers[0]', /kernel_size must be an integer ≥ 1/);
  rejects([{ ...conv, kernel_size: [3, 'a'] }], 'layers[0]', /kernel_size must be/);
  rejects([{ ...conv, in_channels: 4 }], 'layers[0]', /in_channels is 4 but the input to this layer has 3/);
  rejects([{ ...conv, groups: 2 }], 'layers[0]', /groups 2 must divide/);
  rejects([{ ...conv, padding: 'same', kernel_size: 2 }], 'layers[0]', /even kernel/);
  rejects([conv, { type: 'Linear', name: 'fc', out_features: 2 }], 'layers[1]', /put a Flatten before it/);
  rejects([conv, { type: 'Flatten' }, { type: 'Linear', name: 'fc', out_features: 2, in_features: 100 }], 'layers[2]', /in_features is 100 but the input to this layer has 144/);
  rejects([{ type: 'LocalResponseNorm', size: 4 }], 'layers[0]', /size must be odd/);
  rejects([{ type: 'MaxPool2d', kernel_size: 2, padding: 2 }], 'layers[0]', /at most half the kernel size/);
  rejects([{ type: 'ConvTranspose2d', name: 'd', out_channels: 2, kernel_size: 3, output_padding: 1 }], 'layers[0]', /output_padding 1 is not supported/);
  rejects([{ type: 'Softmax', dim: 2 }], 'layers[0]', /dim 1/);
  rejects([{ type: 'BatchNorm2d', name: 'bn', track_running_stats: false }], 'layers[0]', /track_running_stats false is not supported/);
  rejects([{ type: 'ReLU', name: 'a' }, { type: 'ReLU', name: 'a' }, { type: 'Conv2d', name: 'c', out_channels: 2, kernel_size: 9 }], 'layers[2]', /too small/);
  rejects([{ type: 'Conv2d', name: 'c', out_channels: 2, kernel_size: 3 }, { type: 'Conv2d', name: 'c', out_channels: 2, kernel_size: 3 }], 'layers[1]', /bound twice/);
});

test('the other framework\'s vocabulary gets a hint', () => {
  rejects([{ type: 'Convolution2D', name: 'c', out_channels: 2, ksize: 3 }], 'layers[0]', /Chainer vocabulary, and this is a pytorch file/);
  rejects([{ type: 'Conv2d', name: 'c', out_channels: 2, kernel_size: 3 }], 'layers[0]', /PyTorch vocabulary, and this is a chainer file/, 'chainer');
  rejects([{ type: 'BatchNormalization', name: 'bn', use_gamma: false }], 'layers[0]', /use_gamma and use_beta must agree/, 'chainer');
});

test('readArchitectureSpec: a missing file is a UsageError; Caffe has no use for a spec', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'graft-spec-'));
  try {
    await assert.rejects(readArchitectureSpec(path.join(dir, 'none.json'), 'pytorch'), (e: unknown) => e instanceof UsageError && /no such file/.test(e.message));
    const file = path.join(dir, 'net.json');
    writeFileSync(file, spec([{ type: 'ReLU' }]));
    await assert.rejects(readArchitectureSpec(file, 'caffe'), UsageError);
    assert.equal((await readArchitectureSpec(file, 'pytorch')).name, 'net');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
