/**
 * Identity for wasm, replacing tfjs-backend-wasm 4.22's, which copies the whole buffer. tfjs
 * tensors are immutable (a Variable's assign swaps its dataId, no kernel writes into its input),
 * so the result can share its input's data, one more reference on it, as the cpu and webgl
 * backends' Identity and wasm's own Reshape do. tfjs-layers calls it hundreds of times per
 * training step (≈ 60 ms per resnet18 step at batch 8, bench/profile-train).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    (backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  },
};
