/**
 * Golden cases made by fixtures/make/caffe_goldens.py: small Caffe nets written with caffe_pb2
 * (protoc on our proto/caffe.proto) whose reference outputs come from fixtures/make/caffe_ref.py,
 * a torch 1.13 / numpy re-implementation of BVLC Caffe's test-phase semantics (see each case.json).
 * Each is converted with its prototxt and from the caffemodel alone, then every reference blob is
 * compared through `predict --layer` semantics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { convertModel } from '../../src/tfjs/convert.js';
import { predictArray } from '../../src/tfjs/predict.js';
import { readNpy } from '../../src/formats/npy/npy.js';
import { toFloat32 } from '../../src/tensor/tensor.js';
import { FIXTURES, relativeError } from '../helpers.js';

interface CaseJson {
  description: string;
  input: string;
  outputs: Record<string, string>;
  shapes: Record<string, number[]>;
}

const root = path.join(FIXTURES, 'caffe');
const cases = readdirSync(root).filter((name) => !name.startsWith('.')).sort();
const work = mkdtempSync(path.join(tmpdir(), 'graft-caffe-golden-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

for (const name of cases) {
  const dir = path.join(root, name);
  const spec = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as CaseJson;
  for (const withPrototxt of [true, false]) {
    test(`${name} (${withPrototxt ? 'with prototxt' : 'caffemodel only'}) matches the reference within 1e-4`, async () => {
      const output = path.join(work, `${name}-${withPrototxt ? 'prototxt' : 'model'}`);
      await convertModel({
        input: path.join(dir, 'net.caffemodel'),
        prototxt: withPrototxt ? path.join(dir, 'net.prototxt') : undefined,
        inputShape: withPrototxt ? undefined : spec.shapes.input,
        output,
      });
      for (const [blob, file] of Object.entries(spec.outputs)) {
        const reference = readNpy(readFileSync(path.join(dir, file)), file);
        const result = await predictArray({ model: output, input: path.join(dir, spec.input), layer: blob });
        assert.deepEqual(result.shape, reference.shape, `${blob} shape`);
        const error = relativeError(result.data, toFloat32(reference));
        assert.ok(error < 1e-4, `${blob}: relative error ${error}`);
      }
    });
  }
}
