/**
 * PyTorch files as users hold them, through the CLI: the same weights saved by torch.save in the
 * zip and the legacy format (fixtures/make/pytorch_pth.py, torch 1.13) must give byte-identical
 * shards; a training checkpoint (DataParallel `module.` keys, optimizer state, argparse args) and
 * a half-precision file convert too. The structure is fixtures/pytorch/reader/small_net.spec.json,
 * which mirrors SmallNet in that script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FIXTURES, REPO } from '../helpers.js';
import { float16ToFloat32 } from '../../src/tensor/float16.js';

const DIR = path.join(FIXTURES, 'pytorch', 'reader');
const SPEC = path.join(DIR, 'small_net.spec.json');
const work = mkdtempSync(path.join(tmpdir(), 'graft-pth-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

let conversions = 0;
function convert(file: string, ...extra: string[]): { dir: string; stdout: string } {
  const dir = path.join(work, `${path.basename(file, '.pth')}-${++conversions}`);
  const result = spawnSync(process.execPath, [path.join(REPO, 'bin', 'graft.js'), 'convert', path.join(DIR, file), '--arch', SPEC, '-o', dir, ...extra], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return { dir, stdout: result.stdout };
}

const shard = (dir: string) => readFileSync(path.join(dir, 'group1-shard1of1.bin'));

test('zip and legacy files of the same weights give byte-identical shards', () => {
  const zip = convert('small_zip.pth');
  const legacy = convert('small_legacy.pth');
  assert.equal(shard(zip.dir).length, 4 * 2058); // 8·27 + 8 + 4·8 + 16·8·9 + 64·10 + 10 parameters
  assert.ok(shard(zip.dir).equals(shard(legacy.dir)));
  const checkpoint = convert('checkpoint.pth');
  const checkpointLegacy = convert('checkpoint_legacy.pth');
  assert.ok(shard(checkpoint.dir).equals(shard(checkpointLegacy.dir)));
  assert.match(checkpoint.stdout, /state_dict/);
});

test('a DataParallel checkpoint binds its module.-prefixed weights (conv1.weight from torch)', () => {
  const { dir } = convert('checkpoint.pth');
  const expected = JSON.parse(readFileSync(path.join(DIR, 'checkpoint.json'), 'utf8')).tensors['conv1.weight'];
  const values = new Float32Array(new Uint8Array(shard(dir)).buffer);
  // conv1/kernel is first: [3, 3, 3, 8] HWIO; torch's first values are W[0, 0, 0, 0..3] (o=0, i=0, h=0, w=0..3 of a 3-wide row).
  const hwio = (o: number, i: number, h: number, w: number) => ((h * 3 + w) * 3 + i) * 8 + o;
  for (let w = 0; w < 3; w++) assert.ok(Math.abs(values[hwio(0, 0, 0, w)] - expected.first[w]) < 1e-7);
  assert.ok(Math.abs(values[hwio(0, 0, 1, 0)] - expected.first[3]) < 1e-7);
});

test('half-precision weights become float32 shards, or stay float16 with --dtype float16', () => {
  const wide = convert('small_fp16.pth');
  const half = convert('small_fp16.pth', '--dtype', 'float16');
  const widened = new Float32Array(new Uint8Array(shard(wide.dir)).buffer);
  const halves = float16ToFloat32(new Uint16Array(new Uint8Array(shard(half.dir)).buffer));
  assert.equal(shard(half.dir).length * 2, shard(wide.dir).length);
  assert.deepEqual(halves, widened);
  const manifest = JSON.parse(readFileSync(path.join(half.dir, 'model.json'), 'utf8')).weightsManifest[0].weights;
  assert.deepEqual(manifest[0].quantization, { dtype: 'float16' });
  const reference = new Float32Array(new Uint8Array(shard(convert('small_zip.pth').dir)).buffer);
  let maxError = 0;
  reference.forEach((v, i) => (maxError = Math.max(maxError, Math.abs(v - widened[i]) / Math.max(1, Math.abs(v)))));
  assert.ok(maxError < 1e-3, `float16 file differs from float32 by ${maxError}`);
});
