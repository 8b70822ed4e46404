/**
 * A model seen as a classifier: an input → logits model plus the activation that turns logits into
 * probabilities. Training works on logits (softmax/sigmoid cross-entropy from logits is the stable
 * form); the model written to disk ends with the activation, so it predicts probabilities.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import { layerCalls } from './topology.js';

export type OutputActivation = 'softmax' | 'sigmoid' | 'none';

export interface Classifier {
  /** Input → logits. */
  logits: tf.LayersModel;
  /** What turns the logits into probabilities: softmax over K ≥ 2 classes, sigmoid for one unit. */
  activation: Exclude<OutputActivation, 'none'>;
  classes: number;
}

function activationOf(layer: tf.layers.Layer): OutputActivation {
  const className = layer.getClassName();
  if (className === 'Softmax') return 'softmax';
  if (className === 'Activation') {
    const name = (layer.getConfig() as { activation?: string }).activation;
    if (name === 'softmax' || name === 'sigmoid') return name;
  }
  return 'none';
}

/**
 * Strips a final Softmax/Sigmoid layer so training sees logits. A model that ends in logits (a
 * torchvision classifier) is used as is; one unit means a binary sigmoid classifier.
 */
export function asClassifier(model: tf.LayersModel): Classifier {
  if (model.outputs.length !== 1) throw new UsageError(`the model has ${model.outputs.length} outputs; graft trains single-output classifiers`);
  const calls = layerCalls(model);
  const last = calls[calls.length - 1];
  let logits = model;
  let activation = activationOf(last.layer);
  if (activation !== 'none') {
    logits = tf.model({ inputs: model.inputs, outputs: last.inputs[0], name: `${model.name}_logits` });
  }
  const shape = logits.outputs[0].shape;
  if (shape.length !== 2) {
    throw new UsageError(`the model output has shape [${shape.map((d) => d ?? 'N').join(', ')}]; a classifier ends in [N, classes] (use --cut-at or --head gap)`);
  }
  const classes = shape[1] as number;
  if (activation === 'none') activation = classes === 1 ? 'sigmoid' : 'softmax';
  return { logits, activation, classes };
}

/** The classifier with its activation appended: what is saved and what predicts probabilities. */
export function withActivation(classifier: Classifier): tf.LayersModel {
  const { logits } = classifier;
  const layer =
    classifier.activation === 'softmax'
      ? tf.layers.softmax({ name: uniqueLayerName(logits, 'prob') })
      : tf.layers.activation({ activation: 'sigmoid', name: uniqueLayerName(logits, 'prob') });
  const output = layer.apply(logits.outputs[0]) as tf.SymbolicTensor;
  return tf.model({ inputs: logits.inputs, outputs: output, name: logits.name.replace(/_logits$/, '') });
}

export function uniqueLayerName(model: tf.LayersModel, wanted: string): string {
  const names = new Set(model.layers.map((l) => l.name));
  let name = wanted;
  for (let i = 2; names.has(name); i++) name = `${wanted}_${i}`;
  return name;
}
