/**
 * The shape rules that keep tfjs-wasm's intake of a fresh conv filter off cache-aliasing strides
 * (src/tfjs/kernels/filter-packing.ts; the times behind them: bench/filter-packing.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliasingFilterRows, twoAdicValuation, zeroChannelsForPacking, zeroTapsForPacking } from '../../../src/tfjs/kernels/filter-packing.js';

test('two-adic valuation', () => {
  assert.deepEqual([1, 2, 12, 4096, 200704, 200832, 4608].map(twoAdicValuation), [0, 1, 2, 12, 12, 7, 9]);
});

test('filters measured slow are flagged, those measured fast are not', () => {
  // Slow here: [1, 1, 200704, 64] and [3, 3, 512, 512]; fast: R = 200832, 4680, 576.
  assert.equal(aliasingFilterRows(200704), true);
  assert.equal(aliasingFilterRows(9 * 512), true);
  assert.equal(aliasingFilterRows(200832), false);
  assert.equal(aliasingFilterRows(9 * 520), false);
  assert.equal(aliasingFilterRows(9 * 64), false);
});

test('zero taps: resnet18 stem and layer1 filter gradients at a pass of 16', () => {
  for (const [rows, columns] of [[112, 112], [56, 56], [28, 28]]) {
    const [extraRows, extraColumns] = zeroTapsForPacking(rows, columns, 16);
    assert.ok(extraRows + extraColumns > 0 && extraRows <= 3 && extraColumns <= 3, `${rows}×${columns}: ${extraRows}, ${extraColumns}`);
    assert.ok(twoAdicValuation((rows + extraRows) * (columns + extraColumns) * 16) <= 5);
  }
  assert.deepEqual(zeroTapsForPacking(7, 7, 16), [0, 0]);
});

test('zero channels: in fours, for every phase kernel, none when none is needed or none can help', () => {
  assert.equal(zeroChannelsForPacking([9], 512), 4);
  const extra = zeroChannelsForPacking([4, 2, 2, 1], 512);
  assert.equal(extra % 4, 0);
  for (const taps of [4, 2, 1]) assert.ok(twoAdicValuation(taps * (512 + extra)) <= 5);
  assert.equal(zeroChannelsForPacking([9], 64), 0);
  assert.equal(zeroChannelsForPacking([64], 1024), 0);
});
