/**
 * Optimizers with per-layer learning-rate multipliers (Chainer seed: the new head at 10× the base
 * rate). tfjs optimizers take one rate, and scaling gradients is no substitute under Adam, which
 * divides by the gradient's own magnitude (TRAPS.md): each multiplier gets its own optimizer over
 * its own variables.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import { FusedAdamOptimizer } from './adam.js';
import { globToRegExp } from './freeze.js';

export type OptimizerName = 'adam' | 'sgd' | 'momentum';

export interface OptimizerOptions {
  name: OptimizerName;
  learningRate: number;
  /** For 'momentum' (default 0.9). */
  momentum?: number;
  /** `PATTERN=K` rules: layers whose name matches the glob train at K × the rate; the last match wins. */
  lrMult?: { pattern: string; factor: number }[];
}

export interface OptimizerGroup {
  factor: number;
  optimizer: tf.Optimizer;
  /** tfjs variable names (LayerVariable.name) in this group. */
  variables: tf.Variable[];
}

export function parseLrMult(specs: string[] = []): { pattern: string; factor: number }[] {
  return specs.map((spec) => {
    const at = spec.lastIndexOf('=');
    const factor = Number(spec.slice(at + 1));
    if (at <= 0 || !Number.isFinite(factor) || factor < 0) throw new UsageError(`--lr-mult ${spec}: expected PATTERN=FACTOR, e.g. head=10`);
    return { pattern: spec.slice(0, at), factor };
  });
}

function makeOptimizer(options: OptimizerOptions, rate: number): tf.Optimizer {
  switch (options.name) {
    case 'adam':
      // tfjs's defaults (β1 0.9, β2 0.999, ε the backend's), one fused kernel per variable on wasm.
      return new FusedAdamOptimizer(rate, 0.9, 0.999);
    case 'sgd':
      return tf.train.sgd(rate);
    case 'momentum':
      return tf.train.momentum(rate, options.momentum ?? 0.9);
  }
}

/** The trainable variables of `model`, grouped by learning-rate multiplier, each with an optimizer. */
export function optimizerGroups(model: tf.LayersModel, options: OptimizerOptions): OptimizerGroup[] {
  const rules = (options.lrMult ?? []).map((r) => ({ ...r, regex: globToRegExp(r.pattern) }));
  for (const rule of rules) {
    if (!model.layers.some((l) => rule.regex.test(l.name))) throw new UsageError(`--lr-mult ${rule.pattern}=${rule.factor}: no layer matches`);
  }
  const groups = new Map<number, tf.Variable[]>();
  for (const layer of model.layers) {
    if (!layer.trainable) continue;
    let factor = 1;
    for (const rule of rules) if (rule.regex.test(layer.name)) factor = rule.factor;
    if (factor === 0) continue;
    for (const weight of layer.trainableWeights) {
      const list = groups.get(factor) ?? [];
      list.push(weight.read() as tf.Variable);
      groups.set(factor, list);
    }
  }
  return [...groups].map(([factor, variables]) => ({ factor, variables, optimizer: makeOptimizer(options, options.learningRate * factor) }));
}

export function disposeGroups(groups: OptimizerGroup[]): void {
  for (const group of groups) {
    group.optimizer.dispose();
    // tfjs 4.22's MomentumOptimizer.dispose frees its momentum scalar and slots but not the
    // learning-rate scalar its SGD base class keeps (`c`): one tensor lost per run.
    const rate = (group.optimizer as unknown as { c?: tf.Tensor }).c;
    if (group.optimizer instanceof tf.MomentumOptimizer && rate && !rate.isDisposed) rate.dispose();
  }
}
