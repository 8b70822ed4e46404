/**
 * torchvision.models.alexnet (torchvision/models/alexnet.py, class AlexNet): the "one weird trick"
 * variant with 64-192-384-256-256 filters, max pools without ceil_mode, AdaptiveAvgPool2d((6, 6))
 * (the identity at 224×224, where the features are 6×6) and dropout before each hidden Linear.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import type { GraphBuilder } from '../builder.js';
import { conv, flatten, linear, torchvisionArchitecture } from './common.js';

function alexnetBody(b: GraphBuilder, tensors: TensorMap): string {
  let x = b.input;
  x = conv(b, tensors, 'features.0', x, 64, { kernel: 11, stride: 4, pad: 2 });
  x = b.relu(x, 'features.1');
  x = b.pool('max', x, { kernel: 3, stride: 2 }, 'features.2');
  x = conv(b, tensors, 'features.3', x, 192, { kernel: 5, pad: 2 });
  x = b.relu(x, 'features.4');
  x = b.pool('max', x, { kernel: 3, stride: 2 }, 'features.5');
  x = conv(b, tensors, 'features.6', x, 384, { kernel: 3, pad: 1 });
  x = b.relu(x, 'features.7');
  x = conv(b, tensors, 'features.8', x, 256, { kernel: 3, pad: 1 });
  x = b.relu(x, 'features.9');
  x = conv(b, tensors, 'features.10', x, 256, { kernel: 3, pad: 1 });
  x = b.relu(x, 'features.11');
  x = b.pool('max', x, { kernel: 3, stride: 2 }, 'features.12');
  x = b.adaptivePool('avg', x, [6, 6], 'avgpool');
  x = flatten(b, x);
  // AlexNet's classifier puts Dropout *before* each hidden Linear (classifier.0 and .3), VGG's after.
  x = b.dropout(x, 0.5, 'classifier.0');
  x = linear(b, tensors, 'classifier.1', x, 4096);
  x = b.relu(x, 'classifier.2');
  x = b.dropout(x, 0.5, 'classifier.3');
  x = linear(b, tensors, 'classifier.4', x, 4096);
  x = b.relu(x, 'classifier.5');
  return linear(b, tensors, 'classifier.6', x, 1000);
}

export const ALEXNET = torchvisionArchitecture('alexnet', 'torchvision alexnet (AlexNet, 61.1 M parameters at 1000 classes)', alexnetBody);

export const ALEXNET_ARCHITECTURES = [ALEXNET];
