/**
 * Chainer's architectures for .npz files, registered on import. Order matters where two would
 * match the same keys: the zoo's fixed layouts come before ResNetChain, which reads its layout
 * from the file and so also fits ResNet50Layers' keys.
 */
import { registerArchitectures, type Architecture } from '../registry.js';
import { ALEXNET } from './alexnet.js';
import { RESNET101_LAYERS, RESNET152_LAYERS, RESNET50_LAYERS, RESNET_CHAIN } from './resnet.js';
import { VGG16_LAYERS, VGG19_LAYERS, VGG_LAYERS_WITH_HEAD } from './vgg.js';

export const CHAINER_ARCHITECTURES: Architecture[] = [
  VGG16_LAYERS,
  VGG19_LAYERS,
  RESNET50_LAYERS,
  RESNET101_LAYERS,
  RESNET152_LAYERS,
  ALEXNET,
  RESNET_CHAIN,
  VGG_LAYERS_WITH_HEAD,
];

registerArchitectures(...CHAINER_ARCHITECTURES);
