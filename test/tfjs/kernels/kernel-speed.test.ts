/**
 * Throughput of graft's wasm backward kernels next to the forward kernel they mirror (and, where
 * graft replaced one, tfjs's own), on ResNet-like shapes. Printed for the record, never asserted:
 * timings depend on the machine (and on whatever else runs on it). FLOPs count 2 per
 * multiply-add of the convolution or product itself.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { useBackend } from '../../../src/tfjs/backend.js';

interface Timed {
  what: string;
  ms: number;
  gflops: number | null;
}

/** Best of a few runs after a warm-up, in milliseconds. */
function bestMs(run: () => void, repeats: number): number {
  run();
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

function timeKernel(what: string, flops: number | null, name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): Timed {
  const ms = bestMs(() => tf.dispose(tf.engine().runKernel(name, inputs, attrs) as tf.Tensor), 3);
  return { what, ms, gflops: flops === null ? null : flops / ms / 1e6 };
}

/** A kernel config captured before graft replaced it, called on TensorInfos. */
function timeOriginal(what: string, flops: number, original: tf.KernelConfig, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): Timed {
  const backend = tf.backend() as BackendWasm;
  // One timed run: these are the slow ones.
  const ms = bestMs(() => {
    const out = original.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
    backend.disposeData(out.dataId);
  }, 1);
  return { what, ms, gflops: flops / ms / 1e6 };
}

function report(title: string, rows: Timed[]): void {
  console.log(`${title}`);
  for (const { what, ms, gflops } of rows) {
    console.log(`  ${what.padEnd(46)} ${ms.toFixed(1).padStart(7)} ms${gflops === null ? '' : `  ${gflops.toFixed(2).padStart(6)} GFLOP/s`}`);
  }
}

test('GFLOP/s of the wasm backward kernels against their forward (printed, not asserted)', async () => {
  // tfjs's own kernels, before graft's replace them, for comparison.
  await tf.setBackend('wasm');
  const tfjsBackpropInput = tf.getKernel(tf.Conv2DBackpropInput, 'wasm');
  const tfjsBatchMatMul = tf.getKernel(tf.BatchMatMul, 'wasm');
  await useBackend('wasm');

  tf.tidy(() => {
    // A small training batch: the filter gradient sums over it as its conv's input channels.
    const n = 4;
    const x = tf.randomUniform([n, 56, 56, 64]);
    const w = tf.randomUniform([3, 3, 64, 64]);
    const dy = tf.randomUniform([n, 56, 56, 64]);
    const flops = 2 * n * 56 * 56 * 64 * 64 * 9;
    const conv = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
    report(`conv 3×3, ${n}×56×56×64 → 64, stride 1 same`, [
      timeKernel('forward Conv2D', flops, tf.Conv2D, { x, filter: w }, conv),
      timeKernel('Conv2DBackpropFilter (graft)', flops, tf.Conv2DBackpropFilter, { x, dy }, { ...conv, filterShape: w.shape }),
      timeKernel('Conv2DBackpropInput (graft)', flops, tf.Conv2DBackpropInput, { dy, filter: w }, { ...conv, inputShape: x.shape }),
      timeOriginal('Conv2DBackpropInput (tfjs-backend-wasm)', flops, tfjsBackpropInput, { dy, filter: w }, { ...conv, inputShape: x.shape }),
    ]);

    const w2 = tf.randomUniform([3, 3, 64, 128]);
    const dy2 = tf.randomUniform([n, 28, 28, 128]);
    const flops2 = 2 * n * 28 * 28 * 128 * 64 * 9;
    const conv2 = { ...conv, strides: 2 };
    report(`conv 3×3, ${n}×56×56×64 → 128, stride 2 same`, [
      timeKernel('forward Conv2D', flops2, tf.Conv2D, { x, filter: w2 }, conv2),
      timeKernel('Conv2DBackpropFilter (graft)', flops2, tf.Conv2DBackpropFilter, { x, dy: dy2 }, { ...conv2, filterShape: w2.shape }),
      timeKernel('Conv2DBackpropInput (graft)', flops2, tf.Conv2DBackpropInput, { dy: dy2, filter: w2 }, { ...conv2, inputShape: x.shape }),
      timeOriginal('Conv2DBackpropInput (tfjs-backend-wasm)', flops2, tfjsBackpropInput, { dy: dy2, filter: w2 }, { ...conv2, inputShape: x.shape }),
    ]);

    const dwFilter = tf.randomUniform([3, 3, 64, 1]);
    const dwFlops = 2 * n * 56 * 56 * 64 * 9;
    const dw = { strides: 1, pad: 'same', dilations: 1 };
    report(`depthwise 3×3, ${n}×56×56×64, stride 1 same`, [
      timeKernel('forward DepthwiseConv2dNative', dwFlops, tf.DepthwiseConv2dNative, { x, filter: dwFilter }, dw),
      timeKernel('DepthwiseConv2dNativeBackpropFilter (graft)', dwFlops, tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { ...dw, filterShape: dwFilter.shape }),
      timeKernel('DepthwiseConv2dNativeBackpropInput (graft)', dwFlops, tf.DepthwiseConv2dNativeBackpropInput, { dy, filter: dwFilter }, { ...dw, inputShape: x.shape }),
    ]);

    const pooled = tf.maxPool(x as tf.Tensor4D, 3, 2, 'same');
    const pool = { filterSize: 3, strides: 2, pad: 'same' };
    report(`max pool 3×3 stride 2 same, ${n}×56×56×64 (no FLOPs: comparisons)`, [
      timeKernel('forward MaxPool', null, tf.MaxPool, { x }, pool),
      timeKernel('MaxPoolGrad (graft)', null, tf.MaxPoolGrad, { dy: tf.onesLike(pooled), input: x, output: pooled }, pool),
    ]);

    // FCN-32s's upsampling: conv2dTranspose 64×64 stride 32 is Conv2DBackpropInput forward.
    const score = tf.randomUniform([1, 16, 16, 21]);
    const upscore = tf.randomUniform([64, 64, 21, 21]);
    const upFlops = 2 * 16 * 16 * 64 * 64 * 21 * 21;
    const up = { strides: 32, pad: 'valid', dataFormat: 'NHWC', inputShape: [1, 544, 544, 21] };
    report('conv2dTranspose 64×64 stride 32, 1×16×16×21 → 544×544×21 (FCN-32s)', [
      timeKernel('Conv2DBackpropInput (graft)', upFlops, tf.Conv2DBackpropInput, { dy: score, filter: upscore }, up),
      timeOriginal('Conv2DBackpropInput (tfjs-backend-wasm)', upFlops, tfjsBackpropInput, { dy: score, filter: upscore }, up),
    ]);

    const batch = 64;
    const inputs = tf.randomUniform([batch, 1024]);
    const weights = tf.randomUniform([1024, 1024]);
    const dOut = tf.randomUniform([batch, 1024]);
    const denseFlops = 2 * batch * 1024 * 1024;
    report(`dense ${batch}×1024 → 1024`, [
      timeKernel('forward x·w', denseFlops, tf.BatchMatMul, { a: inputs, b: weights }, { transposeA: false, transposeB: false }),
      timeKernel('dx = dy·wᵀ (graft)', denseFlops, tf.BatchMatMul, { a: dOut, b: weights }, { transposeA: false, transposeB: true }),
      timeKernel('dw = xᵀ·dy (graft)', denseFlops, tf.BatchMatMul, { a: inputs, b: dOut }, { transposeA: true, transposeB: false }),
      timeOriginal('dx = dy·wᵀ (tfjs-backend-wasm)', denseFlops, tfjsBatchMatMul, { a: dOut, b: weights }, { transposeA: false, transposeB: true }),
      timeOriginal('dw = xᵀ·dy (tfjs-backend-wasm)', denseFlops, tfjsBatchMatMul, { a: inputs, b: dOut }, { transposeA: true, transposeB: false }),
    ]);
  });
});
