/**
 * Bad .npz input through the CLI: one line on stderr starting with `graft: ` that names the file
 * (and the entry), a non-zero exit that is not an internal error, nothing on stdout, no output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, SHARED_FIXTURES } from '../../helpers.js';
import { bytesOf, float32Npy, npyBytes, zipArchive } from './npz-writer.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-chainer-errors-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function graft(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd: work, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

const fixture = readFileSync(path.join(SHARED_FIXTURES, 'chainer', 'tiny_resnet_bn.npz'));
const conv = (data: Uint8Array) => zipArchive([{ name: 'conv1/W.npy', data, deflate: true }, { name: 'conv1/b.npy', data: float32Npy([2], new Float32Array(2)) }]);

/** `listed`: inspect still lists the other arrays and names the unreadable one in a warning. */
const CASES: { name: string; bytes: Uint8Array; stderr: RegExp; listed?: RegExp }[] = [
  { name: 'truncated.npz', bytes: fixture.subarray(0, 30_000), stderr: /truncated\.npz: not a zip archive \(no end-of-central-directory record\)/ },
  {
    name: 'short-data.npz',
    bytes: conv(npyBytes('<f4', [4, 3, 3, 3], bytesOf(new Float32Array(50)))),
    stderr: /short-data\.npz:conv1\/W\.npy at byte \d+: shape \(4, 3, 3, 3\) of <f4 needs 432 bytes but 200 follow the header/,
  },
  {
    name: 'complex.npz',
    bytes: conv(npyBytes('<c16', [2], new Uint8Array(32))),
    stderr: /complex\.npz:conv1\/W\.npy: unsupported dtype <c16/,
    listed: /warning: arrays graft cannot read, not listed: conv1\/W \(<c16\)/,
  },
  {
    name: 'pickled.npz',
    bytes: conv(npyBytes('|O', [], new Uint8Array(Buffer.from('\x80\x02N.', 'latin1')))),
    stderr: /pickled\.npz:conv1\/W\.npy: a pickled Python object \(dtype \|O\), which graft never unpickles/,
    listed: /warning: arrays graft cannot read, not listed: conv1\/W \(\|O\)/,
  },
];

function assertOneLineFailure(run: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.ok(run.code === 1 || run.code === 2, `exit ${run.code}: ${run.stderr}`);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^graft: /);
  assert.match(run.stderr, pattern);
}

for (const { name, bytes, stderr, listed } of CASES) {
  test(`${name}: convert fails with one clean line${listed ? '; inspect lists the rest' : ', and so does inspect'}`, async () => {
    const file = path.join(work, name);
    writeFileSync(file, bytes);
    const out = path.join(work, `${name}-out`);
    assertOneLineFailure(await graft('convert', file, '-o', out), stderr);
    assert.ok(!existsSync(out));
    const inspected = await graft('inspect', file);
    if (!listed) {
      assertOneLineFailure(inspected, stderr);
      return;
    }
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.match(inspected.stdout, /^conv1\/b\s+float32\s+\[2\]\s+8$/m);
    assert.match(inspected.stdout, listed);
  });
}
