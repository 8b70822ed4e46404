/**
 * bench/convert-caffe: writes a VGG16-size caffemodel (VGG_ILSVRC_16_layers structure, random
 * weights, 553 MB) and times `graft convert` on it in a fresh process: wall time, peak RSS, MB/s.
 * Targets (issue 2): peak RSS < 2× the file size, ≥ 200 MB/s on the 2-core CI machine.
 *
 *   npm run build && node dist/bench/convert-caffe.js [--dir /tmp/graft-bench] [--keep] [--runs 3]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- a minimal protobuf writer, enough for NetParameter / LayerParameter / BlobProto ----------

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const lengthDelimited = (field: number, body: number[] | Uint8Array) => [...tag(field, 2), ...varint(body.length), ...body];
const text = (field: number, s: string) => lengthDelimited(field, [...Buffer.from(s, 'utf8')]);
const uint = (field: number, v: number) => [...tag(field, 0), ...varint(v)];
const packedInt64 = (field: number, values: number[]) => lengthDelimited(field, values.flatMap(varint));

interface LayerSpec {
  name: string;
  type: string;
  bottom: string;
  top: string;
  params?: number[];
  blobs?: number[][];
}

function vgg16(): LayerSpec[] {
  const layers: LayerSpec[] = [];
  let channels = 3;
  let bottom = 'data';
  const blocks = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];
  blocks.forEach((block, b) => {
    block.forEach((width, i) => {
      const name = `conv${b + 1}_${i + 1}`;
      // convolution_param (106): num_output 1, pad 3, kernel_size 4.
      layers.push({ name, type: 'Convolution', bottom, top: name, params: lengthDelimited(106, [...uint(1, width), ...uint(3, 1), ...uint(4, 3)]), blobs: [[width, channels, 3, 3], [width]] });
      layers.push({ name: `relu${b + 1}_${i + 1}`, type: 'ReLU', bottom: name, top: name });
      channels = width;
      bottom = name;
    });
    const pool = `pool${b + 1}`;
    // pooling_param (121): pool MAX (0) 1, kernel_size 2, stride 3.
    layers.push({ name: pool, type: 'Pooling', bottom, top: pool, params: lengthDelimited(121, [...uint(1, 0), ...uint(2, 2), ...uint(3, 2)]) });
    bottom = pool;
  });
  let inputs = 512 * 7 * 7;
  for (const [i, units] of [[6, 4096], [7, 4096], [8, 1000]]) {
    const name = `fc${i}`;
    layers.push({ name, type: 'InnerProduct', bottom, top: name, params: lengthDelimited(117, uint(1, units)), blobs: [[units, inputs], [units]] });
    if (i < 8) {
      layers.push({ name: `relu${i}`, type: 'ReLU', bottom: name, top: name });
      layers.push({ name: `drop${i}`, type: 'Dropout', bottom: name, top: name });
    }
    bottom = name;
    inputs = units;
  }
  layers.push({ name: 'prob', type: 'Softmax', bottom, top: 'prob' });
  return layers;
}

/** Streams the caffemodel to disk blob by blob so the generator itself stays small. */
function writeVgg16(file: string): void {
  const fd = openSync(file, 'w');
  let seed = 12345;
  const chunk = new Float32Array(1 << 20);
  const randomChunk = (n: number) => {
    for (let i = 0; i < n; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      chunk[i] = ((seed >>> 0) / 4294967296 - 0.5) * 0.02;
    }
    return new Uint8Array(chunk.buffer, 0, n * 4);
  };
  const header = [...text(1, 'VGG_ILSVRC_16_layers'), ...text(3, 'data'), ...[1, 3, 224, 224].flatMap((d) => uint(4, d))];
  writeSync(fd, Uint8Array.from(header));
  for (const layer of vgg16()) {
    const head = [...text(1, layer.name), ...text(2, layer.type), ...text(3, layer.bottom), ...text(4, layer.top), ...(layer.params ?? [])];
    const blobs = (layer.blobs ?? []).map((shape) => {
      const count = shape.reduce((a, b) => a * b, 1);
      const shapeField = lengthDelimited(7, packedInt64(1, shape));
      const dataHead = [...tag(5, 2), ...varint(count * 4)];
      return { count, prefix: [...shapeField, ...dataHead], size: shapeField.length + dataHead.length + count * 4 };
    });
    const body = head.length + blobs.reduce((sum, b) => sum + tag(7, 2).length + varint(b.size).length + b.size, 0);
    writeSync(fd, Uint8Array.from([...tag(100, 2), ...varint(body), ...head]));
    for (const blob of blobs) {
      writeSync(fd, Uint8Array.from([...tag(7, 2), ...varint(blob.size), ...blob.prefix]));
      for (let done = 0; done < blob.count; done += chunk.length) writeSync(fd, randomChunk(Math.min(chunk.length, blob.count - done)));
    }
  }
  closeSync(fd);
}

async function child(file: string, out: string): Promise<void> {
  const { convertModel } = await import('../src/tfjs/convert.js');
  const start = process.hrtime.bigint();
  const summary = await convertModel({ input: file, output: out, force: true });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, parameters: summary.parameters })}\n`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2]);
  const dir = args.includes('--dir') ? args[args.indexOf('--dir') + 1] : path.join(tmpdir(), 'graft-bench');
  const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 3;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'VGG_ILSVRC_16_layers.caffemodel');
  if (!existsSync(file)) {
    const t = Date.now();
    writeVgg16(file);
    console.log(`wrote ${file} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const size = statSync(file).size;
  console.log(`file: ${(size / 1e6).toFixed(1)} MB; for scale, a plain copy of it with dd bs=4M:`);
  const dd = spawnSync('dd', [`if=${file}`, `of=${file}.copy`, 'bs=4M'], { encoding: 'utf8' });
  console.log(`  ${dd.stderr.trim().split('\n').pop()}`);
  rmSync(`${file}.copy`, { force: true });
  for (let run = 1; run <= runs; run++) {
    const out = path.join(dir, 'vgg16-tfjs');
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file, out], { encoding: 'utf8' });
    const processSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0) throw new Error(result.stderr);
    const { seconds, maxRssBytes, parameters } = JSON.parse(result.stdout.trim().split('\n').pop()!);
    console.log(
      `run ${run}: convert ${seconds.toFixed(2)} s = ${(size / 1e6 / seconds).toFixed(0)} MB/s (whole process incl. node start ${processSeconds.toFixed(2)} s), peak RSS ${(maxRssBytes / 1e6).toFixed(0)} MB = ${(maxRssBytes / size).toFixed(2)}× file, ${parameters.toLocaleString('en-US')} parameters`,
    );
  }
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  void here;
}

await main();
