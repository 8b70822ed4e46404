import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readTable } from '../../src/train/data/table.js';
import { stratifiedSplit } from '../../src/train/data/split.js';
import { Random } from '../../src/train/random.js';
import { SHARED_FIXTURES } from '../helpers.js';

const XOR = path.join(SHARED_FIXTURES, 'real', 'xor');

test('the XOR files read with their headers, tabs or spaces, labels 1/2 → 0/1', () => {
  const small = readTable(path.join(XOR, 'xor_complex_small.txt'));
  assert.equal(small.rows, 100);
  assert.deepEqual(small.featureNames, ['x', 'y']);
  assert.deepEqual(small.classNames, ['1', '2']);
  // First data row: "1.62042136743198 3.00362413043098 1".
  assert.ok(Math.abs(small.features[0] - 1.62042136743198) < 1e-6);
  assert.ok(Math.abs(small.features[1] - 3.00362413043098) < 1e-6);
  assert.equal(small.labels[0], 0);
  const large = readTable(path.join(XOR, 'xor_complex_large.txt'));
  assert.equal(large.rows, 100000);
  assert.equal(large.labels.filter((l) => l === 1).length, 50000);
});

test('a stratified split keeps both classes in validation and is reproducible', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 500 ? 0 : 1));
  const a = stratifiedSplit(labels, 0.3, 7);
  const b = stratifiedSplit(labels, 0.3, 7);
  assert.deepEqual(a, b);
  assert.equal(a.validation.length, 300);
  assert.equal(a.validation.filter((i) => labels[i] === 1).length, 150);
  assert.equal(new Set([...a.train, ...a.validation]).size, 1000);
  assert.notDeepEqual(stratifiedSplit(labels, 0.3, 8).validation, a.validation);
});

test('Random is deterministic and roughly uniform', () => {
  const r = new Random(42);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40000; i++) counts[r.int(4)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 400, `${counts}`);
  assert.deepEqual(new Random(1).permutation(5), new Random(1).permutation(5));
});
