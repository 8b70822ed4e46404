/**
 * What a model asks of its input and how its output reads, shared by `graft predict` (Node) and the
 * `graft serve` page (browser): pure code, no tfjs, no Node. The same module on both sides is what
 * makes the page's numbers equal graft predict's.
 */
import { UsageError } from '../errors.js';
import type { InputConvention } from '../formats/source.js';
import type { InputSpec } from './preprocess.js';

/** Flags that override graft.json's preprocessing (`--scale --mean --std --channel-order --input-size`). */
export interface PreprocessOverrides {
  scale?: number;
  mean?: number[];
  std?: number[];
  channelOrder?: 'RGB' | 'BGR' | 'GRAY';
  inputSize?: [number, number];
}

/**
 * The preprocessing for a model with NHWC input `shape` (batch may be null): graft.json's `input`
 * convention, with any overrides applied; absent values mean scale 1, no mean, no std.
 */
export function inputSpecFromShape(shape: readonly (number | null)[], input: InputConvention | undefined, overrides: PreprocessOverrides = {}): InputSpec {
  if (shape.length !== 4) throw new UsageError('this model does not take images (its input is not 4-D)');
  const [, h, w, c] = shape as number[];
  const [height, width] = overrides.inputSize ?? [h, w];
  const channelOrder = overrides.channelOrder ?? input?.channelOrder ?? (c === 1 ? 'GRAY' : 'RGB');
  if ((channelOrder === 'GRAY') !== (c === 1)) {
    throw new UsageError(`channel order ${channelOrder} does not fit a model with ${c} input channels`);
  }
  return {
    height,
    width,
    channelOrder,
    scale: overrides.scale ?? input?.scale ?? 1,
    mean: overrides.mean ?? input?.mean ?? [],
    std: overrides.std ?? input?.std ?? [],
  };
}

/** A model whose last layer is not a softmax gives logits: probabilities either way. */
export function toProbabilities(output: Float32Array, endsWithSoftmax: boolean): Float32Array {
  if (endsWithSoftmax) return output;
  const max = output.reduce((m, v) => Math.max(m, v), -Infinity);
  const exp = output.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

export interface Ranked {
  index: number;
  label?: string;
  probability: number;
}

/** The `k` most probable classes, most probable first, named by `labels` where given. */
export function topK(probabilities: Float32Array, k: number, labels?: readonly string[]): Ranked[] {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
  return order.slice(0, k).map((index) => ({ index, label: labels?.[index], probability: probabilities[index] }));
}

/** One class name per non-empty line (a `--labels` file). */
export function parseLabels(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}
