/**
 * `graft inspect`: every tensor of a weights file, or a Keras-summary-like table of a model
 * directory. The index column is the one freezing options accept.
 */
import { promises as fs } from 'node:fs';
import { pickReader } from '../formats/registry.js';
import type { DType } from '../tensor/dtype.js';
import { UsageError } from '../errors.js';
import { describeFsError } from '../util/files.js';
import { useBackend } from './backend.js';
import { loadModelDirectory } from './model-dir.js';
import { applyFreezing } from '../train/freeze.js';

export interface TensorRow {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: number;
}

export interface LayerRow {
  index: number;
  name: string;
  type: string;
  outputShape: (number | null)[] | (number | null)[][];
  params: number;
  trainable: boolean;
}

export type InspectResult =
  | { kind: 'weights'; path: string; format: string; tensors: TensorRow[]; totalBytes: number; warnings: string[] }
  | { kind: 'model'; path: string; layers: LayerRow[]; totalParams: number; trainableParams: number };

/** Freezing flags to apply before listing (`graft inspect DIR --trainable --freeze-to 142`). */
export interface TrainableView {
  freeze?: string[];
  freezeTo?: string;
  unfreezeFrom?: string;
}

export async function inspectPath(target: string, trainable?: TrainableView): Promise<InspectResult> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch (error) {
    throw new UsageError(`${target}: ${describeFsError(error)}`);
  }
  if (stat.isDirectory()) return inspectModel(target, trainable);
  const reader = await pickReader(target);
  const source = await reader.open(target, { tensorsOnly: true });
  const tensors = [...source.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape], bytes: t.data.byteLength }));
  return {
    kind: 'weights',
    path: target,
    format: source.format,
    tensors,
    totalBytes: tensors.reduce((sum, t) => sum + t.bytes, 0),
    warnings: source.warnings,
  };
}

export async function inspectModel(dir: string, trainable?: TrainableView): Promise<InspectResult> {
  await useBackend('cpu');
  const { model } = await loadModelDirectory(dir);
  try {
    if (trainable) applyFreezing(model, trainable);
    const layers = model.layers.map((layer, index) => ({
      index,
      name: layer.name,
      type: layer.getClassName(),
      outputShape: layer.outputShape as LayerRow['outputShape'],
      params: layer.countParams(),
      trainable: layer.trainable,
    }));
    const trainableParams = model.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
    return { kind: 'model', path: dir, layers, totalParams: model.countParams(), trainableParams };
  } finally {
    model.dispose();
  }
}

