/**
 * torchvision.models.squeezenet1_0 / squeezenet1_1 (torchvision/models/squeezenet.py). Quirks:
 * every MaxPool2d has ceil_mode=True (rounds the pooled size up); a Fire module concatenates its
 * ReLU'd expand1x1 and expand3x3 branches along channels; the classifier is Dropout, a 1×1 conv
 * to the classes, ReLU and AdaptiveAvgPool2d((1, 1)), and forward() flattens after it.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import type { GraphBuilder } from '../builder.js';
import type { Architecture } from '../registry.js';
import { conv, flatten, torchvisionArchitecture } from './common.js';

/** A Fire(inplanes, squeeze, expand1x1, expand3x3) module, or a MaxPool2d(3, 2, ceil_mode=True). */
type Feature = [number, number, number] | 'M';

/** squeezenet.py SqueezeNet.__init__: the stem conv, then `features.3` on. */
const VERSIONS: Record<'1_0' | '1_1', { stem: { filters: number; kernel: number }; features: Feature[] }> = {
  '1_0': {
    stem: { filters: 96, kernel: 7 },
    features: [[16, 64, 64], [16, 64, 64], [32, 128, 128], 'M', [32, 128, 128], [48, 192, 192], [48, 192, 192], [64, 256, 256], 'M', [64, 256, 256]],
  },
  '1_1': {
    stem: { filters: 64, kernel: 3 },
    features: [[16, 64, 64], [16, 64, 64], 'M', [32, 128, 128], [32, 128, 128], 'M', [48, 192, 192], [48, 192, 192], [64, 256, 256], [64, 256, 256]],
  },
};

function ceilMaxPool(b: GraphBuilder, x: string, name: string): string {
  return b.pool('max', x, { kernel: 3, stride: 2, rounding: 'ceil' }, name);
}

function fire(b: GraphBuilder, tensors: TensorMap, p: string, x: string, [squeeze, expand1, expand3]: [number, number, number]): string {
  const s = b.relu(conv(b, tensors, `${p}.squeeze`, x, squeeze, { kernel: 1 }), `${p}.squeeze_activation`);
  const e1 = b.relu(conv(b, tensors, `${p}.expand1x1`, s, expand1, { kernel: 1 }), `${p}.expand1x1_activation`);
  const e3 = b.relu(conv(b, tensors, `${p}.expand3x3`, s, expand3, { kernel: 3, pad: 1 }), `${p}.expand3x3_activation`);
  return b.concat([e1, e3], `${p}.cat`);
}

function squeezenetBody(version: keyof typeof VERSIONS) {
  const { stem, features } = VERSIONS[version];
  return (b: GraphBuilder, tensors: TensorMap): string => {
    let x = conv(b, tensors, 'features.0', b.input, stem.filters, { kernel: stem.kernel, stride: 2 });
    x = b.relu(x, 'features.1');
    x = ceilMaxPool(b, x, 'features.2');
    features.forEach((feature, i) => {
      const name = `features.${i + 3}`;
      x = feature === 'M' ? ceilMaxPool(b, x, name) : fire(b, tensors, name, x, feature);
    });
    x = b.dropout(x, 0.5, 'classifier.0');
    x = conv(b, tensors, 'classifier.1', x, 1000, { kernel: 1 });
    x = b.relu(x, 'classifier.2');
    x = b.adaptivePool('avg', x, [1, 1], 'classifier.3');
    return flatten(b, x);
  };
}

export const SQUEEZENET_ARCHITECTURES: Architecture[] = [
  torchvisionArchitecture('squeezenet1_0', 'torchvision squeezenet1_0 (SqueezeNet 1.0, 1.2 M parameters at 1000 classes)', squeezenetBody('1_0')),
  torchvisionArchitecture('squeezenet1_1', 'torchvision squeezenet1_1 (SqueezeNet 1.1, 1.2 M parameters at 1000 classes)', squeezenetBody('1_1')),
];
