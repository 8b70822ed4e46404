/**
 * Ctrl-C during `graft finetune`: SIGINT once the first epoch's PrintReport row is out. The run
 * stops after the current batch and exits 130 with a one-line notice, no stack trace; last/ holds a
 * complete model of the last completed epoch (loadable, its graft.json, log.json and state.json
 * agreeing), and --resume goes on from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { evaluateModel } from '../../src/train/evaluate.js';
import { FIXTURES, SHARED_FIXTURES } from '../helpers.js';
import { GRAFT_BIN, graft } from '../train/fixtures.js';

const XOR = path.join(SHARED_FIXTURES, 'real', 'xor');
const work = mkdtempSync(path.join(tmpdir(), 'graft-interrupt-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('SIGINT after the first epoch: clean exit 130, last/ holds the last completed epoch, --resume continues', async (t) => {
  const start = graft(work, 'train', '--arch', path.join(FIXTURES, 'xor', 'xor-net.json'), '--data', path.join(XOR, 'xor_complex_small.txt'), '--epochs', '1', '--out', path.join(work, 'start'));
  assert.equal(start.code, 0, start.stderr);

  const run = path.join(work, 'run');
  // The large set at batch 100: ~700 steps an epoch, long enough to be interrupted inside one.
  const child = spawn(process.execPath, [GRAFT_BIN, 'finetune', '--from', path.join(work, 'start', 'last'), '--data', path.join(XOR, 'xor_complex_large.txt'), '--optimizer', 'sgd', '--lr', '0.05', '--batch-size', '100', '--epochs', '200', '--threads', '1', '--out', run], { cwd: work });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!signalled && /^1\s+\d+\s+/m.test(stdout)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  t.diagnostic(`stdout tail: ${stdout.trim().split('\n').slice(-2).join(' | ')}; stderr: ${stderr.trim()}`);
  assert.ok(signalled, `no epoch row seen:\n${stdout}\n${stderr}`);
  assert.equal(signal, null);
  assert.equal(code, 130, `${stdout}\n${stderr}`);
  assert.match(stderr, /graft: stopping after this batch/);
  assert.doesNotMatch(stderr, /^\s+at /m);
  assert.doesNotMatch(stderr, /internal error|Error:/);
  const stopped = /stopped (during|after) epoch (\d+); (?:epoch (\d+) is|it is) saved in /.exec(stdout);
  assert.ok(stopped, stdout);
  const completed = stopped[1] === 'during' ? Number(stopped[3]) : Number(stopped[2]);
  assert.ok(completed >= 1 && completed < 200);

  // last/ is a complete model of that epoch, and the run's records agree on it.
  const log = JSON.parse(readFileSync(path.join(run, 'log.json'), 'utf8')) as { epoch: number }[];
  assert.equal(log.at(-1)!.epoch, completed);
  assert.equal(log.length, completed);
  const lastGraft = JSON.parse(readFileSync(path.join(run, 'last', 'graft.json'), 'utf8'));
  assert.equal(lastGraft.training.epoch, completed);
  assert.equal(JSON.parse(readFileSync(path.join(run, 'state.json'), 'utf8')).epoch, completed);
  const evaluation = await evaluateModel({ model: path.join(run, 'last'), data: path.join(XOR, 'xor_complex_small.txt') });
  assert.equal(evaluation.count, 100);
  assert.ok(evaluation.accuracy > 0.6, `accuracy ${evaluation.accuracy}`);

  // --resume picks up after the saved epoch.
  const resumed = graft(work, 'finetune', '--resume', '--out', run, '--data', path.join(XOR, 'xor_complex_small.txt'), '--epochs', String(completed + 1));
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`^${completed + 1}\\s+\\d+\\s`, 'm'));
  assert.equal((JSON.parse(readFileSync(path.join(run, 'log.json'), 'utf8')) as unknown[]).length, completed + 1);
});
