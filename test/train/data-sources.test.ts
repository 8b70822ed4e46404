/**
 * --data sources: tables (CSV, TSV, space-separated, header or not, label column by name or index,
 * labels mapped to 0..K−1 and saved), image folders (--limit-per-class as a seeded sample, stray
 * files ignored, corrupt ones skipped and reported), the preprocessing flags overriding graft.json,
 * and training data reshuffled every epoch, reproducibly under --seed.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FormatError, UsageError } from '../../src/errors.js';
import { loadDataset } from '../../src/train/data/dataset.js';
import { scanImageFolder } from '../../src/train/data/image-folder.js';
import { readTable } from '../../src/train/data/table.js';
import { trainModel } from '../../src/train/finetune.js';
import { Random } from '../../src/train/random.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { FIXTURES, SHARED_FIXTURES } from '../helpers.js';
import { blobs, CLASSES, convertLeNet, makeImageFolder, writeTable, type ImageFolderInfo } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-data-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
let images: ImageFolderInfo;
const lenet = path.join(work, 'lenet');

before(async () => {
  await useBackend();
  images = await makeImageFolder(path.join(work, 'images'), 10);
  await convertLeNet(lenet);
});

function file(name: string, text: string): string {
  const target = path.join(work, name);
  writeFileSync(target, text);
  return target;
}

test('tables: comma, tab or space separated, header detected, labels sorted to 0..K−1', () => {
  const csv = readTable(file('a.csv', 'x,y,species\n1,2,dog\n3,4,cat\n5,6,emu\n7,8,cat\n'));
  assert.deepEqual(csv.featureNames, ['x', 'y']);
  assert.deepEqual(csv.classNames, ['cat', 'dog', 'emu']);
  assert.deepEqual([...csv.labels], [1, 0, 2, 0]);
  assert.deepEqual([...csv.features], [1, 2, 3, 4, 5, 6, 7, 8]);

  const tsv = readTable(file('b.tsv', 'a\tb\tlabel\n0.5\t-1e-3\t10\n1\t2\t9\n'));
  assert.deepEqual(tsv.featureNames, ['a', 'b']);
  // Numeric labels sort as numbers: 9 before 10.
  assert.deepEqual(tsv.classNames, ['9', '10']);
  assert.deepEqual([...tsv.labels], [1, 0]);

  const bare = readTable(file('c.txt', '# a comment\n 1  2 1\n3 4 2\n\n5 6 1\n'));
  assert.deepEqual(bare.featureNames, ['column1', 'column2']);
  assert.equal(bare.rows, 3);
  assert.deepEqual([...bare.labels], [0, 1, 0]);
});

test('tables: the label column by name or by index', () => {
  const text = 'label,x,y\nb,1,2\na,3,4\n';
  const byName = readTable(file('d.csv', text), { labelColumn: 'label' });
  assert.deepEqual(byName.featureNames, ['x', 'y']);
  assert.deepEqual([...byName.features], [1, 2, 3, 4]);
  assert.deepEqual(byName.classNames, ['a', 'b']);
  // The CLI passes --label-column as a string: "0" is the first column.
  const byIndex = readTable(file('d.csv', text), { labelColumn: '0' });
  assert.deepEqual(byIndex.featureNames, ['x', 'y']);
  assert.deepEqual([...byIndex.labels], [...byName.labels]);
  assert.deepEqual(readTable(file('d.csv', text), { labelColumn: 0 }).featureNames, ['x', 'y']);
  assert.throws(() => readTable(file('d.csv', text), { labelColumn: 'z' }), (e: Error) => e instanceof UsageError && /no label column z/.test(e.message));
});

test('tables: ragged rows and non-numbers are errors that name the line', () => {
  assert.throws(() => readTable(file('e.csv', 'x,y,l\n1,2,a\n3,a\n')), (e: Error) => e instanceof FormatError && /line 3.*2 columns, expected 3/.test(e.message));
  assert.throws(() => readTable(file('f.csv', 'x,y,l\n1,2,a\n3,oops,b\n')), (e: Error) => e instanceof FormatError && /line 3.*column y is not a number/.test(e.message));
});

test('the XOR files: the label mapping 1/2 → 0/1 is saved with the trained model', async () => {
  const out = path.join(work, 'xor-run');
  await trainModel({ arch: path.join(FIXTURES, 'xor', 'xor-net.json'), data: path.join(SHARED_FIXTURES, 'real', 'xor', 'xor_complex_small.txt'), out, epochs: 1, progress: false });
  assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'last', 'graft.json'), 'utf8')).classNames, ['1', '2']);
});

test('image folders: --limit-per-class is a seeded sample; stray files are ignored, corrupt ones reported', async () => {
  const all = await scanImageFolder(images.root);
  assert.deepEqual(all.classNames, [...CLASSES]);
  assert.equal(all.files.length, images.count + 1);
  assert.deepEqual(all.ignored, [images.stray]);

  const a = await scanImageFolder(images.root, { limitPerClass: 4, seed: 1 });
  const b = await scanImageFolder(images.root, { limitPerClass: 4, seed: 1 });
  const c = await scanImageFolder(images.root, { limitPerClass: 4, seed: 2 });
  assert.deepEqual(a.files, b.files);
  assert.notDeepEqual(a.files, c.files);
  assert.deepEqual(CLASSES.map((_, label) => a.files.filter((f) => f.label === label).length), [4, 4, 4]);
  // Not just the first names in order.
  assert.notDeepEqual(a.files.filter((f) => f.label === 0).map((f) => path.basename(f.path)), ['bars_h_000.jpg', 'bars_h_001.png', 'bars_h_002.png', 'bars_h_003.png']);

  const spec = { height: 28, width: 28, channelOrder: 'GRAY' as const, scale: 1 / 255, mean: [], std: [] };
  const dataset = await loadDataset(images.root, { imageSpec: spec });
  assert.equal(dataset.examples.count, images.count);
  assert.deepEqual(dataset.examples.shape, [28, 28, 1]);
  assert.deepEqual(dataset.skipped.map((s) => s.path), [images.corrupt]);
  assert.match(dataset.skipped[0].reason, /cannot decode image/);
  const max = dataset.examples.data.reduce((m, v) => Math.max(m, v), 0);
  assert.ok(max <= 1 && max > 0.5, `scaled pixels reach ${max}`);

  const one = path.join(work, 'one-class');
  mkdirSync(path.join(one, 'only'), { recursive: true });
  await assert.rejects(scanImageFolder(one), (e: Error) => e instanceof UsageError && /at least two/.test(e.message));
  mkdirSync(path.join(one, 'empty'));
  await assert.rejects(scanImageFolder(one), (e: Error) => e instanceof UsageError && /has no images/.test(e.message));
});

test('preprocessing flags override graft.json and the checkpoint records what was used', async () => {
  const out = path.join(work, 'scaled');
  const lines: string[] = [];
  await trainModel({ from: lenet, data: images.root, out, epochs: 1, scale: 0.5, limitPerClass: 5, seed: 1, progress: false, log: (l) => lines.push(l) });
  // 5 per class (the corrupt JPEG may or may not be drawn into disk's sample), 30 % held out.
  assert.ok(lines.some((l) => /^data: \d+ training \(bars_h 3, bars_v 3, disk \d\), \d+ validation \(bars_h 2, bars_v 2, disk \d\)$/.test(l)), lines.join('\n'));
  const saved = JSON.parse(readFileSync(path.join(out, 'last', 'graft.json'), 'utf8'));
  assert.equal(saved.input.scale, 0.5);
  assert.equal(saved.input.channelOrder, 'GRAY');
  const original = JSON.parse(readFileSync(path.join(lenet, 'graft.json'), 'utf8'));
  assert.equal(original.input.scale, 0.00390625);
});

test('training data is reshuffled every epoch, the same way for the same --seed; --no-shuffle keeps the order', async (t) => {
  const orders: number[][] = [];
  const permutation = Random.prototype.permutation;
  Random.prototype.permutation = function (n: number) {
    const order = permutation.call(this, n);
    orders.push(order);
    return order;
  };
  t.after(() => {
    Random.prototype.permutation = permutation;
  });
  const data = path.join(SHARED_FIXTURES, 'real', 'xor', 'xor_complex_small.txt');
  const run = async (name: string, seed: number, shuffle?: boolean) => {
    orders.length = 0;
    await trainModel({ arch: path.join(FIXTURES, 'xor', 'xor-net.json'), data, out: path.join(work, name), epochs: 3, seed, shuffle, progress: false });
    return orders.map((o) => [...o]);
  };
  const first = await run('shuffle-a', 5);
  assert.equal(first.length, 3, 'one permutation per epoch');
  for (const order of first) assert.deepEqual([...order].sort((a, b) => a - b), [...Array(70).keys()]);
  assert.notDeepEqual(first[0], first[1]);
  assert.notDeepEqual(first[1], first[2]);
  assert.deepEqual(await run('shuffle-b', 5), first);
  assert.notDeepEqual((await run('shuffle-c', 6))[0], first[0]);
  assert.deepEqual(await run('no-shuffle', 5, false), []);
});

test('--validation-data: held-out data from another source instead of a split, labels mapped by name', async () => {
  const train = writeTable(path.join(work, 'train.csv'), blobs(20, [[1, 1], [-1, -1]], 0.3, 1));
  // Only class c1 in the held-out file: it must still be class 1, not 0.
  const held = writeTable(path.join(work, 'held.csv'), blobs(15, [[1, 1], [-1, -1]], 0.3, 2).filter((r) => r.label === 'c1'));
  const lines: string[] = [];
  const summary = await trainModel({ arch: path.join(FIXTURES, 'xor', 'xor-net.json'), data: train, validationData: held, out: path.join(work, 'held-out'), epochs: 3, lr: 0.01, progress: false, log: (l) => lines.push(l) });
  assert.equal(summary.trainCount, 40);
  assert.equal(summary.validationCount, 15);
  assert.ok(lines.includes('data: 40 training (c0 20, c1 20), 15 validation (c0 0, c1 15)'), lines.join('\n'));
  assert.equal(summary.records.length, 3);
  assert.ok(summary.records.every((r) => r['validation/main/loss'] !== undefined));
});
