/**
 * bench/convert-chainer: a VGG16Layers-size .npz (Chainer's key set, random float32 weights,
 * 553 MB of arrays) written by numpy twice — np.savez (stored, as ResNetLayers' own converter
 * writes) and np.savez_compressed (deflated, save_npz's default) — then, each in a fresh process:
 *   graft convert   wall time and peak RSS of the conversion (read, recognise, build, write)
 *   graft read      readChainerNpz alone (the .npz part of the conversion)
 *   numpy np.load   reading every array (`{k: z[k] for k in z.files}`), for scale
 *
 *   npm run build && node dist/bench/convert-chainer.js [--dir /tmp/graft-bench-chainer] [--keep] [--runs 3]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = process.env.PYTHON ?? 'python3';

// VGG16Layers' parameters in save_npz's order (Link.namedparams: sorted link names).
const WRITE_NPZ = `
import numpy as np, sys
stored, deflated = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
shapes = {}
c = 3
for s, (width, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
    for i in range(n):
        shapes[f'conv{s + 1}_{i + 1}/W'] = (width, c, 3, 3)
        shapes[f'conv{s + 1}_{i + 1}/b'] = (width,)
        c = width
for name, out, inp in [('fc6', 4096, 512 * 7 * 7), ('fc7', 4096, 4096), ('fc8', 1000, 4096)]:
    shapes[f'{name}/W'] = (out, inp)
    shapes[f'{name}/b'] = (out,)
arrays = {k: (rng.standard_normal(s, dtype=np.float32) * 0.01) for k, s in sorted(shapes.items())}
np.savez(stored, **arrays)
np.savez_compressed(deflated, **arrays)
`;

const NUMPY_LOAD = `
import json, resource, sys, time
import numpy as np
t = time.perf_counter()
with np.load(sys.argv[1]) as z:
    arrays = {k: z[k] for k in z.files}
seconds = time.perf_counter() - t
print(json.dumps({'seconds': seconds, 'maxRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  'parameters': int(sum(a.size for a in arrays.values()))}))
`;

interface Measure {
  seconds: number;
  maxRssBytes: number;
  parameters: number;
}

async function child(mode: string, file: string, out: string): Promise<void> {
  const start = process.hrtime.bigint();
  let parameters: number;
  if (mode === 'convert') {
    const { convertModel } = await import('../src/tfjs/convert.js');
    parameters = (await convertModel({ input: file, output: out, force: true })).parameters;
  } else {
    const { readChainerNpz } = await import('../src/formats/chainer/reader.js');
    const source = await readChainerNpz(file);
    parameters = [...source.tensors.values()].reduce((sum, t) => sum + t.data.length, 0);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, parameters })}\n`);
}

function run(command: string, args: string[]): Measure {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Measure;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2], args[3]);
  const dir = args.includes('--dir') ? args[args.indexOf('--dir') + 1] : path.join(tmpdir(), 'graft-bench-chainer');
  const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 3;
  mkdirSync(dir, { recursive: true });
  const stored = path.join(dir, 'VGG16Layers_stored.npz');
  const deflated = path.join(dir, 'VGG16Layers_compressed.npz');
  if (!existsSync(stored) || !existsSync(deflated)) {
    const t = Date.now();
    const made = spawnSync(PYTHON, ['-c', WRITE_NPZ, stored, deflated], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`${PYTHON} with numpy is needed to write the archives: ${made.stderr}`);
    console.log(`wrote both archives with numpy in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const numpyVersion = spawnSync(PYTHON, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' }).stdout.trim();
  console.log(`node ${process.version}, numpy ${numpyVersion}, ${runs} runs each, medians (fresh process per run)`);
  const self = fileURLToPath(import.meta.url);
  for (const file of [stored, deflated]) {
    const size = statSync(file).size;
    console.log(`\n${path.basename(file)}: ${(size / 1e6).toFixed(1)} MB`);
    const out = path.join(dir, 'vgg16-tfjs');
    const rows: [string, () => Measure][] = [
      ['graft convert', () => run(process.execPath, [self, '--child', 'convert', file, out])],
      ['graft read   ', () => run(process.execPath, [self, '--child', 'read', file, out])],
      ['numpy np.load', () => run(PYTHON, ['-c', NUMPY_LOAD, file])],
    ];
    for (const [label, measure] of rows) {
      const results = Array.from({ length: runs }, measure);
      const seconds = median(results.map((r) => r.seconds));
      const rss = median(results.map((r) => r.maxRssBytes));
      console.log(
        `  ${label}  ${seconds.toFixed(2)} s  peak RSS ${(rss / 1e6).toFixed(0)} MB (${(rss / size).toFixed(2)}× file)  ${results[0].parameters.toLocaleString('en-US')} values`,
      );
    }
  }
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}

await main();
