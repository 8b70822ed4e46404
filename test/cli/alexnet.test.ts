/**
 * Acceptance for ../shared/fixtures/caffe/alexnet_small_group through the CLI: AlexNet's structure
 * (LRN, group 2 on conv2/4/5, Caffe's ceil-rounded pooling) at reduced width. References pool5 and
 * fc8 come from Chainer 7.8.1's CaffeFunction (see alexnet_small_group.json).
 *
 * The caffemodel carries its layer definitions and its net-level `input` + `input_shape`
 * (1, 3, 96, 96), so it converts without --prototxt and without --input-shape; --input-shape only
 * overrides that declared shape.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readNpy } from '../../src/formats/npy/npy.js';
import { readCaffemodel } from '../../src/formats/caffe/caffemodel.js';
import { toFloat32 } from '../../src/tensor/tensor.js';
import { REPO, SHARED_FIXTURES, relativeError } from '../helpers.js';

const BASE = path.join(SHARED_FIXTURES, 'caffe', 'alexnet_small_group');
const CAFFEMODEL = `${BASE}.caffemodel`;
const PROTOTXT = `${BASE}.prototxt`;
const INPUT = `${BASE}.input.npy`;
const PARAMETERS = 203_370;

const work = mkdtempSync(path.join(tmpdir(), 'graft-alexnet-'));
after(() => rmSync(work, { recursive: true, force: true }));

function graft(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'graft.js'), ...args], { cwd: work, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

interface ModelJson {
  modelTopology: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}
interface GraftJsonView {
  format: string;
  source: { path: string; sha256: string; bytes: number; structure?: { path: string; sha256: string } };
  input: { name: string; shape: number[]; sourceLayout: string; modelLayout: string; channelOrder?: string };
  outputs: string[];
  layers: Record<string, string>;
  weights: Record<string, string[]>;
  warnings: string[];
}

const VARIANTS = {
  prototxt: ['--prototxt', PROTOTXT],
  caffemodel: [] as string[],
};
type Variant = keyof typeof VARIANTS;
const dirOf = (variant: Variant) => path.join(work, `alexnet-${variant}`);
const readJson = <T>(variant: Variant, file: string) => JSON.parse(readFileSync(path.join(dirOf(variant), file), 'utf8')) as T;

before(async () => {
  const runs = await Promise.all(
    (Object.keys(VARIANTS) as Variant[]).map((v) => graft('convert', CAFFEMODEL, ...VARIANTS[v], '-o', dirOf(v), '--json')),
  );
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { parameters: number; input: { shape: number[] }; warnings: string[] };
    assert.equal(summary.parameters, PARAMETERS);
    assert.deepEqual(summary.input.shape, [1, 3, 96, 96]);
    assert.deepEqual(summary.warnings, []);
  }
});

for (const variant of Object.keys(VARIANTS) as Variant[]) {
  test(`alexnet_small_group (${variant}): predict --layer pool5 / fc8 match Chainer within 1e-4`, async () => {
    const saved = { pool5: path.join(work, `${variant}-pool5.npy`), fc8: path.join(work, `${variant}-fc8.npy`) };
    const runs = await Promise.all(
      (['pool5', 'fc8'] as const).map((layer) => graft('predict', dirOf(variant), '--input', INPUT, '--layer', layer, '--save', saved[layer])),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const expectedShapes = { pool5: [2, 64, 2, 2], fc8: [2, 10] };
    for (const layer of ['pool5', 'fc8'] as const) {
      const actual = readNpy(readFileSync(saved[layer]), saved[layer]);
      const reference = readNpy(readFileSync(`${BASE}.${layer}.npy`), layer);
      assert.deepEqual(reference.shape, expectedShapes[layer], `reference ${layer} shape`);
      assert.deepEqual(actual.shape, reference.shape, `${layer} shape (NCHW)`);
      assert.equal(actual.dtype, 'float32');
      const error = relativeError(toFloat32(actual), toFloat32(reference));
      assert.ok(error < 1e-4, `${layer}: relative error ${error}`);
    }
  });
}

test('model.json: conv2/4/5 are GraftGroupedConv2D with groups 2 and per-group kernels; norm1/2 are GraftLRN', () => {
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    const model = readJson<ModelJson>(variant, 'model.json');
    const layers = new Map(model.modelTopology.config.layers.map((l) => [String(l.config.name), l]));
    const specs = new Map(model.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.shape]));
    // [kh, kw, in/2, out]: conv2 reads conv1's 24 channels, conv4 and conv5 read 96.
    const grouped = { conv2: [5, 5, 12, 64], conv4: [3, 3, 48, 96], conv5: [3, 3, 48, 64] };
    for (const [name, kernel] of Object.entries(grouped)) {
      const layer = layers.get(name);
      assert.equal(layer?.class_name, 'GraftGroupedConv2D', `${name} class`);
      assert.equal(layer!.config.groups, 2, `${name} groups`);
      assert.equal(layer!.config.filters, kernel[3]);
      assert.deepEqual(specs.get(`${name}/kernel`), kernel, `${name}/kernel shape`);
    }
    assert.equal(layers.get('conv1')?.class_name, 'Conv2D');
    assert.equal(layers.get('conv3')?.class_name, 'Conv2D');
    assert.deepEqual(specs.get('conv3/kernel'), [3, 3, 64, 96]);
    for (const name of ['norm1', 'norm2']) {
      const layer = layers.get(name);
      assert.equal(layer?.class_name, 'GraftLRN', `${name} class`);
      // Caffe's alpha (0.0001, stored as float32) is divided by local_size for the per-element form.
      assert.equal(layer!.config.size, 5);
      assert.ok(Math.abs(Number(layer!.config.alpha) - Math.fround(0.0001) / 5) < 1e-12, `${name} alpha ${layer!.config.alpha}`);
      assert.equal(layer!.config.beta, 0.75);
      assert.equal(layer!.config.k, 1);
    }
    // No dense zero-padded kernel anywhere: the manifest holds exactly the source's parameters.
    const total = [...specs.values()].reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(total, PARAMETERS);
    const shards = model.weightsManifest.flatMap((g) => g.paths);
    const bytes = shards.reduce((sum, shard) => sum + statSync(path.join(dirOf(variant), shard)).size, 0);
    assert.equal(bytes, 4 * PARAMETERS);

    // The manifest names are exactly the tfjs weights graft.json maps the source tensors to.
    const graft = readJson<GraftJsonView>(variant, 'graft.json');
    assert.deepEqual([...specs.keys()].sort(), Object.values(graft.weights).flat().sort());
    for (const [key, names] of Object.entries(graft.weights)) {
      const [layer, index] = key.split('/');
      assert.deepEqual(names, [`${layer}/${index === '0' ? 'kernel' : 'bias'}`], key);
    }
    assert.deepEqual(Object.keys(graft.weights).sort(), [
      'conv1/0', 'conv1/1', 'conv2/0', 'conv2/1', 'conv3/0', 'conv3/1', 'conv4/0', 'conv4/1', 'conv5/0', 'conv5/1',
      'fc6/0', 'fc6/1', 'fc7/0', 'fc7/1', 'fc8/0', 'fc8/1',
    ]);
    assert.equal(graft.layers.pool5, 'pool5');
    assert.equal(graft.layers.fc8, 'fc8');
  }
});

test('the grouped kernel in the shard is the source [O, I/g, kh, kw] moved to [kh, kw, I/g, O]', async () => {
  const model = readJson<ModelJson>('caffemodel', 'model.json');
  const [group] = model.weightsManifest;
  assert.equal(group.paths.length, 1);
  const shard = readFileSync(path.join(dirOf('caffemodel'), group.paths[0]));
  let offset = 0;
  const at = new Map<string, number>();
  for (const w of group.weights) {
    at.set(w.name, offset);
    offset += 4 * w.shape.reduce((a, b) => a * b, 1);
  }
  const source = (await readCaffemodel(CAFFEMODEL)).tensors.get('conv2/0')!;
  assert.deepEqual(source.shape, [64, 12, 5, 5]);
  const W = toFloat32(source);
  const kernel = new Float32Array(shard.buffer.slice(shard.byteOffset + at.get('conv2/kernel')!, shard.byteOffset + at.get('conv2/kernel')! + W.byteLength));
  let mismatches = 0;
  for (let o = 0; o < 64; o++)
    for (let i = 0; i < 12; i++)
      for (let y = 0; y < 5; y++)
        for (let x = 0; x < 5; x++) {
          if (kernel[((y * 5 + x) * 12 + i) * 64 + o] !== W[((o * 12 + i) * 5 + y) * 5 + x]) mismatches++;
        }
  assert.equal(mismatches, 0);
  // A known entry from an independent decode (python3 caffe_pb2, see caffemodel.test.ts).
  assert.equal(kernel[0], 0.03585595265030861);
});

test('graft.json: source sha256 and size, format caffe, the declared input shape', () => {
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    const graft = readJson<GraftJsonView>(variant, 'graft.json');
    assert.equal(graft.format, 'caffe');
    assert.equal(graft.source.path, CAFFEMODEL);
    assert.equal(graft.source.sha256, sha256(CAFFEMODEL));
    assert.equal(graft.source.bytes, statSync(CAFFEMODEL).size);
    assert.deepEqual(graft.input.shape, [1, 3, 96, 96]);
    assert.equal(graft.input.name, 'data');
    assert.equal(graft.input.sourceLayout, 'NCHW');
    assert.equal(graft.input.modelLayout, 'NHWC');
    assert.deepEqual(graft.outputs, ['prob']);
    if (variant === 'prototxt') assert.deepEqual(graft.source.structure, { path: PROTOTXT, sha256: sha256(PROTOTXT) });
    else assert.equal(graft.source.structure, undefined);
  }
});

test('graft.json: a Caffe net with 3 input channels and no data layer records channelOrder BGR', () => {
  // Caffe reads images with OpenCV; without this, predict would feed RGB to a BGR net.
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    assert.equal(readJson<GraftJsonView>(variant, 'graft.json').input.channelOrder, 'BGR', variant);
  }
});

test('--input-shape overrides the declared shape and is what graft.json records', async () => {
  const dir = path.join(work, 'alexnet-batch2');
  const run = await graft('convert', CAFFEMODEL, '--input-shape', '2,3,96,96', '-o', dir);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /input\s+data \[2, 3, 96, 96\]/);
  assert.match(run.stdout, /warning: .*2,3,96,96 instead of the declared 1,3,96,96/);
  const graft2 = JSON.parse(readFileSync(path.join(dir, 'graft.json'), 'utf8')) as GraftJsonView;
  assert.deepEqual(graft2.input.shape, [2, 3, 96, 96]);
});
