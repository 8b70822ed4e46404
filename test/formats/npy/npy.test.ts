import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { readNpy, writeNpy } from '../../../src/formats/npy/npy.js';
import { toFloat32 } from '../../../src/tensor/tensor.js';
import { FormatError, UnsupportedError } from '../../../src/errors.js';
import { FIXTURES } from '../../helpers.js';

// Files written by numpy (fixtures/make/npy_cases.py): np.arange(6).reshape(2, 3) in each dtype.
const read = (name: string) => {
  const file = path.join(FIXTURES, 'npy', name);
  return readNpy(readFileSync(file), file);
};

for (const [file, dtype] of [
  ['f4.npy', 'float32'],
  ['f4_big_endian.npy', 'float32'],
  ['f4_fortran.npy', 'float32'],
  ['f4_v2.npy', 'float32'],
  ['f2.npy', 'float16'],
  ['f8.npy', 'float64'],
  ['i8.npy', 'int64'],
] as const) {
  test(`numpy ${file} reads as ${dtype} [2, 3] = 0..5`, () => {
    const t = read(file);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(Array.from(toFloat32(t)), [0, 1, 2, 3, 4, 5]);
  });
}

test('bool arrays read as 0/1 bytes', () => {
  const t = read('b1.npy');
  assert.equal(t.dtype, 'bool');
  assert.deepEqual(Array.from(t.data as Uint8Array), [0, 1, 0, 1, 0, 1]);
});

test('object arrays are refused without running pickle', () => {
  assert.throws(() => read('object.npy'), (e: unknown) => e instanceof UnsupportedError && /object\.npy.*pickle/.test((e as Error).message));
});

test('a header declaring more data than the file holds is a FormatError', () => {
  assert.throws(() => read('truncated.npy'), (e: unknown) => e instanceof FormatError && /truncated\.npy.*needs 24 bytes but 12/.test((e as Error).message));
  assert.throws(() => readNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy'), /x\.npy.*bad magic/);
});

test('writeNpy output reads back and its header is what numpy writes', () => {
  const bytes = writeNpy(Float32Array.from([1.5, -2, 3]), [3]);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + new DataView(bytes.buffer).getUint16(8, true)));
  assert.equal(header.trim(), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
  assert.equal((10 + header.length) % 64, 0);
  const t = readNpy(bytes, 'mem.npy');
  assert.deepEqual(Array.from(t.data as Float32Array), [1.5, -2, 3]);
  assert.deepEqual(t.shape, [3]);
});
