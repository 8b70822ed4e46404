/**
 * The key → shape manifests of torchvision's full-size models (fixtures/pytorch/manifests, written
 * by fixtures/make/torchvision_goldens.py from torchvision 0.14), as TensorMaps for recognition.
 */
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Tensor, TensorMap } from '../../src/tensor/tensor.js';
import { FIXTURES } from '../helpers.js';

export interface Manifest {
  architecture: string;
  torchvision: string;
  /** torchvision's parameter count: sum of numel over model.parameters() (buffers excluded). */
  num_params: number;
  state_dict: Record<string, number[]>;
}

export const MANIFEST_DIR = path.join(FIXTURES, 'pytorch', 'manifests');

export function manifestNames(): string[] {
  return readdirSync(MANIFEST_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function readManifest(name: string): Manifest {
  return JSON.parse(readFileSync(path.join(MANIFEST_DIR, `${name}.json`), 'utf8')) as Manifest;
}

/**
 * A tensor with the right shape and no values: recognition, graph building and the tfjs builder in
 * 'shapes' mode read shapes only, and a full VGG would otherwise take 550 MB.
 */
export function shapeOnlyTensor(shape: number[]): Tensor {
  return { dtype: 'float32', shape, data: new Float32Array(0) };
}

/** The manifest's keys as a TensorMap of shape-only tensors. */
export function manifestTensors(manifest: Manifest): TensorMap {
  const tensors: TensorMap = new Map();
  for (const [key, shape] of Object.entries(manifest.state_dict)) tensors.set(key, shapeOnlyTensor(shape));
  return tensors;
}
