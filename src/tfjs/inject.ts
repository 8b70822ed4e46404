/**
 * Weights injected at construction (Chainer's `initialW` idea): every pretrained weight reaches
 * tfjs as the initializer of its variable, so a model is never built with random values first.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors.js';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * How a bound weight's values are produced: `make` computes the tfjs-layout array from the source
 * tensors on demand, so the writer can stream one weight at a time.
 */
export interface BoundWeight {
  /** tfjs weight name, `<layer>/<weight>` (e.g. `conv1/kernel`). */
  name: string;
  shape: number[];
  /** Source TensorMap keys this weight is made from. */
  sources: string[];
  make(): Float32Array;
  /** The same values in pieces, for streaming big weights; chunks may share one buffer. */
  chunks?(): Iterable<Float32Array>;
}

/**
 * 'values': variables hold the pretrained weights (a model to run or train).
 * 'shapes': variables are zero-filled and the values are left to the writer, so converting a
 * 550 MB model never holds its weights twice (zeros from a fresh Float32Array are untouched
 * calloc pages: they cost no resident memory on the cpu backend).
 */
export type InjectMode = 'values' | 'shapes';

export class WeightBinder {
  readonly bound: BoundWeight[] = [];
  private readonly byName = new Map<string, BoundWeight>();

  constructor(readonly mode: InjectMode) {}

  /**
   * An initializer that serializes as `base` (so model.json names a standard tfjs initializer and
   * loads without graft) but yields the pretrained values, after checking the shape tfjs asks for.
   */
  inject(base: Initializer, weight: BoundWeight): Initializer {
    if (this.byName.has(weight.name)) throw new GraftError(`weight ${weight.name} is bound twice`);
    this.byName.set(weight.name, weight);
    this.bound.push(weight);
    const mode = this.mode;
    const initializer = Object.create(base) as Initializer;
    initializer.apply = (shape: number[]) => {
      if (shape.length !== weight.shape.length || shape.some((d, i) => d !== weight.shape[i])) {
        throw new GraftError(
          `weight ${weight.name} from ${weight.sources.join(', ')} has shape [${weight.shape}] but the layer needs [${shape}]`,
        );
      }
      if (mode === 'shapes') return tf.zeros(shape);
      return tf.tensor(weight.make(), shape, 'float32');
    };
    return initializer;
  }

  get(name: string): BoundWeight | undefined {
    return this.byName.get(name);
  }
}
