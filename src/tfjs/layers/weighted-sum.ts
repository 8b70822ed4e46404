/**
 * Merge layer y = Σ coeffs[i] · inputs[i]: Caffe's Eltwise SUM with `coeff` (e.g. a residual
 * difference with coeff −1). tf.layers.add has no coefficients. Shapes must match exactly, as
 * Caffe requires.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../../errors.js';
import type { Kwargs, LayerArgs } from './common.js';

export interface WeightedSumArgs extends LayerArgs {
  /** One finite coefficient per input, in input order. */
  coeffs: number[];
}

export class GraftWeightedSum extends tf.layers.Layer {
  static className = 'GraftWeightedSum';

  readonly coeffs: number[];

  constructor(args: WeightedSumArgs) {
    super(args);
    const who = `${GraftWeightedSum.className} '${this.name}'`;
    if (!Array.isArray(args.coeffs) || args.coeffs.length < 1 || !args.coeffs.every((c) => typeof c === 'number' && Number.isFinite(c))) {
      throw new GraftError(`${who}: coeffs must be a non-empty list of finite numbers, got ${JSON.stringify(args.coeffs)}`);
    }
    this.coeffs = [...args.coeffs];
  }

  private shapesOf(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const who = `${GraftWeightedSum.className} '${this.name}'`;
    const shapes = inputShape.length > 0 && Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
    if (shapes.length !== this.coeffs.length) {
      throw new GraftError(`${who}: ${this.coeffs.length} coefficients for ${shapes.length} inputs`);
    }
    return shapes;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    this.computeOutputShape(inputShape);
    this.built = true;
  }

  /** The common shape; an axis unknown (null) in one input takes its size from another. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = this.shapesOf(inputShape);
    const merged = [...shapes[0]];
    for (const shape of shapes.slice(1)) {
      const clash = shape.length !== merged.length || shape.some((d, i) => d !== null && merged[i] !== null && d !== merged[i]);
      if (clash) {
        throw new GraftError(
          `${GraftWeightedSum.className} '${this.name}': input shapes differ: ${shapes.map((s) => JSON.stringify(s)).join(' vs ')}`,
        );
      }
      shape.forEach((d, i) => {
        if (merged[i] === null) merged[i] = d;
      });
    }
    return merged;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      if (list.length !== this.coeffs.length) {
        throw new GraftError(`${GraftWeightedSum.className} '${this.name}': ${this.coeffs.length} coefficients for ${list.length} inputs`);
      }
      const terms = list.map((x, i) => (this.coeffs[i] === 1 && list.length > 1 ? x : tf.mul(x, this.coeffs[i])));
      return terms.length === 1 ? terms[0] : tf.addN(terms);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), coeffs: [...this.coeffs] };
  }
}
