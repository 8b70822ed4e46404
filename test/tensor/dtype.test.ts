import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16 } from '../../src/tensor/float16.js';
import { makeTensor, toFloat32 } from '../../src/tensor/tensor.js';
import { viewAs } from '../../src/tensor/dtype.js';

test('float16 bit patterns decode as numpy.float16 does', () => {
  // np.array([0x3c00,0xc000,0x7bff,0x0001,0x7c00,0xfc00,0x3555,0x0400], np.uint16).view(np.float16)
  const bits = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x3555, 0x0400]);
  const values = float16ToFloat32(bits);
  assert.deepEqual(Array.from(values), [1, -2, 65504, 5.960464477539063e-8, Infinity, -Infinity, 0.333251953125, 6.103515625e-5]);
  assert.ok(Number.isNaN(float16ToFloat32(Uint16Array.from([0x7e00]))[0]));
});

test('float32 → float16 rounds to nearest even and round-trips every half value', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const back = float32ToFloat16(float16ToFloat32(all));
  for (let i = 0; i < 65536; i++) {
    const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (!isNaN) assert.equal(back[i], i, `half 0x${i.toString(16)}`);
  }
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties to even → 1.
  assert.equal(float32ToFloat16(Float32Array.from([1 + 2 ** -11]))[0], 0x3c00);
});

test('bfloat16 is the high half of float32', () => {
  assert.deepEqual(Array.from(bfloat16ToFloat32(Uint16Array.from([0x3f80, 0xc040]))), [1, -3]);
});

test('tensors check element counts and widen to float32', () => {
  assert.throws(() => makeTensor('float32', [2, 3], new Float32Array(5)), /needs 6 elements/);
  assert.throws(() => makeTensor('int32', [1], new Float32Array(1)), /Int32Array/);
  const t = makeTensor('int64', [3], BigInt64Array.from([1n, -2n, 3n]));
  assert.deepEqual(Array.from(toFloat32(t)), [1, -2, 3]);
});

test('viewAs avoids a copy only when aligned', () => {
  const bytes = new Uint8Array(12);
  new DataView(bytes.buffer).setFloat32(4, 1.5, true);
  const aligned = viewAs('float32', bytes.subarray(4, 8));
  assert.equal(aligned.buffer, bytes.buffer);
  assert.equal(aligned[0], 1.5);
  const shifted = new Uint8Array(13);
  shifted.set(bytes.subarray(4, 8), 1);
  const copy = viewAs('float32', shifted.subarray(1, 5));
  assert.notEqual(copy.buffer, shifted.buffer);
  assert.equal(copy[0], 1.5);
});
