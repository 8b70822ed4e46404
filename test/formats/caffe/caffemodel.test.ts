import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GraftError, FormatError } from '../../../src/errors.js';
import { decodeCaffemodel, readCaffemodel } from '../../../src/formats/caffe/caffemodel.js';
import { readCaffeModel } from '../../../src/formats/caffe/reader.js';
import { caffeSchema, type NetMsg } from '../../../src/formats/caffe/schema.js';
import { ALEXNET, LENET, blob, encodeNet, floatBytes, protobuf, pseudoRandomBytes, ramp, writeTemp } from './helpers.js';

// Reference values decoded independently: protoc --python_out from proto/caffe.proto, then
// /usr/bin/python3 (Debian python3-protobuf): NetParameter.ParseFromString(file) and
// layer.blobs[i].data[k] printed with repr.
const LENET_REFERENCE = {
  'conv1/0': { shape: [20, 1, 5, 5], at: { 0: 0.10208087414503098, 1: -0.20902495086193085, 499: -0.2342095673084259 } },
  'conv1/1': { shape: [20], at: { 0: -0.31700313091278076, 19: -0.15992102026939392 } },
  'ip1/0': { shape: [500, 800], at: { 0: -0.027119364589452744, 123456: 0.03207556903362274, 399999: -0.0026523324195295572 } },
  'ip2/1': { shape: [10], at: { 0: -0.017708254978060722, 9: -0.009772508405148983 } },
};

test('LeNet caffemodel: blob shapes and values match an independent decode', async () => {
  const model = await readCaffemodel(LENET);
  assert.deepEqual([...model.tensors.keys()], ['conv1/0', 'conv1/1', 'conv2/0', 'conv2/1', 'ip1/0', 'ip1/1', 'ip2/0', 'ip2/1']);
  assert.deepEqual(model.tensors.get('conv2/0')!.shape, [50, 20, 5, 5]);
  assert.deepEqual(model.tensors.get('ip2/0')!.shape, [10, 500]);
  for (const [key, expected] of Object.entries(LENET_REFERENCE)) {
    const tensor = model.tensors.get(key)!;
    assert.equal(tensor.dtype, 'float32');
    assert.deepEqual(tensor.shape, expected.shape, key);
    for (const [index, value] of Object.entries(expected.at)) assert.equal(tensor.data[Number(index)], value, `${key}[${index}]`);
  }
  assert.deepEqual(
    model.layers.map((l) => `${l.name}:${l.type}`),
    ['mnist:Data', 'conv1:Convolution', 'pool1:Pooling', 'conv2:Convolution', 'pool2:Pooling', 'ip1:InnerProduct', 'relu1:ReLU', 'ip2:InnerProduct', 'loss:SoftmaxWithLoss'],
  );
});

test('AlexNet caffemodel: grouped weights keep [O, I/g, kh, kw]', async () => {
  const model = await readCaffemodel(ALEXNET);
  assert.deepEqual(model.tensors.get('conv2/0')!.shape, [64, 12, 5, 5]);
  assert.deepEqual(model.tensors.get('conv4/0')!.shape, [96, 48, 3, 3]);
  // From the python3 caffe_pb2 decode described above.
  assert.equal(model.tensors.get('conv2/0')!.data[0], 0.03585595265030861);
  assert.equal(model.tensors.get('conv2/0')!.data[19199], -0.013070766814053059);
  assert.equal(model.tensors.get('fc8/1')!.data[9], 0.09659857302904129);
});

test('zero copy: large blobs are views of the file buffer', () => {
  const bytes = readFileSync(LENET);
  const model = decodeCaffemodel(bytes, LENET);
  const ip1 = model.tensors.get('ip1/0')!.data as Float32Array;
  assert.equal(ip1.buffer, bytes.buffer);
  assert.ok(ip1.byteOffset >= bytes.byteOffset && ip1.byteOffset + ip1.byteLength <= bytes.byteOffset + bytes.byteLength);
  assert.equal(model.tensors.get('conv2/0')!.data.buffer, bytes.buffer);
});

test('unaligned payloads are moved over their own header or copied, never corrupted', () => {
  // Layer names of different lengths shift each payload to every offset mod 4. The small blobs
  // (< 128 bytes) have a 2-byte header, too short for a 3-byte move; the large ones do not.
  const layers = [];
  const expected = new Map<string, number[]>();
  for (let i = 0; i < 8; i++) {
    const big = ramp(40 + i, i + 1);
    const small = ramp(3 + (i % 3), -(i + 1));
    expected.set(`${'n'.repeat(i + 1)}/0`, big);
    expected.set(`${'n'.repeat(i + 1)}/1`, small);
    layers.push({ name: 'n'.repeat(i + 1), type: 'Convolution', blobs: [blob([big.length], big), blob([small.length], small)] });
  }
  const bytes = encodeNet({ name: 'align', layer: layers });
  const copy = Uint8Array.from(bytes);
  const model = decodeCaffemodel(copy, 'align.caffemodel');
  const offsets = new Set<number>();
  for (const [key, values] of expected) {
    const tensor = model.tensors.get(key)!;
    assert.deepEqual(Array.from(tensor.data as Float32Array), values.map(Math.fround), key);
    assert.equal(tensor.data.byteOffset % 4, 0);
    if (values.length >= 40) {
      assert.equal(tensor.data.buffer, copy.buffer, `${key} should be a view`);
    }
  }
  // The payloads, before alignment, sat at all four offsets mod 4 in both size classes (else this
  // test proves nothing).
  const raw = caffeSchema().net.decode(bytes) as unknown as NetMsg;
  for (const layer of raw.layer) for (const b of layer.blobs) offsets.add((b.data!.byteOffset % 4) + (b.data!.byteLength >= 128 ? 10 : 0));
  assert.deepEqual([...offsets].sort((a, b) => a - b), [0, 1, 2, 3, 10, 11, 12, 13]);
});

test('non-packed float data (one tag per value) decodes to the same values', () => {
  const values = [1.5, -2.25, 3.125, 1e-3];
  const W = protobuf.Writer;
  const blobWriter = W.create();
  blobWriter.uint32((7 << 3) | 2).fork().uint32((1 << 3) | 2).fork().int64(2).int64(2).ldelim().ldelim();
  for (const v of values) blobWriter.uint32((5 << 3) | 5).float(v);
  const layer = W.create().uint32((1 << 3) | 2).string('fc').uint32((7 << 3) | 2).bytes(blobWriter.finish()).finish();
  const net = W.create().uint32((100 << 3) | 2).bytes(layer).finish();
  const model = decodeCaffemodel(net, 'nonpacked.caffemodel');
  const tensor = model.tensors.get('fc/0')!;
  assert.deepEqual(tensor.shape, [2, 2]);
  assert.deepEqual(Array.from(tensor.data as Float32Array), values.map(Math.fround));
});

test('double_data is converted to float32', () => {
  const doubles = new Float64Array([0.1, -7, 1e10]);
  const bytes = encodeNet({
    layer: [{ name: 'd', type: 'Scale', blobs: [{ shape: { dim: [3] }, double_data: new Uint8Array(doubles.buffer) }] }],
  });
  const tensor = decodeCaffemodel(bytes, 'double.caffemodel').tensors.get('d/0')!;
  assert.equal(tensor.dtype, 'float32');
  assert.deepEqual(Array.from(tensor.data as Float32Array), Array.from(doubles, Math.fround));
});

test('legacy num/channels/height/width give a 4-D shape', () => {
  const bytes = encodeNet({ layers: [{ name: 'old', type: 14, blobs: [{ num: 1, channels: 1, height: 2, width: 3, data: floatBytes(ramp(6)) }] }] });
  assert.deepEqual(decodeCaffemodel(bytes, 'legacy.caffemodel').tensors.get('old/0')!.shape, [1, 1, 2, 3]);
});

test('blob data shorter or longer than its shape is a FormatError naming file and layer', () => {
  for (const count of [5, 7]) {
    const bytes = encodeNet({ layer: [{ name: 'conv_bad', type: 'Convolution', blobs: [blob([2, 3], ramp(count))] }] });
    assert.throws(
      () => decodeCaffemodel(bytes, 'bad.caffemodel'),
      (error: unknown) =>
        error instanceof FormatError &&
        /^bad\.caffemodel at byte \d+: layer 'conv_bad' blob 0: shape \[2, 3\] needs 6 values, the file holds \d/.test(error.message),
    );
  }
});

test('a payload that is not a whole number of floats is rejected', () => {
  const bytes = encodeNet({ layer: [{ name: 'odd', blobs: [{ shape: { dim: [1] }, data: new Uint8Array(5) }] }] });
  assert.throws(() => decodeCaffemodel(bytes, 'odd.caffemodel'), (e: unknown) => e instanceof FormatError && /odd\.caffemodel at byte \d+/.test(e.message));
});

test('a truncated caffemodel is a FormatError with the file and a byte offset, at any cut', async () => {
  const bytes = readFileSync(LENET);
  for (const cut of [1, 7, 40, 300, 5000, Math.floor(bytes.length / 2), bytes.length - 3, bytes.length - 1]) {
    const file = writeTemp(`cut${cut}.caffemodel`, bytes.subarray(0, cut));
    await assert.rejects(readCaffeModel(file, { inputShape: [1, 1, 28, 28] }), (error: unknown) => {
      assert.ok(error instanceof FormatError, `cut at ${cut}: ${String(error)}`);
      assert.ok(error.message.startsWith(`${file} at byte `), error.message);
      return true;
    });
  }
});

test('random bytes and corrupted files give GraftErrors naming the file, never a crash', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const file = writeTemp(`random${seed}.caffemodel`, pseudoRandomBytes(2000, seed));
    await assert.rejects(readCaffeModel(file), (error: unknown) => {
      assert.ok(error instanceof GraftError, `seed ${seed}: ${String((error as Error).stack)}`);
      assert.ok(error.message.includes(file), error.message);
      return true;
    });
  }
  // Single corrupted bytes in the real file's structure (not its weights) must also be caught or harmless.
  const original = readFileSync(LENET);
  const noise = pseudoRandomBytes(200, 99);
  for (let i = 0; i < 100; i++) {
    const bytes = Uint8Array.from(original);
    const at = noise[2 * i] * 3 + (noise[2 * i + 1] % 3);
    bytes[at] ^= 1 << (noise[2 * i + 1] % 8);
    const file = writeTemp('flipped.caffemodel', bytes);
    try {
      await readCaffeModel(file, { inputShape: [1, 1, 28, 28] });
    } catch (error) {
      assert.ok(error instanceof GraftError, `flip at byte ${at}: ${String((error as Error).stack)}`);
    }
  }
});

test('a file with no layers is not a Caffe model', () => {
  assert.throws(() => decodeCaffemodel(encodeNet({ name: 'empty' }), 'empty.caffemodel'), /empty\.caffemodel at byte \d+: the NetParameter ends without any layer/);
});
