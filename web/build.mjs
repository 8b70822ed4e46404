// Builds the `graft serve` page into dist/web: web/src/main.ts bundled with @tensorflow/tfjs, the
// webgpu and wasm backends, graft's layers and src/input/preprocess.ts (one app.js), the HTML and
// CSS, and tfjs-backend-wasm's .wasm binaries, so the page needs nothing from outside localhost.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
const started = Date.now();

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await esbuild.build({
  entryPoints: [path.join(root, 'web', 'src', 'main.ts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
for (const file of ['index.html', 'style.css']) await copyFile(path.join(root, 'web', file), path.join(out, file));
const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
// The threaded build is left out: the page runs single-threaded SIMD (see web/src/main.ts).
const binaries = (await readdir(wasmDir)).filter((f) => f.endsWith('.wasm') && !f.includes('threaded'));
if (binaries.length === 0) throw new Error(`no .wasm files in ${wasmDir}`);
for (const file of binaries) await copyFile(path.join(wasmDir, file), path.join(out, file));
console.log(`web: built ${path.relative(root, out)}/ (app.js, ${binaries.length} wasm binaries) in ${Date.now() - started} ms`);
