/** `graft evaluate`: loss, accuracy and the confusion matrix of a model directory on labelled data. */
import * as path from 'node:path';
import { backendInfo, useBackend, type BackendName } from '../tfjs/backend.js';
import { loadModelDirectory } from '../tfjs/model-dir.js';
import { inputSpecFor, type PreprocessOverrides } from '../tfjs/predict.js';
import { asClassifier } from './classifier.js';
import { loadDataset } from './data/dataset.js';
import { evaluate } from './loop.js';
import { plotBoundaryOfModel } from './boundary.js';

export interface EvaluateOptions extends PreprocessOverrides {
  model: string;
  data: string;
  batchSize?: number;
  labelColumn?: string;
  backend?: BackendName;
  /** wasm threads (default: the machine's cores). */
  threads?: number;
  /** Also draw the decision boundary (2-D tabular data) to this PNG. */
  boundary?: string;
}

export interface Evaluation {
  backend: string;
  /** Threads the backend computed on (null: not graft's to say, as for tensorflow). */
  threads: number | null;
  loss: number;
  accuracy: number;
  /** Rows: true class, columns: predicted class, in `classNames` order. */
  confusion: number[][];
  classNames: string[];
  count: number;
  skipped: { path: string; reason: string }[];
}

export async function evaluateModel(options: EvaluateOptions): Promise<Evaluation> {
  const backend = await useBackend(options.backend, { threads: options.threads });
  const { threads } = backendInfo();
  const { model, graft } = await loadModelDirectory(options.model);
  try {
    const spatial = model.inputs[0].shape.length === 4;
    const dataset = await loadDataset(options.data, {
      imageSpec: spatial ? inputSpecFor(model, graft, options) : undefined,
      labelColumn: options.labelColumn,
      classNames: graft?.classNames,
    });
    const classifier = asClassifier(model);
    const result = await evaluate(classifier.logits, classifier.activation, classifier.classes, dataset.examples, options.batchSize ?? 100);
    if (options.boundary) await plotBoundaryOfModel(classifier, dataset, options.boundary, path.basename(options.model));
    return { backend, threads, ...result, classNames: dataset.classNames, count: dataset.examples.count, skipped: dataset.skipped };
  } finally {
    model.dispose();
  }
}
