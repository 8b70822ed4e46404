/**
 * torchvision's classification architectures for .pth state dicts, registered on import. Each
 * reads its widths from the file, but no two share a key set, so the order does not matter.
 */
import { registerArchitectures, type Architecture } from '../registry.js';
import { ALEXNET_ARCHITECTURES } from './alexnet.js';
import { MOBILENET_ARCHITECTURES } from './mobilenet.js';
import { RESNET_ARCHITECTURES } from './resnet.js';
import { SQUEEZENET_ARCHITECTURES } from './squeezenet.js';
import { VGG_ARCHITECTURES } from './vgg.js';

export const TORCHVISION_ARCHITECTURES: Architecture[] = [
  ...ALEXNET_ARCHITECTURES,
  ...VGG_ARCHITECTURES,
  ...RESNET_ARCHITECTURES,
  ...MOBILENET_ARCHITECTURES,
  ...SQUEEZENET_ARCHITECTURES,
];

registerArchitectures(...TORCHVISION_ARCHITECTURES);
