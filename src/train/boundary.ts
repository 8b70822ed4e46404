/**
 * The decision boundary of a classifier on 2-D inputs (the R seed's XOR plots): class
 * probabilities over a grid spanning the data, drawn under the data points.
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from './classifier.js';
import type { Dataset } from './data/dataset.js';
import { decisionGridPoints, plotDecisionBoundary } from './report/index.js';

const RESOLUTION = 200;

function range(values: Float32Array, offset: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = offset; i < values.length; i += 2) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const margin = (max - min) * 0.05 || 1;
  return [min - margin, max + margin];
}

export async function plotBoundaryOfModel(classifier: Classifier, dataset: Dataset, file: string, title?: string): Promise<void> {
  const { data, labels, count } = dataset.examples;
  const xRange = range(data, 0);
  const yRange = range(data, 1);
  const grid = decisionGridPoints(xRange, yRange, RESOLUTION);
  const probabilities = tf.tidy(() => {
    const logits = classifier.logits.predict(tf.tensor2d(grid, [RESOLUTION * RESOLUTION, 2])) as tf.Tensor;
    return classifier.activation === 'sigmoid' ? tf.sigmoid(logits).reshape([-1]) : tf.softmax(logits);
  });
  const values = (await probabilities.data()) as Float32Array;
  probabilities.dispose();
  const points = Array.from({ length: count }, (_, i) => ({ x: data[2 * i], y: data[2 * i + 1], label: labels[i] }));
  await plotDecisionBoundary(
    {
      xRange,
      yRange,
      resolution: RESOLUTION,
      probabilities: values,
      classNames: dataset.classNames,
      points,
      xLabel: dataset.featureNames?.[0],
      yLabel: dataset.featureNames?.[1],
      title,
    },
    file,
  );
}
