/**
 * bench/convert-pytorch: torchvision's VGG16 (random init, 528 MiB) saved by torch.save in the zip
 * and the legacy format; times graft reading each file in a fresh process (wall time, peak RSS)
 * against torch.load of the same file in python, and torch.load + writing the same bytes (what a
 * converter must at least do). Targets (issue): peak RSS < 2× the file size; graft within 3× of
 * torch.load + writing.
 *
 *   npm run build && node dist/bench/convert-pytorch.js [--dir /tmp/graft-bench-pth] [--keep] [--runs 3] [--read | --convert]
 *
 * Needs /usr/bin/python3 with torch (Debian python3-torch); torchvision is used when present,
 * else an nn.Module with the same state-dict keys and shapes. Without torch it says so and exits 0.
 * Both the reader alone (`--read`: readPyTorchFile, every tensor touched) and the whole
 * `graft convert` (`--convert`: convertModel, VGG16 recognised from its keys) are timed by default.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';

// Creates VGG16 and saves it twice. torchvision's vgg16() when importable; otherwise the same
// module tree (features.N / classifier.N, same init) so the state dict is identical in layout.
const MAKE_VGG16 = String.raw`
import sys, torch
torch.manual_seed(0)
try:
    import torchvision
    model, source = torchvision.models.vgg16(), "torchvision.models.vgg16()"
except ImportError:
    import torch.nn as nn
    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 3
            for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(True)]
                    c = v
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)
    model, source = VGG(), "an nn.Module with torchvision VGG16's keys (torchvision not installed)"
sd = model.state_dict()
torch.save(sd, sys.argv[1])
torch.save(sd, sys.argv[2], _use_new_zipfile_serialization=False)
print(source)
`;

// torch.load of the file, then writing every tensor's bytes to a file: the least a converter does.
// No fsync, as graft's writer does none: both write into the page cache. RSS is taken after the
// load, before the write's own copies.
const TIME_TORCH = String.raw`
import json, os, resource, sys, time, torch
torch.set_num_threads(1)
path, out = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
sd = torch.load(path)
t1 = time.perf_counter()
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with open(out, "wb") as f:
    for t in sd.values():
        f.write(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
t2 = time.perf_counter()
os.remove(out)
print(json.dumps({"load": t1 - t0, "write": t2 - t1, "maxRssBytes": loaded, "baseRssBytes": base}))
`;

interface GraftRun {
  seconds: number;
  maxRssBytes: number;
  tensors: number;
  checksum: number;
}

/**
 * The timed work, in a fresh process. Read mode reads every tensor and touches each one's memory
 * (a strided checksum). Convert mode runs convertModel, once architectures cover the file.
 */
async function child(file: string, mode: string, out: string): Promise<void> {
  const started = process.hrtime.bigint();
  let tensors = 0;
  let checksum = 0;
  if (mode === 'convert') {
    const { convertModel } = await import('../src/tfjs/convert.js');
    const summary = await convertModel({ input: file, output: out, force: true });
    tensors = summary.layers;
  } else {
    const { readPyTorchFile } = await import('../src/formats/pytorch/reader.js');
    const model = await readPyTorchFile(file);
    for (const tensor of model.tensors.values()) {
      tensors++;
      const data = tensor.data;
      // One element per 4 KiB page.
      const step = Math.max(1, Math.floor(4096 / data.BYTES_PER_ELEMENT));
      for (let i = 0; i < data.length; i += step) checksum += Number(data[i]);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const run: GraftRun = { seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, tensors, checksum };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2], args[3]);
  const dir = args.includes('--dir') ? args[args.indexOf('--dir') + 1] : path.join(tmpdir(), 'graft-bench-pth');
  const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 3;
  const modes = args.includes('--read') ? ['read'] : args.includes('--convert') ? ['convert'] : ['read', 'convert'];

  const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`skipped: ${PYTHON} cannot import torch (install Debian's python3-torch)`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  const zip = path.join(dir, 'vgg16.pth');
  const legacy = path.join(dir, 'vgg16-legacy.pth');
  if (!existsSync(zip) || !existsSync(legacy)) {
    const t = Date.now();
    const made = spawnSync(PYTHON, ['-c', MAKE_VGG16, zip, legacy], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(made.stderr);
    console.log(`wrote ${zip} and ${legacy} from ${made.stdout.trim()} in ${((Date.now() - t) / 1000).toFixed(1)} s (torch ${probe.stdout.trim()})`);
  }

  const rows: string[][] = [];
  for (const file of [zip, legacy]) {
    const size = statSync(file).size;
    const torch: { load: number; write: number; maxRssBytes: number; baseRssBytes: number }[] = [];
    for (let run = 0; run < runs; run++) {
      const py = spawnSync(PYTHON, ['-c', TIME_TORCH, file, path.join(dir, 'torch-out.bin')], { encoding: 'utf8' });
      if (py.status !== 0) throw new Error(py.stderr);
      torch.push(lastJsonLine(py.stdout));
    }
    const load = median(torch.map((r) => r.load));
    const loadAndWrite = median(torch.map((r) => r.load + r.write));
    const torchRss = Math.max(...torch.map((r) => r.maxRssBytes - r.baseRssBytes));
    console.log(`${path.basename(file)}: torch.load ${torch.map((r) => r.load.toFixed(2)).join(' / ')} s, then write ${torch.map((r) => r.write.toFixed(2)).join(' / ')} s`);
    for (const mode of modes) {
      const graft: GraftRun[] = [];
      for (let run = 0; run < runs; run++) {
        const out = path.join(dir, 'vgg16-tfjs');
        const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file, mode, out], { encoding: 'utf8', maxBuffer: 1 << 24 });
        if (result.status !== 0) {
          console.log(`${path.basename(file)}: graft ${mode} failed: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
          break;
        }
        graft.push(lastJsonLine<GraftRun>(result.stdout));
      }
      if (graft.length === 0) continue;
      const seconds = median(graft.map((r) => r.seconds));
      const rss = Math.max(...graft.map((r) => r.maxRssBytes));
      console.log(`${path.basename(file)}: graft ${mode} ${graft.map((r) => r.seconds.toFixed(2)).join(' / ')} s (${graft[0].tensors} ${mode === 'convert' ? 'layers' : 'tensors'})`);
      rows.push([
        path.basename(file),
        mb(size),
        mode,
        `${seconds.toFixed(2)} s`,
        `${mb(rss)} (${(rss / size).toFixed(2)}×)`,
        `${load.toFixed(2)} s`,
        `${loadAndWrite.toFixed(2)} s`,
        mb(torchRss),
        `${(seconds / load).toFixed(2)}×`,
        `${(seconds / loadAndWrite).toFixed(2)}×`,
      ]);
    }
  }
  const header = ['file', 'size', 'graft', 'graft time', 'graft peak RSS', 'torch.load', 'torch.load+write', 'torch.load RSS growth', 'graft/load', 'graft/(load+write)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`);
  console.log(`\nmedian of ${runs} runs each, warm page cache, no fsync on either side; targets: peak RSS < 2× file, convert/(load+write) < 3×`);
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}

await main();
