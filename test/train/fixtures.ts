/**
 * Shared fixtures for the training tests: a generated image folder (three synthetic classes, a
 * corrupt JPEG and a stray text file), the repository's LeNet converted on the spot, tables, small
 * hand-built models saved as model directories, and reading a model directory's weights back.
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Random } from '../../src/train/random.js';
import { convertModel } from '../../src/tfjs/convert.js';
import { loadModelDirectory, saveModelDirectory } from '../../src/tfjs/model-dir.js';
import { GRAFT_VERSION, type GraftJson } from '../../src/tfjs/graft-json.js';
import { useBackend } from '../../src/tfjs/backend.js';
import assert from 'node:assert/strict';
import { FIXTURES, REPO, relativeError } from '../helpers.js';

export const CLASSES = ['bars_h', 'bars_v', 'disk'] as const;

export interface ImageFolderInfo {
  root: string;
  /** The truncated JPEG that must be reported and skipped. */
  corrupt: string;
  /** A text file in a class folder (no image extension: ignored). */
  stray: string;
  /** One readable image per class, in CLASSES order. */
  samples: string[];
  count: number;
}

/**
 * `perClass` 28×28 grayscale images of each class: horizontal bars, vertical bars, a disk, at random
 * positions, periods, radii and contrast over noise; every fifth one a JPEG, the rest PNGs.
 */
export async function makeImageFolder(root: string, perClass: number, seed = 1): Promise<ImageFolderInfo> {
  const random = new Random(seed);
  const size = 28;
  const samples: string[] = [];
  for (const [c, name] of CLASSES.entries()) {
    mkdirSync(path.join(root, name), { recursive: true });
    for (let n = 0; n < perClass; n++) {
      const pixels = new Uint8Array(size * size);
      const background = 40 + random.next() * 60;
      for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(255, background * random.next() * 2);
      const ink = () => 150 + Math.floor(random.next() * 105);
      if (name === 'disk') {
        const r = 3 + random.next() * 5;
        const cx = r + random.next() * (size - 2 * r);
        const cy = r + random.next() * (size - 2 * r);
        for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) pixels[y * size + x] = ink();
      } else {
        const period = 4 + random.int(4);
        const width = 1 + random.int(2);
        const offset = random.int(period);
        // Bars over part of the image only, so position varies too.
        const from = random.int(10);
        const to = size - random.int(10);
        for (let k = offset; k < size; k += period) {
          for (let w = 0; w < width && k + w < size; w++) {
            for (let t = from; t < to; t++) pixels[name === 'bars_h' ? (k + w) * size + t : t * size + (k + w)] = ink();
          }
        }
      }
      const image = sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: 1 } });
      const jpeg = n % 5 === 0;
      const file = path.join(root, name, `${name}_${String(n).padStart(3, '0')}.${jpeg ? 'jpg' : 'png'}`);
      await (jpeg ? image.jpeg({ quality: 92 }) : image.png()).toFile(file);
      if (n === 1) samples.push(file);
    }
  }
  // A JPEG cut short (the Kaggle cats-and-dogs kind): a valid header, then nothing.
  const whole = readFileSync(path.join(root, 'disk', 'disk_000.jpg'));
  const corrupt = path.join(root, 'disk', 'disk_corrupt.jpg');
  writeFileSync(corrupt, whole.subarray(0, Math.floor(whole.length / 3)));
  const stray = path.join(root, 'bars_h', 'README.txt');
  writeFileSync(stray, 'not an image\n');
  return { root, corrupt, stray, samples, count: perClass * CLASSES.length };
}

/** The repository's Caffe LeNet (MNIST) as a model directory. */
export async function convertLeNet(output: string): Promise<string> {
  await convertModel({
    input: path.join(FIXTURES, 'lenet', 'lenet_iter_10000.caffemodel'),
    prototxt: path.join(FIXTURES, 'lenet', 'deploy.prototxt'),
    output,
    force: true,
  });
  return output;
}

/** A minimal graft.json for a hand-built model with a 2-D input. */
export function tableGraftJson(features: number, classNames?: string[]): GraftJson {
  return {
    graft: GRAFT_VERSION,
    format: 'graft',
    source: { path: 'test', sha256: '', bytes: 0 },
    input: { name: 'input', shape: [1, features], sourceLayout: 'NC', modelLayout: 'NC' },
    outputs: [],
    layers: {},
    weights: {},
    warnings: [],
    ...(classNames ? { classNames } : {}),
  };
}

/** Saves `model` as a model directory and disposes it. */
export async function saveAndDispose(dir: string, model: tf.LayersModel, graft: GraftJson): Promise<string> {
  await saveModelDirectory(dir, model, graft);
  model.dispose();
  return dir;
}

/** Every weight of a model directory by layer-qualified name (e.g. `ip1/kernel`). */
export async function weightsOf(dir: string): Promise<Map<string, Float32Array>> {
  await useBackend();
  const { model } = await loadModelDirectory(dir);
  const weights = new Map<string, Float32Array>();
  for (const layer of model.layers) {
    for (const w of layer.weights) weights.set(`${layer.name}/${w.originalName.split('/').pop()}`, Float32Array.from(w.read().dataSync()));
  }
  model.dispose();
  return weights;
}

/** Writes a CSV table (header x1..xn,label) of `rows` and returns its path. */
export function writeTable(file: string, rows: { x: number[]; label: string }[]): string {
  const header = [...rows[0].x.map((_, i) => `x${i + 1}`), 'label'].join(',');
  writeFileSync(file, `${header}\n${rows.map((r) => [...r.x, r.label].join(',')).join('\n')}\n`);
  return file;
}

/** Gaussian-ish blobs: class c centred at `centres[c]`, noise `spread`. */
export function blobs(perClass: number, centres: number[][], spread: number, seed: number): { x: number[]; label: string }[] {
  const random = new Random(seed);
  const normal = () => {
    let s = 0;
    for (let i = 0; i < 6; i++) s += random.next();
    return (s - 3) / Math.sqrt(0.5);
  };
  const rows: { x: number[]; label: string }[] = [];
  centres.forEach((centre, c) => {
    for (let i = 0; i < perClass; i++) rows.push({ x: centre.map((m) => +(m + spread * normal()).toFixed(5)), label: `c${c}` });
  });
  return rows;
}

/** max |a − b| / max |b| (test/helpers.ts's relativeError). */
export { relativeError as relative } from '../helpers.js';

/**
 * The largest relative difference between two models' weights (as weightsOf reads them), each
 * weight asserted within `tolerance`.
 */
export function assertWeightsClose(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>, tolerance: number): number {
  let worst = 0;
  for (const [name, value] of expected) {
    const error = relativeError(actual.get(name)!, value);
    worst = Math.max(worst, error);
    assert.ok(error <= tolerance, `${name}: relative difference ${error}`);
  }
  return worst;
}

export const GRAFT_BIN = path.join(REPO, 'bin', 'graft.js');

/** Runs the CLI to completion. */
export function graft(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [GRAFT_BIN, ...args], { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the CLI without blocking the event loop (so tests in one file can overlap with I/O). */
export function graftAsync(cwd: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GRAFT_BIN, ...args], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
