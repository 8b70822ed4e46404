/**
 * registerWasmTrainingKernels: idempotent, and usable before the wasm backend starts (a
 * replacement that delegates to tfjs's kernel must bring that kernel's setup along, or the
 * original's C++ binding is never made). This file runs in its own process, so nothing has
 * selected wasm before the first test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GRAFT_WASM_KERNEL_NAMES, registerWasmTrainingKernels } from '../../../src/tfjs/kernels/register.js';
import { useBackend } from '../../../src/tfjs/backend.js';
import { assertRelative, seededTensor } from './helpers.js';

test('registering before the wasm backend starts, then selecting it, runs the delegating kernels', async () => {
  assert.equal(tf.engine().registry['wasm'], undefined, 'wasm already started in this process');
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  const values = tf.tidy(() => tf.matMul(seededTensor([3, 4], 1), seededTensor([5, 4], 2), false, true).dataSync());
  await tf.setBackend('cpu');
  const expected = tf.tidy(() => tf.matMul(seededTensor([3, 4], 1), seededTensor([5, 4], 2), false, true).dataSync());
  assertRelative(values, expected, 'matMul with transposeB');
});

test('registering again changes nothing', async () => {
  await useBackend('wasm');
  const before = GRAFT_WASM_KERNEL_NAMES.map((name) => tf.getKernel(name, 'wasm'));
  registerWasmTrainingKernels();
  await useBackend('wasm');
  const after = GRAFT_WASM_KERNEL_NAMES.map((name) => tf.getKernel(name, 'wasm'));
  after.forEach((config, i) => assert.equal(config, before[i], `${GRAFT_WASM_KERNEL_NAMES[i]} was registered anew`));
  for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'MaxPoolGrad', 'BatchMatMul']) {
    assert.ok(GRAFT_WASM_KERNEL_NAMES.includes(name), `${name} is not among graft's wasm kernels`);
  }
});
