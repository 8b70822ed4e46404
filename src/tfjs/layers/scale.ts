/**
 * Per-channel affine y = x · gamma (+ beta) on the last axis: Caffe's Scale layer (the gamma/beta
 * half of its split BatchNorm), with its bias_term. tfjs has no layer for it without also
 * normalizing.
 */
import * as tf from '@tensorflow/tfjs';
import {
  channelsOf,
  type Initializer,
  type InitializerArg,
  type Kwargs,
  type LayerArgs,
  onlyOne,
  onlyShape,
  resolveInitializer,
  serializeInitializer,
} from './common.js';

export interface ScaleArgs extends LayerArgs {
  /** Add beta. Default false, as Caffe's bias_term. */
  useBias?: boolean;
  /** For gamma [C]. Default ones (Caffe's default filler makes Scale the identity). */
  gammaInitializer?: InitializerArg;
  /** For beta [C]. Default zeros. */
  betaInitializer?: InitializerArg;
}

const defaultGammaInitializer = (): Initializer => tf.initializers.ones();
const defaultBetaInitializer = (): Initializer => tf.initializers.zeros();

export class GraftScale extends tf.layers.Layer {
  static className = 'GraftScale';

  readonly useBias: boolean;
  readonly gammaInitializer: Initializer;
  readonly betaInitializer: Initializer;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;

  constructor(args: ScaleArgs = {}) {
    super(args);
    const who = `${GraftScale.className} '${this.name}'`;
    this.useBias = args.useBias ?? false;
    this.gammaInitializer = resolveInitializer(args.gammaInitializer, defaultGammaInitializer, who);
    this.betaInitializer = resolveInitializer(args.betaInitializer, defaultBetaInitializer, who);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const who = `${GraftScale.className} '${this.name}'`;
    const shape = onlyShape(inputShape, who);
    const channels = channelsOf(shape, who);
    this.gamma = this.addWeight('gamma', [channels], 'float32', this.gammaInitializer);
    if (this.useBias) this.beta = this.addWeight('beta', [channels], 'float32', this.betaInitializer);
    this.inputSpec = [new tf.InputSpec({ minNDim: 2, axes: { [-1]: channels } })];
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return onlyShape(inputShape, this.name);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = onlyOne(inputs, this.name);
      // [C] broadcasts against the last axis of any rank.
      const scaled = tf.mul(x, this.gamma!.read());
      return this.beta ? tf.add(scaled, this.beta.read()) : scaled;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      useBias: this.useBias,
      gammaInitializer: serializeInitializer(this.gammaInitializer, defaultGammaInitializer),
      betaInitializer: serializeInitializer(this.betaInitializer, defaultBetaInitializer),
    };
  }
}
