import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError } from '../../../src/errors.js';
import { LogReport, formatLog } from '../../../src/train/report/log.js';
import type { EpochRecord } from '../../../src/train/report/types.js';

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'graft-log-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const first: EpochRecord = {
  epoch: 1,
  iteration: 63,
  'main/loss': 0.6931471805599453,
  'main/accuracy': 0.5,
  'validation/main/loss': 0.6,
  'validation/main/accuracy': 0.55,
  elapsed_time: 4.25,
};
// Keys in a scrambled order, and no validation: the file must still list them Chainer's way.
const second: EpochRecord = { elapsed_time: 8.5, epoch: 2, 'main/accuracy': 0.75, iteration: 126, 'main/loss': 0.4 };

test("log.json is Chainer's json.dump(log, indent=4): a list of flat records, Chainer's key order", async () => {
  await withTempDir(async (dir) => {
    const log = new LogReport(dir);
    await log.append(first);
    await log.append(second);
    const text = await readFile(path.join(dir, 'log.json'), 'utf8');
    assert.equal(
      text,
      [
        '[',
        '    {',
        '        "main/loss": 0.6931471805599453,',
        '        "main/accuracy": 0.5,',
        '        "validation/main/loss": 0.6,',
        '        "validation/main/accuracy": 0.55,',
        '        "epoch": 1,',
        '        "iteration": 63,',
        '        "elapsed_time": 4.25',
        '    },',
        '    {',
        '        "main/loss": 0.4,',
        '        "main/accuracy": 0.75,',
        '        "epoch": 2,',
        '        "iteration": 126,',
        '        "elapsed_time": 8.5',
        '    }',
        ']',
      ].join('\n'),
    );
    // No temporary files are left beside it.
    assert.deepEqual(await readdir(dir), ['log.json']);
  });
});

test('log.json round-trips, and --resume goes on from it', async () => {
  await withTempDir(async (dir) => {
    const log = new LogReport(dir);
    await log.append(first);
    await log.append(second);
    assert.deepEqual(await LogReport.read(dir), [first, second]);

    const resumed = await LogReport.resume(dir);
    assert.deepEqual(resumed.records, [first, second]);
    const third = { ...second, epoch: 3, iteration: 189, elapsed_time: 12 };
    await resumed.append(third);
    assert.deepEqual(await LogReport.read(dir), [first, second, third]);
  });
});

test('a missing log reads as empty; appends not awaited one by one still land in order', async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await LogReport.read(path.join(dir, 'nothing-here')), []);
    const log = new LogReport(path.join(dir, 'created', 'on', 'demand'));
    const records = Array.from({ length: 20 }, (_, i) => ({ ...second, epoch: i + 1 }));
    await Promise.all(records.map((r) => log.append(r)));
    assert.deepEqual(await LogReport.read(log.dir), records);
  });
});

test('a diverged value is written as null (valid JSON, NaN in pandas) and read back as NaN', async () => {
  await withTempDir(async (dir) => {
    const log = new LogReport(dir);
    await log.append({ ...second, 'main/loss': Number.NaN, 'main/accuracy': Number.POSITIVE_INFINITY });
    const text = await readFile(path.join(dir, 'log.json'), 'utf8');
    assert.match(text, /"main\/loss": null,/);
    assert.doesNotMatch(text, /NaN|Infinity/);
    const [back] = await LogReport.read(dir);
    assert.ok(Number.isNaN(back['main/loss']));
    assert.equal(back.epoch, 2);
  });
});

test("Chainer's own log.json reads, Python's NaN and extra observations included", async () => {
  await withTempDir(async (dir) => {
    await writeFile(
      path.join(dir, 'log.json'),
      '[\n    {\n        "main/loss": NaN,\n        "main/accuracy": 0.5,\n        "lr": 0.01,\n        "epoch": 1,\n' +
        '        "iteration": 10,\n        "elapsed_time": -Infinity\n    }\n]',
    );
    const [record] = await LogReport.read(dir);
    assert.ok(Number.isNaN(record['main/loss']));
    assert.ok(Number.isNaN(record.elapsed_time));
    assert.equal(record.lr, 0.01);
    // Extra observations sit between the main/validation keys and the counters, as in Chainer.
    assert.deepEqual(Object.keys(JSON.parse(formatLog([record]))[0]), ['main/loss', 'main/accuracy', 'lr', 'epoch', 'iteration', 'elapsed_time']);
  });
});

test('a malformed log.json is a FormatError naming the file and the record', async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'log.json');
    await writeFile(file, '{"epoch": 1}');
    await assert.rejects(LogReport.read(dir), (e: unknown) => e instanceof FormatError && e.message.includes('JSON list'));
    await writeFile(file, '[{"epoch": 1, "iteration": 2, "main/loss": 1, "main/accuracy": "high", "elapsed_time": 3}]');
    await assert.rejects(LogReport.read(dir), (e: unknown) => e instanceof FormatError && /record 0, key "main\/accuracy"/.test(e.message));
    await writeFile(file, '[{"epoch": 1}]');
    await assert.rejects(LogReport.read(dir), (e: unknown) => e instanceof FormatError && e.message.includes('missing "iteration"'));
    await writeFile(file, '[{"epoch": 1,');
    await assert.rejects(LogReport.read(dir), (e: unknown) => e instanceof FormatError && e.message.startsWith(file));
  });
});
