/**
 * 2-D max/average pooling with the sources' rounding and divisor rules (Pool2dNode in graph.ts),
 * which tfjs's 'valid'/'same' pooling cannot express: Caffe and PyTorch ceil_mode round the
 * output up and clip a last window that would start in the bottom/right padding; Chainer's
 * cover_all rounds up without clipping; Caffe's average divides by a window clipped at in + pad.
 *
 * Forward: pad explicitly (−∞ for max, 0 for avg) by `pad` top/left and by whatever the last
 * window needs bottom/right, then one 'valid' tfjs pool; average rescales by a constant per-output
 * map. Everything is MaxPool/AvgPool/PadV2/Mul, which the cpu and wasm backends both have, with
 * gradients.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../../errors.js';
import { poolOutputLength } from '../../graph/shapes.js';
import { type Kwargs, type LayerArgs, onlyOne, onlyShape, type Pair, toPair } from './common.js';

export type PoolMode = 'max' | 'avg';
export type PoolRounding = 'floor' | 'ceil' | 'cover_all';
export type AvgDivisor = 'padded' | 'valid' | 'window';

/**
 * Pooled length along one axis (graph.ts):
 *   floor:     floor((in + 2p − k) / s) + 1
 *   ceil:      ceil((in + 2p − k) / s) + 1, minus 1 when (out − 1)·s ≥ in + p
 *              (PyTorch's pooling_output_shape; Caffe's pooling_layer.cpp clips only when some pad
 *              is non-zero, which differs only when pad = 0 and k < s)
 *   cover_all: floor((in + 2p − k + s − 1) / s) + 1 (Chainer's get_conv_outsize)
 */
export function pooledLength(size: number, kernel: number, stride: number, pad: number, rounding: PoolRounding): number {
  if (size + 2 * pad < kernel) throw new GraftError(`pooling window ${kernel} is larger than the padded input ${size + 2 * pad}`);
  return poolOutputLength(size, kernel, stride, pad, rounding === ('coverAll' as PoolRounding) ? 'cover_all' : rounding);
}

/**
 * Divisor of each output position along one axis; the 2-D divisor is the product of the two
 * axes' (every rule below is separable). Window i covers [i·s − p, i·s − p + k) in input
 * coordinates.
 *   padded: clipped at in + p but not at 0 (Caffe AVE; PyTorch count_include_pad = True)
 *   valid:  clipped to the input [0, in) (PyTorch count_include_pad = False)
 *   window: always k (Chainer average_pooling_2d)
 * A window with nothing to count (possible only under cover_all, or pad ≥ kernel) gets 1: its
 * sum is 0, so its average is 0 rather than NaN.
 */
export function divisorsAlongAxis(
  size: number,
  kernel: number,
  stride: number,
  pad: number,
  outLength: number,
  rule: AvgDivisor,
): number[] {
  const divisors: number[] = [];
  for (let i = 0; i < outLength; i++) {
    const start = i * stride - pad;
    let count: number;
    if (rule === 'window') count = kernel;
    else if (rule === 'padded') count = Math.min(start + kernel, size + pad) - start;
    else count = Math.min(start + kernel, size) - Math.max(start, 0);
    divisors.push(Math.max(count, 1));
  }
  return divisors;
}

export interface PoolingArgs extends LayerArgs {
  mode: PoolMode;
  /** [kh, kw]; global pooling is poolSize = the input's [H, W]. */
  poolSize: number | Pair;
  strides: number | Pair;
  /** Symmetric padding per side, [ph, pw]. Default [0, 0]. */
  pad?: number | Pair;
  /** Default 'floor'. */
  rounding?: PoolRounding;
  /** Average pooling only. Default 'padded'. */
  avgDivisor?: AvgDivisor;
}

// tfjs's model.json writer snake_cases every string value and its reader camelCases them back
// (convertTsToPythonic / convertPythonicToTs in tfjs-layers), so 'cover_all' returns as 'coverAll'.
const ROUNDING_ALIASES: Record<string, PoolRounding> = { floor: 'floor', ceil: 'ceil', cover_all: 'cover_all', coverAll: 'cover_all' };
const DIVISORS: readonly AvgDivisor[] = ['padded', 'valid', 'window'];

/** Sizes of one spatial axis for an input of length `size`. */
interface AxisGeometry {
  out: number;
  /** Padding before the input (the symmetric pad). */
  before: number;
  /** Padding after the input so that the last window fits; 0 when windows end inside it. */
  after: number;
}

export class GraftPooling2D extends tf.layers.Layer {
  static className = 'GraftPooling2D';

  readonly mode: PoolMode;
  readonly poolSize: Pair;
  readonly strides: Pair;
  readonly pad: Pair;
  readonly rounding: PoolRounding;
  readonly avgDivisor: AvgDivisor;

  constructor(args: PoolingArgs) {
    super(args);
    const who = `${GraftPooling2D.className} '${this.name}'`;
    if (args.mode !== 'max' && args.mode !== 'avg') throw new GraftError(`${who}: mode must be 'max' or 'avg', got ${args.mode}`);
    this.mode = args.mode;
    this.poolSize = toPair(args.poolSize, 'poolSize', who);
    this.strides = toPair(args.strides, 'strides', who);
    this.pad = toPair(args.pad ?? 0, 'pad', who, 0);
    const rounding = ROUNDING_ALIASES[args.rounding ?? 'floor'];
    if (rounding === undefined) throw new GraftError(`${who}: rounding must be 'floor', 'ceil' or 'cover_all', got ${args.rounding}`);
    this.rounding = rounding;
    const divisor = args.avgDivisor ?? 'padded';
    if (!DIVISORS.includes(divisor)) throw new GraftError(`${who}: avgDivisor must be one of ${DIVISORS.join(', ')}, got ${divisor}`);
    this.avgDivisor = divisor;
    this.inputSpec = [new tf.InputSpec({ ndim: 4 })];
  }

  private axis(size: number, axis: 0 | 1): AxisGeometry {
    const kernel = this.poolSize[axis];
    const stride = this.strides[axis];
    const pad = this.pad[axis];
    if (size + 2 * pad < kernel) {
      throw new GraftError(
        `${GraftPooling2D.className} '${this.name}': window ${kernel} exceeds the padded input ${size} + 2·${pad} on axis ${axis === 0 ? 'H' : 'W'}`,
      );
    }
    const out = pooledLength(size, kernel, stride, pad, this.rounding);
    // The last window ends at (out − 1)·s + k in padded coordinates. Floor rounding can leave
    // input rows past it: a 'valid' pool over the longer extent still yields exactly `out`
    // windows, so those need no cropping.
    const after = Math.max(0, (out - 1) * stride + kernel - size - pad);
    return { out, before: pad, after };
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = onlyShape(inputShape, this.name);
    const [n, h, w, c] = shape;
    return [n, h === null ? null : this.axis(h, 0).out, w === null ? null : this.axis(w, 1).out, c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = onlyOne(inputs, this.name) as tf.Tensor4D;
      const [, height, width] = x.shape;
      const rows = this.axis(height, 0);
      const cols = this.axis(width, 1);
      const needsPad = rows.before + rows.after + cols.before + cols.after > 0;
      const padded = needsPad
        ? tf.pad(
            x,
            [[0, 0], [rows.before, rows.after], [cols.before, cols.after], [0, 0]],
            // −∞ never wins a max, so padding is as good as excluded (Caffe skips it).
            this.mode === 'max' ? -Infinity : 0,
          )
        : x;
      if (this.mode === 'max') return tf.maxPool(padded, this.poolSize, this.strides, 'valid');
      // avgPool over fully-padded windows is sum / (kh·kw); rescale to sum / divisor.
      const averaged = tf.avgPool(padded, this.poolSize, this.strides, 'valid');
      const scale = this.averageRescale(height, width, rows.out, cols.out);
      return scale === null ? averaged : tf.mul(averaged, scale);
    });
  }

  /** (kh·kw) / divisor as an [outH, outW, 1] tensor, or null when it is 1 everywhere. */
  private averageRescale(height: number, width: number, outH: number, outW: number): tf.Tensor3D | null {
    const [kh, kw] = this.poolSize;
    const [sh, sw] = this.strides;
    const [ph, pw] = this.pad;
    const rowDivisors = divisorsAlongAxis(height, kh, sh, ph, outH, this.avgDivisor);
    const colDivisors = divisorsAlongAxis(width, kw, sw, pw, outW, this.avgDivisor);
    if (rowDivisors.every((d) => d === kh) && colDivisors.every((d) => d === kw)) return null;
    const scale = new Float32Array(outH * outW);
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) scale[i * outW + j] = (kh * kw) / (rowDivisors[i] * colDivisors[j]);
    }
    return tf.tensor3d(scale, [outH, outW, 1]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      mode: this.mode,
      poolSize: [...this.poolSize],
      strides: [...this.strides],
      pad: [...this.pad],
      rounding: this.rounding,
      avgDivisor: this.avgDivisor,
    };
  }
}
