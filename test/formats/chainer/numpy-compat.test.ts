/**
 * Archives written by numpy itself (savez and savez_compressed; recent numpy forces zip64 local
 * headers, numpy gh-10776), when a python3 with numpy is on PATH; skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readChainerNpz } from '../../../src/formats/chainer/reader.js';
import { toFloat32 } from '../../../src/tensor/tensor.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-numpy-npz-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const numpy = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
const skip = numpy.status === 0 ? false : 'python3 with numpy is not available';

// Every array is arange(n) reshaped, in its own dtype / byte order / memory order.
const SCRIPT = `
import numpy as np, sys
base = np.arange(24).reshape(2, 3, 4)
arrays = {
  'conv/W': base.astype('<f4'),
  'big/W': base.astype('>f4'),
  'fortran/W': np.asfortranarray(base.astype('<f4')),
  'half': base.astype('<f2'),
  'double': base.astype('<f8'),
  'long': base.astype('<i8'),
  'int': base.astype('<i4'),
  'byte': base.astype('|u1'),
  'flag': (base % 2).astype('|b1'),
  'scalar': np.array(24, dtype='<i8'),
  'large': np.arange(300000, dtype='<f4'),
}
np.savez(sys.argv[1], **arrays)
np.savez_compressed(sys.argv[2], **arrays)
`;

test(`numpy ${numpy.stdout.trim() || '(absent)'}: savez and savez_compressed archives read value for value`, { skip }, async () => {
  const stored = path.join(work, 'stored.npz');
  const deflated = path.join(work, 'deflated.npz');
  const made = spawnSync('python3', ['-c', SCRIPT, stored, deflated], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (const file of [stored, deflated]) {
    const { tensors } = await readChainerNpz(file);
    const expectedTypes: Record<string, string> = {
      'conv/W': 'float32', 'big/W': 'float32', 'fortran/W': 'float32', half: 'float16', double: 'float64',
      long: 'int64', int: 'int32', byte: 'uint8', flag: 'bool',
    };
    for (const [key, dtype] of Object.entries(expectedTypes)) {
      const t = tensors.get(key)!;
      assert.equal(t.dtype, dtype, `${file} ${key}`);
      assert.deepEqual(t.shape, [2, 3, 4], key);
      const expected = key === 'flag' ? range(24).map((i) => i % 2) : range(24);
      assert.deepEqual(Array.from(toFloat32(t)), expected, `${path.basename(file)} ${key}`);
    }
    assert.deepEqual(tensors.get('scalar')!.shape, []);
    assert.equal(Number((tensors.get('scalar')!.data as BigInt64Array)[0]), 24);
    const large = tensors.get('large')!.data as Float32Array;
    assert.equal(large.length, 300000);
    assert.equal(large[299999], 299999);
  }
});
