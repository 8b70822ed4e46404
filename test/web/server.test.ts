/**
 * The `graft serve` HTTP server without a browser: what it serves, what it refuses, what it says
 * about a malformed model directory, and the command's start and Ctrl-C.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { diagnoseModelDirectory, startServer } from '../../src/serve/server.js';
import { inputSpecFromShape, parseLabels, toProbabilities, topK } from '../../src/serve/shared.js';
import { REPO } from '../helpers.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-serve-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A model directory as far as the server cares: model.json naming one 8-float shard. */
function modelDir(name: string, shardBytes = 32): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  const manifest = [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'dense/kernel', shape: [2, 4], dtype: 'float32' }] }];
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: manifest }));
  if (shardBytes > 0) writeFileSync(path.join(dir, 'group1-shard1of1.bin'), Buffer.alloc(shardBytes));
  writeFileSync(path.join(dir, 'graft.json'), '{}');
  return dir;
}

function get(url: string, options: { host?: string; method?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = http.request(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: options.method ?? 'GET', headers: options.host ? { host: options.host } : {} },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

test('serves the page, its wasm binaries, the model directory and /api/config; refuses the rest', async () => {
  const dir = modelDir('ok');
  const labels = path.join(work, 'labels.txt');
  writeFileSync(labels, 'cat\r\n\n dog \n');
  const server = await startServer({ dir, port: 0, labels, top: 3 });
  try {
    const page = await get(server.url);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.match(page.body.toString(), /<script type="module" src="app.js">/);
    assert.equal((await get(`${server.url}app.js`)).status, 200);
    const wasm = await get(`${server.url}tfjs-backend-wasm-simd.wasm`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.deepEqual([...wasm.body.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);

    const shard = await get(`${server.url}model/group1-shard1of1.bin`);
    assert.equal(shard.status, 200);
    assert.equal(shard.body.length, 32);
    assert.equal((await get(`${server.url}model/model.json`)).status, 200);
    const head = await get(`${server.url}model/graft.json`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);

    const config = JSON.parse((await get(`${server.url}api/config`)).body.toString());
    assert.deepEqual(config, { name: 'ok', dir, labels: ['cat', 'dog'], labelsFile: labels, top: 3, problems: [] });

    assert.equal((await get(`${server.url}model/missing.bin`)).status, 404);
    assert.equal((await get(`${server.url}model/..%2f..%2fetc%2fpasswd`)).status, 404);
    assert.equal((await get(`${server.url}model/%2e%2e/ok/model.json`)).status, 404);
    assert.equal((await get(`${server.url}model/.hidden`)).status, 404);
    assert.equal((await get(`${server.url}../package.json`)).status, 404);
    assert.equal((await get(server.url, { host: 'attacker.example:80' })).status, 403, 'DNS rebinding: only localhost names');
    assert.equal((await get(server.url, { host: `localhost:${server.port}` })).status, 200);
    assert.equal((await get(server.url, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

test('a malformed model directory starts the server, with its problems in words', async () => {
  assert.deepEqual(await diagnoseModelDirectory(modelDir('fine')), []);
  assert.deepEqual(await diagnoseModelDirectory(modelDir('no-shard', 0)), [
    'model.json lists the weight file group1-shard1of1.bin, which is missing from the model directory',
  ]);
  assert.deepEqual(await diagnoseModelDirectory(modelDir('short-shard', 20)), [
    "the weight files group1-shard1of1.bin hold 20 bytes where model.json's weights need 32",
  ]);
  const broken = modelDir('broken');
  writeFileSync(path.join(broken, 'model.json'), '{"modelTopology": ');
  assert.match((await diagnoseModelDirectory(broken))[0], /^model\.json is not valid JSON/);
  const empty = path.join(work, 'empty');
  mkdirSync(empty);
  const server = await startServer({ dir: empty, port: 0 });
  try {
    assert.match(server.config.problems[0], /has no model\.json/);
  } finally {
    await server.close();
  }
  await assert.rejects(startServer({ dir: path.join(work, 'nope'), port: 0 }), /no such model directory/);
  await assert.rejects(startServer({ dir: empty, port: 0, labels: path.join(work, 'nope.txt') }), /cannot read labels/);
});

test('a port in use is a usage error that says what to do', async () => {
  const first = await startServer({ dir: modelDir('a'), port: 0 });
  try {
    await assert.rejects(startServer({ dir: modelDir('b'), port: first.port }), /port \d+ is in use: pick another with --port N/);
  } finally {
    await first.close();
  }
});

test('graft serve DIR --port 0 prints its URL, serves, and stops cleanly on SIGINT', async () => {
  const dir = modelDir('cli');
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'graft.js'), 'serve', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const match = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`graft serve exited (${code}): ${stderr}`)));
  });
  assert.match(stdout, /Serving .*cli at http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl-C to stop\)/);
  assert.equal((await get(`${url}api/config`)).status, 200);
  assert.equal((await get(`${url}model/absent.bin`)).status, 404);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /GET \/model\/absent\.bin 404/);
});

test('graft serve of a missing directory is a usage error', async () => {
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'graft.js'), 'serve', path.join(work, 'absent')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(stderr, /absent: no such model directory/);
});

test('the page helpers read a model as graft predict does', () => {
  assert.deepEqual(inputSpecFromShape([null, 28, 28, 1], { scale: 0.00390625 }), { height: 28, width: 28, channelOrder: 'GRAY', scale: 0.00390625, mean: [], std: [] });
  assert.deepEqual(inputSpecFromShape([null, 96, 64, 3], { channelOrder: 'BGR', mean: [104, 117, 123] }), {
    height: 96,
    width: 64,
    channelOrder: 'BGR',
    scale: 1,
    mean: [104, 117, 123],
    std: [],
  });
  assert.deepEqual(inputSpecFromShape([null, 8, 8, 3], undefined).channelOrder, 'RGB');
  assert.throws(() => inputSpecFromShape([null, 8, 8, 3], { channelOrder: 'GRAY' }), /channel order GRAY does not fit a model with 3 input channels/);
  assert.throws(() => inputSpecFromShape([null, 10], undefined), /not 4-D/);
  const p = toProbabilities(Float32Array.from([1, 2, 3]), false);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.deepEqual(topK(p, 2, ['a', 'b', 'c']).map((r) => r.label), ['c', 'b']);
  assert.deepEqual(parseLabels('a\r\n\n b \n'), ['a', 'b']);
});
