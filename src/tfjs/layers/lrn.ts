/**
 * Across-channel local response normalization (Caffe LRN ACROSS_CHANNELS, PyTorch
 * LocalResponseNorm, Chainer local_response_normalization), which tfjs-layers lacks:
 *   y = x / (k + alpha · Σ_{c' within size/2 of c} x_{c'}²)^beta
 * with alpha per element of the window (Caffe's and PyTorch's alpha / size, as graph.ts has it).
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../../errors.js';
import { channelsOf, type Kwargs, type LayerArgs, onlyOne, onlyShape } from './common.js';

export interface LrnArgs extends LayerArgs {
  /** Window length in channels, odd. */
  size: number;
  /** Per-element coefficient (already divided by size where the source divides). */
  alpha: number;
  beta: number;
  k: number;
}

export class GraftLRN extends tf.layers.Layer {
  static className = 'GraftLRN';

  readonly size: number;
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;

  constructor(args: LrnArgs) {
    super(args);
    const who = `${GraftLRN.className} '${this.name}'`;
    if (!Number.isInteger(args.size) || args.size < 1 || args.size % 2 !== 1) {
      throw new GraftError(`${who}: size must be an odd positive integer, got ${args.size}`);
    }
    for (const key of ['alpha', 'beta', 'k'] as const) {
      if (typeof args[key] !== 'number' || !Number.isFinite(args[key])) {
        throw new GraftError(`${who}: ${key} must be a finite number, got ${args[key]}`);
      }
    }
    this.size = args.size;
    this.alpha = args.alpha;
    this.beta = args.beta;
    this.k = args.k;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    channelsOf(onlyShape(inputShape, this.name), `${GraftLRN.className} '${this.name}'`);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return onlyShape(inputShape, this.name);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = onlyOne(inputs, this.name);
      // tf.localResponseNormalization sums over [c − r, c + r] with alpha applied per element,
      // exactly the formula above with r = (size − 1) / 2. It wants rank 4; the normalization
      // only ever looks along the last axis, so any other rank folds into [positions, 1, 1, C].
      const depthRadius = (this.size - 1) / 2;
      const x4 = x.rank === 4 ? (x as tf.Tensor4D) : x.reshape([-1, 1, 1, x.shape[x.rank - 1]]) as tf.Tensor4D;
      const y = tf.localResponseNormalization(x4, depthRadius, this.k, this.alpha, this.beta);
      return x.rank === 4 ? y : y.reshape(x.shape);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, alpha: this.alpha, beta: this.beta, k: this.k };
  }
}
