/**
 * What torchvision's classification models share: the ImageNet input convention, nn defaults, and
 * reading each layer's width from the file, so that a checkpoint fine-tuned to another number of
 * classes, or a narrower model with the same module structure, builds the right graph. Recognition
 * still compares every key and shape, so only the sizes are free, never the structure.
 */
import type { InputConvention } from '../../../formats/source.js';
import type { TensorMap } from '../../../tensor/tensor.js';
import { GraphBuilder, TORCH_NAMING } from '../builder.js';
import type { Architecture, BuiltArchitecture } from '../registry.js';

/** transforms._presets.ImageClassification: RGB in [0, 1], normalised with ImageNet's mean and std. */
export const TORCHVISION_INPUT: InputConvention = {
  channelOrder: 'RGB',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** The crop every torchvision classification weight set is evaluated at. */
export const TORCHVISION_INPUT_SHAPE = [1, 3, 224, 224];

/** nn.BatchNorm2d's default eps; every family here keeps it (only mobilenet_v3/efficientnet pass 1e-3). */
export const TORCH_BN_EPS = 1e-5;

/**
 * Output width (out_channels / out_features: axis 0 of the weight) of the layer `prefix`, or
 * `fallback`, torchvision's own size, when the file has no such weight of the right rank; the
 * comparison then reports that key as missing or misshapen.
 */
export function widthOf(tensors: TensorMap, prefix: string, rank: 2 | 4, fallback: number): number {
  const weight = tensors.get(`${prefix}.weight`);
  if (!weight || weight.shape.length !== rank || !(weight.shape[0] > 0)) return fallback;
  return weight.shape[0];
}

/** A conv whose filter count comes from its weight in the file (torchvision's size as fallback). */
export function conv(
  b: GraphBuilder,
  tensors: TensorMap,
  prefix: string,
  x: string,
  fallbackFilters: number,
  options: { kernel: number; stride?: number; pad?: number; groups?: number; bias?: boolean },
): string {
  return b.conv2d(prefix, x, { filters: widthOf(tensors, prefix, 4, fallbackFilters), ...options });
}

/** nn.Linear on a [N, features] value, its out_features read from the file. */
export function linear(b: GraphBuilder, tensors: TensorMap, prefix: string, x: string, fallbackUnits: number): string {
  return b.dense(prefix, x, widthOf(tensors, prefix, 2, fallbackUnits));
}

/**
 * `x = torch.flatten(x, 1)` before the classifier. Named after torchvision's forward(), which
 * calls it as a function (there is no module, hence no state-dict prefix).
 */
export function flatten(b: GraphBuilder, x: string): string {
  return b.flatten(x, 'flatten');
}

export type TorchvisionBody = (b: GraphBuilder, tensors: TensorMap) => string;

/** An Architecture for one torchvision builder function (`vgg16`...), its graph made by `body`. */
export function torchvisionArchitecture(name: string, description: string, body: TorchvisionBody): Architecture {
  return {
    name,
    format: 'pytorch',
    description,
    inputShape: [...TORCHVISION_INPUT_SHAPE],
    input: TORCHVISION_INPUT,
    build(tensors: TensorMap, options: { inputShape?: number[] }): BuiltArchitecture {
      const b = new GraphBuilder(name, [...(options.inputShape ?? TORCHVISION_INPUT_SHAPE)], TORCH_NAMING);
      const output = body(b, tensors);
      return { graph: b.build([output]), expected: b.expected };
    },
  };
}
