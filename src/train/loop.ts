/**
 * One epoch of training and one pass of evaluation over in-memory examples. A hand-written loop
 * rather than `model.fit`: per-layer optimizers (optimizers.ts), frozen-BatchNorm inference mode
 * and cached features all need control that fit does not give.
 */
import * as tf from '@tensorflow/tfjs';
import type { OutputActivation } from './classifier.js';
import type { OptimizerGroup } from './optimizers.js';
import { Random } from './random.js';
import { checkGpuErrors, checkGpuLimits } from '../tfjs/webgpu.js';

export interface Examples {
  /** Row-major, batch first. */
  data: Float32Array;
  /** Shape of one example. */
  shape: number[];
  labels: Int32Array;
  count: number;
}

export interface Metrics {
  loss: number;
  accuracy: number;
}

/** Picks rows `indices` of `examples` into one tensor. */
function gather(examples: Examples, indices: number[]): { x: tf.Tensor; y: tf.Tensor1D } {
  const size = examples.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(indices.length * size);
  indices.forEach((row, i) => data.set(examples.data.subarray(row * size, (row + 1) * size), i * size));
  return {
    x: tf.tensor(data, [indices.length, ...examples.shape]),
    y: tf.tensor1d(Int32Array.from(indices, (row) => examples.labels[row]), 'int32'),
  };
}

/** Mean loss and the number of correct predictions, from logits. */
function lossAndCorrect(logits: tf.Tensor, labels: tf.Tensor1D, activation: Exclude<OutputActivation, 'none'>, classes: number): { loss: tf.Scalar; correct: tf.Scalar } {
  if (activation === 'sigmoid') {
    const z = logits.reshape([-1]);
    const y = labels.toFloat();
    const loss = tf.losses.sigmoidCrossEntropy(y, z) as tf.Scalar;
    const correct = z.greater(0).toFloat().equal(y).sum() as tf.Scalar;
    return { loss, correct };
  }
  const oneHot = tf.oneHot(labels, classes);
  const loss = tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
  const correct = logits.argMax(-1).equal(labels).sum() as tf.Scalar;
  return { loss, correct };
}

export interface TrainEpochOptions {
  model: tf.LayersModel;
  /**
   * A frozen, deterministic prefix run before `model` on every batch, in inference mode and
   * outside the gradient tape (src/train/cache.ts): its activations are freed as it goes.
   */
  prefix?: tf.LayersModel;
  activation: Exclude<OutputActivation, 'none'>;
  classes: number;
  groups: OptimizerGroup[];
  examples: Examples;
  batchSize: number;
  /**
   * Examples per forward/backward pass; a batch larger than this is split and its gradients
   * summed before the one optimizer step (gradient accumulation), so the tape of a large batch
   * need not fit in memory at once. BatchNorm in training mode then normalises over each
   * micro-batch, as with gradient accumulation in PyTorch.
   */
  microBatch?: number;
  /** Reshuffled every epoch (as Keras's fit does): both XOR files are sorted by label. */
  random?: Random;
  /** L2 penalty on kernels, as Chainer's WeightDecay hook (grad += rate · W). */
  weightDecay?: number;
  onBatch?: (metrics: Metrics) => void;
  shouldStop?: () => boolean;
}

/** Examples per call of a frozen prefix (it needs no more: its work is the same either way). */
const PREFIX_BATCH = 8;

/** `indices` in consecutive runs of at most `size`. */
function chunks(indices: number[], size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < indices.length; i += size) out.push(indices.slice(i, i + size));
  return out;
}

/** Trains one epoch; returns mean loss and accuracy over its examples, or undefined if stopped. */
export async function trainEpoch(options: TrainEpochOptions): Promise<(Metrics & { iterations: number }) | undefined> {
  const { model, prefix, examples, batchSize, groups } = options;
  const order = options.random ? options.random.permutation(examples.count) : Array.from({ length: examples.count }, (_, i) => i);
  const variables = groups.flatMap((g) => g.variables);
  const decayed = variables.filter((v) => /kernel$/.test(v.name.replace(/_\d+$/, '')));
  const microBatch = Math.max(1, Math.min(options.microBatch ?? batchSize, batchSize));
  let lossSum = 0;
  let correctSum = 0;
  let seen = 0;
  let iterations = 0;
  // WebGPU only: refuse tensors over the device's binding limit before computing anything.
  checkGpuLimits(model, Math.min(microBatch, examples.count));
  checkGpuLimits(prefix, Math.min(PREFIX_BATCH, microBatch, examples.count));
  for (let start = 0; start < examples.count; start += batchSize) {
    if (options.shouldStop?.()) return undefined;
    const batch = order.slice(start, start + batchSize);
    let summed: tf.NamedTensorMap | undefined;
    let batchLoss = 0;
    let batchCorrect = 0;
    for (const part of chunks(batch, microBatch)) {
      // Each part's loss is weighted by its share of the batch, so the summed gradients are
      // those of the batch's mean loss (and of the weight-decay penalty, once).
      const share = part.length / batch.length;
      const { x, y } = gather(examples, part);
      const [grads, loss, correct] = tf.tidy(() => {
        // In slices of PREFIX_BATCH: inference mode frees each layer's input as it goes, so the
        // peak is a few activations of one slice (VGG16's first: 8 × 64 × 224² floats, 103 MB).
        const input = prefix ? (prefix.predict(x, { batchSize: PREFIX_BATCH }) as tf.Tensor) : x;
        let correctCount: tf.Scalar | undefined;
        let dataLoss: tf.Scalar | undefined;
        const { grads } = tf.variableGrads(() => {
          const logits = model.apply(input, { training: true }) as tf.Tensor;
          const result = lossAndCorrect(logits, y, options.activation, options.classes);
          correctCount = tf.keep(result.correct);
          // main/loss reports the data term alone, comparable with validation/main/loss (Chainer's
          // WeightDecay hook acts on the gradients and never shows in the reported loss).
          dataLoss = tf.keep(result.loss);
          let objective = result.loss;
          if (options.weightDecay) {
            const penalty = tf.addN(decayed.map((v) => v.square().sum())).mul(options.weightDecay / 2);
            objective = objective.add(penalty);
          }
          return share === 1 ? objective : objective.mul(share);
        }, variables);
        if (!summed) return [grads, dataLoss!, correctCount!] as const;
        const total: tf.NamedTensorMap = {};
        for (const name of Object.keys(grads)) total[name] = summed[name].add(grads[name]);
        return [total, dataLoss!, correctCount!] as const;
      });
      if (summed) tf.dispose(Object.values(summed));
      summed = grads;
      const [lossValue] = (await loss.data()) as Float32Array;
      const [correctValue] = (await correct.data()) as Float32Array;
      tf.dispose([x, y, loss, correct]);
      batchLoss += lossValue * part.length;
      batchCorrect += correctValue;
    }
    tf.tidy(() => {
      for (const group of groups) {
        const subset: tf.NamedTensorMap = {};
        for (const v of group.variables) subset[v.name] = summed![v.name];
        group.optimizer.applyGradients(subset);
      }
    });
    tf.dispose(Object.values(summed!));
    lossSum += batchLoss;
    correctSum += batchCorrect;
    seen += batch.length;
    iterations++;
    checkGpuErrors(); // WebGPU only: stop at an uncaptured GPU error rather than train on zeros
    options.onBatch?.({ loss: lossSum / seen, accuracy: correctSum / seen });
  }
  return { loss: lossSum / seen, accuracy: correctSum / seen, iterations };
}

/** Loss, accuracy and the confusion matrix (rows: true class, columns: predicted) in inference mode. */
export async function evaluate(
  model: tf.LayersModel,
  activation: Exclude<OutputActivation, 'none'>,
  classes: number,
  examples: Examples,
  batchSize: number,
): Promise<Metrics & { confusion: number[][] }> {
  const matrixSize = activation === 'sigmoid' ? 2 : classes;
  const confusion = Array.from({ length: matrixSize }, () => new Array<number>(matrixSize).fill(0));
  let lossSum = 0;
  let correctSum = 0;
  checkGpuLimits(model, Math.min(batchSize, examples.count)); // WebGPU only: tensors over the device's binding limit
  for (let start = 0; start < examples.count; start += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, examples.count - start) }, (_, i) => start + i);
    const { x, y } = gather(examples, batch);
    const [loss, correct, predicted] = tf.tidy(() => {
      const logits = model.apply(x, { training: false }) as tf.Tensor;
      const result = lossAndCorrect(logits, y, activation, classes);
      const prediction = activation === 'sigmoid' ? logits.reshape([-1]).greater(0).toInt() : logits.argMax(-1);
      return [result.loss, result.correct, prediction];
    });
    const [lossValue] = (await loss.data()) as Float32Array;
    const [correctValue] = (await correct.data()) as Float32Array;
    const predictions = (await predicted.data()) as Int32Array;
    tf.dispose([x, y, loss, correct, predicted]);
    checkGpuErrors(); // WebGPU only: an uncaptured GPU error means these numbers cannot be trusted
    lossSum += lossValue * batch.length;
    correctSum += correctValue;
    batch.forEach((row, i) => confusion[examples.labels[row]][predictions[i]]++);
  }
  return { loss: lossSum / examples.count, accuracy: correctSum / examples.count, confusion };
}
