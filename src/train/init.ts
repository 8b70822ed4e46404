/**
 * Fresh parameters for training from scratch, in the source layout the architecture expects,
 * with Keras's defaults (the R seed's experiment): glorot-uniform kernels, zero biases, BatchNorm
 * at identity, PReLU slopes at PyTorch's 0.25. Seeded, so `graft train --seed` reproduces.
 */
import type { ExpectedParam } from '../graph/architectures/builder.js';
import { float32Tensor, type TensorMap } from '../tensor/tensor.js';
import { Random } from './random.js';

function fans(shape: number[]): [number, number] {
  if (shape.length === 2) return [shape[1], shape[0]];
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [shape[1] * receptive, shape[0] * receptive];
}

export function initialTensors(expected: Map<string, ExpectedParam>, seed: number): TensorMap {
  const random = new Random(seed);
  const tensors: TensorMap = new Map();
  const keys = [...expected.keys()];
  for (const [key, param] of expected) {
    if (param.optional) continue;
    const size = param.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const leaf = key.split(/[./]/).pop() ?? '';
    const prefix = key.slice(0, key.length - leaf.length);
    const isBatchNorm = keys.some((k) => k === `${prefix}running_mean` || k === `${prefix}avg_mean`);
    if (param.shape.length >= 2) {
      const [fanIn, fanOut] = fans(param.shape);
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) data[i] = (random.next() * 2 - 1) * limit;
    } else if (/var$/.test(leaf) || leaf === 'gamma' || (isBatchNorm && leaf === 'weight')) {
      data.fill(1);
    } else if (!isBatchNorm && (leaf === 'weight' || leaf === 'W')) {
      data.fill(0.25);
    }
    tensors.set(key, float32Tensor(param.shape, data));
  }
  return tensors;
}
