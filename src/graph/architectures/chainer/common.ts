/**
 * What Chainer's architectures share: its defaults where they differ from other frameworks, and
 * reading free sizes (widths, number of classes) from the file's tensors.
 */
import { UsageError } from '../../../errors.js';
import type { InputConvention } from '../../../formats/source.js';
import type { TensorMap } from '../../../tensor/tensor.js';
import type { Graph } from '../../graph.js';
import type { GraphBuilder } from '../builder.js';

/** L.BatchNormalization's default eps (chainer/links/normalization/batch_normalization.py). */
export const CHAINER_BN_EPS = 2e-5;

/** F.dropout's default ratio. */
export const CHAINER_DROPOUT = 0.5;

/**
 * F.local_response_normalization's defaults. Chainer applies alpha to the window's sum as is
 * (no division by n, unlike Caffe and PyTorch), which is what the graph's lrn expects.
 */
export const CHAINER_LRN = { size: 5, k: 2, alpha: 1e-4, beta: 0.75 };

/** `prepare()` of chainer/links/model/vision/vgg.py: RGB → BGR, minus the VGG team's mean pixel, 224×224. */
export const VGG_PREPARE: InputConvention = { channelOrder: 'BGR', scale: 1, mean: [103.939, 116.779, 123.68] };

/** `prepare()` of chainer/links/model/vision/resnet.py: the same with MSRA's (slightly different) mean pixel. */
export const RESNET_PREPARE: InputConvention = { channelOrder: 'BGR', scale: 1, mean: [103.063, 115.903, 123.152] };

/**
 * F.max_pooling_2d defaults to cover_all=True: the output grows by one whenever the windows do
 * not tile the input exactly (chainer/utils/conv.py get_conv_outsize), i.e. Chainer rounds up.
 */
export function chainerMaxPool(b: GraphBuilder, x: string, kernel: number, stride: number, name: string): string {
  return b.pool('max', x, { kernel, stride, pad: 0, rounding: 'cover_all' }, name);
}

/** A dimension of a tensor in the file, or `fallback` when the file lacks it (the DSL then reports the key missing). */
export function dimOf(tensors: TensorMap, key: string, axis: number, fallback: number): number {
  const tensor = tensors.get(key);
  const value = tensor?.shape[axis];
  return value !== undefined && value > 0 ? value : fallback;
}

/** NCHW input: the given shape, else batch 1 with the file's channel count at the zoo's size. */
export function inputShapeOf(given: number[] | undefined, channels: number, size: number): number[] {
  if (given && given.length !== 4) throw new UsageError(`--input-shape ${given.join(',')}: Chainer's image models take N,C,H,W`);
  return given ?? [1, channels, size, size];
}

/**
 * Chainer's `extract(layers=[...])` names a value after the link that starts it but returns it
 * after its activation (VGG's 'conv5_3' and 'fc7' are after ReLU; ResNet's 'conv1' after bn1 and
 * ReLU): these blob aliases give `predict --layer` the same meaning.
 */
export function withAliases(graph: Graph, aliases: Record<string, string>): Graph {
  return { ...graph, blobs: { ...graph.blobs, ...aliases } };
}
