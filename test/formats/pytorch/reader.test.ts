import assert from 'node:assert/strict';
import { existsSync, rmSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FormatError, GraftError, UnsupportedError } from '../../../src/errors.js';
import { pickReader, readHead } from '../../../src/formats/registry.js';
import { decodePyTorch, pytorchReader, readPyTorchFile } from '../../../src/formats/pytorch/reader.js';
import { UnsafeGlobalError } from '../../../src/formats/pytorch/torch-globals.js';
import { toFloat32, type Tensor } from '../../../src/tensor/tensor.js';
import { expected, fixture, fixtureBytes, tensorSha256, type Expected } from './helpers.js';

// Every expectation below comes from fixtures/pytorch/reader/<name>.json, written by
// fixtures/make/pytorch_pth.py from the tensors torch.load returned for the same file.

const READABLE = [
  'small_zip', 'small_legacy', 'small_fp16', 'small_fp16_legacy', 'small_bf16', 'small_deflated', 'small_bigendian',
  'checkpoint', 'checkpoint_legacy', 'views', 'views_legacy', 'dtypes', 'dtypes_legacy',
];

function checkAgainstTorch(name: string, tensors: Map<string, Tensor>, want: Expected): void {
  const wanted = want.tensors!;
  assert.deepEqual([...tensors.keys()], Object.keys(wanted), `${name}: keys in file order`);
  for (const [key, spec] of Object.entries(wanted)) {
    const tensor = tensors.get(key)!;
    assert.equal(tensor.dtype, spec.dtype, `${name} ${key} dtype`);
    assert.deepEqual(tensor.shape, spec.shape, `${name} ${key} shape`);
    assert.equal(tensorSha256(tensor), spec.sha256, `${name} ${key}: bytes differ from torch's`);
    const values = numbers(tensor);
    assert.deepEqual(values.slice(0, spec.first.length), spec.first, `${name} ${key} first values`);
    const sum = values.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - spec.sum) <= 1e-6 * Math.max(1, Math.abs(spec.sum)), `${name} ${key} sum ${sum} vs ${spec.sum}`);
  }
}

/** Values as float64 numbers, as torch's `.double()` gives them. */
function numbers(tensor: Tensor): number[] {
  if (tensor.dtype === 'int64') return Array.from(tensor.data as BigInt64Array, Number);
  if (tensor.dtype === 'float16' || tensor.dtype === 'bfloat16') return Array.from(toFloat32(tensor));
  return Array.from(tensor.data as Exclude<typeof tensor.data, BigInt64Array>);
}

for (const name of READABLE) {
  test(`${name}: every tensor matches torch.load (${expected(name).made_by})`, async () => {
    const want = expected(name);
    const model = await readPyTorchFile(fixture(want.file));
    assert.equal(model.format, 'pytorch');
    assert.equal(model.graph, undefined);
    checkAgainstTorch(name, model.tensors, want);
    for (const fragment of want.warnings ?? []) {
      assert.ok(model.warnings.some((w) => w.includes(fragment)), `${name}: no warning mentions ${JSON.stringify(fragment)} in ${JSON.stringify(model.warnings)}`);
    }
  });
}

test('the same weights in zip and legacy format give identical tensors', async () => {
  for (const [zip, legacy] of [['small_zip', 'small_legacy'], ['small_fp16', 'small_fp16_legacy'], ['checkpoint', 'checkpoint_legacy'], ['views', 'views_legacy'], ['dtypes', 'dtypes_legacy']]) {
    const a = (await readPyTorchFile(fixture(`${zip}.pth`))).tensors;
    const b = (await readPyTorchFile(fixture(`${legacy}.pth`))).tensors;
    assert.deepEqual([...a.keys()], [...b.keys()], zip);
    for (const [key, tensor] of a) {
      const other = b.get(key)!;
      assert.equal(other.dtype, tensor.dtype, `${zip} ${key}`);
      assert.deepEqual(other.shape, tensor.shape, `${zip} ${key}`);
      assert.deepEqual(other.data, tensor.data, `${zip} ${key}`);
    }
  }
});

test('half precision stays float16 in the TensorMap and widens exactly', async () => {
  const half = await readPyTorchFile(fixture('small_fp16.pth'));
  const full = await readPyTorchFile(fixture('small_zip.pth'));
  const weight = half.tensors.get('conv1.weight')!;
  assert.equal(weight.dtype, 'float16');
  assert.ok(weight.data instanceof Uint16Array);
  // float32 → float16 → float32 in torch: within half's relative precision of the original.
  const widened = toFloat32(weight);
  const original = full.tensors.get('conv1.weight')!.data as Float32Array;
  for (let i = 0; i < original.length; i++) assert.ok(Math.abs(widened[i] - original[i]) <= 2 ** -11 * Math.abs(original[i]) + 1e-7);
  assert.equal(half.tensors.get('bn1.num_batches_tracked')!.dtype, 'int64');
  const kept = await readPyTorchFile(fixture('small_fp16.pth'), { dtype: 'float16' });
  assert.ok(!kept.warnings.some((w) => w.includes('half precision')));
});

test('checkpoint dict: weights under "state_dict", module. stripped, the rest noted but not read', async () => {
  const model = await readPyTorchFile(fixture('checkpoint.pth'));
  assert.ok([...model.tensors.keys()].every((key) => !key.startsWith('module.')));
  assert.ok(model.tensors.has('bn1.num_batches_tracked'));
  const notes = model.warnings.join('\n');
  assert.match(notes, /found the weights under checkpoint key "state_dict"/);
  assert.match(notes, /ignored optimizer state \("optimizer"\)/);
  assert.match(notes, /epoch=3/);
  assert.match(notes, /best_acc1=0\.625/);
  assert.match(notes, /args \(argparse\.Namespace, kept inert\)/);
});

test('zero copy: an aligned contiguous float32 tensor is a view of the file buffer', () => {
  const bytes = fixtureBytes('small_zip.pth');
  const model = decodePyTorch(bytes, 'small_zip.pth');
  for (const key of ['conv1.weight', 'conv2.weight', 'fc.weight']) {
    const data = model.tensors.get(key)!.data;
    assert.equal(data.buffer, bytes.buffer, key);
  }
  // A view (t()) is materialized into its own memory.
  const views = fixtureBytes('views.pth');
  const transposed = decodePyTorch(views, 'views.pth').tensors.get('transposed')!;
  assert.notEqual(transposed.data.buffer, views.buffer);
});

test('legacy files: storages are aligned in place when the reader owns the bytes, else left alone', () => {
  for (const name of ['small_legacy', 'checkpoint_legacy', 'dtypes_legacy', 'small_fp16_legacy']) {
    const want = expected(name);
    const bytes = fixtureBytes(want.file);
    const untouched = Uint8Array.from(bytes);
    decodePyTorch(bytes, want.file);
    assert.deepEqual(bytes, untouched, `${name}: decodePyTorch without ownsBytes changed its input`);
    const model = decodePyTorch(bytes, want.file, {}, true);
    checkAgainstTorch(name, model.tensors, want);
    for (const [key, tensor] of model.tensors) {
      if (tensor.data.length > 0) assert.equal(tensor.data.buffer, bytes.buffer, `${name} ${key} was copied`);
    }
  }
});

test('TorchScript and whole-model pickles are refused with what the file is', async () => {
  for (const name of ['scripted', 'whole_model']) {
    const want = expected(name);
    await assert.rejects(readPyTorchFile(fixture(want.file)), (error: unknown) => {
      assert.ok(error instanceof UnsupportedError, `${name}: ${String(error)}`);
      for (const fragment of want.error!.contains) assert.ok(error.message.includes(fragment), `${name}: ${error.message}`);
      return true;
    });
  }
});

for (const name of ['os_system', 'eval', 'popen']) {
  for (const container of ['legacy', 'zip']) {
    const fixtureName = `malicious_${name}_${container}`;
    test(`${fixtureName}: refused, naming the global, and nothing runs`, async () => {
      const want = expected(fixtureName);
      rmSync(want.probe!, { force: true });
      await assert.rejects(readPyTorchFile(fixture(want.file)), (error: unknown) => {
        assert.ok(error instanceof UnsafeGlobalError, String(error));
        assert.ok(error instanceof FormatError);
        assert.equal(error.global, want.error!.contains[0]);
        assert.ok(error.message.includes(want.error!.contains[0]));
        return true;
      });
      // The payload (checked by the generator to work under torch.load) would have created this.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(existsSync(want.probe!), false);
    });
  }
}

test('a refused global inside an unneeded part of a real checkpoint is still refused', async () => {
  const want = expected('malicious_nested');
  rmSync(want.probe!, { force: true });
  await assert.rejects(readPyTorchFile(fixture(want.file)), (error: unknown) => error instanceof UnsafeGlobalError && error.global === 'posix.system');
  assert.equal(existsSync(want.probe!), false);
});

test('match: zip with */data.pkl and the legacy magic are certain; the extension alone is a hint', async () => {
  assert.equal(pytorchReader.match(await readHead(fixture('small_zip.pth')), 'x.pth'), 1);
  assert.equal(pytorchReader.match(await readHead(fixture('small_zip.pth')), 'weights'), 1);
  assert.equal(pytorchReader.match(await readHead(fixture('small_legacy.pth')), 'weights.dat'), 1);
  assert.equal(pytorchReader.match(new Uint8Array([1, 2, 3]), 'model.ckpt'), 0.3);
  assert.equal(pytorchReader.match(new Uint8Array([1, 2, 3]), 'model.caffemodel'), 0);
  // A numpy .npz (first entry conv1/W.npy) is not ours.
  const npzHead = new Uint8Array(64);
  npzHead.set([0x50, 0x4b, 0x03, 0x04]);
  npzHead[26] = 10;
  npzHead.set(Buffer.from('conv1/W.npy'), 30);
  assert.equal(pytorchReader.match(npzHead, 'net.npz'), 0);
  assert.equal((await pickReader(fixture('small_zip.pth'))).format, 'pytorch');
  assert.equal((await pickReader(fixture('small_legacy.pth'))).format, 'pytorch');
});

test('progress and tensorsOnly', async () => {
  const phases = new Set<string>();
  const model = await readPyTorchFile(fixture('small_fp16.pth'), { tensorsOnly: true, onProgress: (phase) => phases.add(phase) });
  assert.ok(phases.has('read') && phases.has('tensors'));
  assert.equal(model.tensors.size, 10);
  assert.ok(!model.warnings.some((w) => w.includes('half precision')));
});

test('not a torch file: clean errors', async () => {
  assert.throws(() => decodePyTorch(new Uint8Array([1, 2, 3]), 'x.pth'), FormatError);
  assert.throws(() => decodePyTorch(new Uint8Array(0), 'x.pth'), FormatError);
  const tar = new Uint8Array(1024);
  tar.set(Buffer.from('ustar'), 257);
  assert.throws(() => decodePyTorch(tar, 'old.pth'), (error: unknown) => error instanceof UnsupportedError && /tar archive/.test(error.message));
  // A plain pickle without torch's magic number.
  assert.throws(() => decodePyTorch(Uint8Array.from([0x80, 0x02, 0x4b, 0x01, 0x2e]), 'x.pkl'), /magic number/);
  await assert.rejects(readPyTorchFile('/nonexistent/x.pth'), GraftError);
  // The legacy bytes with the object pickle cut: a FormatError naming a byte offset.
  const legacy = readFileSync(fixture('small_legacy.pth'));
  assert.throws(() => decodePyTorch(legacy.subarray(0, 200), 'cut.pth'), (error: unknown) => error instanceof FormatError && /at byte \d+/.test(error.message));
});
