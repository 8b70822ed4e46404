/**
 * Tile for wasm, replacing tfjs-backend-wasm 4.22's, which computes every output element's source
 * index with generic per-element arithmetic, one thread: ≈ 37 ms to tile a [1, 1, 1, 64] vector
 * to 8×56×56×64 here. tfjs's FusedBatchNorm gradient tiles 1/σ to the whole input shape for
 * every BatchNorm layer in training (18% of a resnet18 training step, bench/profile-train).
 *
 * Here the output is built by block copies on the wasm heap, innermost axis first: a row of the
 * input repeated reps times, then each finished block replicated along the next axis out by
 * copyWithin, doubling the copied span each time. Every dtype the wasm backend stores in typed
 * arrays (float32, int32, bool) is handled; string tensors never reach wasm kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Numeric = Float32Array | Int32Array | Uint8Array;

/** Fills target[at, at + length·(times)) with `times` copies of target[at, at + length). */
function replicate(target: Numeric, at: number, length: number, times: number): void {
  let filled = length;
  const total = length * times;
  while (filled < total) {
    const span = Math.min(filled, total - filled);
    target.copyWithin(at + filled, at, at + span);
    filled += span;
  }
}

export function tileValues(source: Numeric, target: Numeric, shape: number[], reps: number[]): void {
  const rank = shape.length;
  if (rank === 0) {
    target.set(source);
    return;
  }
  // Strides (in elements) of the input and of the output.
  const inStride = new Array<number>(rank);
  const outStride = new Array<number>(rank);
  inStride[rank - 1] = 1;
  outStride[rank - 1] = 1;
  for (let axis = rank - 2; axis >= 0; axis--) {
    inStride[axis] = inStride[axis + 1] * shape[axis + 1];
    outStride[axis] = outStride[axis + 1] * shape[axis + 1] * reps[axis + 1];
  }
  const fill = (outAt: number, inAt: number, axis: number): void => {
    if (axis === rank - 1) {
      const row = shape[axis];
      target.set(source.subarray(inAt, inAt + row), outAt);
      replicate(target, outAt, row, reps[axis]);
      return;
    }
    for (let i = 0; i < shape[axis]; i++) fill(outAt + i * outStride[axis], inAt + i * inStride[axis], axis + 1);
    // The block for one repetition of this axis is shape[axis] output rows of the next.
    replicate(target, outAt, shape[axis] * outStride[axis], reps[axis]);
  };
  fill(0, 0, 0);
}

export const tileConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as tf.TileAttrs;
    const wasm = backend as BackendWasm;
    if (reps.length !== x.shape.length) throw new Error(`graft wasm Tile: ${reps.length} reps for a rank-${x.shape.length} tensor`);
    const shape = x.shape.map((d, i) => d * reps[i]);
    const out = wasm.makeOutput(shape, x.dtype);
    if (tf.util.sizeFromShape(shape) === 0) return out;
    // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
    const source = wasm.typedArrayFromHeap(x) as Numeric;
    const target = wasm.typedArrayFromHeap(out) as Numeric;
    tileValues(source, target, x.shape, reps);
    return out;
  },
};
