/**
 * Index arithmetic that turns the two gradients of a 2-D convolution into forward
 * convolutions, one spatial axis at a time.
 *
 * Forward, along one axis (NHWC, no flipping, as tfjs and TensorFlow define conv2d):
 *   y[i] = Σ_u x[i·s + u·d − p] · w[u],   i ∈ [0, out), u ∈ [0, k), x = 0 outside [0, in)
 * with stride s, dilation d and padding p before the input.
 */
import type * as tf from '@tensorflow/tfjs';

export interface ConvAxis {
  /** Forward input length. */
  input: number;
  /** Forward output length. */
  output: number;
  kernel: number;
  stride: number;
  dilation: number;
  /** Forward zero padding before the input (top or left); what comes after follows from the rest. */
  padBefore: number;
}

/**
 * How much to add to each end of an operand before correlating: positive counts are zero
 * padding (which the forward conv applies itself, no copy), negative ones are cropped.
 */
export interface Extension {
  before: number;
  after: number;
}

/** The [rows, columns] axes of a forward convolution as tfjs computed them. */
export function convAxes(info: tf.backend_util.Conv2DInfo): [ConvAxis, ConvAxis] {
  return [
    {
      input: info.inHeight,
      output: info.outHeight,
      kernel: info.filterHeight,
      stride: info.strideHeight,
      dilation: info.dilationHeight,
      padBefore: info.padInfo.top,
    },
    {
      input: info.inWidth,
      output: info.outWidth,
      kernel: info.filterWidth,
      stride: info.strideWidth,
      dilation: info.dilationWidth,
      padBefore: info.padInfo.left,
    },
  ];
}

/**
 * Filter gradient dw[u] = Σ_i x[u·d + i·s − p] · dy[i]: a forward correlation of x with dy as
 * the kernel, stride d, dilation s, k outputs. Output u = k − 1 reads x up to
 * (k − 1)·d + (out − 1)·s − p, so the padded x must end one past that. Rows of x that no window
 * reached in the forward pass ('valid' rounding down) come out negative: cropped.
 */
export function filterGradientExtension(axis: ConvAxis): Extension {
  return {
    before: axis.padBefore,
    after: (axis.kernel - 1) * axis.dilation + (axis.output - 1) * axis.stride + 1 - axis.input - axis.padBefore,
  };
}

/**
 * Input gradient dx[t] = Σ_u dy[(t + p − u·d) / s] · w[u] over the u that make the index an
 * integer in [0, out). With dy spread by the stride (dy[i] at i·s, zeros between, length
 * out·s), that is Σ_u' spread[t + p − (k − 1)·d + u'·d] · w[k − 1 − u']: a stride-1
 * correlation, dilation d, with the flipped kernel, over spread extended by (k − 1)·d − p
 * before and in + p − out·s after (so that in outputs come out). Negative extents crop: padding
 * beyond the kernel's reach before, or the spread's trailing zeros and unreached rows after.
 */
export function inputGradientExtension(axis: ConvAxis): Extension {
  return {
    before: (axis.kernel - 1) * axis.dilation - axis.padBefore,
    after: axis.input + axis.padBefore - axis.output * axis.stride,
  };
}

/**
 * The input gradient of a strided convolution split by output phase, so that no multiply is
 * spent on the zeros of a stride-spread dy. Write z = t + p = Q·s + r (0 ≤ r < s) for input
 * position t: the taps that reach it are u = r + s·j, from dy[Q − j], so
 *   dx[Q·s + r − p] = Σ_{j < J_r} dy[Q − j] · w[r + s·j],   J_r = ⌈(k − r) / s⌉
 * is, for each phase r, a stride-1 correlation of dy with J_r taps of the flipped kernel
 * (undilated: tfjs allows stride > 1 only with dilation 1). Every phase is computed for the same
 * quotients Q, those that reach [0, in); the phases then interleave into dx.
 */
export interface PhaseLayout {
  /** Smallest quotient Q with a position in [0, in): ⌊p / s⌋. */
  first: number;
  /** How many quotients each phase computes. */
  count: number;
  /** Where dx[0] falls in the interleaved phases (first·s is position 0): p − first·s. */
  offset: number;
}

export function phaseLayout(axis: ConvAxis): PhaseLayout {
  const first = Math.floor(axis.padBefore / axis.stride);
  const last = Math.floor((axis.padBefore + axis.input - 1) / axis.stride);
  return { first, count: last - first + 1, offset: axis.padBefore - first * axis.stride };
}

export interface Phase {
  /** J_r, the kernel taps phase r uses; 0 when the kernel is shorter than the stride and misses it. */
  taps: number;
  /**
   * Where those taps start in the flipped kernel (index k − 1 − u), every s-th from there:
   * w[r + s·(J_r − 1 − j')] is flipped[k − 1 − r − s·(J_r − 1) + s·j'].
   */
  start: number;
  /** dy's extension so that the correlation yields quotients first … first + count − 1. */
  extension: Extension;
}

export function phaseOf(axis: ConvAxis, layout: PhaseLayout, r: number): Phase {
  const taps = Math.max(0, Math.ceil((axis.kernel - r) / axis.stride));
  return {
    taps,
    start: axis.kernel - 1 - r - axis.stride * (taps - 1),
    // Output q reads dy[first + q − (J_r − 1) + j'], j' < J_r; count outputs from a stride-1 window.
    extension: { before: taps - 1 - layout.first, after: layout.count + layout.first - axis.output },
  };
}
