/**
 * The Caffe reader: a .caffemodel (weights, and the train net they were trained with) plus an
 * optional .prototxt (the deploy net) → SourceModel with the TEST-phase graph.
 */
import * as path from 'node:path';
import { FormatError, UsageError } from '../../errors.js';
import type { GraphInput } from '../../graph/graph.js';
import type { TensorMap } from '../../tensor/tensor.js';
import type { ProgressCallback } from '../../util/files.js';
import type { FormatReader, InputConvention, SourceModel } from '../source.js';
import { readCaffemodel } from './caffemodel.js';
import { checkInputShape, declaredInputs, findDataLayer, inputConvention, type DataLayerInfo } from './input.js';
import { inState, netLayers, type CaffeLayer } from './layers.js';
import { buildNetGraph, isTrainingOnly } from './net.js';
import { blobCount, PARAMETRIC_TYPES } from './ops.js';
import { toInt, type NetMsg } from './schema.js';
import { readPrototxtNet } from './text-message.js';

export interface CaffeReadOptions {
  /** Deploy net definition; without it the structure is the net stored in the caffemodel. */
  prototxt?: string;
  /** N,C,H,W; overrides the net's own input shape. */
  inputShape?: number[];
  /** Only the tensors (for `graft inspect`): no graph, so no input shape is needed. */
  tensorsOnly?: boolean;
  onProgress?: ProgressCallback;
}

export async function readCaffeModel(file: string, options: CaffeReadOptions = {}): Promise<SourceModel> {
  const model = await readCaffemodel(file, options.onProgress);
  const warnings: string[] = [];
  if (options.tensorsOnly) return { format: 'caffe', path: file, tensors: model.tensors, warnings };
  const weightLayers = netLayers(model.net);
  let structure: NetMsg = model.net;
  let structureFile = file;
  let allLayers = weightLayers;
  if (options.prototxt) {
    structure = await readPrototxtNet(options.prototxt);
    structureFile = options.prototxt;
    allLayers = netLayers(structure);
  }
  const layers = allLayers.filter((layer) => inState(layer));
  const outsideTest = allLayers.filter((layer) => !inState(layer));
  if (outsideTest.length > 0) warnings.push(`layers outside the TEST phase, ignored: ${describeLayers(outsideTest)}`);
  if (options.prototxt) checkWeightsCoverNet(layers, weightLayers, model.tensors, file, options.prototxt, warnings);

  const structureData = findDataLayer(allLayers);
  const inputs = resolveInputs(structure, layers, structureData, model.tensors, file, structureFile, options, warnings);
  const conventionData = structureData ?? (options.prototxt ? findDataLayer(weightLayers) : undefined);
  let input: InputConvention | undefined;
  const channels = inputs[0]?.shape && inputs[0].shape.length === 4 ? inputs[0].shape[1] : undefined;
  if (conventionData) {
    input = inputConvention(conventionData, channels, warnings);
  } else if (channels === 3 || channels === 1) {
    // Caffe reads images with OpenCV, so every 3-channel Caffe net expects BGR.
    input = { channelOrder: channels === 3 ? 'BGR' : 'GRAY' };
  }

  const { graph, dropped } = buildNetGraph({
    name: structure.name || path.basename(file, path.extname(file)),
    layers,
    inputs,
    tensors: model.tensors,
    structureFile,
    weightsFile: file,
  });
  if (dropped.length > 0) warnings.push(`training-only layers dropped: ${dropped.join(', ')}`);
  return {
    format: 'caffe',
    path: file,
    ...(options.prototxt ? { structurePath: options.prototxt } : {}),
    tensors: model.tensors,
    graph,
    ...(input ? { input } : {}),
    warnings,
  };
}

function describeLayers(layers: CaffeLayer[]): string {
  return layers.map((layer) => `${layer.name} (${layer.type})`).join(', ');
}

/** Learned-parameter layers; a Scale or Bias fed its factor as a second bottom has no blobs. */
function needsWeights(layer: CaffeLayer): boolean {
  if ((layer.type === 'Scale' || layer.type === 'Bias') && layer.bottom.length > 1) return false;
  return PARAMETRIC_TYPES.has(layer.type);
}

function checkWeightsCoverNet(
  layers: CaffeLayer[],
  weightLayers: CaffeLayer[],
  tensors: TensorMap,
  file: string,
  prototxt: string,
  warnings: string[],
): void {
  const missing = layers.filter((layer) => needsWeights(layer) && blobCount(tensors, layer.name) === 0);
  if (missing.length > 0) {
    throw new FormatError(
      file,
      undefined,
      `no weights for ${describeLayers(missing)} of ${prototxt}; the caffemodel's layers with weights are: ` +
        (weightLayers.filter((l) => blobCount(tensors, l.name) > 0).map((l) => l.name).join(', ') || 'none'),
    );
  }
  const used = new Set(layers.map((layer) => layer.name));
  const unused = weightLayers.filter((layer) => blobCount(tensors, layer.name) > 0 && !used.has(layer.name));
  if (unused.length > 0) warnings.push(`caffemodel layers not used by ${prototxt}: ${unused.map((l) => l.name).join(', ')}`);
}

function noShape(file: string): UsageError {
  return new UsageError(`${file}: the net has no input shape; pass --input-shape N,C,H,W (or --prototxt)`);
}

/**
 * The graph inputs: the declared ones (`input` fields, Input layers), else the data layer's image
 * top, else the first blob read before any layer writes it. `inputShape` replaces the first one's
 * shape; a data layer's shape is its crop size with the channel count of the first convolution.
 */
function resolveInputs(
  net: NetMsg,
  layers: CaffeLayer[],
  data: DataLayerInfo | undefined,
  tensors: TensorMap,
  file: string,
  structureFile: string,
  options: CaffeReadOptions,
  warnings: string[],
): GraphInput[] {
  const override = options.inputShape ? checkInputShape(options.inputShape, file) : undefined;
  const declared = declaredInputs(net, layers, structureFile);
  if (declared.length > 0) {
    return declared.map((input, i) => {
      const shape = i === 0 && override ? override : input.shape;
      if (!shape) throw noShape(file);
      if (shape === override && input.shape && input.shape.join(',') !== override.join(',')) {
        warnings.push(`input '${input.name}': using the given shape ${override.join(',')} instead of the declared ${input.shape.join(',')}`);
      }
      return { name: input.name, shape };
    });
  }
  if (data && data.layer.top.length > 0) {
    const shape = override ?? dataLayerShape(data, layers, tensors);
    if (!shape) throw noShape(file);
    return [{ name: data.layer.top[0], shape }];
  }
  const first = firstUnproducedBlob(layers);
  if (first === undefined) throw new FormatError(structureFile, undefined, 'the net has no input: no layer reads a blob it did not write');
  if (!override) throw noShape(file);
  return [{ name: first, shape: override }];
}

function dataLayerShape(data: DataLayerInfo, layers: CaffeLayer[], tensors: TensorMap): number[] | undefined {
  if (data.cropSize <= 0) return undefined;
  const conv = layers.find((layer) => layer.type === 'Convolution');
  const weights = conv && tensors.get(`${conv.name}/0`);
  if (!conv || !weights || weights.shape.length !== 4) return undefined;
  const group = toInt((conv.message.convolution_param as { group?: number } | null)?.group ?? 1);
  return [1, weights.shape[1] * group, data.cropSize, data.cropSize];
}

function firstUnproducedBlob(layers: CaffeLayer[]): string | undefined {
  const produced = new Set<string>();
  for (const layer of layers) {
    if (isTrainingOnly(layer.type)) continue;
    const missing = layer.bottom.find((bottom) => !produced.has(bottom));
    if (missing !== undefined) return missing;
    for (const top of layer.top) produced.add(top);
  }
  return undefined;
}

// NetParameter fields (number → wire types) that may open a binary net; Caffe writes field 1
// (name) first when the net has a name.
const NET_FIELDS: Record<number, number[]> = { 1: [2], 2: [2], 3: [2], 4: [0, 2], 5: [0], 6: [2], 7: [0], 8: [2], 100: [2] };

function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] | undefined {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && shift < 35; i++, shift += 7) {
    value += (bytes[i] & 0x7f) * 2 ** shift;
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
  }
  return undefined;
}

/** 0 (not a NetParameter start), 0.5 (a plausible first field), 0.8 (a printable net name). */
function netParameterLikelihood(head: Uint8Array): number {
  const tag = readVarint(head, 0);
  if (!tag) return 0;
  const [key, next] = tag;
  const field = Math.floor(key / 8);
  const wire = key % 8;
  if (!NET_FIELDS[field]?.includes(wire)) return 0;
  if (wire !== 2) return 0.5;
  const length = readVarint(head, next);
  if (!length) return 0;
  if (field !== 1) return 0.5;
  const [size, start] = length;
  const name = head.subarray(start, Math.min(start + size, head.length));
  const printable = name.every((b) => b >= 0x20 && b < 0x7f);
  return printable ? 0.8 : 0;
}

export const caffeReader: FormatReader<CaffeReadOptions> = {
  format: 'caffe',
  match(head: Uint8Array, file: string): number {
    const ext = path.extname(file).toLowerCase();
    if (ext === '.prototxt') return 0;
    const likelihood = netParameterLikelihood(head);
    if (ext === '.caffemodel') return likelihood > 0 ? 1 : 0.6;
    return likelihood;
  },
  open: readCaffeModel,
};
