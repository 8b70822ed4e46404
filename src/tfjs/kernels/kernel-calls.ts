/**
 * Running wasm kernels from inside another wasm kernel, on TensorInfos.
 *
 * graft's training kernels are compositions of tfjs-backend-wasm's own fast kernels (Conv2D,
 * DepthwiseConv2dNative, Transpose, PadV2, ...). They call those kernels' functions directly, as
 * the wasm backend's own composite kernels do (its BatchMatMul calls its Reshape), rather than
 * through tf ops: no engine bookkeeping, no tape, and no need to wrap the caller's inputs in
 * Tensors (which would need backend.incRef first, or disposing the wrapper frees the caller's
 * data: see "Kernels built from other ops" in TRAPS.md).
 *
 * Every TensorInfo a wasm kernel returns owns one reference to its data (Reshape shares its
 * input's data and increments its count), so freeing each intermediate once with
 * backend.disposeData is exactly right, whatever shares what.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Paddings = [number, number][];

/** What the wasm backend keeps per buffer (BackendWasm's dataIdMap values). */
interface WasmTensorData {
  id: number;
  memoryOffset: number;
}

export class WasmKernelCalls {
  private readonly made: tf.TensorInfo[] = [];
  private readonly views: tf.TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** The registered wasm kernel `name` on `inputs`; its result is freed by release() unless returned. */
  call(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const kernel = tf.getKernel(name, 'wasm');
    if (kernel === undefined) throw new Error(`graft: wasm kernel ${name} is not registered`);
    return this.adopt(kernel.kernelFunc({ inputs, backend: this.backend, attrs }));
  }

  /** Takes over a result made some other way (e.g. backend.makeOutput, a saved kernel's function). */
  adopt(result: tf.TensorInfo | tf.TensorInfo[]): tf.TensorInfo {
    const list = Array.isArray(result) ? result : [result];
    this.made.push(...list);
    if (list.length !== 1) throw new Error(`graft: expected one kernel output, got ${list.length}`);
    return list[0];
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.call('Reshape', { x }, { shape });
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.call('Transpose', { x }, { perm });
  }

  /** Zero padding, [before, after] per axis. */
  pad(x: tf.TensorInfo, paddings: Paddings): tf.TensorInfo {
    if (paddings.every(([before, after]) => before === 0 && after === 0)) return x;
    return this.call('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.call('Slice', { x }, { begin, size });
  }

  /** Sum over one axis, dropped from the shape. */
  sum(x: tf.TensorInfo, axis: number): tf.TensorInfo {
    return this.call('Sum', { x }, { axis: [axis], keepDims: false });
  }

  /** A new [shape] float32 tensor of zeros. */
  zeros(shape: number[]): tf.TensorInfo {
    const out = this.adopt(this.backend.makeOutput(shape, 'float32'));
    this.backend.typedArrayFromHeap(out).fill(0);
    return out;
  }

  /**
   * A float32 [shape] tensor over `x`'s buffer from element `offset` on, without a copy (which
   * wasm's Slice would make): a second name for part of x's memory, registered with the C++ side
   * so kernels read it like any tensor. Only ever an input of kernels called here, never a result;
   * freed by release(), which unregisters it without freeing the memory (that is x's). Unregistering
   * also drops whatever the C++ side cached for it: XNNPACK's BatchMatMul keeps a packed copy of its
   * right operand per tensor id until that id is disposed, which for a long-lived x (a saved
   * activation) would hold a second copy of it.
   */
  view(x: tf.TensorInfo, shape: number[], offset = 0): tf.TensorInfo {
    if (x.dtype !== 'float32') throw new Error(`graft: a view of a ${x.dtype} tensor`);
    if (offset < 0 || offset + tf.util.sizeFromShape(shape) > tf.util.sizeFromShape(x.shape)) {
      throw new Error(`graft: a view [${shape}] at ${offset} does not fit in [${x.shape}]`);
    }
    const data = this.dataOf(x);
    const view = this.backend.makeOutput(shape, 'float32', data.memoryOffset + 4 * offset);
    this.views.push(view);
    return view;
  }

  private dataOf(x: tf.TensorInfo): WasmTensorData {
    const data = (this.backend as unknown as { dataIdMap: { get(dataId: object): WasmTensorData | undefined } }).dataIdMap.get(x.dataId);
    if (data === undefined) throw new Error('graft: a tensor the wasm backend does not hold');
    return data;
  }

  private dropView(view: tf.TensorInfo): void {
    const backend = this.backend as unknown as { dataIdMap: Map<object, WasmTensorData>; wasm: { tfjs: { disposeData(id: number): void } } };
    const data = backend.dataIdMap.get(view.dataId);
    if (data === undefined) return;
    backend.wasm.tfjs.disposeData(data.id);
    backend.dataIdMap.delete(view.dataId);
  }

  /** Frees intermediates early (inside a loop), before release() would. */
  free(...infos: tf.TensorInfo[]): void {
    for (const info of infos) {
      const view = this.views.indexOf(info);
      if (view >= 0) {
        this.views.splice(view, 1);
        this.dropView(info);
        continue;
      }
      const at = this.made.indexOf(info);
      if (at < 0) continue;
      this.made.splice(at, 1);
      this.backend.disposeData(info.dataId);
    }
  }

  /**
   * Frees every intermediate except `result`, which the caller returns to the engine (it owns one
   * reference: a kernel's output, never a bare input).
   */
  release(result: tf.TensorInfo): tf.TensorInfo {
    if (!this.made.includes(result)) throw new Error('graft: a kernel must return a result it made, not one of its inputs');
    for (const info of this.made) if (info !== result) this.backend.disposeData(info.dataId);
    this.made.length = 0;
    this.dropViews();
    return result;
  }

  /** Frees everything made so far (on failure). */
  releaseAll(): void {
    for (const info of this.made) this.backend.disposeData(info.dataId);
    this.made.length = 0;
    this.dropViews();
  }

  private dropViews(): void {
    for (const view of this.views) this.dropView(view);
    this.views.length = 0;
  }
}

/**
 * Runs `body` with a fresh WasmKernelCalls and returns its result with every intermediate freed,
 * also when `body` throws.
 */
export function withKernelCalls(backend: BackendWasm, body: (calls: WasmKernelCalls) => tf.TensorInfo): tf.TensorInfo {
  const calls = new WasmKernelCalls(backend);
  let result: tf.TensorInfo;
  try {
    result = body(calls);
  } catch (error) {
    calls.releaseAll();
    throw error;
  }
  return calls.release(result);
}
