/**
 * Shared by the server and the browser page (pure code: no tfjs, no Node). What the page needs to
 * read a model the way `graft predict` does: the input spec from graft.json and the model's input
 * shape, and probabilities + top-k from the output; the pixels → input step itself is
 * src/input/preprocess.ts, the same module `graft predict` runs.
 *
 * inputSpecFromShape mirrors src/tfjs/predict.ts's inputSpecFor (which needs a tfjs model); the
 * end-to-end test (test/web) checks that the page derives the same spec as Node for each model.
 */
import { UsageError } from '../errors.js';
import type { InputConvention } from '../formats/source.js';
import type { InputSpec } from '../input/preprocess.js';

/** The model's NHWC input shape (batch may be null) and graft.json's `input` convention, when there is one. */
export function inputSpecFromShape(shape: readonly (number | null)[], input: InputConvention | undefined): InputSpec {
  if (shape.length !== 4) throw new UsageError('this model does not take images (its input is not 4-D)');
  const [, h, w, c] = shape as number[];
  const channelOrder = input?.channelOrder ?? (c === 1 ? 'GRAY' : 'RGB');
  if ((channelOrder === 'GRAY') !== (c === 1)) {
    throw new UsageError(`channel order ${channelOrder} does not fit a model with ${c} input channels`);
  }
  return { height: h, width: w, channelOrder, scale: input?.scale ?? 1, mean: input?.mean ?? [], std: input?.std ?? [] };
}

/** A model whose last layer is not a softmax gives logits: report probabilities either way (as graft predict). */
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

export function topK(probabilities: Float32Array, k: number, labels?: readonly string[]): Ranked[] {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
  return order.slice(0, k).map((index) => ({ index, label: labels?.[index], probability: probabilities[index] }));
}

/** One class name per non-empty line (as graft predict --labels reads it). */
export function parseLabels(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/** GET /api/config: what the page needs besides the model directory. */
export interface PageConfig {
  /** The model directory's name and absolute path. */
  name: string;
  dir: string;
  /** Class names from --labels (else the page uses graft.json's classNames). */
  labels: string[] | null;
  labelsFile: string | null;
  /** How many classes the page lists. */
  top: number;
  /** What the server found wrong with the directory (missing shards...), for the page's error. */
  problems: string[];
}
