/**
 * tfjs tensors are not garbage collected: a training run in-process (a library caller's, or a
 * notebook's) must leave tf.memory().numTensors where it found it, whatever it did (new head, frozen
 * prefix with cached features or not, several rate groups, Adam or momentum slots, weight decay,
 * resume, evaluate) and however it ended.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evaluateModel } from '../../src/train/evaluate.js';
import { trainModel } from '../../src/train/finetune.js';
import { useBackend } from '../../src/tfjs/backend.js';
import { FIXTURES, SHARED_FIXTURES } from '../helpers.js';
import { convertLeNet, makeImageFolder, type ImageFolderInfo } from './fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-memory-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const lenet = path.join(work, 'lenet');
const SMALL = path.join(SHARED_FIXTURES, 'real', 'xor', 'xor_complex_small.txt');
let images: ImageFolderInfo;

before(async () => {
  await useBackend();
  await convertLeNet(lenet);
  images = await makeImageFolder(path.join(work, 'images'), 12);
  // Warm up: kernels and backend state that tfjs creates once per process.
  await trainModel({ from: lenet, data: images.root, out: path.join(work, 'warm-up'), epochs: 1, progress: false });
});

async function unchanged(what: string, body: () => Promise<unknown>): Promise<void> {
  const before = tf.memory().numTensors;
  const variables = Object.keys(tf.engine().registeredVariables).length;
  await body();
  assert.equal(tf.memory().numTensors, before, `${what}: tensors ${before} → ${tf.memory().numTensors}`);
  assert.equal(Object.keys(tf.engine().registeredVariables).length, variables, `${what}: variables`);
}

test('numTensors does not grow across training runs, resume, evaluate, or a run that fails', async () => {
  const run = (name: string) => path.join(work, name);
  await unchanged('fine-tune, new head, frozen prefix cached, two rate groups (Adam)', () =>
    trainModel({ from: lenet, data: images.root, out: run('a'), epochs: 2, freezeTo: 'conv2', lrMult: ['ip2=10'], progress: false }),
  );
  await unchanged('no cache, momentum, weight decay, --cut-at', () =>
    trainModel({ from: lenet, data: images.root, out: run('b'), epochs: 2, cutAt: 'ip1', cache: false, optimizer: 'momentum', weightDecay: 1e-3, progress: false }),
  );
  await unchanged('resume', () => trainModel({ data: images.root, out: run('a'), epochs: 3, resume: true, progress: false }));
  await unchanged('train from a spec, with a decision boundary', () =>
    trainModel({ arch: path.join(FIXTURES, 'xor', 'xor-net.json'), data: SMALL, out: run('xor'), epochs: 2, batchSize: 10, optimizer: 'sgd', lr: 0.05, progress: false }),
  );
  await unchanged('evaluate', () => evaluateModel({ model: path.join(run('a'), 'best'), data: images.root }));
  await unchanged('evaluate with a boundary', () => evaluateModel({ model: path.join(run('xor'), 'last'), data: SMALL, boundary: path.join(work, 'boundary.png') }));
  await unchanged('a resume that is refused', () =>
    assert.rejects(trainModel({ data: images.root, out: run('a'), epochs: 4, resume: true, freezeTo: 'ip1', progress: false }), /cannot resume/),
  );
  await unchanged('a run stopped by shouldStop', async () => {
    let batches = 0;
    const summary = await trainModel({ from: lenet, data: images.root, out: run('c'), epochs: 3, batchSize: 4, shouldStop: () => ++batches > 5, progress: false });
    assert.equal(summary.stopped, true);
  });
});
