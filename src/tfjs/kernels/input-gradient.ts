/**
 * The input gradient of a convolution (plain or depthwise) as forward correlations of dy with
 * the flipped kernel (conv-geometry.ts), shared by Conv2DBackpropInput and
 * DepthwiseConv2dNativeBackpropInput, which differ only in the correlation they run.
 *
 * Stride 1: one correlation, dilated like the forward conv. Stride > 1: one correlation per
 * output phase with that phase's taps, interleaved into dx (phaseOf), so the multiplies are
 * exactly the forward's. Stride and dilation both > 1 (tfjs's gradients never ask for it, the
 * kernels accept it): dy spread by the stride, one dilated correlation, paying s² times the
 * multiplies.
 */
import type * as tf from '@tensorflow/tfjs';
import { type ConvAxis, inputGradientExtension, type Phase, phaseLayout, type PhaseLayout, phaseOf } from './conv-geometry.js';
import { type ExplicitPadding, extendSpatially, gatherTaps, reversedRange, spreadByStride } from './conv-operands.js';
import type { WasmKernelCalls } from './kernel-calls.js';

/** A forward correlation of an NHWC operand with a [kh, kw, ·, ·] kernel, stride 1; NHWC out. */
export type Correlate = (operand: tf.TensorInfo, kernel: tf.TensorInfo, padding: ExplicitPadding, dilations: [number, number]) => tf.TensorInfo;

/**
 * dx [N, H, W, C] for dy and the forward kernel, already in the [kh, kw, ·, ·] layout `correlate`
 * takes; the flip happens here. `zeroChannels`: given, the number of zero channels to append to
 * dy and to the kernels' input axis for how many taps each correlation's kernel has
 * (filter-packing.ts; dy has to be the smaller side for that to pay).
 */
export function inputGradient(
  calls: WasmKernelCalls,
  dy: tf.TensorInfo,
  kernel: tf.TensorInfo,
  [rows, cols]: [ConvAxis, ConvAxis],
  inputShape: number[],
  correlate: Correlate,
  zeroChannels: (taps: number[]) => number = () => 0,
): tf.TensorInfo {
  const strided = rows.stride > 1 || cols.stride > 1;
  const dilated = rows.dilation > 1 || cols.dilation > 1;
  if (strided && !dilated) {
    const layouts: [PhaseLayout, PhaseLayout] = [phaseLayout(rows), phaseLayout(cols)];
    const phaseTaps = (axis: ConvAxis, layout: PhaseLayout) => Array.from({ length: axis.stride }, (_, r) => phaseOf(axis, layout, r).taps);
    const taps = phaseTaps(rows, layouts[0]).flatMap((t) => phaseTaps(cols, layouts[1]).map((u) => t * u)).filter((t) => t > 0);
    const extra = zeroChannels(taps);
    return byPhases(calls, withZeroChannels(calls, dy, extra), kernel, [rows, cols], layouts, inputShape, correlate, extra);
  }
  const extra = zeroChannels([rows.kernel * cols.kernel]);
  const spread = spreadByStride(calls, withZeroChannels(calls, dy, extra), [rows.stride, cols.stride]);
  const extended = extendSpatially(calls, spread, [inputGradientExtension(rows), inputGradientExtension(cols)]);
  if (extended === null) return calls.zeros(inputShape);
  const flipped = gatherTaps(calls, kernel, reversedRange(rows.kernel), reversedRange(cols.kernel), extra);
  return correlate(extended.operand, flipped, extended.padding, [rows.dilation, cols.dilation]);
}

function withZeroChannels(calls: WasmKernelCalls, dy: tf.TensorInfo, extra: number): tf.TensorInfo {
  return calls.pad(dy, [[0, 0], [0, 0], [0, 0], [0, extra]]);
}

function byPhases(
  calls: WasmKernelCalls,
  dy: tf.TensorInfo,
  kernel: tf.TensorInfo,
  axes: [ConvAxis, ConvAxis],
  layouts: [PhaseLayout, PhaseLayout],
  inputShape: number[],
  correlate: Correlate,
  extraInner: number,
): tf.TensorInfo {
  const [rows, cols] = axes;
  // Phases the kernel misses (kernel shorter than the stride) contribute zeros.
  const dx = calls.zeros(inputShape);
  for (let rh = 0; rh < rows.stride; rh++) {
    const rowPhase = phaseOf(rows, layouts[0], rh);
    if (rowPhase.taps === 0) continue;
    for (let rw = 0; rw < cols.stride; rw++) {
      const colPhase = phaseOf(cols, layouts[1], rw);
      if (colPhase.taps === 0) continue;
      const extended = extendSpatially(calls, dy, [rowPhase.extension, colPhase.extension]);
      if (extended === null) continue;
      const taps = gatherTaps(calls, kernel, flippedTaps(rows, rowPhase), flippedTaps(cols, colPhase), extraInner);
      const phase = correlate(extended.operand, taps, extended.padding, [1, 1]);
      interleave(calls, phase, dx, [rh, rw], axes, layouts);
      calls.free(phase, taps, ...(extended.operand === dy ? [] : [extended.operand]));
    }
  }
  return dx;
}

/** A phase's taps, as forward kernel indices: flipped index start + s·j' is k − 1 − start − s·j'. */
function flippedTaps(axis: ConvAxis, phase: Phase): number[] {
  return Array.from({ length: phase.taps }, (_, j) => axis.kernel - 1 - phase.start - axis.stride * j);
}

/**
 * Copies phase (rh, rw)'s quotients into dx: quotient (i, j) is position
 * ((first + i)·s + r − p) = (i·s + r − offset) on each axis, where it falls inside dx.
 */
function interleave(
  calls: WasmKernelCalls,
  phase: tf.TensorInfo,
  dx: tf.TensorInfo,
  [rh, rw]: [number, number],
  [rows, cols]: [ConvAxis, ConvAxis],
  [rowLayout, colLayout]: [PhaseLayout, PhaseLayout],
): void {
  const [n, qh, qw, channels] = phase.shape;
  const [, height, width] = dx.shape;
  const source = calls.backend.typedArrayFromHeap(phase);
  const target = calls.backend.typedArrayFromHeap(dx);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < qh; i++) {
      const t = i * rows.stride + rh - rowLayout.offset;
      if (t < 0 || t >= height) continue;
      for (let j = 0; j < qw; j++) {
        const v = j * cols.stride + rw - colLayout.offset;
        if (v < 0 || v >= width) continue;
        const from = ((b * qh + i) * qw + j) * channels;
        const to = ((b * height + t) * width + v) * channels;
        for (let c = 0; c < channels; c++) target[to + c] = source[from + c];
      }
    }
  }
}
