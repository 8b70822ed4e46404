import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FormatError, GraftError, UnsupportedError, UsageError } from '../../../src/errors.js';
import { chainerReader, readChainerNpz, readNpzFrom } from '../../../src/formats/chainer/reader.js';
import { bufferSource } from '../../../src/formats/zip/index.js';
import { pickReader } from '../../../src/formats/registry.js';
import { toFloat32 } from '../../../src/tensor/tensor.js';
import { SHARED_FIXTURES } from '../../helpers.js';
import { bytesOf, float32Npy, npyBytes, zipArchive, type ZipInput } from './npz-writer.js';

const CHAINER = path.join(SHARED_FIXTURES, 'chainer');
const work = mkdtempSync(path.join(tmpdir(), 'graft-npz-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const read = (inputs: ZipInput[], options: { tensorsOnly?: boolean } = {}) => readNpzFrom(bufferSource(zipArchive(inputs)), 'm.npz', options);
const f32 = (key: string, values: number[], shape = [values.length]): ZipInput => ({ name: `${key}.npy`, data: float32Npy(shape, Float32Array.from(values)) });

// 0..5 as [2, 3] in each dtype and byte order a save_npz file may hold.
const SIX = [0, 1, 2, 3, 4, 5];
function bigEndian(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(out.buffer).setFloat32(i * 4, v, false));
  return out;
}
const DTYPE_CASES: { descr: string; dtype: string; data: Uint8Array; fortran?: boolean; version?: 1 | 2 | 3 }[] = [
  { descr: '<f4', dtype: 'float32', data: bytesOf(Float32Array.from(SIX)) },
  { descr: '>f4', dtype: 'float32', data: bigEndian(Float32Array.from(SIX)) },
  // Fortran order holds columns first: [[0, 1, 2], [3, 4, 5]] is 0 3 1 4 2 5.
  { descr: '<f4', dtype: 'float32', data: bytesOf(Float32Array.from([0, 3, 1, 4, 2, 5])), fortran: true },
  { descr: '<f4', dtype: 'float32', data: bytesOf(Float32Array.from(SIX)), version: 2 },
  { descr: '<f4', dtype: 'float32', data: bytesOf(Float32Array.from(SIX)), version: 3 },
  { descr: '<f2', dtype: 'float16', data: bytesOf(Uint16Array.from([0x0000, 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500])) },
  { descr: '<f8', dtype: 'float64', data: bytesOf(Float64Array.from(SIX)) },
  { descr: '<i8', dtype: 'int64', data: bytesOf(BigInt64Array.from(SIX.map(BigInt))) },
  { descr: '<i4', dtype: 'int32', data: bytesOf(Int32Array.from(SIX)) },
  { descr: '|u1', dtype: 'uint8', data: Uint8Array.from(SIX) },
  { descr: '|b1', dtype: 'bool', data: Uint8Array.from([0, 1, 1, 1, 1, 1]) },
];

for (const deflate of [false, true]) {
  test(`${deflate ? 'deflated' : 'stored'} entries: every dtype, byte order, fortran_order and header version`, async () => {
    const inputs = DTYPE_CASES.map((c, i) => ({ name: `a${i}.npy`, data: npyBytes(c.descr, [2, 3], c.data, c), deflate }));
    const model = await read(inputs);
    DTYPE_CASES.forEach((c, i) => {
      const t = model.tensors.get(`a${i}`)!;
      assert.equal(t.dtype, c.dtype, `${c.descr} ${c.fortran ? 'fortran' : ''}`);
      assert.deepEqual(t.shape, [2, 3]);
      assert.deepEqual(Array.from(toFloat32(t)), c.dtype === 'bool' ? [0, 1, 1, 1, 1, 1] : SIX, `${c.descr} v${c.version ?? 1}`);
    });
  });
}

test('float32 arrays read from disk are views of their entry, not copies', async () => {
  const file = path.join(work, 'aligned.npz');
  const values = Float32Array.from({ length: 2000 }, (_, i) => i);
  writeFileSync(file, zipArchive([{ name: 'w.npy', data: float32Npy([2000], values) }, { name: 'v.npy', data: float32Npy([2000], values), deflate: true }]));
  const model = await readChainerNpz(file);
  for (const key of ['w', 'v']) {
    const data = model.tensors.get(key)!.data;
    // Each entry is read (or inflated) into its own buffer: the header's 128 bytes, then the data
    // in place (plus the one spare byte zlib's single-buffer output needs).
    assert.equal(data.byteOffset, 128, key);
    assert.ok(data.buffer.byteLength - data.byteOffset - data.byteLength <= 1, key);
    assert.deepEqual(data, values);
  }
});

test('key layouts: bare chain, L.Classifier (predictor/), trainer snapshot (optimizer state ignored)', async () => {
  const bare = await read([f32('conv1/W', [1]), f32('fc/b', [2])]);
  assert.deepEqual([...bare.tensors.keys()], ['conv1/W', 'fc/b']);
  assert.deepEqual(bare.warnings, []);

  const classifier = await read([f32('predictor/conv1/W', [1]), f32('predictor/fc/b', [2])]);
  assert.deepEqual([...classifier.tensors.keys()], ['conv1/W', 'fc/b']);
  assert.deepEqual(classifier.warnings, ["L.Classifier: model arrays read from 'predictor/' without that prefix"]);

  const snapshot = [
    f32('updater/model:main/predictor/conv1/W', [1]),
    f32('updater/model:main/predictor/bn/gamma', [2]),
    f32('updater/model:main/predictor/bn/avg_mean', [3]),
    f32('updater/model:main/predictor/bn/avg_var', [4]),
    { name: 'updater/model:main/predictor/bn/N.npy', data: npyBytes('<i8', [], bytesOf(BigInt64Array.from([7n]))) },
    f32('updater/optimizer:main/predictor/conv1/W/m', [9]),
    f32('updater/optimizer:main/predictor/conv1/W/v', [9]),
    { name: 'updater/iteration.npy', data: npyBytes('<i8', [], bytesOf(BigInt64Array.from([1n]))) },
    // LogReport keeps its log as a JSON string: a dtype graft does not read, outside the model.
    { name: 'extensions/LogReport/_log.npy', data: npyBytes('<U2', [], new Uint8Array(8)) },
  ];
  const model = await read(snapshot);
  assert.deepEqual([...model.tensors.keys()], ['conv1/W', 'bn/gamma', 'bn/avg_mean', 'bn/avg_var']);
  assert.deepEqual(Array.from(model.tensors.get('bn/avg_var')!.data as Float32Array), [4]);
  assert.deepEqual(model.warnings, [
    "trainer snapshot of an L.Classifier: model arrays read from 'updater/model:main/predictor/' without that prefix; " +
      'ignored 4 other arrays: updater/optimizer:main/ (2), updater/iteration, extensions/ (1)',
  ]);

  // inspect lists every array it can: the BN counter too, the rest under full keys.
  const all = await read(snapshot, { tensorsOnly: true });
  assert.deepEqual([...all.tensors.keys()], [
    'conv1/W', 'bn/gamma', 'bn/avg_mean', 'bn/avg_var', 'bn/N',
    'updater/optimizer:main/predictor/conv1/W/m', 'updater/optimizer:main/predictor/conv1/W/v', 'updater/iteration',
  ]);
  assert.match(all.warnings[0], /4 other arrays listed under their full keys/);
  assert.deepEqual(all.warnings[1], 'arrays graft cannot read, not listed: extensions/LogReport/_log (<U2)');

  // A GAN-style snapshot has several models: graft will not guess.
  await assert.rejects(
    read([f32('updater/model:gen/x', [1]), f32('updater/model:dis/x', [1])]),
    (e: unknown) => e instanceof UnsupportedError && /several models \(updater\/model:gen\/, updater\/model:dis\/\)/.test(e.message),
  );
});

test('a snapshot without L.Classifier, and a chain that merely has a predictor child, keep their keys', async () => {
  const snapshot = await read([f32('updater/model:main/fc/W', [1]), f32('updater/optimizer:main/fc/W/msg', [1])]);
  assert.deepEqual([...snapshot.tensors.keys()], ['fc/W']);
  const mixed = await read([f32('predictor/fc/W', [1]), f32('head/W', [1])]);
  assert.deepEqual([...mixed.tensors.keys()], ['predictor/fc/W', 'head/W']);
});

function oneLine(error: unknown, type: new (...args: never[]) => GraftError, pattern: RegExp): boolean {
  assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
  assert.match(error.message, pattern);
  assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
  return true;
}

test('bad arrays: short data, unknown dtype, pickled objects, malformed header — one-line errors naming the entry', async () => {
  const short = npyBytes('<f4', [2, 3], bytesOf(Float32Array.from([1, 2, 3])));
  await assert.rejects(read([{ name: 'fc/W.npy', data: short, deflate: true }]), (e) => oneLine(e, FormatError, /^m\.npz:fc\/W\.npy at byte \d+: shape \(2, 3\) of <f4 needs 24 bytes but 12 follow the header$/));
  const complex = npyBytes('<c8', [2], new Uint8Array(16));
  await assert.rejects(read([{ name: 'fc/W.npy', data: complex }]), (e) => oneLine(e, UnsupportedError, /^m\.npz:fc\/W\.npy: unsupported dtype <c8$/));
  const pickled = npyBytes('|O', [], Buffer.from('\x80\x02N.', 'latin1'));
  await assert.rejects(read([{ name: 'predictor/fc/W.npy', data: pickled }]), (e) => oneLine(e, UnsupportedError, /^m\.npz:predictor\/fc\/W\.npy: a pickled Python object \(dtype \|O\), which graft never unpickles; .*uninitialised parameter/));
  const malformed = npyBytes('<f4', [1], new Uint8Array(4), { header: "{'descr': '<f4'}" });
  await assert.rejects(read([{ name: 'x.npy', data: malformed }]), (e) => oneLine(e, FormatError, /m\.npz:x\.npy.*malformed \.npy header/));
  await assert.rejects(read([{ name: 'x.npy', data: new Uint8Array(Buffer.from('not numpy at all')) }]), (e) => oneLine(e, FormatError, /m\.npz:x\.npy at byte 0: not a \.npy file/));
});

test('entries that are not .npy are ignored with a warning', async () => {
  const model = await read([f32('w', [1]), { name: 'README.txt', data: new Uint8Array(Buffer.from('hi')) }]);
  assert.deepEqual([...model.tensors.keys()], ['w']);
  assert.deepEqual(model.warnings, ['entries that are not .npy arrays, ignored: README.txt']);
});

test('match: zip of .npy entries is Chainer; other zips and non-zips only by the .npz name', async () => {
  const npz = zipArchive([f32('conv1/W', [1])]);
  assert.equal(chainerReader.match(npz.subarray(0, 64), 'model.bin'), 0.95);
  const torchZip = zipArchive([{ name: 'archive/data.pkl', data: new Uint8Array(4) }]);
  assert.equal(chainerReader.match(torchZip.subarray(0, 64), 'model.pth'), 0);
  assert.ok(chainerReader.match(torchZip.subarray(0, 64), 'model.npz') > 0);
  assert.equal(chainerReader.match(new Uint8Array(64), 'model.caffemodel'), 0);
  assert.ok(chainerReader.match(new Uint8Array(64), 'model.npz') >= 0.7);
  for (const name of ['alexnet_small_classifier', 'tiny_resnet_bn', 'trainer_snapshot_iter_1']) {
    assert.equal((await pickReader(path.join(CHAINER, `${name}.npz`))).format, 'chainer', name);
  }
});

test('a file named .npz that is not a zip, and --prototxt, get clear errors', async () => {
  const file = path.join(work, 'fake.npz');
  writeFileSync(file, 'this is not a zip archive, only some text that is long enough');
  const reader = await pickReader(file);
  assert.equal(reader.format, 'chainer');
  await assert.rejects(reader.open(file), (e) => oneLine(e, FormatError, /fake\.npz: not a zip archive/));
  await assert.rejects(readChainerNpz(path.join(CHAINER, 'tiny_resnet_bn.npz'), { prototxt: 'x.prototxt' }), UsageError);
  await assert.rejects(readChainerNpz(path.join(work, 'missing.npz')), (e) => oneLine(e, UsageError, /missing\.npz: no such file/));
});

test('Chainer 7.8.1 fixtures: keys and values as numpy wrote them', async () => {
  const alex = await readChainerNpz(path.join(CHAINER, 'alexnet_small_classifier.npz'));
  assert.deepEqual([...alex.tensors.keys()].sort(), [
    'conv1/W', 'conv1/b', 'conv2/W', 'conv2/b', 'conv3/W', 'conv3/b', 'conv4/W', 'conv4/b', 'conv5/W', 'conv5/b',
    'fc6/W', 'fc6/b', 'fc7/W', 'fc7/b', 'fc8/W', 'fc8/b',
  ]);
  assert.deepEqual(alex.tensors.get('conv2/W')!.shape, [64, 12, 5, 5]);

  const tiny = await readChainerNpz(path.join(CHAINER, 'tiny_resnet_bn.npz'));
  const snapshot = await readChainerNpz(path.join(CHAINER, 'trainer_snapshot_iter_1.npz'));
  // The snapshot holds the same TinyResNet (other values): the same keys once prefixes are gone.
  assert.deepEqual([...snapshot.tensors.keys()].sort(), [...tiny.tensors.keys()].sort());
  assert.equal(tiny.tensors.size, 48);
  assert.ok(![...tiny.tensors.keys()].some((k) => k.endsWith('/N')), 'BN counters are not weights');
  for (const [key, t] of snapshot.tensors) assert.equal(t.dtype, 'float32', key);

  const inspected = await readChainerNpz(path.join(CHAINER, 'trainer_snapshot_iter_1.npz'), { tensorsOnly: true });
  assert.equal(inspected.tensors.size, 158);
  assert.deepEqual(inspected.tensors.get('updater/iterator:main/order')!.shape, [8]);
  assert.equal(inspected.tensors.get('updater/iterator:main/is_new_epoch')!.dtype, 'bool');

  // Progress covers the whole read.
  const seen: [string, number, number][] = [];
  await readChainerNpz(path.join(CHAINER, 'alexnet_small_classifier.npz'), { onProgress: (phase, done, total) => seen.push([phase, done, total]) });
  assert.equal(seen.length, 16);
  assert.equal(seen.at(-1)![1], seen.at(-1)![2]);
  assert.ok(readFileSync(path.join(CHAINER, 'alexnet_small_classifier.npz')).length > seen.at(-1)![2]);
});
