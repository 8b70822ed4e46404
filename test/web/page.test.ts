/**
 * `graft serve` end to end in a real browser: Debian's chromium (/usr/bin/chromium, which .ci/run
 * installs with apt; nothing is downloaded) driven by playwright-core, headless, with the flags
 * that keep it off the network. Each page picks its image through the page's own file input, and
 * its numbers are compared with `graft predict --json` on the same image:
 *
 *   - the real Caffe LeNet (fixtures/lenet) on a sample digit;
 *   - ../shared/fixtures/caffe/alexnet_small_group (grouped convolutions, LRN, Caffe pooling) on a
 *     generated colour PNG, with a labels file;
 *   - a LeNet fine-tuned by `graft finetune` into two named classes;
 *
 * on the backend the page picks by itself (webgpu, webgl, wasm: the first that starts) and on
 * ?backend=wasm (the package's own wasm binaries). Malformed model directories must show a
 * readable error. Every page's screenshot goes to out/test/web/ (GRAFT_TEST_OUTPUT overrides).
 *
 * Skipped, saying why, when /usr/bin/chromium (GRAFT_CHROMIUM overrides) is absent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { loadModelDirectory } from '../../src/tfjs/model-dir.js';
import { inputSpecFor } from '../../src/tfjs/predict.js';
import { FIXTURES, REPO, SHARED_FIXTURES } from '../helpers.js';
import { writeColorPng } from './color-png.js';

const CHROMIUM = process.env.GRAFT_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium, as .ci/run does) to run the browser tests`;
const OUTPUT = process.env.GRAFT_TEST_OUTPUT ?? path.join(REPO, 'out', 'test', 'web');

const LENET = path.join(FIXTURES, 'lenet');
const DIGIT = path.join(LENET, 'samples', 'img_7_0.png');
const ALEXNET = path.join(SHARED_FIXTURES, 'caffe', 'alexnet_small_group.caffemodel');
const TOLERANCE = 1e-3;

const work = mkdtempSync(path.join(tmpdir(), 'graft-web-'));
const dirs = {
  lenet: path.join(work, 'lenet-tfjs'),
  alexnet: path.join(work, 'alexnet-tfjs'),
  finetuned: path.join(work, 'finetune', 'best'),
  missingShard: path.join(work, 'missing-shard'),
  brokenJson: path.join(work, 'broken-json'),
  notLayers: path.join(work, 'not-a-layers-model'),
};
const COLOR = path.join(work, 'color.png');
const LABELS = path.join(work, 'labels.txt');
const LABEL_NAMES = ['tench', 'goldfish', 'great white shark', 'tiger shark', 'hammerhead', 'electric ray', 'stingray', 'cock', 'hen', 'ostrich'];

let browser: Browser | undefined;
const servers: RunningServer[] = [];

function graft(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd: work, encoding: 'utf8', maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

async function graftOk(...args: string[]): Promise<string> {
  const run = await graft(...args);
  assert.equal(run.code, 0, `graft ${args.join(' ')}\n${run.stderr}`);
  return run.stdout;
}

interface NodePrediction {
  top: { index: number; label?: string; probability: number }[];
  probabilities: number[];
}

/** `graft predict --json`: its top-k and every probability (its output when the model ends in a softmax). */
async function nodePredict(dir: string, image: string, ...extra: string[]): Promise<NodePrediction> {
  const json = JSON.parse(await graftOk('predict', dir, image, '--json', '--top', '1000', ...extra)) as {
    predictions: { top: NodePrediction['top'] }[];
    output: { values: number[] };
  };
  const top = json.predictions[0].top;
  // The ranked list holds every class (--top 1000 ≥ classes): probabilities by index.
  const probabilities = new Array<number>(json.output.values.length).fill(NaN);
  for (const t of top) probabilities[t.index] = t.probability;
  return { top, probabilities };
}

before(async () => {
  if (skip) return;
  mkdirSync(OUTPUT, { recursive: true });
  // In this process, models are only loaded to read their input spec.
  await useBackend('cpu');
  await Promise.all([
    graftOk('convert', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(LENET, 'deploy.prototxt'), '-o', dirs.lenet),
    graftOk('convert', ALEXNET, '-o', dirs.alexnet),
    writeColorPng(COLOR),
  ]);
  // The converted AlexNet asks for BGR pixels 0..255 (graft.json from the caffemodel). Its weights
  // are untrained, and at that scale every image gives one class 100%: an ImageNet-style
  // scale/mean/std (std widened) keeps the logits small, so there is a spread of probabilities
  // to compare, and the page must apply all three as graft.json says.
  const graftJsonFile = path.join(dirs.alexnet, 'graft.json');
  const graftJson = JSON.parse(readFileSync(graftJsonFile, 'utf8')) as { input: Record<string, unknown> };
  assert.equal(graftJson.input.channelOrder, 'BGR');
  Object.assign(graftJson.input, { scale: 1 / 255, mean: [0.406, 0.456, 0.485], std: [0.9, 0.9, 0.9] });
  writeFileSync(graftJsonFile, JSON.stringify(graftJson, null, 1));
  writeFileSync(LABELS, `${LABEL_NAMES.join('\n')}\n`);

  // Fine-tune LeNet for one epoch into two named classes.
  const data = path.join(work, 'digits');
  mkdirSync(path.join(data, 'seven'), { recursive: true });
  mkdirSync(path.join(data, 'other'), { recursive: true });
  for (let i = 0; i < 6; i++) copyFileSync(DIGIT, path.join(data, 'seven', `seven_${i}.png`));
  for (const file of ['img_0_3.png', 'img_0_10.png', 'img_1_2.png', 'img_1_5.png', 'img_2_1.png', 'img_4_4.png', 'img_4_6.png']) {
    copyFileSync(path.join(LENET, 'samples', file), path.join(data, 'other', file));
  }
  await graftOk('finetune', '--from', dirs.lenet, '--data', data, '--out', path.join(work, 'finetune'), '--epochs', '1', '--batch-size', '4');

  // Malformed directories: a missing weight shard, a model.json that is not JSON, one that is not a layers model.
  cpSync(dirs.lenet, dirs.missingShard, { recursive: true });
  unlinkSync(path.join(dirs.missingShard, 'group1-shard1of1.bin'));
  cpSync(dirs.lenet, dirs.brokenJson, { recursive: true });
  writeFileSync(path.join(dirs.brokenJson, 'model.json'), readFileSync(path.join(dirs.lenet, 'model.json'), 'utf8').slice(0, 200));
  cpSync(dirs.lenet, dirs.notLayers, { recursive: true });
  writeFileSync(path.join(dirs.notLayers, 'model.json'), JSON.stringify({ format: 'something', weightsManifest: [] }));

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
      // A synthetic camera, allowed without asking: the page's camera path runs too.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
    ],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

async function serve(dir: string, labels?: string): Promise<RunningServer> {
  const server = await startServer({ dir, port: 0, labels, top: 5 });
  servers.push(server);
  return server;
}

interface PageView {
  state: string;
  backend?: string;
  spec?: unknown;
  labels?: string[];
  result?: { source: string; top: NodePrediction['top']; probabilities: number[]; inferenceMs: number };
  error?: { title: string; message: string; details: string[] };
}

/** Opens the page, waits until it is ready (or shows an error), picks `image` through its file input. */
async function openPage(url: string, image?: string): Promise<{ page: Page; view: PageView; foreign: string[]; errors: string[] }> {
  assert.ok(browser);
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const origin = new URL(url).origin;
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => {
    const u = request.url();
    if (!u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:')) foreign.push(u);
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 30_000 });
  if (image && (await page.evaluate(() => document.body.dataset.state)) === 'ready') {
    await page.setInputFiles('#file', image);
    await page.waitForFunction(() => document.body.dataset.state === 'done' || (window as unknown as { graft: { error?: unknown } }).graft.error !== undefined, null, { timeout: 30_000 });
  }
  const view = (await page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { graft: unknown }).graft)))) as PageView;
  return { page, view, foreign, errors };
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(OUTPUT, `${name}.png`), fullPage: true });
}

function maxDifference(a: number[], b: number[]): number {
  assert.equal(a.length, b.length, 'number of classes');
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

const CASES = [
  { name: 'lenet', dir: () => dirs.lenet, image: DIGIT, labels: undefined as string | undefined, expectTop: '7' },
  { name: 'alexnet_small_group', dir: () => dirs.alexnet, image: COLOR, labels: LABELS, expectTop: undefined },
] as const;

for (const c of CASES) {
  for (const backend of [undefined, 'wasm'] as const) {
    const label = `${c.name} ${backend ? 'on ?backend=wasm' : 'on the backend the page picks'}`;
    test(`graft serve ${label}: top-1 and probabilities equal graft predict's (±${TOLERANCE})`, { skip, timeout: 60_000 }, async (t) => {
      const server = await serve(c.dir(), c.labels);
      const [expected, { page, view, foreign, errors }] = await Promise.all([
        nodePredict(c.dir(), c.image, ...(c.labels ? ['--labels', c.labels] : [])),
        openPage(`${server.url}${backend ? `?backend=${backend}` : ''}`, c.image),
      ]);
      await screenshot(page, `${c.name}${backend ? `-${backend}` : ''}`);
      const firstRow = (await page.locator('#top tbody tr').first().textContent()) ?? '';
      const timing = (await page.locator('#timing').textContent()) ?? '';
      const badge = (await page.locator('#backend').textContent()) ?? '';
      await page.context().close();
      assert.deepEqual(errors, [], 'no uncaught page errors');
      assert.equal(view.error, undefined, view.error?.message);
      assert.equal(view.state, 'done');
      assert.deepEqual(foreign, [], 'the page fetched nothing from outside localhost');
      assert.ok(['webgpu', 'webgl', 'wasm'].includes(view.backend ?? ''), `backend ${view.backend}`);
      if (backend) assert.equal(view.backend, backend);

      // The same input spec as graft predict derives from graft.json and the model.
      const loaded = await loadModelDirectory(c.dir());
      try {
        assert.deepEqual(view.spec, inputSpecFor(loaded.model, loaded.graft));
      } finally {
        loaded.model.dispose();
      }

      const result = view.result;
      assert.ok(result);
      assert.equal(result.source, path.basename(c.image));
      assert.equal(result.top[0].index, expected.top[0].index, `top-1: page ${result.top[0].index}, graft predict ${expected.top[0].index}`);
      assert.equal(result.top[0].label, expected.top[0].label);
      if (c.expectTop) assert.equal(String(result.top[0].index), c.expectTop);
      const diff = maxDifference(result.probabilities, expected.probabilities);
      t.diagnostic(`${label}: backend ${view.backend}, top-1 ${result.top[0].label ?? result.top[0].index} (${(result.top[0].probability * 100).toFixed(2)}%), max |Δp| ${diff.toExponential(2)}, inference ${result.inferenceMs.toFixed(1)} ms`);
      assert.ok(diff <= TOLERANCE, `max |Δp| ${diff} > ${TOLERANCE}`);

      // What the user sees: the top class's name and probability, the backend.
      assert.ok(firstRow.includes(result.top[0].label ?? `class ${result.top[0].index}`), firstRow);
      assert.match(timing, new RegExp(`^${view.backend}: inference [0-9.]+ ms`));
      assert.match(badge, new RegExp(`^${view.backend}`));
    });
  }
}

test('graft serve of a model saved by graft finetune: shows its class names, and agrees with graft predict', { skip, timeout: 60_000 }, async (t) => {
  const server = await serve(dirs.finetuned);
  const [expected, { page, view, errors }] = await Promise.all([nodePredict(dirs.finetuned, DIGIT), openPage(server.url, DIGIT)]);
  const rows = await page.locator('#top tbody tr').allTextContents();
  const info = (await page.locator('#model-info').textContent()) ?? '';
  await screenshot(page, 'finetuned');
  await page.context().close();
  assert.deepEqual(errors, []);
  assert.equal(view.error, undefined, view.error?.message);
  assert.deepEqual(view.labels, ['other', 'seven']);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((r) => /other|seven/.exec(r)?.[0]).sort(), ['other', 'seven']);
  assert.ok(view.result);
  assert.equal(view.result.top[0].label, expected.top[0].label);
  const diff = maxDifference(view.result.probabilities, expected.probabilities);
  t.diagnostic(`finetuned: backend ${view.backend}, top-1 ${view.result.top[0].label} (${(view.result.top[0].probability * 100).toFixed(2)}%), max |Δp| ${diff.toExponential(2)}`);
  assert.ok(diff <= TOLERANCE, `max |Δp| ${diff} > ${TOLERANCE}`);
  assert.match(info, /fine-tuned/);
});

test('graft serve: the camera (Chromium\'s synthetic one) gives a frame to classify', { skip, timeout: 60_000 }, async () => {
  const server = await serve(dirs.alexnet, LABELS);
  const { page, view } = await openPage(server.url);
  try {
    assert.equal(view.state, 'ready');
    await page.click('#camera');
    await page.waitForFunction(() => (document.getElementById('video') as HTMLVideoElement).videoWidth > 0, null, { timeout: 10_000 });
    await page.click('#capture');
    await page.waitForFunction(() => document.body.dataset.state === 'done', null, { timeout: 10_000 });
    const result = await page.evaluate(() => (window as unknown as { graft: { result: { source: string; probabilities: number[] } } }).graft.result);
    assert.equal(result.source, 'camera frame');
    assert.ok(Math.abs(result.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    assert.ok(LABEL_NAMES.includes(((await page.locator('#top tbody tr td.class').first().textContent()) ?? '').replace(/ \(\d+\)$/, '')));
    await screenshot(page, 'camera');
  } finally {
    await page.context().close();
  }
});

const MALFORMED = [
  { name: 'missing-shard', dir: () => dirs.missingShard, message: /model\.json lists the weight file group1-shard1of1\.bin, but the model directory has no such file/ },
  { name: 'broken-model-json', dir: () => dirs.brokenJson, message: /model\.json is not valid JSON/ },
  { name: 'not-a-layers-model', dir: () => dirs.notLayers, message: /model\.json has no modelTopology: it is not a tfjs layers model/ },
] as const;

for (const m of MALFORMED) {
  test(`graft serve of a malformed directory (${m.name}) shows a readable error`, { skip, timeout: 60_000 }, async () => {
    const server = await serve(m.dir());
    const { page, view, errors } = await openPage(server.url);
    const visible = await page.locator('#error').isVisible();
    const text = (await page.locator('#error').textContent()) ?? '';
    await screenshot(page, m.name);
    await page.context().close();
    assert.deepEqual(errors, []);
    assert.equal(view.state, 'error');
    assert.ok(visible, 'the error section is shown');
    assert.match(text, /The model could not be loaded/);
    assert.match(text, m.message);
  });
}
