/**
 * Grouped 2-D convolution (Caffe `group`, PyTorch/Chainer `groups`), which tfjs lacks (tfjs issue
 * 3900). Output channel block j is computed from input channel block j only, so only the g
 * diagonal blocks are ever multiplied.
 */
import * as tf from '@tensorflow/tfjs';
import { UnsupportedError, GraftError } from '../../errors.js';
import {
  channelsOf,
  type Initializer,
  type InitializerArg,
  type Kwargs,
  type LayerArgs,
  onlyOne,
  onlyShape,
  type Pair,
  resolveInitializer,
  serializeInitializer,
  toPair,
} from './common.js';

export interface GroupedConv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | Pair;
  /** Default [1, 1]. */
  strides?: number | Pair;
  /** Default [1, 1]. */
  dilationRate?: number | Pair;
  /** Default 1. Must divide both the input channels and `filters`. */
  groups?: number;
  /** Default true. */
  useBias?: boolean;
  /** Only 'valid': explicit zero padding is a ZeroPadding2D in front. */
  padding?: 'valid';
  /** For the kernel [kh, kw, inChannels / groups, filters]. Default glorotUniform. */
  kernelInitializer?: InitializerArg;
  /** For the bias [filters]. Default zeros. */
  biasInitializer?: InitializerArg;
}

const defaultKernelInitializer = (): Initializer => tf.initializers.glorotUniform({});
const defaultBiasInitializer = (): Initializer => tf.initializers.zeros();

/** floor((in − dilation·(k − 1) − 1) / stride) + 1, the 'valid' output length; null stays null. */
function validConvLength(size: number | null, kernel: number, stride: number, dilation: number): number | null {
  if (size === null) return null;
  return Math.floor((size - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * From this many groups on, one depthwise conv plus a sum beats g separate convs on wasm: each
 * tf.conv2d call costs about a millisecond of fixed overhead there (copies of the split, XNNPACK
 * setup), which dominates small groups. Measured with tfjs-backend-wasm 4.22, single thread:
 * g = 32, 4 channels per group: 43 ms split vs 6 ms depthwise; g = 8, 16 per group: 25 vs 16 ms;
 * g = 4, 16 per group: 3.3 vs 6.4 ms; g = 2 (AlexNet conv2): 15 vs 28 ms.
 */
const MANY_GROUPS = 8;
/** The depthwise route holds an intermediate inChannels/groups times the output's size. */
const MAX_DEPTHWISE_CHANNELS_PER_GROUP = 64;

/** The g diagonal blocks of an undilated grouped convolution ('valid'): block j from input block j only. */
function diagonalBlocks(x: tf.Tensor4D, kernel: tf.Tensor4D, groups: number, strides: Pair): tf.Tensor4D {
  const [kh, kw, inPerGroup, filters] = kernel.shape;
  const inChannels = x.shape[3];
  const outPerGroup = filters / groups;
  if (groups === 1) return tf.conv2d(x, kernel, strides, 'valid');
  if (inPerGroup === 1) {
    // One input channel per group is exactly a depthwise conv with multiplier filters / C:
    // depthwise output channel c·m + q reads input channel c, as Caffe's block c does, and
    // [kh, kw, 1, C·m] → [kh, kw, C, m] is a plain reshape.
    return tf.depthwiseConv2d(x, kernel.reshape([kh, kw, inChannels, outPerGroup]), strides, 'valid');
  }
  if (groups >= MANY_GROUPS && inPerGroup <= MAX_DEPTHWISE_CHANNELS_PER_GROUP) {
    // Input channel j·Q + q convolved with each of block j's m filters (depthwise, multiplier m;
    // its kernel [kh, kw, Q, g·m] regrouped to [kh, kw, g·Q, m]), then summed over q: each
    // product is one the block needs, no zero blocks are multiplied.
    const depthwiseKernel = kernel
      .reshape([kh, kw, inPerGroup, groups, outPerGroup])
      .transpose([0, 1, 3, 2, 4])
      .reshape([kh, kw, inChannels, outPerGroup]);
    const perInput = tf.depthwiseConv2d(x, depthwiseKernel as tf.Tensor4D, strides, 'valid');
    const [n, h, w] = perInput.shape;
    // Rank 3 so that wasm's Sum (which moves the reduced axis last) stays on its fast transpose.
    return perInput.reshape([n * h * w * groups, inPerGroup, outPerGroup]).sum(1).reshape([n, h, w, filters]);
  }
  const xBlocks = tf.split<tf.Tensor4D>(x, groups, 3);
  const kernelBlocks = tf.split<tf.Tensor4D>(kernel, groups, 3);
  return tf.concat(xBlocks.map((block, j) => tf.conv2d(block, kernelBlocks[j], strides, 'valid')), 3) as tf.Tensor4D;
}

/**
 * A dilated convolution as TensorFlow's atrous_conv2d computes it, because tfjs has no gradient
 * for conv2d or depthwiseConv2d with dilation > 1: the input splits into dh·dw phase images
 * (rows ≡ r mod dh, columns ≡ t mod dw), each convolved undilated at stride 1, and the results
 * interleave back. Padding to a multiple of the block keeps the phases equal; what it adds
 * reaches only outputs past H − dh·(kh − 1), which the final slice drops.
 */
function atrousBlocks(x: tf.Tensor4D, kernel: tf.Tensor4D, groups: number, dilation: Pair): tf.Tensor4D {
  const [n, height, width] = x.shape;
  const [kh, kw] = kernel.shape;
  const phases = toPhases(x, dilation);
  const convolved = diagonalBlocks(phases, kernel, groups, [1, 1]);
  const outH = height - dilation[0] * (kh - 1);
  const outW = width - dilation[1] * (kw - 1);
  return fromPhases(convolved, dilation, n, outH, outW);
}

// The phase shuffles are tf.spaceToBatchND / batchToSpaceND done by hand: tfjs-backend-wasm runs
// those as one rank-5/6 transpose, which took 62 ms on a 66×66×256 input where the same data
// moved by rank-3/4 transposes took 2.5–3.7 ms each.

/** [N, H, W, C] → [dh·dw·N, ⌈H/dh⌉, ⌈W/dw⌉, C], batch index (r·dw + t)·N + n. */
function toPhases(x: tf.Tensor4D, [dh, dw]: Pair): tf.Tensor4D {
  const [n, height, width, c] = x.shape;
  const hb = Math.ceil(height / dh);
  const wb = Math.ceil(width / dw);
  let y: tf.Tensor = tf.pad(x, [[0, 0], [0, hb * dh - height], [0, wb * dw - width], [0, 0]]);
  // axes (n, hb, r, wb, t, c) → (r, n, hb, wb, t, c)
  if (dh > 1) y = y.reshape([n * hb, dh, wb * dw * c]).transpose([1, 0, 2]);
  if (dw > 1) {
    // → (r, n, hb, t, wb, c) → (r, t, n, hb, wb, c)
    y = y.reshape([dh * n * hb, wb, dw, c]).transpose([0, 2, 1, 3]);
    y = y.reshape([dh, n * hb, dw, wb * c]).transpose([0, 2, 1, 3]);
  }
  return y.reshape([dh * dw * n, hb, wb, c]);
}

/** Inverse of toPhases, cropped to [N, outH, outW, C]. */
function fromPhases(y: tf.Tensor4D, [dh, dw]: Pair, n: number, outH: number, outW: number): tf.Tensor4D {
  const [, hb, wb, c] = y.shape;
  let z: tf.Tensor = y;
  if (dw > 1) {
    z = z.reshape([dh, dw, n * hb, wb * c]).transpose([0, 2, 1, 3]);
    z = z.reshape([dh * n * hb, dw, wb, c]).transpose([0, 2, 1, 3]);
  }
  if (dh > 1) z = z.reshape([dh, n * hb, wb * dw * c]).transpose([1, 0, 2]);
  return z.reshape([n, hb * dh, wb * dw, c]).slice([0, 0, 0, 0], [n, outH, outW, c]) as tf.Tensor4D;
}

/**
 * Rows and columns 0, s, 2s, … of a stride-1 output: the strided output, whose
 * floor((L − 1)/s) + 1 = ceil(L/s) positions it shares. Built from pad + reshape + slice because
 * tfjs has no gradient for StridedSlice.
 */
function everyStride(y: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  const [n, h, w, c] = y.shape;
  const outH = Math.ceil(h / sh);
  const outW = Math.ceil(w / sw);
  const padded = tf.pad(y, [[0, 0], [0, outH * sh - h], [0, outW * sw - w], [0, 0]]);
  // Rank ≤ 4 slices: wasm's Slice falls back to a generic JavaScript loop above rank 4.
  const rows = padded.reshape([n * outH, sh, outW * sw * c]).slice([0, 0, 0], [n * outH, 1, outW * sw * c]);
  return rows.reshape([n * outH, outW, sw, c]).slice([0, 0, 0, 0], [n * outH, outW, 1, c]).reshape([n, outH, outW, c]);
}

export class GraftGroupedConv2D extends tf.layers.Layer {
  static className = 'GraftGroupedConv2D';

  readonly filters: number;
  readonly kernelSize: Pair;
  readonly strides: Pair;
  readonly dilationRate: Pair;
  readonly groups: number;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: GroupedConv2DArgs) {
    super(args);
    const who = `${GraftGroupedConv2D.className} '${this.name}'`;
    if (args.padding !== undefined && args.padding !== 'valid') {
      throw new UnsupportedError(`${who}: padding '${args.padding}' is not supported; pad with a ZeroPadding2D and use 'valid'`);
    }
    if (!Number.isInteger(args.filters) || args.filters < 1) {
      throw new GraftError(`${who}: filters must be a positive integer, got ${args.filters}`);
    }
    this.filters = args.filters;
    this.kernelSize = toPair(args.kernelSize, 'kernelSize', who);
    this.strides = toPair(args.strides ?? 1, 'strides', who);
    this.dilationRate = toPair(args.dilationRate ?? 1, 'dilationRate', who);
    this.groups = args.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || this.filters % this.groups !== 0) {
      throw new GraftError(`${who}: groups (${this.groups}) must be a positive integer dividing filters (${this.filters})`);
    }
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = resolveInitializer(args.kernelInitializer, defaultKernelInitializer, who);
    this.biasInitializer = resolveInitializer(args.biasInitializer, defaultBiasInitializer, who);
    this.inputSpec = [new tf.InputSpec({ ndim: 4 })];
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const who = `${GraftGroupedConv2D.className} '${this.name}'`;
    const shape = onlyShape(inputShape, who);
    const inChannels = channelsOf(shape, who);
    if (inChannels % this.groups !== 0) {
      throw new GraftError(`${who}: ${inChannels} input channels are not divisible by groups = ${this.groups}`);
    }
    const [kh, kw] = this.kernelSize;
    this.kernel = this.addWeight('kernel', [kh, kw, inChannels / this.groups, this.filters], 'float32', this.kernelInitializer);
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', this.biasInitializer);
    this.inputSpec = [new tf.InputSpec({ ndim: 4, axes: { 3: inChannels } })];
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = onlyShape(inputShape, this.name);
    const [kh, kw] = this.kernelSize;
    const outH = validConvLength(shape[1], kh, this.strides[0], this.dilationRate[0]);
    const outW = validConvLength(shape[2], kw, this.strides[1], this.dilationRate[1]);
    if ((outH !== null && outH < 1) || (outW !== null && outW < 1)) {
      throw new GraftError(
        `${GraftGroupedConv2D.className} '${this.name}': kernel ${this.kernelSize} (dilation ${this.dilationRate}) exceeds the input ${shape[1]}×${shape[2]}`,
      );
    }
    return [shape[0], outH, outW, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = onlyOne(inputs, this.name) as tf.Tensor4D;
      const kernel = this.kernel!.read() as tf.Tensor4D;
      const [sh, sw] = this.strides;
      const dilated = this.dilationRate[0] > 1 || this.dilationRate[1] > 1;
      let y: tf.Tensor4D;
      if (!dilated) {
        y = diagonalBlocks(x, kernel, this.groups, this.strides);
      } else {
        y = atrousBlocks(x, kernel, this.groups, this.dilationRate);
        // Caffe allows stride and dilation together.
        if (sh > 1 || sw > 1) y = everyStride(y, sh, sw);
      }
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      dilationRate: [...this.dilationRate],
      groups: this.groups,
      useBias: this.useBias,
      padding: 'valid',
      kernelInitializer: serializeInitializer(this.kernelInitializer, defaultKernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer, defaultBiasInitializer),
    };
  }
}
