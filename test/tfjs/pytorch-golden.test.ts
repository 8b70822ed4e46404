/**
 * End-to-end goldens from real PyTorch (fixtures/make/torchvision_goldens.py): small models with
 * torchvision's module structure and state-dict keys, saved with torch.save, their eval-mode
 * outputs for a batch of 2. Each model.pth is converted by `convertModel` — recognised from its
 * keys alone, or with `--arch spec.json` — and run on input.npy; the output must match output.npy
 * within 1e-4 relative (max |diff| / max |ref|).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraftError, UsageError } from '../../src/errors.js';
import { READERS } from '../../src/formats/registry.js';
import { readNpy } from '../../src/formats/npy/npy.js';
import { toFloat32 } from '../../src/tensor/tensor.js';
import { convertModel } from '../../src/tfjs/convert.js';
import type { GraftJson } from '../../src/tfjs/graft-json.js';
import { predictArray } from '../../src/tfjs/predict.js';
import { FIXTURES, relativeError } from '../helpers.js';

interface CaseJson {
  description: string;
  model: string;
  input: string;
  output: string;
  shapes: { input: number[]; output: number[] };
  /** The torchvision architecture graft must recognise, or null when the case gives `arch`. */
  recognise: string | null;
  arch?: string;
}

const TORCHVISION_INPUT = { channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const root = path.join(FIXTURES, 'pytorch', 'goldens');
const cases = readdirSync(root).filter((name) => existsSync(path.join(root, name, 'case.json'))).sort();

// The .pth reader is another module's work; until it is registered these tests say so rather than fail.
const readerModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/formats/pytorch/reader.js');
const skip = !existsSync(readerModule)
  ? 'src/formats/pytorch/reader.ts does not exist yet'
  : !READERS.some((r) => r.format === 'pytorch')
    ? 'the PyTorch reader is not registered in src/formats/registry.ts yet'
    : false;

const work = mkdtempSync(path.join(tmpdir(), 'graft-pytorch-golden-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function readCase(name: string): { dir: string; spec: CaseJson } {
  const dir = path.join(root, name);
  return { dir, spec: JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as CaseJson };
}

/** The case's input size with batch 1: the graph's input (the batch of input.npy is free). */
function inputShapeOf(spec: CaseJson): number[] {
  return [1, ...spec.shapes.input.slice(1)];
}

for (const name of cases) {
  test(`${name}: converted from model.pth, matches PyTorch within 1e-4`, { skip }, async () => {
    const { dir, spec } = readCase(name);
    const output = path.join(work, name);
    const summary = await convertModel({
      input: path.join(dir, spec.model),
      output,
      arch: spec.arch ? path.join(dir, spec.arch) : undefined,
      inputShape: spec.arch ? undefined : inputShapeOf(spec),
    });
    assert.equal(summary.format, 'pytorch');
    const graft = JSON.parse(readFileSync(path.join(output, 'graft.json'), 'utf8')) as GraftJson;
    if (spec.recognise) {
      assert.equal(summary.name, spec.recognise);
      assert.equal(summary.architecture, `${spec.recognise} (recognised from its tensors)`);
      assert.deepEqual(
        { channelOrder: graft.input.channelOrder, scale: graft.input.scale, mean: graft.input.mean, std: graft.input.std },
        TORCHVISION_INPUT,
      );
    }
    assert.deepEqual(graft.input.shape, inputShapeOf(spec));

    const reference = readNpy(readFileSync(path.join(dir, spec.output)), spec.output);
    const result = await predictArray({ model: output, input: path.join(dir, spec.input) });
    assert.deepEqual(result.shape, spec.shapes.output);
    const error = relativeError(result.data, toFloat32(reference));
    assert.ok(error < 1e-4, `relative error ${error}`);
  });
}

test('resnet18_style converts the same with --arch resnet18', { skip }, async () => {
  const { dir, spec } = readCase('resnet18_style');
  const output = path.join(work, 'resnet18-arch');
  const summary = await convertModel({ input: path.join(dir, spec.model), output, arch: 'resnet18', inputShape: inputShapeOf(spec) });
  assert.equal(summary.architecture, 'resnet18');
  const result = await predictArray({ model: output, input: path.join(dir, spec.input) });
  assert.ok(relativeError(result.data, toFloat32(readNpy(readFileSync(path.join(dir, spec.output)), spec.output))) < 1e-4);
});

test('--arch with the wrong family says which keys differ', { skip }, async () => {
  const { dir, spec } = readCase('vgg11_bn_style');
  await assert.rejects(
    convertModel({ input: path.join(dir, spec.model), output: path.join(work, 'wrong-arch'), arch: 'vgg11' }),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, /do not fit vgg11: .*unexpected features\.1\.weight/);
      return true;
    },
  );
});

test('alexnet at 64×64: AdaptiveAvgPool2d((6, 6)) would upsample 1×1, a clear error', { skip }, async () => {
  const { dir, spec } = readCase('alexnet_style');
  await assert.rejects(
    convertModel({ input: path.join(dir, spec.model), output: path.join(work, 'alexnet-64'), inputShape: [1, 3, 64, 64] }),
    (error: unknown) => {
      assert.ok(error instanceof GraftError, String(error));
      assert.match(error.message, /avgpool/);
      assert.match(error.message, /1×1 to 6×6/);
      return true;
    },
  );
});

test(
  'a torchvision checkpoint converts without an unused-tensor warning for BatchNorm counters',
  { skip },
  async () => {
    const { dir, spec } = readCase('resnet18_style');
    const summary = await convertModel({ input: path.join(dir, spec.model), output: path.join(work, 'resnet18-warnings'), inputShape: inputShapeOf(spec) });
    assert.deepEqual(summary.warnings, []);
    assert.equal(summary.architecture, 'resnet18 (recognised from its tensors)');
  },
);
