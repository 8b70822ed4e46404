/**
 * torchvision.models.vgg11 … vgg19_bn (torchvision/models/vgg.py): `make_layers(cfgs[...])` numbers
 * the `features` Sequential module by module, so a BatchNorm2d after each conv shifts every later
 * index (vgg16's last conv is features.28, vgg16_bn's features.40). Convs are 3×3 pad 1 with bias
 * even in the _bn variants; AdaptiveAvgPool2d((7, 7)) is the identity at 224×224.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import type { GraphBuilder } from '../builder.js';
import type { Architecture } from '../registry.js';
import { TORCH_BN_EPS, conv, flatten, linear, torchvisionArchitecture } from './common.js';

type Cfg = (number | 'M')[];

/** vgg.py `cfgs`: A = vgg11, B = vgg13, D = vgg16, E = vgg19. */
const CFGS: Record<'A' | 'B' | 'D' | 'E', Cfg> = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

/** vgg.py make_layers: each entry appends its modules to one Sequential, indices counting every module. */
function features(b: GraphBuilder, tensors: TensorMap, cfg: Cfg, batchNorm: boolean): string {
  let x = b.input;
  let index = 0;
  const next = () => `features.${index++}`;
  for (const entry of cfg) {
    if (entry === 'M') {
      x = b.pool('max', x, { kernel: 2, stride: 2 }, next());
      continue;
    }
    x = conv(b, tensors, next(), x, entry, { kernel: 3, pad: 1 });
    if (batchNorm) x = b.batchnorm(next(), x, TORCH_BN_EPS);
    x = b.relu(x, next());
  }
  return x;
}

function vggBody(cfg: Cfg, batchNorm: boolean) {
  return (b: GraphBuilder, tensors: TensorMap): string => {
    let x = features(b, tensors, cfg, batchNorm);
    x = b.adaptivePool('avg', x, [7, 7], 'avgpool');
    x = flatten(b, x);
    x = linear(b, tensors, 'classifier.0', x, 4096);
    x = b.relu(x, 'classifier.1');
    x = b.dropout(x, 0.5, 'classifier.2');
    x = linear(b, tensors, 'classifier.3', x, 4096);
    x = b.relu(x, 'classifier.4');
    x = b.dropout(x, 0.5, 'classifier.5');
    return linear(b, tensors, 'classifier.6', x, 1000);
  };
}

function vgg(name: string, cfg: keyof typeof CFGS, batchNorm: boolean, millions: string): Architecture {
  const layers = CFGS[cfg].filter((v) => v !== 'M').length + 3;
  return torchvisionArchitecture(
    name,
    `torchvision ${name} (VGG ${layers} layers${batchNorm ? ' with BatchNorm' : ''}, ${millions} M parameters at 1000 classes)`,
    vggBody(CFGS[cfg], batchNorm),
  );
}

export const VGG_ARCHITECTURES: Architecture[] = [
  vgg('vgg11', 'A', false, '132.9'),
  vgg('vgg11_bn', 'A', true, '132.9'),
  vgg('vgg13', 'B', false, '133.0'),
  vgg('vgg13_bn', 'B', true, '133.1'),
  vgg('vgg16', 'D', false, '138.4'),
  vgg('vgg16_bn', 'D', true, '138.4'),
  vgg('vgg19', 'E', false, '143.7'),
  vgg('vgg19_bn', 'E', true, '143.7'),
];
