/**
 * Faster training-mode computation for two kinds of tfjs-layers layers, during training only:
 * each patched layer's `call` does the same arithmetic by other means when called with
 * `training: true`, and is tfjs's own otherwise (inference, prediction, evaluation). The layers'
 * classes, configs and weights are untouched, so a saved model is a standard tfjs layers model.
 *
 * - BatchNormalization (trainable, normalising over every axis but the last): tfjs computes
 *   tf.moments then tf.batchNorm, and the tape differentiates both, 20-odd full-size element-wise
 *   ops per layer, and wasm's FusedBatchNorm kernel alone is ~7× slower than a multiply. Here one
 *   tf.customGrad op computes y = γ·(x − μ)/σ + β from batch statistics (σ = √(var + ε), var the
 *   biased variance, as tfjs and Keras normalise with) and its exact gradients
 *     dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy   (x̂ = (x − μ)/σ),
 *   and updates the moving mean and variance exactly as tfjs-layers does in training
 *   (moving ← moving − (moving − batch)·(1 − momentum), with the biased batch variance). On
 *   wasm, each per-channel affine map a·x + b is a 1×1 depthwise convolution with a bias (one
 *   XNNPACK pass, faster than a broadcast Mul alone); elsewhere it is a multiply and an add.
 *   A frozen BatchNorm (src/train/freeze.ts) keeps running in inference mode and is not patched.
 * - Conv2D (trainable) whose input does not depend on any trainable weight (the first convolution, on the
 *   image, or the first after a frozen prefix): tfjs-layers computes it with tf.fused.conv2d,
 *   whose custom gradient computes the input's gradient eagerly whether or not anything needs
 *   it (for resnet18's 7×7 stem, a full-size backprop-input convolution per step). Here it is
 *   tf.conv2d + tf.add(bias) (+ the activation), whose gradients the tape computes only for
 *   inputs on a path from the trained variables. (GraftGroupedConv2D already computes this way.)
 *
 * Call once on the model, after freezing has been applied (the convolution choice reads which
 * layers are trainable then; a later change only makes it less useful, never wrong, since the
 * unfused convolution differentiates as exactly as the fused one).
 */
import * as tf from '@tensorflow/tfjs';
import { layerCalls } from './topology.js';

type Kwargs = Parameters<tf.layers.Layer["call"]>[1];

/** The tfjs-layers BatchNormalization fields the patch reads. */
interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable | null | undefined;
  beta: tf.LayerVariable | null | undefined;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** The tfjs-layers Conv2D fields the patch reads. */
interface ConvInternals {
  rank: number;
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null | undefined;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string } | null | undefined;
}

const patched = new WeakSet<tf.layers.Layer>();

/**
 * Patches the BatchNormalization and Conv2D layers of `model` (see the module comment). Safe to
 * call more than once; layers patched before are left as they are.
 */
export function useFastTrainingLayers(model: tf.LayersModel): void {
  const constantInput = layersWithConstantInput(model);
  for (const layer of model.layers) {
    if (patched.has(layer)) continue;
    const className = layer.getClassName();
    if (className === 'BatchNormalization' && layer.trainable) {
      patchBatchNorm(layer);
    } else if (className === 'Conv2D' && layer.trainable && constantInput.has(layer)) {
      patchConv(layer);
    }
  }
}

/** Whether useFastTrainingLayers patched `layer`. */
export function hasFastTrainingCall(layer: tf.layers.Layer): boolean {
  return patched.has(layer);
}

function onlyTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (!Array.isArray(inputs)) return inputs;
  if (inputs.length !== 1) throw new Error(`expected one input tensor, got ${inputs.length}`);
  return inputs[0];
}

// ---- BatchNormalization ------------------------------------------------------------------------

function patchBatchNorm(layer: tf.layers.Layer): void {
  patched.add(layer);
  const original = layer.call.bind(layer);
  const bn = layer as unknown as BatchNormInternals;
  layer.call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => {
    // A frozen layer (inference mode by freeze.ts, or tfjs's own behaviour without it) and
    // inference calls: tfjs's computation.
    if (!kwargs?.training || !layer.trainable) return original(inputs, kwargs);
    const x = onlyTensor(inputs);
    const axis = bn.axis < 0 ? bn.axis + x.rank : bn.axis;
    if (axis !== x.rank - 1 || x.rank < 2 || x.dtype !== 'float32') return original(inputs, kwargs);
    return tf.tidy(() => batchNormTraining(bn, x));
  };
}

function batchNormTraining(bn: BatchNormInternals, x: tf.Tensor): tf.Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const count = x.size / x.shape[x.rank - 1];
  const gamma = bn.scale && bn.gamma ? bn.gamma.read() : null;
  const beta = bn.center && bn.beta ? bn.beta.read() : null;
  const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor;
    // tfjs-layers' own statistics: tf.moments (mean, then the mean squared deviation).
    const mean = tf.mean(input, axes) as tf.Tensor1D;
    const centred = affine(input, null, tf.neg(mean));
    const variance = tf.mean(tf.square(centred), axes) as tf.Tensor1D;
    const invStd = tf.rsqrt(tf.add(variance, bn.epsilon)) as tf.Tensor1D;
    const scale = gamma ? (tf.mul(gamma, invStd) as tf.Tensor1D) : invStd;
    const value = affine(centred, scale, beta as tf.Tensor1D | null);
    updateMovingAverage(bn.movingMean, mean, bn.momentum);
    updateMovingAverage(bn.movingVariance, variance, bn.momentum);
    // x − μ rather than x: the layer's input itself is then free once the forward pass is done.
    save([centred, invStd, scale]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xc, r, g] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
      const sumDy = tf.sum(dy, axes) as tf.Tensor1D;
      const sumDyXc = tf.sum(tf.mul(dy, xc), axes) as tf.Tensor1D;
      // dx = g·dy − g·Σdy/N − g·r²·Σ(dy·xc)/N · xc, with g = γ·r (r = 1/σ) and xc = x − μ.
      const xcFactor = tf.div(tf.mul(g, tf.mul(tf.square(r), sumDyXc)), -count) as tf.Tensor1D;
      const constant = tf.div(tf.mul(g, sumDy), -count) as tf.Tensor1D;
      const dx = tf.add(affine(dy, g, constant), affine(xc, xcFactor, null));
      const grads = [dx];
      if (gamma) grads.push(tf.mul(sumDyXc, r));
      if (beta) grads.push(sumDy);
      return grads;
    };
    return { value, gradFunc };
  });
  return op(...inputs);
}

/** tfjs-layers' BatchNormalization update: moving ← moving − (moving − value)·(1 − momentum). */
function updateMovingAverage(variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const decay = 1 - momentum;
    const current = variable.read();
    variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
  });
}

/**
 * scale·x + offset per channel (the last axis). On wasm one 1×1 depthwise convolution with a bias
 * (XNNPACK); elsewhere a multiply and an add.
 */
function affine(x: tf.Tensor, scale: tf.Tensor1D | null, offset: tf.Tensor1D | null): tf.Tensor {
  if (!scale && !offset) return x;
  if (tf.getBackend() !== 'wasm') {
    const scaled = scale ? tf.mul(x, scale) : x;
    return offset ? tf.add(scaled, offset) : scaled;
  }
  const channels = x.shape[x.rank - 1];
  const x4 = (x.rank === 4 ? x : x.reshape([1, 1, x.size / channels, channels])) as tf.Tensor4D;
  const filter = (scale ?? tf.ones([channels])).reshape([1, 1, channels, 1]) as tf.Tensor4D;
  const y = tf.fused.depthwiseConv2d({ x: x4, filter, strides: 1, pad: 'valid', bias: offset ?? undefined });
  return x.rank === 4 ? y : y.reshape(x.shape);
}

// ---- Conv2D ------------------------------------------------------------------------------------

/**
 * Layers of `model` none of whose inputs depends on a trainable weight (model inputs, and what
 * layers without trainable weights compute from them alone).
 */
function layersWithConstantInput(model: tf.LayersModel): Set<tf.layers.Layer> {
  const result = new Set<tf.layers.Layer>();
  let calls;
  try {
    calls = layerCalls(model);
  } catch {
    return result;
  }
  const dependent = new Set<number>();
  for (const call of calls) {
    const inputDependent = call.inputs.some((t) => dependent.has(t.id));
    if (!inputDependent && call.inputs.length > 0) result.add(call.layer);
    if (inputDependent || call.layer.trainableWeights.length > 0) for (const t of call.outputs) dependent.add(t.id);
  }
  return result;
}

function patchConv(layer: tf.layers.Layer): void {
  const conv = layer as unknown as ConvInternals;
  if (conv.rank !== 2 || conv.dataFormat !== 'channelsLast' || (conv.padding !== 'same' && conv.padding !== 'valid')) return;
  patched.add(layer);
  const original = layer.call.bind(layer);
  layer.call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => {
    // Frozen, it needs no gradient at all: the tape prunes it either way.
    if (!kwargs?.training || !layer.trainable) return original(inputs, kwargs);
    return tf.tidy(() => {
      const x = onlyTensor(inputs) as tf.Tensor4D;
      if (x.rank !== 4) return original(inputs, kwargs) as tf.Tensor;
      const dilations = (typeof conv.dilationRate === 'number' ? [conv.dilationRate, conv.dilationRate] : conv.dilationRate) as [number, number];
      let y: tf.Tensor = tf.conv2d(x, conv.kernel.read() as tf.Tensor4D, conv.strides as [number, number], conv.padding as 'same' | 'valid', 'NHWC', dilations);
      if (conv.bias) y = tf.add(y, conv.bias.read());
      if (conv.activation && conv.activation.getClassName() !== 'linear') y = conv.activation.apply(y);
      return y;
    });
  };
}
