/**
 * torchvision.models.mobilenet_v2 (torchvision/models/mobilenetv2.py). Each `features.i` is a
 * Conv2dNormActivation (conv without bias — ops/misc.py sets bias=False when a norm layer follows —
 * BatchNorm2d, ReLU6; padding (k − 1) / 2) or an InvertedResidual whose `conv` Sequential holds:
 * an expanding 1×1 Conv2dNormActivation (left out when expand_ratio is 1, which shifts the indices:
 * block 1's depthwise conv is `features.1.conv.0.0`, later blocks' `conv.1.0`), the 3×3 depthwise
 * Conv2dNormActivation (groups = channels), a linear 1×1 conv and a BatchNorm2d. The residual sum
 * exists only when stride is 1 and the block keeps its width (use_res_connect). Then
 * adaptive_avg_pool2d to 1×1 (a function in forward(): no module), flatten, Dropout(0.2), Linear.
 *
 * Widths are read from the file, so width_mult models (0.5, 0.75, 1.4…) and fine-tuned heads match.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import type { GraphBuilder } from '../builder.js';
import { TORCH_BN_EPS, conv, flatten, linear, torchvisionArchitecture } from './common.js';

/** MobileNetV2's inverted_residual_setting: expand ratio t, channels c, repeats n, first stride s. */
const INVERTED_RESIDUAL_SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Conv2dNormActivation(…, activation_layer=nn.ReLU6): `prefix.0` conv, `prefix.1` BatchNorm, `prefix.2` ReLU6. */
function convBnRelu6(
  b: GraphBuilder,
  tensors: TensorMap,
  prefix: string,
  x: string,
  filters: number,
  options: { kernel: number; stride?: number; groups?: number },
): string {
  let y = conv(b, tensors, `${prefix}.0`, x, filters, { ...options, pad: (options.kernel - 1) / 2, bias: false });
  y = b.batchnorm(`${prefix}.1`, y, TORCH_BN_EPS);
  return b.activation('relu6', y, `${prefix}.2`);
}

function invertedResidual(
  b: GraphBuilder,
  tensors: TensorMap,
  prefix: string,
  x: string,
  expandRatio: number,
  /** torchvision's width at width_mult 1; the file's own comes from the weight. */
  outChannels: number,
  stride: number,
): string {
  const inChannels = b.shapeOf(x)[1];
  let y = x;
  let index = 0;
  const next = () => `${prefix}.conv.${index++}`;
  if (expandRatio !== 1) {
    y = convBnRelu6(b, tensors, next(), y, Math.round(inChannels * expandRatio), { kernel: 1 });
  }
  const hidden = b.shapeOf(y)[1];
  y = convBnRelu6(b, tensors, next(), y, hidden, { kernel: 3, stride, groups: hidden });
  y = conv(b, tensors, next(), y, outChannels, { kernel: 1, bias: false });
  y = b.batchnorm(next(), y, TORCH_BN_EPS);
  const useResConnect = stride === 1 && inChannels === b.shapeOf(y)[1];
  return useResConnect ? b.add2(x, y, `${prefix}.add`) : y;
}

function mobilenetV2Body(b: GraphBuilder, tensors: TensorMap): string {
  let x = convBnRelu6(b, tensors, 'features.0', b.input, 32, { kernel: 3, stride: 2 });
  let index = 1;
  for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
    for (let i = 0; i < n; i++) {
      const prefix = `features.${index++}`;
      x = invertedResidual(b, tensors, prefix, x, t, c, i === 0 ? s : 1);
    }
  }
  x = convBnRelu6(b, tensors, `features.${index}`, x, 1280, { kernel: 1 });
  x = b.adaptivePool('avg', x, [1, 1], 'adaptive_avg_pool2d');
  x = flatten(b, x);
  x = b.dropout(x, 0.2, 'classifier.0');
  return linear(b, tensors, 'classifier.1', x, 1000);
}

export const MOBILENET_V2 = torchvisionArchitecture(
  'mobilenet_v2',
  'torchvision mobilenet_v2 (MobileNetV2, any width_mult, 3.5 M parameters at width 1 and 1000 classes)',
  mobilenetV2Body,
);

export const MOBILENET_ARCHITECTURES = [MOBILENET_V2];
