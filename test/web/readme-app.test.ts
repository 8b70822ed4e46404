/**
 * The README's "In your own web app" snippet, run as written: the ```js block is taken from
 * README.md itself, bundled by esbuild as a web app would be (resolving `graft/layers` through this
 * package's `exports`, with one copy of tfjs), served with the converted real Caffe LeNet and a
 * sample digit, and run in Debian's chromium. Its probabilities must match `graft predict`'s.
 * The same snippet also runs a model with graft's own layers and BGR, mean/std input
 * (../shared/fixtures/caffe/alexnet_small_group). A README edit that breaks the snippet fails here.
 *
 * Skipped, saying why, when /usr/bin/chromium (GRAFT_CHROMIUM overrides) is absent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FIXTURES, REPO, SHARED_FIXTURES } from '../helpers.js';
import { writeColorPng } from './color-png.js';

const CHROMIUM = process.env.GRAFT_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium, as .ci/run does) to run the browser tests`;

const work = mkdtempSync(path.join(tmpdir(), 'graft-readme-app-'));
let server: Server | undefined;

after(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  rmSync(work, { recursive: true, force: true });
});

function graft(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd: work, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`graft ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    );
  });
}

/** The first ```js block after the README heading "In your own web app". */
function readmeSnippet(): string {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const at = readme.indexOf('### In your own web app');
  assert.ok(at >= 0, 'README has no "In your own web app" section');
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, 'that section has no ```js block');
  return block[1];
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.png': 'image/png', '.bin': 'application/octet-stream' };

/**
 * Two apps with the same bundle: the README's LeNet, and at the same path a model that needs
 * registerGraftLayers() (grouped convolutions, LRN, Caffe pooling) and BGR + mean/std input.
 */
const APPS = ['lenet', 'alexnet_small_group'] as const;

before(async () => {
  if (skip) return;
  const { build } = await import('esbuild');
  for (const name of APPS) mkdirSync(path.join(work, name), { recursive: true });
  // The README's paths: lenet-tfjs/model.json and lenet-tfjs/graft.json next to the page.
  await graft('convert', path.join(FIXTURES, 'lenet', 'lenet_iter_10000.caffemodel'), '--prototxt', path.join(FIXTURES, 'lenet', 'deploy.prototxt'), '-o', path.join(work, 'lenet', 'lenet-tfjs'));
  copyFileSync(path.join(FIXTURES, 'lenet', 'samples', 'img_7_0.png'), path.join(work, 'lenet', 'image.png'));
  const alexnet = path.join(work, 'alexnet_small_group', 'lenet-tfjs');
  await graft('convert', path.join(SHARED_FIXTURES, 'caffe', 'alexnet_small_group.caffemodel'), '-o', alexnet);
  // Untrained weights: at the converted 0..255 scale every image gives one class 100%. An
  // ImageNet-style scale/mean/std keeps a spread of probabilities to compare (as test/web/page).
  const graftJson = JSON.parse(readFileSync(path.join(alexnet, 'graft.json'), 'utf8')) as { input: Record<string, unknown> };
  assert.equal(graftJson.input.channelOrder, 'BGR');
  Object.assign(graftJson.input, { scale: 1 / 255, mean: [0.406, 0.456, 0.485], std: [0.9, 0.9, 0.9] });
  writeFileSync(path.join(alexnet, 'graft.json'), JSON.stringify(graftJson, null, 1));
  await writeColorPng(path.join(work, 'alexnet_small_group', 'image.png'));

  // `image` is the one name the snippet leaves to the app.
  const source = `const image = document.getElementById('image');\nawait image.decode();\n${readmeSnippet()}\nwindow.readmeResult = { probabilities: Array.from(probabilities), backend: tf.getBackend() };\n`;
  writeFileSync(path.join(work, 'main.js'), source);
  // An app that installed graft: node_modules/graft is this package (its exports map is used).
  mkdirSync(path.join(work, 'node_modules'));
  symlinkSync(REPO, path.join(work, 'node_modules', 'graft'), 'dir');
  for (const name of APPS) {
    writeFileSync(path.join(work, name, 'index.html'), '<!doctype html><meta charset="utf-8"><img id="image" src="image.png"><script type="module" src="bundle.js"></script>\n');
    await build({
      entryPoints: [path.join(work, 'main.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outfile: path.join(work, name, 'bundle.js'),
      // The app's own @tensorflow/tfjs is the one graft resolves: one copy, as npm dedupes it.
      nodePaths: [path.join(REPO, 'node_modules')],
      logLevel: 'silent',
    });
  }
  server = createServer(async (request, response) => {
    const file = path.join(work, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    try {
      const body = await fs.readFile(file.startsWith(work) ? file : path.join(work, 'missing'));
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
});

for (const name of APPS) {
  test(`the README web-app snippet, bundled and run in chromium on ${name}, gives graft predict's probabilities`, { skip, timeout: 120_000 }, async (t) => {
    const dir = path.join(work, name);
    const expected = JSON.parse(await graft('predict', path.join(dir, 'lenet-tfjs'), path.join(dir, 'image.png'), '--json', '--top', '1000')) as {
      predictions: { top: { index: number; probability: number }[] }[];
    };
    const top = expected.predictions[0].top;
    const nodeProbabilities = new Array<number>(top.length).fill(0);
    for (const { index, probability } of top) nodeProbabilities[index] = probability;

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const { port } = server!.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/${name}/index.html`);
      await page.waitForFunction(() => 'readmeResult' in window, null, { timeout: 60_000 }).catch((error: Error) => {
        throw new Error(`the snippet did not finish: ${errors.join('; ') || error.message}`);
      });
      assert.deepEqual(errors, [], 'page errors');
      const result = (await page.evaluate(() => (window as unknown as { readmeResult: unknown }).readmeResult)) as { probabilities: number[]; backend: string };
      assert.equal(result.probabilities.length, nodeProbabilities.length);
      const best = result.probabilities.indexOf(Math.max(...result.probabilities));
      if (name === 'lenet') assert.equal(best, 7, 'the digit is a 7');
      assert.equal(best, top[0].index, 'same top-1 as graft predict');
      const worst = Math.max(...result.probabilities.map((p, i) => Math.abs(p - nodeProbabilities[i])));
      assert.ok(worst <= 1e-3, `probabilities differ from graft predict's by ${worst}`);
      t.diagnostic(`tfjs backend ${result.backend}; top-1 ${best} at ${result.probabilities[best].toFixed(4)}; largest probability difference from graft predict ${worst.toExponential(2)}`);
    } finally {
      await browser.close();
    }
  });
}
