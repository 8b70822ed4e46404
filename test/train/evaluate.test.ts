/**
 * `graft evaluate` against numbers worked out by hand: a fixed linear model (logits x1, x2, 0.5),
 * a table whose labels name the model's classes in another order than sorted, and the loss,
 * accuracy and confusion matrix (rows: true class, columns: predicted) that must come out.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evaluateModel } from '../../src/train/evaluate.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { graft, saveAndDispose, tableGraftJson, writeTable } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-evaluate-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const modelDir = path.join(work, 'linear');
const table = path.join(work, 'points.csv');

// The model's classes, in its output order (not sorted: the table's labels must map by name).
const CLASS_NAMES = ['b', 'a', 'c'];
const ROWS = [
  { x: [2, 0], label: 'b' }, // logits [2, 0, .5] → b ✓
  { x: [3, 1], label: 'b' }, // → b ✓
  { x: [0, 2], label: 'b' }, // → a ✗
  { x: [0, 1], label: 'a' }, // → a ✓
  { x: [1, 0], label: 'a' }, // → b ✗
  { x: [-1, -1], label: 'a' }, // → c ✗
  { x: [0, 0], label: 'c' }, // → c ✓
  { x: [-2, 0.2], label: 'c' }, // → c ✓
];

function expected() {
  const confusion = CLASS_NAMES.map(() => [0, 0, 0]);
  let loss = 0;
  let correct = 0;
  for (const row of ROWS) {
    const logits = [row.x[0], row.x[1], 0.5];
    const truth = CLASS_NAMES.indexOf(row.label);
    const predicted = logits.indexOf(Math.max(...logits));
    const logSum = Math.log(logits.reduce((s, z) => s + Math.exp(z), 0));
    loss += logSum - logits[truth];
    confusion[truth][predicted]++;
    if (predicted === truth) correct++;
  }
  return { loss: loss / ROWS.length, accuracy: correct / ROWS.length, confusion };
}

before(async () => {
  await useBackend();
  const input = tf.input({ shape: [2], name: 'input' });
  const dense = tf.layers.dense({ units: 3, name: 'linear' });
  const output = tf.layers.softmax({ name: 'prob' }).apply(dense.apply(input)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  dense.setWeights([tf.tensor2d([[1, 0, 0], [0, 1, 0]]), tf.tensor1d([0, 0, 0.5])]);
  await saveAndDispose(modelDir, model, tableGraftJson(2, CLASS_NAMES));
  writeTable(table, ROWS);
});

test('evaluateModel: loss, accuracy and confusion as worked out by hand', async () => {
  const want = expected();
  assert.deepEqual(want.confusion, [[2, 1, 0], [1, 1, 1], [0, 0, 2]]);
  assert.equal(want.accuracy, 5 / 8);
  const result = await evaluateModel({ model: modelDir, data: table, batchSize: 3 });
  assert.deepEqual(result.classNames, CLASS_NAMES);
  assert.equal(result.count, ROWS.length);
  assert.deepEqual(result.confusion, want.confusion);
  assert.equal(result.accuracy, want.accuracy);
  assert.ok(Math.abs(result.loss - want.loss) < 1e-6, `loss ${result.loss} vs ${want.loss}`);
});

test('graft evaluate --json prints {loss, accuracy, confusion, classNames, count}; the default output is a table', () => {
  const want = expected();
  const json = graft(work, 'evaluate', '--model', modelDir, '--data', table, '--json');
  assert.equal(json.code, 0, json.stderr);
  const result = JSON.parse(json.stdout) as { loss: number; accuracy: number; confusion: number[][]; classNames: string[]; count: number };
  for (const key of ['loss', 'accuracy', 'confusion', 'classNames', 'count']) assert.ok(key in result, key);
  assert.deepEqual(result.confusion, want.confusion);
  assert.equal(result.accuracy, 0.625);
  assert.ok(Math.abs(result.loss - want.loss) < 1e-6);

  const text = graft(work, 'evaluate', '--model', modelDir, '--data', table);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^8 examples: loss \d\.\d{5}, accuracy 0\.6250$/m);
  assert.match(text.stdout, /confusion \(rows: true class, columns: predicted\)/);
  assert.match(text.stdout, /^b\s+2\s+1\s+0$/m);
  assert.match(text.stdout, /^a\s+1\s+1\s+1$/m);
  assert.match(text.stdout, /^c\s+0\s+0\s+2$/m);

  // A label the model does not know is an error, not a silent new class.
  const other = writeTable(path.join(work, 'other.csv'), [...ROWS, { x: [0, 0], label: 'd' }]);
  const refused = graft(work, 'evaluate', '--model', modelDir, '--data', other, '--json');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /class "d" is not one the model knows/);
});
