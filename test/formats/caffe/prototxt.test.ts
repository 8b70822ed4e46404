import { UsageError } from '../../../src/errors.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FormatError } from '../../../src/errors.js';
import { parsePrototxt } from '../../../src/formats/caffe/prototxt.js';
import { toInt } from '../../../src/formats/caffe/schema.js';
import { prototxtToNet, readPrototxtNet } from '../../../src/formats/caffe/text-message.js';
import { ALEXNET_PROTOTXT, LENET_DEPLOY } from './helpers.js';

function errorAt(text: string, where: string, detail: RegExp): void {
  assert.throws(
    () => prototxtToNet(text, 'net.prototxt'),
    (error: unknown) => {
      assert.ok(error instanceof FormatError, String(error));
      assert.equal(error.file, 'net.prototxt');
      assert.equal(error.where, where, error.message);
      assert.match(error.detail, detail);
      assert.ok(error.message.startsWith(`net.prototxt at ${where}: `));
      return true;
    },
  );
}

test('nested messages, comments, strings, enums, numbers and separators', () => {
  const net = prototxtToNet(
    [
      '# a comment line',
      "name: 'tab\\there' \"+\\x41\\101\\u00e9\" # trailing comment",
      'input: "data"; input_dim: 1, input_dim: 3',
      'input_dim: [ 0x20, 032 ]',
      'layer <',
      '  name: "conv" type: "Convolution"',
      '  bottom: "data" top: "conv"',
      '  include { phase: TEST stage: "deploy" }',
      '  convolution_param: { num_output: 8 kernel_size: 3 kernel_size: 5 bias_term: false',
      '    weight_filler { type: "gaussian" std: 1e-2 } }',
      '>',
      'layer { name: "relu" type: "ReLU" relu_param { negative_slope: -.5 } }',
      'layer { name: "lrn" type: "LRN" lrn_param { alpha: 1.5E-4f k: inf beta: -inf norm_region: 1 } }',
    ].join('\n'),
    'net.prototxt',
  );
  assert.equal(net.name, 'tab\there+AAé');
  assert.deepEqual(net.input, ['data']);
  assert.deepEqual(net.input_dim.map(toInt), [1, 3, 32, 26]);
  assert.equal(net.layer.length, 3);
  const conv = net.layer[0];
  assert.equal(conv.name, 'conv');
  assert.deepEqual(conv.bottom, ['data']);
  assert.equal(conv.include[0].phase, 1);
  assert.deepEqual(conv.include[0].stage, ['deploy']);
  const convParam = conv.convolution_param as { num_output: number; kernel_size: number[]; bias_term: boolean; weight_filler: { type: string; std: number } };
  assert.equal(convParam.num_output, 8);
  assert.deepEqual(convParam.kernel_size, [3, 5]);
  assert.equal(convParam.bias_term, false);
  assert.equal(convParam.weight_filler.type, 'gaussian');
  assert.equal(convParam.weight_filler.std, Math.fround(0.01));
  assert.equal((net.layer[1].relu_param as { negative_slope: number }).negative_slope, -0.5);
  const lrn = net.layer[2].lrn_param as { alpha: number; k: number; beta: number; norm_region: number; local_size: number };
  assert.equal(lrn.alpha, Math.fround(1.5e-4));
  assert.equal(lrn.k, Infinity);
  assert.equal(lrn.beta, -Infinity);
  assert.equal(lrn.norm_region, 1);
  // Unset fields read their proto2 default.
  assert.equal(lrn.local_size, 5);
});

test('the raw tree keeps positions', () => {
  const tree = parsePrototxt('a: 1\n  b { c: "x" }\n', 'x.prototxt');
  assert.deepEqual(
    tree.fields.map((f) => [f.name, f.line, f.column, f.value.kind]),
    [
      ['a', 1, 1, 'number'],
      ['b', 2, 3, 'message'],
    ],
  );
});

test('syntax errors report line:column', () => {
  errorAt('name: "x"\nlayer {\n  name "conv"\n}', 'line 3:8', /expected ':' or '\{' after 'name'/);
  errorAt('layer {\n  name: "a"\n', 'line 3:1', /expected a field name or '\}', found end of file/);
  errorAt('name: "abc\n', 'line 1:7', /unterminated string/);
  errorAt('input_dim: 12abc', 'line 1:12', /malformed number/);
  errorAt('layer { name: "a" } }', 'line 1:21', /expected a field name, found '\}'/);
  errorAt('name: "bad \\q escape"', 'line 1:12', /unknown escape/);
  errorAt('input: @', 'line 1:8', /unexpected character/);
});

test('schema errors report line:column', () => {
  errorAt('layer {\n  name: "a"\n  kernel_size: 3\n}', 'line 3:3', /unknown field 'kernel_size' in LayerParameter/);
  errorAt('layer { pooling_param { pool: MIN } }', 'line 1:31', /field 'pool' expects one of MAX, AVE, STOCHASTIC, found MIN/);
  errorAt('layer { convolution_param { num_output: 2.5 } }', 'line 1:41', /expects a non-negative integer/);
  errorAt('layer { convolution_param { num_output: -1 } }', 'line 1:41', /expects a non-negative integer/);
  errorAt('name: "a"\nname: "b"', 'line 2:1', /not repeated but is already set at line 1:1/);
  errorAt('layer: "conv"', 'line 1:8', /field 'layer' expects a message/);
  errorAt('name { }', 'line 1:6', /field 'name' expects a string/);
  errorAt('layer { type: Convolution }', 'line 1:15', /expects a quoted string/);
  errorAt('force_backward: maybe', 'line 1:17', /expects true or false/);
  errorAt('name: ["a", "b"]', 'line 1:1', /takes one value, not a list/);
});

test('the LeNet deploy and AlexNet prototxts parse', async () => {
  const lenet = await readPrototxtNet(LENET_DEPLOY);
  assert.equal(lenet.name, 'LeNet');
  assert.deepEqual(
    lenet.layer.map((l) => l.type),
    ['Input', 'Convolution', 'Pooling', 'Convolution', 'Pooling', 'InnerProduct', 'ReLU', 'InnerProduct', 'Softmax'],
  );
  const inputShape = (lenet.layer[0].input_param as { shape: { dim: number[] }[] }).shape[0].dim.map(toInt);
  assert.deepEqual(inputShape, [1, 1, 28, 28]);
  const alexnet = await readPrototxtNet(ALEXNET_PROTOTXT);
  assert.deepEqual(alexnet.input, ['data']);
  assert.deepEqual(alexnet.input_shape[0].dim.map(toInt), [1, 3, 96, 96]);
  assert.equal((alexnet.layer[4].convolution_param as { group: number }).group, 2);
});

test('a missing prototxt is a usage error naming it', async () => {
  await assert.rejects(readPrototxtNet('/nonexistent/net.prototxt'), (e: unknown) => e instanceof UsageError && /^\/nonexistent\/net\.prototxt: no such file/.test((e as Error).message));
});

test('hostile nesting depth is a FormatError, not a stack overflow', () => {
  const deep = 'layer { '.repeat(5000) + '}'.repeat(5000);
  errorAt(deep, 'line 1:807', /nested more than 100 deep/);
});
