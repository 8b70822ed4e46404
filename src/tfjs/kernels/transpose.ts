/**
 * Transpose for wasm, replacing tfjs-backend-wasm 4.22's, whose C++ walks the output with
 * generic index arithmetic and, when the innermost axis moves, reads with a large stride through
 * the whole input: 55–80 ms for [100352, 64] → [64, 100352] here, 15–30 ns an element. graft's
 * gradient kernels (conv2d-backprop-*.ts, batch-mat-mul.ts) transpose on every call.
 *
 * Here: adjacent axes that stay adjacent are merged first; where the innermost axis moves and
 * both axes it trades places with are long (tiledTransposePays: [100352, 64] → [64, 100352]
 * 16 against 50 ms, a conv kernel's [3, 3, 512, 512] → [3, 3, 512, 512]ᵀ 5 against 12 ms), the
 * transpose is a batch of 2-D transposes between the input's innermost axis and the axis that
 * becomes the output's innermost, done in 32×32 tiles so that reads and writes both stay within
 * a few cache lines, on all threads for float32 (heap-workers.ts), which also takes the cases
 * with a shorter output-innermost side. Everything else goes to wasm's own kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, heapThreads, runOnHeap } from './heap-workers.js';
import { type Numeric, tiledTransposePays, transposeValues } from './transpose-values.js';

export { collapse, tiledTransposePays, transposeValues } from './transpose-values.js';

/**
 * graft's Transpose, carrying `original`'s setup along: tfjs-backend-wasm's own kernels (Sum,
 * Mean, Max, cumulative ops, ...) call its transpose function directly, which that setup binds.
 */
export function wrapTranspose(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') || !tiledTransposePays(x.shape, perm, x.dtype === 'float32' ? heapThreads(args.backend as BackendWasm) : 1)) {
      return original.kernelFunc(args);
    }
    const wasm = args.backend as BackendWasm;
    const outShape = perm.map((axis) => x.shape[axis]);
    const out = wasm.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    if (x.dtype === 'float32') {
      // On all threads. (Only float32: a Float32Array copy may not keep int32 bit patterns that read as NaN.)
      runOnHeap(wasm, 'transpose', { x: heapOffset(wasm, x), out: heapOffset(wasm, out), shape: x.shape, perm });
      return out;
    }
    // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
    transposeValues(wasm.typedArrayFromHeap(x) as Numeric, wasm.typedArrayFromHeap(out) as Numeric, x.shape, perm);
    return out;
  };
  return { kernelName: tf.Transpose, backendName: 'wasm', kernelFunc, ...(original.setupFunc ? { setupFunc: original.setupFunc } : {}) };
}
