/**
 * bench/filter-packing: what tfjs-backend-wasm's Conv2D pays to take in a filter tensor it has
 * not seen (its [R, Cout] → [Cout, R] transpose, then XNNPACK's packing), per float, against
 * R = kh·kw·Cin: the measurement behind src/tfjs/kernels/filter-packing.ts. Each filter is timed
 * on a one-pixel-output convolution, fresh (an Add of the filter and 0, whose own time is taken
 * off) and cached, best of --repeats.
 *
 *   npm run build && node dist/bench/filter-packing.js [--threads 2] [--repeats 4]
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../src/tfjs/backend.js';
import { twoAdicValuation } from '../src/tfjs/kernels/filter-packing.js';
import { defaultThreadCount } from '../src/tfjs/wasm-threads.js';
import { bestMs, option } from './timing.js';

/** [kh, kw, Cin, Cout]: resnet18's filters at a pass of 16, the gradient kernels' own, and neighbours of each. */
const FILTERS: [number, number, number, number][] = [
  [1, 1, 200704, 64], // the stem's dy, 112²·16, as the filter gradient's filter
  [1, 1, 200832, 64],
  [1, 1, 200720, 64],
  [113, 113, 16, 64], // the same with a zero row and column of taps
  [56, 56, 16, 64], // layer1's dy
  [57, 57, 16, 64],
  [3, 3, 512, 512], // the deepest layers' filters (input gradient: flipped)
  [3, 3, 516, 512],
  [3, 3, 256, 256],
  [3, 3, 260, 256],
  [3, 3, 128, 128],
  [3, 3, 64, 64],
];

async function main(): Promise<void> {
  const threads = Number(option('threads') ?? defaultThreadCount());
  const repeats = Number(option('repeats') ?? 4);
  await useBackend('wasm', { threads });
  console.log(`wasm, ${threads} threads, best of ${repeats}`);
  console.log(`${'filter'.padEnd(22)}${'R = kh·kw·Cin'.padStart(22)}${'taking it in'.padStart(16)}${'per float'.padStart(12)}`);
  for (const [kh, kw, cin, cout] of FILTERS) {
    const filter = tf.randomUniform([kh, kw, cin, cout]);
    const x = tf.randomUniform([1, kh, kw, cin]);
    // (Nothing returned from tf.tidy: it would walk a returned typed array element by element.)
    const convolve = (f: tf.Tensor4D) => tf.tidy(() => void tf.conv2d(x as tf.Tensor4D, f, 1, 'valid').dataSync());
    const cached = bestMs(() => convolve(filter as tf.Tensor4D), repeats);
    const fresh = bestMs(() => tf.tidy(() => convolve(tf.add(filter, 0) as tf.Tensor4D)), repeats);
    const add = bestMs(() => tf.tidy(() => void tf.add(filter, 0).dataSync()), repeats);
    const ms = Math.max(0, fresh - cached - add);
    const rows = kh * kw * cin;
    const floats = rows * cout;
    console.log(
      `${`[${kh}, ${kw}, ${cin}, ${cout}]`.padEnd(22)}${`${rows} (2^${twoAdicValuation(rows)}·…)`.padStart(22)}${`${ms.toFixed(1)} ms`.padStart(16)}${`${((ms / floats) * 1e6).toFixed(2)} ns`.padStart(12)}`,
    );
    tf.dispose([filter, x]);
  }
}

await main();
