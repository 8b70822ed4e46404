/**
 * bench/conv-grads: resnet18's convolution shapes (224×224 input, NHWC, batch --batch) on the wasm
 * backend: the forward Conv2D beside graft's Conv2DBackpropFilter (each method) and
 * Conv2DBackpropInput, in GFLOP/s (2 FLOPs a multiply-add of the forward conv; a
 * gradient is credited with its forward's FLOPs), best of --repeats after a warm-up, per thread
 * count.
 *
 * "forward, new filter" makes a fresh filter tensor (an Add of the filter and 0, timed with it)
 * before each call, as a training step does: tfjs-backend-wasm's Conv2D caches its XNNPACK
 * operator (with the packed weights) per filter tensor, so this shows the repacking.
 *
 *   npm run build && node dist/bench/conv-grads.js [--batch 8] [--threads 1,2] [--repeats 3] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../src/tfjs/backend.js';
import { filterGradientMethod, type FilterGradientMethod } from '../src/tfjs/kernels/conv2d-backprop-filter.js';
import { defaultThreadCount } from '../src/tfjs/wasm-threads.js';
import { bestMs, option } from './timing.js';

/** [label, input size, kernel, stride, Cin, Cout] */
export const RESNET18_CONVS: [string, number, number, number, number, number][] = [
  ['7×7/2 3→64, 224²', 224, 7, 2, 3, 64],
  ['3×3/1 64→64, 56²', 56, 3, 1, 64, 64],
  ['3×3/2 64→128, 56²→28²', 56, 3, 2, 64, 128],
  ['1×1/2 64→128, 56²→28²', 56, 1, 2, 64, 128],
  ['3×3/1 128→128, 28²', 28, 3, 1, 128, 128],
  ['3×3/2 128→256, 28²→14²', 28, 3, 2, 128, 256],
  ['1×1/2 128→256, 28²→14²', 28, 1, 2, 128, 256],
  ['3×3/1 256→256, 14²', 14, 3, 1, 256, 256],
  ['3×3/2 256→512, 14²→7²', 14, 3, 2, 256, 512],
  ['1×1/2 256→512, 14²→7²', 14, 1, 2, 256, 512],
  ['3×3/1 512→512, 7²', 7, 3, 1, 512, 512],
];

interface Row {
  shape: string;
  what: string;
  threads: number;
  ms: number;
  gflops: number;
}

const uniform = (shape: number[]) => tf.randomUniform(shape, -1, 1, 'float32', 1);

function timeKernel(kernel: string, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap, repeats: number, fresh?: string): number {
  return bestMs(() => {
    const given = { ...inputs };
    if (fresh !== undefined) given[fresh] = tf.add(inputs[fresh], 0);
    const out = tf.engine().runKernel(kernel, given, attrs) as tf.Tensor;
    out.dataSync();
    tf.dispose(out);
    if (fresh !== undefined) tf.dispose(given[fresh]);
  }, repeats);
}

async function main(): Promise<void> {
  const batch = Number(option('batch') ?? 8);
  const repeats = Number(option('repeats') ?? 3);
  const counts = (option('threads') ?? `1,${defaultThreadCount()}`).split(',').map(Number);
  const only = option('only');
  const rows: Row[] = [];
  for (const threads of counts) {
    await useBackend('wasm', { threads });
    for (const [label, size, k, stride, cin, cout] of RESNET18_CONVS) {
      if (only !== undefined && !label.includes(only)) continue;
      const out = Math.ceil(size / stride);
      const flops = 2 * batch * out * out * cout * cin * k * k;
      const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
      const x = uniform([batch, size, size, cin]);
      const w = uniform([k, k, cin, cout]);
      const dy = uniform([batch, out, out, cout]);
      const record = (what: string, ms: number) => rows.push({ shape: label, what, threads, ms, gflops: flops / ms / 1e6 });
      record('forward Conv2D', timeKernel(tf.Conv2D, { x, filter: w }, attrs, repeats));
      record('forward Conv2D, new filter', timeKernel(tf.Conv2D, { x, filter: w }, attrs, repeats, 'filter'));
      for (const method of ['conv', 'im2col'] as FilterGradientMethod[]) {
        filterGradientMethod.force = method;
        record(`BackpropFilter ${method}`, timeKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: [k, k, cin, cout] }, repeats));
      }
      filterGradientMethod.force = undefined;
      record('BackpropFilter (rule)', timeKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: [k, k, cin, cout] }, repeats));
      record('BackpropInput', timeKernel(tf.Conv2DBackpropInput, { dy, filter: w }, { ...attrs, inputShape: [batch, size, size, cin] }, repeats));
      tf.dispose([x, w, dy]);
      const mine = rows.filter((r) => r.shape === label && r.threads === threads);
      console.log(`${threads}t ${label.padEnd(26)} ${mine.map((r) => `${r.what}: ${r.gflops.toFixed(1)}`).join(' | ')}`);
    }
  }
  const whats = [...new Set(rows.map((r) => r.what))];
  console.log(`\nGFLOP/s, batch ${batch}, best of ${repeats}; threads ${counts.join(' / ')}`);
  console.log(`${'shape'.padEnd(26)}${whats.map((w) => w.padStart(28)).join('')}`);
  for (const shape of [...new Set(rows.map((r) => r.shape))]) {
    const cells = whats.map((what) => counts.map((t) => rows.find((r) => r.shape === shape && r.what === what && r.threads === t)?.gflops.toFixed(1) ?? '-').join(' / '));
    console.log(`${shape.padEnd(26)}${cells.map((c) => c.padStart(28)).join('')}`);
  }
  const json = option('json');
  if (json) writeFileSync(json, `${JSON.stringify({ batch, counts, rows }, null, 2)}\n`);
}

await main();
