import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FormatError, UnsupportedError, UsageError } from '../../../src/errors.js';
import { caffeReader, readCaffeModel } from '../../../src/formats/caffe/reader.js';
import { pickReader, READERS } from '../../../src/formats/registry.js';
import type { GraphNode } from '../../../src/graph/graph.js';
import { ALEXNET, ALEXNET_PROTOTXT, LENET, LENET_DEPLOY, blob, encodeNet, floatBytes, ramp, writeTemp } from './helpers.js';

function summary(nodes: GraphNode[]): string[] {
  return nodes.map((n) => `${n.name}:${n.op} ${n.inputs.join(',')}>${n.outputs.join(',')}`);
}

function byName(nodes: GraphNode[], name: string): GraphNode {
  const node = nodes.find((n) => n.name === name);
  assert.ok(node, `no node ${name}`);
  return node;
}

const LENET_NODES = [
  'conv1:conv2d data>conv1',
  'pool1:pool2d conv1>pool1',
  'conv2:conv2d pool1>conv2',
  'pool2:pool2d conv2>pool2',
  'ip1:dense pool2>ip1',
  'relu1:relu ip1>ip1@relu1',
  'ip2:dense ip1@relu1>ip2',
];

test('LeNet from the caffemodel alone: TEST graph, dropped layers, input convention', async () => {
  const model = await readCaffeModel(LENET, { inputShape: [1, 1, 28, 28] });
  assert.equal(model.format, 'caffe');
  assert.equal(model.structurePath, undefined);
  const graph = model.graph!;
  assert.equal(graph.name, 'LeNet');
  assert.deepEqual(graph.inputs, [{ name: 'data', shape: [1, 1, 28, 28] }]);
  assert.deepEqual(summary(graph.nodes), LENET_NODES);
  assert.deepEqual(graph.outputs, ['ip2']);
  assert.deepEqual(graph.blobs, { data: 'data', conv1: 'conv1', pool1: 'pool1', conv2: 'conv2', pool2: 'pool2', ip1: 'ip1@relu1', ip2: 'ip2' });
  assert.deepEqual(byName(graph.nodes, 'conv1').attrs, { filters: 20, kernel: [5, 5], stride: [1, 1], pad: [0, 0], dilation: [1, 1], groups: 1, bias: true });
  assert.deepEqual(byName(graph.nodes, 'conv1').params, { W: 'conv1/0', b: 'conv1/1' });
  assert.deepEqual(byName(graph.nodes, 'pool1').attrs, {
    mode: 'max',
    kernel: [2, 2],
    stride: [2, 2],
    pad: [0, 0],
    global: false,
    rounding: 'ceil',
    avgDivisor: 'padded',
  });
  assert.deepEqual(byName(graph.nodes, 'ip1').attrs, { units: 500, bias: true });
  assert.deepEqual(byName(graph.nodes, 'relu1').attrs, { negativeSlope: 0 });
  assert.deepEqual(model.tensors.get('conv1/0')!.shape, [20, 1, 5, 5]);
  assert.deepEqual(model.tensors.get('ip1/0')!.shape, [500, 800]);
  // python3 + caffe_pb2 decode (see caffemodel.test.ts): ip1.blobs[0].data[123456].
  assert.equal(model.tensors.get('ip1/0')!.data[123456], 0.03207556903362274);
  // The snapshot embeds the TRAIN net: its Data layer (TRAIN only) gives the preprocessing.
  assert.deepEqual(model.input, { channelOrder: 'GRAY', scale: 0.00390625 });
  assert.deepEqual(model.warnings, ['layers outside the TEST phase, ignored: mnist (Data)', 'training-only layers dropped: loss (SoftmaxWithLoss)']);
});

test('LeNet without an input shape is a UsageError that says what to pass', async () => {
  await assert.rejects(readCaffeModel(LENET), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, `${LENET}: the net has no input shape; pass --input-shape N,C,H,W (or --prototxt)`);
    return true;
  });
  await assert.rejects(readCaffeModel(LENET, { inputShape: [1, 0, 28, 28] }), UsageError);
});

test('LeNet with deploy.prototxt: structure and input from the prototxt, weights by layer name', async () => {
  const model = await readCaffeModel(LENET, { prototxt: LENET_DEPLOY });
  assert.equal(model.structurePath, LENET_DEPLOY);
  const graph = model.graph!;
  assert.deepEqual(graph.inputs, [{ name: 'data', shape: [1, 1, 28, 28] }]);
  assert.deepEqual(summary(graph.nodes), [...LENET_NODES, 'loss:softmax ip2>loss']);
  assert.deepEqual(byName(graph.nodes, 'loss').attrs, { axis: 1 });
  assert.deepEqual(graph.outputs, ['loss']);
  // The deploy net has no data layer; the caffemodel's gives the preprocessing.
  assert.deepEqual(model.input, { channelOrder: 'GRAY', scale: 0.00390625 });
  assert.deepEqual(model.warnings, []);
  assert.equal(model.tensors.get('conv1/0')!.data[1], -0.20902495086193085);
});

test('AlexNet with groups, LRN and ceil pooling, with and without its prototxt', async () => {
  for (const options of [{}, { prototxt: ALEXNET_PROTOTXT }]) {
    const graph = (await readCaffeModel(ALEXNET, options)).graph!;
    assert.deepEqual(graph.inputs, [{ name: 'data', shape: [1, 3, 96, 96] }]);
    const groups = Object.fromEntries(graph.nodes.filter((n) => n.op === 'conv2d').map((n) => [n.name, (n.attrs as { groups: number }).groups]));
    assert.deepEqual(groups, { conv1: 1, conv2: 2, conv3: 1, conv4: 2, conv5: 2 });
    const conv2 = byName(graph.nodes, 'conv2');
    assert.deepEqual(conv2.attrs, { filters: 64, kernel: [5, 5], stride: [1, 1], pad: [2, 2], dilation: [1, 1], groups: 2, bias: true });
    const norm1 = byName(graph.nodes, 'norm1').attrs as { size: number; alpha: number; beta: number; k: number };
    assert.equal(norm1.size, 5);
    assert.ok(Math.abs(norm1.alpha - 1e-4 / 5) < 1e-12, String(norm1.alpha));
    assert.equal(norm1.beta, 0.75);
    assert.equal(norm1.k, 1);
    for (const name of ['pool1', 'pool2', 'pool5']) {
      assert.deepEqual(byName(graph.nodes, name).attrs, { mode: 'max', kernel: [3, 3], stride: [2, 2], pad: [0, 0], global: false, rounding: 'ceil', avgDivisor: 'padded' });
    }
    assert.deepEqual(byName(graph.nodes, 'drop6').attrs, { rate: 0.5 });
    assert.equal(byName(graph.nodes, 'drop6').inputs[0], 'fc6@relu6');
    assert.deepEqual(graph.outputs, ['prob']);
    assert.equal(graph.blobs.fc7, 'fc7@drop7');
    assert.equal(graph.nodes.length, 23);
  }
});

test('a prototxt layer missing from the caffemodel is a FormatError naming the layer and file', async () => {
  const text = readFileSync(LENET_DEPLOY, 'utf8').replace('name: "ip2"', 'name: "ip2_finetuned"');
  const prototxt = writeTemp('renamed.prototxt', text);
  await assert.rejects(readCaffeModel(LENET, { prototxt }), (error: unknown) => {
    assert.ok(error instanceof FormatError);
    assert.ok(error.message.startsWith(`${LENET}: no weights for ip2_finetuned (InnerProduct) of ${prototxt}`), error.message);
    return true;
  });
  // And caffemodel layers the prototxt does not use are reported.
  const fewer = writeTemp('fewer.prototxt', 'name: "x" input: "data" input_shape { dim: 1 dim: 1 dim: 28 dim: 28 }\nlayer { name: "conv1" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 20 kernel_size: 5 } }');
  const model = await readCaffeModel(LENET, { prototxt: fewer });
  assert.deepEqual(model.warnings, [`caffemodel layers not used by ${fewer}: conv2, ip1, ip2`]);
});

test('a syntax error in the prototxt names the prototxt and line:column', async () => {
  const prototxt = writeTemp('broken.prototxt', 'name: "x"\nlayer {\n  name: "conv1"\n  type "Convolution"\n}\n');
  await assert.rejects(readCaffeModel(LENET, { prototxt }), (error: unknown) => error instanceof FormatError && error.message.startsWith(`${prototxt} at line 4:8: `));
});

/** A tiny modern net exercising in-place layers, Split, BatchNorm + Scale, Eltwise and phases. */
function modernNet(): object {
  return {
    name: 'tiny',
    input: ['img'],
    input_dim: [2, 3, 8, 8],
    layer: [
      { name: 'conv', type: 'Convolution', bottom: ['img'], top: ['conv'], convolution_param: { num_output: 4, kernel_size: [3], pad: [1], bias_term: false }, blobs: [blob([4, 3, 3, 3])] },
      { name: 'bn', type: 'BatchNorm', bottom: ['conv'], top: ['conv'], batch_norm_param: { eps: 1e-3 }, blobs: [blob([4]), blob([4]), blob([1], [2])] },
      { name: 'sc', type: 'Scale', bottom: ['conv'], top: ['conv'], scale_param: { bias_term: true }, blobs: [blob([1, 4, 1, 1]), blob([4])] },
      { name: 'relu', type: 'ReLU', bottom: ['conv'], top: ['conv'], relu_param: { negative_slope: 0.25 } },
      { name: 'split', type: 'Split', bottom: ['conv'], top: ['a', 'b'] },
      { name: 'train_only', type: 'Dropout', bottom: ['a'], top: ['a'], include: [{ phase: 0 }] },
      { name: 'not_test', type: 'Dropout', bottom: ['a'], top: ['a'], exclude: [{ phase: 1 }] },
      { name: 'staged', type: 'Dropout', bottom: ['a'], top: ['a'], include: [{ phase: 1, stage: ['deploy'] }] },
      { name: 'leveled', type: 'Sigmoid', bottom: ['a'], top: ['a'], include: [{ min_level: 0, max_level: 0 }] },
      { name: 'sum', type: 'Eltwise', bottom: ['a', 'b'], top: ['sum'], eltwise_param: { operation: 1, coeff: [1, -1] } },
      { name: 'gap', type: 'Pooling', bottom: ['sum'], top: ['gap'], pooling_param: { pool: 1, global_pooling: true } },
      { name: 'flat', type: 'Flatten', bottom: ['gap'], top: ['flat'] },
      { name: 'fc', type: 'InnerProduct', bottom: ['flat'], top: ['fc'], inner_product_param: { num_output: 2, transpose: true }, blobs: [blob([4, 2]), blob([2])] },
      { name: 'side', type: 'TanH', bottom: ['b'], top: ['side'] },
      { name: 'cat', type: 'Concat', bottom: ['fc', 'fc'], top: ['cat'], concat_param: { concat_dim: 1 } },
      { name: 'acc', type: 'Accuracy', bottom: ['cat', 'label'], top: ['acc'], include: [{ phase: 1 }] },
    ],
  };
}

test('in-place layers get fresh ids, Split aliases, BatchNorm absorbs its Scale, phase rules apply', async () => {
  const file = writeTemp('tiny.caffemodel', encodeNet(modernNet()));
  const model = await readCaffeModel(file);
  const graph = model.graph!;
  assert.deepEqual(graph.inputs, [{ name: 'img', shape: [2, 3, 8, 8] }]);
  assert.deepEqual(summary(graph.nodes), [
    'conv:conv2d img>conv',
    'bn:batchnorm conv>conv@sc',
    'relu:relu conv@sc>conv@relu',
    // 'a' was only an alias until now, so this is its first value of its own.
    'leveled:sigmoid conv@relu>a',
    'sum:eltwise a,conv@relu>sum',
    'gap:pool2d sum>gap',
    'flat:flatten gap>flat',
    'fc:dense flat>fc',
    'side:tanh conv@relu>side',
    'cat:concat fc,fc>cat',
  ]);
  const bn = byName(graph.nodes, 'bn');
  assert.deepEqual(bn.attrs, { eps: Math.fround(1e-3), scale: true, center: true });
  assert.deepEqual(bn.params, { mean: 'bn/0', variance: 'bn/1', scaleFactor: 'bn/2', gamma: 'sc/0', beta: 'sc/1' });
  assert.deepEqual(model.tensors.get('sc/0')!.shape, [4], 'legacy (1,C,1,1) scale reshaped to [C]');
  assert.deepEqual(byName(graph.nodes, 'relu').attrs, { negativeSlope: 0.25 });
  assert.deepEqual(byName(graph.nodes, 'sum').attrs, { operation: 'sum', coeffs: [1, -1] });
  assert.equal((byName(graph.nodes, 'gap').attrs as { global: boolean }).global, true);
  assert.equal((byName(graph.nodes, 'gap').attrs as { mode: string }).mode, 'avg');
  assert.deepEqual(byName(graph.nodes, 'flat').attrs, { axis: 1 });
  assert.deepEqual(byName(graph.nodes, 'cat').attrs, { axis: 1 });
  assert.equal((byName(graph.nodes, 'conv').attrs as { bias: boolean }).bias, false);
  assert.deepEqual(byName(graph.nodes, 'conv').params, { W: 'conv/0' });
  // transpose: true stores [in, out]; the graph contract wants [out, in].
  const fc = model.tensors.get('fc/0')!;
  assert.deepEqual(fc.shape, [2, 4]);
  assert.deepEqual(Array.from(fc.data as Float32Array), [0.5, 2.5, 4.5, 6.5, 1.5, 3.5, 5.5, 7.5]);
  assert.deepEqual(graph.outputs, ['side', 'cat']);
  assert.equal(graph.blobs.conv, 'conv@relu');
  assert.equal(graph.blobs.b, 'conv@relu');
  assert.equal(graph.blobs.a, 'a');
  assert.deepEqual(model.warnings, [
    'layers outside the TEST phase, ignored: train_only (Dropout), not_test (Dropout), staged (Dropout)',
    'training-only layers dropped: acc (Accuracy)',
  ]);
});

test('V1 nets: enum types, blobs at field 6, legacy 4-D weights, data-layer input and mean', async () => {
  const net = {
    name: 'v1',
    layers: [
      { name: 'data', type: 5, top: ['data', 'label'], transform_param: { scale: 0.5, mean_value: [104, 117, 123], crop_size: 6 }, include: [{ phase: 1 }] },
      { name: 'data', type: 5, top: ['data', 'label'], transform_param: { scale: 0.5, mirror: true, crop_size: 6 }, include: [{ phase: 0 }] },
      { name: 'conv', type: 4, bottom: ['data'], top: ['conv'], convolution_param: { num_output: 2, kernel_h: 3, kernel_w: 1, stride_h: 2, stride_w: 1, pad_w: 1 }, blobs: [{ num: 2, channels: 3, height: 3, width: 1, data: floatBytes(ramp(18)) }, { num: 1, channels: 1, height: 1, width: 2, data: floatBytes([7, 8]) }] },
      { name: 'relu', type: 18, bottom: ['conv'], top: ['conv'] },
      { name: 'pool', type: 17, bottom: ['conv'], top: ['pool'], pooling_param: { pool: 1, kernel_size: 2, stride: 2 } },
      { name: 'ip', type: 14, bottom: ['pool'], top: ['ip'], inner_product_param: { num_output: 3 }, blobs: [{ num: 1, channels: 1, height: 3, width: 4, data: floatBytes(ramp(12)) }, { num: 1, channels: 1, height: 1, width: 3, data: floatBytes([1, 2, 3]) }] },
      { name: 'loss', type: 21, bottom: ['ip', 'label'], top: ['loss'] },
    ],
  };
  const file = writeTemp('v1.caffemodel', encodeNet(net));
  const model = await readCaffeModel(file);
  const graph = model.graph!;
  // Input: the TEST data layer's crop size, channels from the first convolution's weights.
  assert.deepEqual(graph.inputs, [{ name: 'data', shape: [1, 3, 6, 6] }]);
  assert.deepEqual(summary(graph.nodes), ['conv:conv2d data>conv', 'relu:relu conv>conv@relu', 'pool:pool2d conv@relu>pool', 'ip:dense pool>ip']);
  assert.deepEqual(byName(graph.nodes, 'conv').attrs, { filters: 2, kernel: [3, 1], stride: [2, 1], pad: [0, 1], dilation: [1, 1], groups: 1, bias: true });
  assert.deepEqual(model.tensors.get('conv/1')!.shape, [2]);
  assert.deepEqual(model.tensors.get('ip/0')!.shape, [3, 4]);
  assert.deepEqual(model.tensors.get('ip/1')!.shape, [3]);
  assert.deepEqual(model.input, { channelOrder: 'BGR', scale: 0.5, mean: [52, 58.5, 61.5] });
  assert.deepEqual(model.warnings, [
    'layers outside the TEST phase, ignored: data (Data)',
    'training-only layers dropped: data (Data), loss (SoftmaxWithLoss)',
  ]);
});

function netWith(layer: object, extra: object[] = []): object {
  return { input: ['x'], input_shape: [{ dim: [1, 4, 8, 8] }], layer: [layer, ...extra] };
}

test('unsupported layers and settings are UnsupportedErrors naming layer and type', async () => {
  const cases: Array<[object, RegExp]> = [
    [{ name: 'py', type: 'Python', bottom: ['x'], top: ['y'] }, /layer 'py' has type 'Python'/],
    [{ name: 'sp', type: 'Pooling', bottom: ['x'], top: ['y'], pooling_param: { pool: 2, kernel_size: 2 } }, /'sp' \(Pooling\): STOCHASTIC/],
    [{ name: 'wl', type: 'LRN', bottom: ['x'], top: ['y'], lrn_param: { norm_region: 1 } }, /'wl' \(LRN\): WITHIN_CHANNEL/],
    [{ name: 'ip', type: 'InnerProduct', bottom: ['x'], top: ['y'], inner_product_param: { num_output: 2, axis: 2 }, blobs: [blob([2, 8]), blob([2])] }, /'ip' \(InnerProduct\): axis 2/],
    [{ name: 's2', type: 'Scale', bottom: ['x', 'x'], top: ['y'] }, /'s2' \(Scale\): a Scale with its factor as a second bottom/],
    [{ name: 'c3', type: 'Convolution', bottom: ['x'], top: ['y'], convolution_param: { num_output: 2, kernel_size: [1, 1, 1] }, blobs: [blob([2, 4, 1, 1, 1]), blob([2])] }, /'c3' \(Convolution\): 3-D kernel_size/],
  ];
  for (const [layer, message] of cases) {
    const file = writeTemp('unsupported.caffemodel', encodeNet(netWith(layer)));
    await assert.rejects(readCaffeModel(file), (error: unknown) => {
      assert.ok(error instanceof UnsupportedError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

test('blob counts and shapes are checked against the layer parameters', async () => {
  const cases: Array<[object, RegExp]> = [
    [{ name: 'c', type: 'Convolution', bottom: ['x'], top: ['y'], convolution_param: { num_output: 2, kernel_size: [3] }, blobs: [blob([2, 4, 3, 3])] }, /layer 'c' \(Convolution\): has 1 blob; expected 2 \(weights and bias\)/],
    [{ name: 'c', type: 'Convolution', bottom: ['x'], top: ['y'], convolution_param: { num_output: 2, kernel_size: [3] }, blobs: [blob([2, 4, 5, 5]), blob([2])] }, /weights have shape \[2, 4, 5, 5\]; expected \[2, C\/1, 3, 3\]/],
    [{ name: 'c', type: 'Convolution', bottom: ['x'], top: ['y'], convolution_param: { num_output: 2, kernel_size: [3] }, blobs: [blob([2, 4, 3, 3]), blob([3])] }, /bias blob has shape \[3\]; expected 2 values/],
    [{ name: 'f', type: 'InnerProduct', bottom: ['x'], top: ['y'], inner_product_param: { num_output: 5 }, blobs: [blob([4, 256]), blob([5])] }, /weights have shape \[4, 256\]; expected \[5, in\]/],
    [{ name: 'bn', type: 'BatchNorm', bottom: ['x'], top: ['y'], blobs: [blob([4]), blob([4])] }, /has 2 blobs; expected 3/],
    [{ name: 'r', type: 'ReLU', bottom: ['x'], top: ['y'], blobs: [blob([1])] }, /layer 'r' \(ReLU\): has 1 blob; expected 0/],
  ];
  for (const [layer, message] of cases) {
    const file = writeTemp('mismatch.caffemodel', encodeNet(netWith(layer)));
    await assert.rejects(readCaffeModel(file), (error: unknown) => {
      assert.ok(error instanceof FormatError, String(error));
      assert.ok(error.message.startsWith(file), error.message);
      assert.match(error.message, message);
      return true;
    });
  }
});

test('a layer reading a blob nobody wrote is a FormatError', async () => {
  const file = writeTemp('dangling.caffemodel', encodeNet(netWith({ name: 'r', type: 'ReLU', bottom: ['nowhere'], top: ['y'] })));
  await assert.rejects(readCaffeModel(file), /layer 'r' \(ReLU\) reads blob 'nowhere', which no earlier layer or input produces/);
});

test('match: extension and first protobuf tag; the registry picks caffe or refuses', async () => {
  const head = readFileSync(LENET).subarray(0, 64);
  assert.equal(caffeReader.match(head, 'x.caffemodel'), 1);
  assert.equal(caffeReader.match(head, 'weights.bin'), 0.8);
  assert.equal(caffeReader.match(head, 'deploy.prototxt'), 0);
  assert.equal(caffeReader.match(Uint8Array.from([0x50, 0x4b, 3, 4]), 'model.pth'), 0);
  assert.equal(caffeReader.match(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'model.pt'), 0);
  assert.equal(caffeReader.match(Uint8Array.from([0x89, 0x48, 0x44, 0x46]), 'model.h5'), 0);
  assert.ok(caffeReader.match(Uint8Array.from([0x50, 0x4b, 3, 4]), 'odd.caffemodel') > 0);
  assert.ok(READERS.includes(caffeReader));
  const renamed = writeTemp('lenet.weights', readFileSync(LENET));
  assert.equal(await pickReader(renamed), caffeReader);
  const notes = writeTemp('notes.txt', 'hello, these are not weights\n');
  await assert.rejects(pickReader(notes), (error: unknown) => error instanceof UsageError && error.message === `${notes}: not a Caffe, PyTorch or Chainer weights file`);
  await assert.rejects(pickReader('/nonexistent/x.caffemodel'), (error: unknown) => error instanceof UsageError && error.message.includes('/nonexistent/x.caffemodel'));
});

test('--input-shape replaces a declared shape, with a warning', async () => {
  const model = await readCaffeModel(ALEXNET, { inputShape: [4, 3, 128, 128] });
  assert.deepEqual(model.graph!.inputs, [{ name: 'data', shape: [4, 3, 128, 128] }]);
  assert.deepEqual(model.warnings, ["input 'data': using the given shape 4,3,128,128 instead of the declared 1,3,96,96"]);
});

test('a repeated layer name takes the last copy of its weights, as Caffe does', async () => {
  const first = { name: 'fc', type: 'InnerProduct', bottom: ['x'], top: ['y'], inner_product_param: { num_output: 1, bias_term: false }, blobs: [blob([1, 4], [9, 9, 9, 9]), blob([1])] };
  const second = { ...first, blobs: [blob([1, 4], [1, 2, 3, 4])], include: [{ phase: 0 }] };
  const file = writeTemp('twice.caffemodel', encodeNet({ input: ['x'], input_shape: [{ dim: [1, 4] }], layer: [first, second] }));
  const model = await readCaffeModel(file);
  assert.deepEqual([...model.tensors.keys()], ['fc/0']);
  assert.deepEqual(Array.from(model.tensors.get('fc/0')!.data as Float32Array), [1, 2, 3, 4]);
});
