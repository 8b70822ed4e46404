/**
 * Where a Caffe net's input comes from, and how its images were prepared: the deprecated net-level
 * `input` + `input_dim`/`input_shape`, `Input` layers, or (train/val nets) a data layer whose
 * transform_param records the preprocessing.
 */
import { FormatError, UsageError } from '../../errors.js';
import type { InputConvention } from '../source.js';
import { inState, type CaffeLayer } from './layers.js';
import { isSet, toInt, type BlobShapeMsg, type NetMsg, type ParamMsg } from './schema.js';

/** Layer types that read training data from disk or memory; the converted model takes a tensor instead. */
export const DATA_LAYER_TYPES = new Set(['Data', 'ImageData', 'HDF5Data', 'MemoryData', 'WindowData', 'DummyData', 'AnnotatedData']);

export interface DeclaredInput {
  /** Blob name. */
  name: string;
  /** null when the file names the input but gives no shape. */
  shape: number[] | null;
  /** Where it was declared, for messages. */
  source: string;
}

/** Inputs declared with the net-level fields, then by Input layers, in file order. */
export function declaredInputs(net: NetMsg, layers: CaffeLayer[], file: string): DeclaredInput[] {
  const inputs: DeclaredInput[] = [];
  const dims = net.input_dim.map(toInt);
  if (net.input_shape.length > 0 && dims.length > 0) {
    throw new FormatError(file, undefined, 'the net gives both input_shape and input_dim');
  }
  if (net.input_shape.length > 0 && net.input_shape.length !== net.input.length) {
    throw new FormatError(file, undefined, `${net.input.length} inputs but ${net.input_shape.length} input_shape entries`);
  }
  if (dims.length > 0 && dims.length !== 4 * net.input.length) {
    throw new FormatError(file, undefined, `${net.input.length} inputs need ${4 * net.input.length} input_dim values, found ${dims.length}`);
  }
  net.input.forEach((name, i) => {
    let shape: number[] | null = null;
    if (net.input_shape.length > 0) shape = shapeDims(net.input_shape[i]);
    else if (dims.length > 0) shape = dims.slice(4 * i, 4 * i + 4);
    inputs.push({ name, shape, source: 'net input' });
  });
  for (const layer of layers) {
    if (layer.type !== 'Input') continue;
    const shapes = ((layer.message.input_param as ParamMsg | null)?.shape as BlobShapeMsg[] | undefined) ?? [];
    if (shapes.length > 1 && shapes.length !== layer.top.length) {
      throw new FormatError(file, undefined, `Input layer '${layer.name}' has ${layer.top.length} tops but ${shapes.length} shapes`);
    }
    layer.top.forEach((name, i) => {
      const shape = shapes.length === 0 ? null : shapeDims(shapes[shapes.length === 1 ? 0 : i]);
      inputs.push({ name, shape, source: `Input layer '${layer.name}'` });
    });
  }
  return inputs;
}

function shapeDims(shape: BlobShapeMsg): number[] {
  return shape.dim.map(toInt);
}

export interface DataLayerInfo {
  layer: CaffeLayer;
  scale: number;
  meanValues: number[];
  meanFile: string | undefined;
  cropSize: number;
}

/**
 * The data layer that feeds the TEST net, else any data layer (a snapshot's embedded net is the
 * TRAIN net, whose data layer has the same preprocessing but no TEST twin).
 */
export function findDataLayer(layers: CaffeLayer[]): DataLayerInfo | undefined {
  const dataLayers = layers.filter((layer) => DATA_LAYER_TYPES.has(layer.type));
  const chosen = dataLayers.find((layer) => inState(layer)) ?? dataLayers[0];
  return chosen && describeDataLayer(chosen);
}

function describeDataLayer(layer: CaffeLayer): DataLayerInfo {
  const transform = layer.message.transform_param as ParamMsg | null | undefined;
  // Nets older than TransformationParameter kept scale/mean_file/crop_size in the data parameter.
  const legacy = [layer.message.data_param, layer.message.image_data_param, layer.message.window_data_param].find(
    (p) => p !== null && p !== undefined,
  ) as ParamMsg | undefined;
  const source = transform ?? legacy;
  const meanFile = source && isSet(source, 'mean_file') ? String(source.mean_file) : undefined;
  return {
    layer,
    scale: source && isSet(source, 'scale') ? Number(source.scale) : 1,
    meanValues: transform ? ((transform.mean_value as number[] | undefined) ?? []) : [],
    meanFile,
    cropSize: source && isSet(source, 'crop_size') ? toInt(source.crop_size as number) : 0,
  };
}

/**
 * Caffe computes (pixel − mean_value) · scale; graft's convention is (pixel · scale − mean) / std,
 * so the mean is given in scaled units: mean_value · scale.
 */
export function inputConvention(data: DataLayerInfo, channels: number | undefined, warnings: string[]): InputConvention {
  const convention: InputConvention = {};
  // Caffe reads images with OpenCV, which gives BGR.
  if (channels === 3) convention.channelOrder = 'BGR';
  else if (channels === 1) convention.channelOrder = 'GRAY';
  convention.scale = data.scale;
  if (data.meanValues.length > 0) {
    const count = channels ?? data.meanValues.length;
    if (data.meanValues.length !== 1 && data.meanValues.length !== count) {
      warnings.push(`data layer '${data.layer.name}' gives ${data.meanValues.length} mean_value entries for ${count} channels; the mean is not recorded`);
    } else {
      convention.mean = Array.from({ length: count }, (_, c) => data.meanValues[data.meanValues.length === 1 ? 0 : c] * data.scale);
    }
  }
  if (data.meanFile !== undefined) {
    warnings.push(`data layer '${data.layer.name}' subtracts a mean image (${data.meanFile}), which graft does not read; record the per-channel mean yourself`);
  }
  return convention;
}

/** `--input-shape` as given by a user: positive integers, batch first. */
export function checkInputShape(shape: number[], file: string): number[] {
  if (shape.length < 2 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new UsageError(`${file}: --input-shape must be positive integers, batch first (N,C,H,W); got ${shape.join(',')}`);
  }
  return [...shape];
}
