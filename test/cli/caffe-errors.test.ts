/**
 * Bad input through the CLI as a user runs it (`node bin/graft.js ...`): every failure is one line
 * on stderr starting with `graft: ` that names the offending file or layer, a non-zero exit (1 or 2,
 * never 70 = internal error), no stack trace, nothing on stdout, and nothing written: no output
 * directory, no `*.graft-tmp-*` sibling, no saved array.
 *
 * Each case runs in its own folder holding only its inputs, so "nothing written" is checked as
 * "the folder still holds exactly its inputs".
 */
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, SHARED_FIXTURES, FIXTURES } from '../helpers.js';
import { blob, encodeNet, protobuf, pseudoRandomBytes, ramp } from '../formats/caffe/helpers.js';

const LENET_DIR = path.join(SHARED_FIXTURES, 'real', 'caffe-lenet');
const LENET = path.join(LENET_DIR, 'lenet_iter_10000.caffemodel');
const LENET_DEPLOY = path.join(LENET_DIR, 'deploy.prototxt');
const DIGIT = path.join(LENET_DIR, 'samples', 'img_0_10.png');
const PRELU = path.join(FIXTURES, 'caffe', 'prelu');

const work = mkdtempSync(path.join(tmpdir(), 'graft-caffe-errors-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** graft as a child process; async so that cases can run side by side. */
function graft(cwd: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh folder holding `files` (name → contents). */
function caseDir(files: Record<string, Uint8Array | string> = {}): string {
  const dir = mkdtempSync(path.join(work, 'case-'));
  for (const [name, contents] of Object.entries(files)) writeFileSync(path.join(dir, name), contents);
  return dir;
}

/** The one-line error contract; returns the message after `graft: `. */
function expectOneLineError(run: Run, mentions: (string | RegExp)[], code?: number): string {
  assert.notEqual(run.code, 0, `expected a failure, got exit 0; stdout: ${run.stdout}`);
  assert.ok(run.code === 1 || run.code === 2, `exit code ${run.code} (70 = internal error); stderr: ${run.stderr}`);
  if (code !== undefined) assert.equal(run.code, code, run.stderr);
  assert.ok(run.stderr.endsWith('\n'), `stderr must end with a newline: ${JSON.stringify(run.stderr)}`);
  const lines = run.stderr.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `stderr must be one line, got:\n${run.stderr}`);
  const [line] = lines;
  assert.ok(line.startsWith('graft: '), line);
  assert.doesNotMatch(line, /internal error|^graft: \w*Error\b/, `looks like a crash: ${line}`);
  assert.equal(run.stdout, '', 'nothing on stdout after a failure');
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(line.includes(m), `message should mention ${JSON.stringify(m)}: ${line}`);
    else assert.match(line, m);
  }
  return line.slice('graft: '.length);
}

/** Nothing was written: the folder holds exactly `inputs`. */
function expectUntouched(dir: string, inputs: string[]): void {
  assert.deepEqual(readdirSync(dir).sort(), [...inputs].sort(), `unexpected files in ${dir}`);
}

/** Replaces the one occurrence of `from` (so a changed fixture fails here, not silently). */
function mutate(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  assert.ok(at >= 0, `fixture no longer contains ${JSON.stringify(from)}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** 1-based line:column of the first occurrence of `needle` in `text`, counted independently of graft. */
function lineColumn(text: string, needle: string, skip = 0): string {
  const at = text.indexOf(needle) + skip;
  assert.ok(at >= skip, needle);
  const before = text.slice(0, at).split('\n');
  return `line ${before.length}:${before[before.length - 1].length + 1}`;
}

/** Offsets where the top-level NetParameter fields of a caffemodel end (layer boundaries). */
function topLevelFieldEnds(bytes: Uint8Array): number[] {
  let p = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[p++];
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
  };
  const ends: number[] = [];
  while (p < bytes.length) {
    const key = varint();
    assert.equal(key % 8, 2, 'top-level NetParameter fields of LeNet are length-delimited');
    const length = varint();
    p += length;
    ends.push(p);
  }
  return ends;
}

const lenetBytes = readFileSync(LENET);
const deployText = readFileSync(LENET_DEPLOY, 'utf8');

// A tiny net written with the Caffe schema, and variants of it with one thing wrong. The good one
// converts (below), so each failure comes from its defect alone.
function tinyNet(convBlobs: object[], extraLayers: object[] = [], numOutput = 2): Uint8Array {
  return encodeNet({
    name: 'tiny',
    input: ['data'],
    input_shape: [{ dim: [1, 1, 4, 4] }],
    layer: [
      {
        name: 'conv1',
        type: 'Convolution',
        bottom: ['data'],
        top: ['conv1'],
        convolution_param: { num_output: numOutput, kernel_size: [3] },
        blobs: convBlobs,
      },
      ...extraLayers,
    ],
  });
}
const goodBlobs = () => [blob([2, 1, 3, 3]), blob([2])];

describe('graft convert: bad input', { concurrency: 2 }, () => {
  test('control: the tiny synthetic net converts when nothing is wrong with it', async () => {
    const dir = caseDir({ 'tiny.caffemodel': tinyNet(goodBlobs()) });
    const run = await graft(dir, 'convert', 'tiny.caffemodel');
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(path.join(dir, 'tiny-tfjs', 'model.json')));
  });

  // Cut inside a message: inside ip1's 1.6 MB weights, inside the last layer. Each must be
  // reported as truncated at a byte offset within the file that is left.
  for (const cut of [1_000_000, lenetBytes.length - 10]) {
    test(`truncated caffemodel (LeNet cut to ${cut} bytes)`, async () => {
      const dir = caseDir({ 'cut.caffemodel': lenetBytes.subarray(0, cut) });
      // No -o: the default output folder would be cut-tfjs beside the input.
      const message = expectOneLineError(await graft(dir, 'convert', 'cut.caffemodel', '--input-shape', '1,1,28,28'), [
        /^graft: cut\.caffemodel at byte \d+: truncated or corrupt protobuf/,
      ]);
      const at = Number(/at byte (\d+)/.exec(message)![1]);
      assert.ok(at <= cut, `reported offset ${at} lies past the end of the ${cut}-byte file`);
      expectUntouched(dir, ['cut.caffemodel']);
    });
  }

  test('truncated caffemodel: only the net name left, or an empty file', async () => {
    const name = topLevelFieldEnds(lenetBytes)[0];
    assert.equal(name, 7);
    const dir = caseDir({ 'name-only.caffemodel': lenetBytes.subarray(0, name), 'empty.caffemodel': new Uint8Array(0) });
    expectOneLineError(await graft(dir, 'convert', 'name-only.caffemodel', '-o', 'out'), [
      /^graft: name-only\.caffemodel at byte 7: .*without any layer/,
    ]);
    expectOneLineError(await graft(dir, 'convert', 'empty.caffemodel', '-o', 'out'), [/^graft: empty\.caffemodel at byte 0: /]);
    expectUntouched(dir, ['empty.caffemodel', 'name-only.caffemodel']);
  });

  test('truncated at a layer boundary with --prototxt: the layers that lost their weights are named', async () => {
    // Cutting between top-level fields leaves valid protobuf; the deploy net then lacks ip2's weights.
    const ends = topLevelFieldEnds(lenetBytes);
    const beforeIp2 = ends[ends.length - 3];
    const dir = caseDir({ 'cut.caffemodel': lenetBytes.subarray(0, beforeIp2) });
    expectOneLineError(await graft(dir, 'convert', 'cut.caffemodel', '--prototxt', LENET_DEPLOY, '-o', 'out'), [
      /^graft: cut\.caffemodel: no weights for ip2 \(InnerProduct\) of /,
      'conv1, conv2, ip1',
    ]);
    expectUntouched(dir, ['cut.caffemodel']);
  });

  test('not protobuf: a PNG, a text file and random bytes named .caffemodel', async () => {
    const dir = caseDir({
      'image.caffemodel': readFileSync(DIGIT),
      'notes.caffemodel': 'these are my notes\nnot a model\n',
      'noise.caffemodel': pseudoRandomBytes(4096, 7),
    });
    for (const file of ['image.caffemodel', 'notes.caffemodel', 'noise.caffemodel']) {
      expectOneLineError(await graft(dir, 'convert', file, '--input-shape', '1,1,28,28'), [
        new RegExp(`^graft: ${file.replace('.', '\\.')}(: | at byte \\d+: )`),
        /not a valid Caffe NetParameter|truncated or corrupt/,
      ]);
    }
    expectUntouched(dir, ['image.caffemodel', 'notes.caffemodel', 'noise.caffemodel']);
  });

  test('not a weights file at all: a .png given as the model', async () => {
    const dir = caseDir({ 'digit.png': readFileSync(DIGIT) });
    expectOneLineError(await graft(dir, 'convert', 'digit.png'), [/^graft: digit\.png: not a Caffe/]);
    expectUntouched(dir, ['digit.png']);
  });

  test('blob data length ≠ its shape: patched dim in a copy of the prelu fixture (still valid protobuf)', async () => {
    const bytes = Uint8Array.from(readFileSync(path.join(PRELU, 'net.caffemodel')));
    // prelu1's slope blob: ... shape { dim: 8 } encoded as 3a 03 0a 01 08 after the layer's name.
    const name = Buffer.from(bytes).indexOf('prelu1');
    const shapeAt = Buffer.from(bytes).indexOf(Buffer.from([0x3a, 0x03, 0x0a, 0x01, 0x08]), name);
    assert.ok(name > 0 && shapeAt > name, 'prelu1 slope shape not found');
    bytes[shapeAt + 4] = 9;
    // Still a well-formed NetParameter for a plain protobufjs decode of proto/caffe.proto.
    const plain = new protobuf.Root().loadSync(path.join(REPO, 'proto', 'caffe.proto'), { keepCase: true });
    const decoded = plain.lookupType('caffe.NetParameter').decode(bytes) as unknown as {
      layer: { name: string; blobs: { shape: { dim: number[] }; data: number[] }[] }[];
    };
    const prelu1 = decoded.layer.find((l) => l.name === 'prelu1')!;
    assert.deepEqual(prelu1.blobs[0].shape.dim.map(Number), [9]);
    assert.equal(prelu1.blobs[0].data.length, 8);

    const dir = caseDir({ 'net.caffemodel': bytes });
    const expected = [/^graft: net\.caffemodel at byte \d+: layer 'prelu1' blob 0: shape \[9\] needs 9 values, the file holds 8$/];
    expectOneLineError(await graft(dir, 'convert', 'net.caffemodel', '--prototxt', path.join(PRELU, 'net.prototxt')), expected);
    expectUntouched(dir, ['net.caffemodel']);
  });

  test('blob data length ≠ its shape: a net written with the schema, 17 values for [2, 1, 3, 3]', async () => {
    const dir = caseDir({ 'short.caffemodel': tinyNet([blob([2, 1, 3, 3], ramp(17)), blob([2])]) });
    expectOneLineError(await graft(dir, 'convert', 'short.caffemodel'), [
      /^graft: short\.caffemodel at byte \d+: layer 'conv1' blob 0: shape \[2, 1, 3, 3\] needs 18 values, the file holds 17$/,
    ]);
    expectUntouched(dir, ['short.caffemodel']);
  });

  test('blob shape does not fit the layer definition (num_output 3, weights for 2)', async () => {
    const dir = caseDir({ 'mismatch.caffemodel': tinyNet(goodBlobs(), [], 3) });
    expectOneLineError(await graft(dir, 'convert', 'mismatch.caffemodel'), [/conv1/, /\[2, 1, 3, 3\]/, /expected \[3\b/]);
    expectUntouched(dir, ['mismatch.caffemodel']);
  });

  test('prototxt syntax errors are reported at their line:column', async () => {
    const missingColon = mutate(deployText, 'kernel_size: 5', 'kernel_size 5');
    const unterminated = mutate(deployText, 'name: "conv1"', 'name: "conv1');
    const unclosed = deployText.slice(0, deployText.lastIndexOf('}'));
    const dir = caseDir({
      'colon.prototxt': missingColon,
      'string.prototxt': unterminated,
      'unclosed.prototxt': unclosed,
    });
    const cases: [string, string][] = [
      ['colon.prototxt', lineColumn(missingColon, 'kernel_size 5', 'kernel_size '.length)],
      ['string.prototxt', lineColumn(unterminated, '"conv1\n')],
      ['unclosed.prototxt', `line ${unclosed.split('\n').length}:${unclosed.split('\n').at(-1)!.length + 1}`],
    ];
    // Sanity of the independent count: the missing colon sits in conv1, line 15 of the fixture.
    assert.equal(cases[0][1], 'line 15:17');
    for (const [file, where] of cases) {
      expectOneLineError(await graft(dir, 'convert', LENET, '--prototxt', file, '-o', 'out'), [`${file} at ${where}: `]);
    }
    expectUntouched(dir, cases.map(([file]) => file));
  });

  test('a prototxt naming a layer the caffemodel lacks', async () => {
    const dir = caseDir({ 'renamed.prototxt': mutate(deployText, 'name: "conv2"', 'name: "conv2b"') });
    expectOneLineError(await graft(dir, 'convert', LENET, '--prototxt', 'renamed.prototxt', '-o', 'out'), [
      `graft: ${LENET}: no weights for conv2b (Convolution) of renamed.prototxt`,
      "the caffemodel's layers with weights are: conv1, conv2, ip1, ip2",
    ]);
    expectUntouched(dir, ['renamed.prototxt']);
  });

  test('a prototxt with an unknown field, at its line:column', async () => {
    const text = mutate(deployText, 'kernel_size: 5\n', 'kernel_size: 5\n    kernel_sise: 3\n');
    const dir = caseDir({ 'typo.prototxt': text });
    expectOneLineError(await graft(dir, 'convert', LENET, '--prototxt', 'typo.prototxt', '-o', 'out'), [
      `graft: typo.prototxt at ${lineColumn(text, 'kernel_sise')}: unknown field 'kernel_sise' in ConvolutionParameter`,
    ]);
    expectUntouched(dir, ['typo.prototxt']);
  });

  test('an unsupported layer type in a prototxt names the layer and its type', async () => {
    const dir = caseDir({
      'reshape.prototxt': mutate(deployText, 'type: "ReLU"', 'type: "Reshape"\n  reshape_param { shape { dim: 0 dim: -1 } }'),
    });
    expectOneLineError(await graft(dir, 'convert', LENET, '--prototxt', 'reshape.prototxt', '-o', 'out'), [
      "graft: reshape.prototxt: layer 'relu1' has type 'Reshape'",
    ]);
    expectUntouched(dir, ['reshape.prototxt']);
  });

  test('an unsupported layer type stored in the caffemodel itself', async () => {
    const dir = caseDir({ 'py.caffemodel': tinyNet(goodBlobs(), [{ name: 'py', type: 'Python', bottom: ['conv1'], top: ['py'] }]) });
    expectOneLineError(await graft(dir, 'convert', 'py.caffemodel'), [/^graft: py\.caffemodel: layer 'py' has type 'Python'/]);
    expectUntouched(dir, ['py.caffemodel']);
  });

  test('--input-shape garbage is a usage error naming the flag', async () => {
    const dir = caseDir();
    for (const shape of ['garbage', '1,1,abc,28', '0,1,28,28']) {
      expectOneLineError(await graft(dir, 'convert', LENET, '--input-shape', shape, '-o', 'out'), ['--input-shape', `"${shape}"`], 2);
    }
    expectUntouched(dir, []);
  });

  test('--input-shape of the wrong rank or channel count names the first layer that cannot take it', async () => {
    const dir = caseDir();
    expectOneLineError(await graft(dir, 'convert', LENET, '--input-shape', '1,1,28', '-o', 'out'), [/conv1/]);
    expectOneLineError(await graft(dir, 'convert', LENET, '--input-shape', '1,3,28,28', '-o', 'out'), [
      'layer conv1',
      '[20, 1, 5, 5]',
      '[20, 3, 5, 5]',
    ]);
    expectUntouched(dir, []);
  });

  test(
    '--input-shape too small for the net names the layer where it breaks',
    async () => {
      const dir = caseDir();
      expectOneLineError(await graft(dir, 'convert', LENET, '--input-shape', '1,1,4,4', '-o', 'out'), [/pool1|conv1/]);
      expectUntouched(dir, []);
    },
  );

  test('missing files: the caffemodel, the prototxt', async () => {
    const dir = caseDir();
    expectOneLineError(await graft(dir, 'convert', 'nope.caffemodel', '-o', 'out'), ['nope.caffemodel', /no such file/], 2);
    expectOneLineError(await graft(dir, 'convert', LENET, '--prototxt', 'nope.prototxt', '-o', 'out'), [/^graft: nope\.prototxt: /, /no such file|ENOENT/]);
    expectUntouched(dir, []);
  });
});

describe('graft predict: bad model directories and images', { concurrency: 2 }, () => {
  let model = '';
  before(async () => {
    model = path.join(work, 'lenet');
    const run = await graft(work, 'convert', LENET, '--prototxt', LENET_DEPLOY, '-o', model);
    assert.equal(run.code, 0, run.stderr);
  });

  /** A copy of the good model directory, changed by `change`. */
  function brokenModel(name: string, change: (dir: string) => void): string {
    const dir = path.join(work, name);
    cpSync(model, dir, { recursive: true });
    change(dir);
    return dir;
  }
  const SHARD = 'group1-shard1of1.bin';

  test('a directory without model.json', async () => {
    const dir = caseDir({ 'graft.json': '{}' });
    expectOneLineError(await graft(dir, 'predict', '.', DIGIT, '--save', 'y.npy'), [/^graft: \.: not a model directory \(model\.json: no such file/]);
    expectUntouched(dir, ['graft.json']);
  });

  test('model.json that is not JSON', async () => {
    const dir = brokenModel('bad-json', (d) => writeFileSync(path.join(d, 'model.json'), '{"format": "layers-model", '));
    expectOneLineError(await graft(work, 'predict', dir, DIGIT), [`${path.join(dir, 'model.json')}: invalid JSON`]);
  });

  test('the shard is missing', async () => {
    const dir = brokenModel('no-shard', (d) => rmSync(path.join(d, SHARD)));
    expectOneLineError(await graft(work, 'predict', dir, DIGIT), [`graft: ${path.join(dir, SHARD)}: no such file or directory`]);
  });

  test('the shard is truncated', async () => {
    const size = statSync(path.join(model, SHARD)).size;
    assert.equal(size, 431080 * 4);
    const short = brokenModel('short-shard', (d) => truncateSync(path.join(d, SHARD), 1000));
    expectOneLineError(await graft(work, 'predict', short, DIGIT), [
      `${path.join(short, 'model.json')}: shards hold 1000 bytes but the manifest declares ${size}`,
    ]);
  });

  test('an image that is not an image, a truncated PNG', async () => {
    const dir = caseDir({
      'text.png': 'not an image\n',
      'cut.png': readFileSync(DIGIT).subarray(0, 150),
    });
    for (const file of ['text.png', 'cut.png']) {
      expectOneLineError(await graft(dir, 'predict', model, file, '--save', 'y.npy'), [`graft: ${file}: cannot decode image`]);
    }
    expectUntouched(dir, ['cut.png', 'text.png']);
  });

  test('--input that is not a .npy, --layer that does not exist', async () => {
    const dir = caseDir({ 'x.npy': 'not numpy' });
    expectOneLineError(await graft(dir, 'predict', model, '--input', 'x.npy', '--save', 'y.npy'), [/^graft: x\.npy at byte 0: not a \.npy file/]);
    expectOneLineError(await graft(dir, 'predict', model, DIGIT, '--layer', 'conv9'), [`graft: ${model}: no layer or blob named conv9`], 2);
    expectUntouched(dir, ['x.npy']);
  });
});
