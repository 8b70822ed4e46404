/**
 * BatchMatMul for wasm, wrapping tfjs-backend-wasm 4.22's. Its C++ takes the fast XNNPACK path
 * only for one untransposed product; a transpose flag or a batch > 1 falls to a scalar loop
 * (measured here on 512×1024·1024×512: 35 GFLOP/s plain, 3.1 with transposeB, 1.5 for a batch
 * of 4). Dense layers hit that on every backward pass (dx = dy·wᵀ, dw = xᵀ·dy).
 *
 * So: transpose explicitly (wasm's Transpose is a fast copy), computing a·b or (bᵀ·aᵀ)ᵀ,
 * whichever moves less data (swapOrder), then run the original kernel on one untransposed
 * [1, M, K]·[1, K, N] product per batch item. Batches that broadcast other than "the same items,
 * or one side a single item" are left to the original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withKernelCalls, type WasmKernelCalls } from './kernel-calls.js';
import { defineWasmKernel } from './wasm-kernel.js';

/** [...batch, rows, cols] → [batchSize, rows, cols] */
function asRank3(calls: WasmKernelCalls, x: tf.TensorInfo): tf.TensorInfo {
  const rows = x.shape[x.shape.length - 2];
  const cols = x.shape[x.shape.length - 1];
  return calls.reshape(x, [tf.util.sizeFromShape(x.shape.slice(0, -2)), rows, cols]);
}

/** Swaps the last two axes of a rank-3 operand: a copy when `needed`, else the operand itself. */
function transposedIf(calls: WasmKernelCalls, x: tf.TensorInfo, needed: boolean): tf.TensorInfo {
  return needed ? calls.transpose(x, [0, 2, 1]) : x;
}

/**
 * Whether to compute a·b as (bᵀ·aᵀ)ᵀ. Both orders give the same plain products; they differ in
 * what must be copied into place: transposing a [M, K] costs M·K, b [K, N] costs K·N, and the
 * swapped order also transposes its [N, M] result. For a Dense layer's dx = dy·wᵀ with a small
 * batch, (w·dyᵀ)ᵀ moves the batch-sized operands instead of the whole weight matrix, which as a
 * fresh right-hand operand XNNPACK would also repack on every call (measured on
 * 64×1024·1024×1024: 5.8 ms with the same right operand each time, 18 ms with a fresh copy).
 */
function swapOrder(m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): boolean {
  const direct = (transposeA ? m * k : 0) + (transposeB ? k * n : 0);
  const swapped = (transposeA ? 0 : m * k) + (transposeB ? 0 : k * n) + m * n;
  return swapped < direct;
}

/** Item `i` of `left` times item `j` of `right` by the original kernel's fast path: [1, rows, cols]. */
function plainProduct(
  calls: WasmKernelCalls,
  original: tf.KernelConfig,
  left: tf.TensorInfo,
  right: tf.TensorInfo,
  i: number,
  j: number,
): tf.TensorInfo {
  const [, rows, inner] = left.shape;
  const [, , cols] = right.shape;
  const inputs = { a: calls.slice(left, [i, 0, 0], [1, rows, inner]), b: calls.slice(right, [j, 0, 0], [1, inner, cols]) };
  return calls.adopt(original.kernelFunc({ inputs, backend: calls.backend, attrs: { transposeA: false, transposeB: false } }));
}

/** [batch, rows, cols] of plain products, item k from items (k or 0) of each side. */
function batchedProducts(
  calls: WasmKernelCalls,
  original: tf.KernelConfig,
  left: tf.TensorInfo,
  right: tf.TensorInfo,
  batch: number,
): tf.TensorInfo {
  const single = (x: tf.TensorInfo, item: number) => (x.shape[0] === 1 ? 0 : item);
  if (batch === 1) return plainProduct(calls, original, left, right, 0, 0);
  const [, rows] = left.shape;
  const [, , cols] = right.shape;
  const out = calls.adopt(calls.backend.makeOutput([batch, rows, cols], 'float32'));
  for (let item = 0; item < batch; item++) {
    const product = plainProduct(calls, original, left, right, single(left, item), single(right, item));
    // Views are taken after the product's allocation, which may have grown the heap.
    (calls.backend.typedArrayFromHeap(out) as Float32Array).set(calls.backend.typedArrayFromHeap(product), item * rows * cols);
  }
  return out;
}

function batchMatMul(
  original: tf.KernelConfig,
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  { transposeA, transposeB }: tf.BatchMatMulAttrs,
): tf.TensorInfo {
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = tf.util.sizeFromShape(outer);
  // Item i of the output is item i (or the only item) of each side exactly when neither side is
  // spread over axes it lacks: each side has the whole batch, or a single item.
  const itemsAlign = (batchA === batch || batchA === 1) && (batchB === batch || batchB === 1);
  if (!itemsAlign) {
    return original.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA, transposeB } }) as tf.TensorInfo;
  }
  const [m, k] = transposeA ? a.shape.slice(-2).reverse() : a.shape.slice(-2);
  const [kb, n] = transposeB ? b.shape.slice(-2).reverse() : b.shape.slice(-2);
  if (k !== kb) throw new Error(`graft wasm BatchMatMul: inner sizes ${k} and ${kb} differ (shapes [${a.shape}], [${b.shape}])`);
  return withKernelCalls(backend, (calls) => {
    const a3 = asRank3(calls, a);
    const b3 = asRank3(calls, b);
    let product: tf.TensorInfo;
    if (swapOrder(m, k, n, transposeA, transposeB)) {
      // (a·b)ᵀ = bᵀ·aᵀ: the operands as [N, K] and [K, M], the result back to [M, N].
      const left = transposedIf(calls, b3, !transposeB);
      const right = transposedIf(calls, a3, !transposeA);
      product = calls.transpose(batchedProducts(calls, original, left, right, batch), [0, 2, 1]);
    } else {
      product = batchedProducts(calls, original, transposedIf(calls, a3, transposeA), transposedIf(calls, b3, transposeB), batch);
    }
    return calls.reshape(product, [...outer, m, n]);
  });
}

/** graft's BatchMatMul, delegating to `original` (tfjs's wasm kernel, unregistered by the caller). */
export function wrapBatchMatMul(original: tf.KernelConfig): tf.KernelConfig {
  return defineWasmKernel<'a' | 'b', tf.BatchMatMulAttrs>(
    tf.BatchMatMul,
    ['a', 'b'],
    ({ inputs: { a, b }, attrs, backend }) => batchMatMul(original, backend, a, b, attrs),
    // The original's setup binds its C++ function; once unregistered, tfjs would no longer call it.
    original.setupFunc,
  );
}
