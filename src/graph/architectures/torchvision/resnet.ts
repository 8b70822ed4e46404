/**
 * torchvision.models.resnet18 … resnet152 (torchvision/models/resnet.py). Quirks kept:
 * - convs carry no bias (conv3x3/conv1x1 pass bias=False); the stem's max pool has padding 1;
 * - Bottleneck strides its 3×3 conv2, not conv1 ("ResNet V1.5", resnet.py line 109);
 * - a block has a projection `downsample` (1×1 conv with the block's stride + BatchNorm, keys
 *   `downsample.0` / `downsample.1`) exactly when `stride != 1 or inplanes != planes * expansion`
 *   (_make_layer), which in torchvision happens only at a layer's first block;
 * - ReLU after the residual sum; AdaptiveAvgPool2d((1, 1)) then torch.flatten and `fc`.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import type { GraphBuilder } from '../builder.js';
import type { Architecture } from '../registry.js';
import { TORCH_BN_EPS, conv, flatten, linear, torchvisionArchitecture, widthOf } from './common.js';

interface Block {
  /** Builds one block at `prefix` (`layer2.0`) and returns its output. */
  build(b: GraphBuilder, tensors: TensorMap, prefix: string, x: string, planes: number, stride: number): string;
  /** torchvision's class name, for the description. */
  kind: string;
}

/** `downsample` when the identity cannot be added as is: a 1×1 conv with the block's stride, then BatchNorm. */
function shortcut(b: GraphBuilder, prefix: string, x: string, outChannels: number, stride: number): string {
  if (stride === 1 && b.shapeOf(x)[1] === outChannels) return x;
  const projected = b.conv2d(`${prefix}.downsample.0`, x, { filters: outChannels, kernel: 1, stride, bias: false });
  return b.batchnorm(`${prefix}.downsample.1`, projected, TORCH_BN_EPS);
}

const BASIC_BLOCK: Block = {
  kind: 'BasicBlock',
  build(b, tensors, p, x, planes, stride) {
    let y = conv(b, tensors, `${p}.conv1`, x, planes, { kernel: 3, stride, pad: 1, bias: false });
    y = b.batchnorm(`${p}.bn1`, y, TORCH_BN_EPS);
    y = b.relu(y, `${p}.relu1`);
    y = conv(b, tensors, `${p}.conv2`, y, planes, { kernel: 3, pad: 1, bias: false });
    y = b.batchnorm(`${p}.bn2`, y, TORCH_BN_EPS);
    const identity = shortcut(b, p, x, b.shapeOf(y)[1], stride);
    return b.relu(b.add2(y, identity, `${p}.add`), `${p}.relu2`);
  },
};

const BOTTLENECK: Block = {
  kind: 'Bottleneck',
  build(b, tensors, p, x, planes, stride) {
    let y = conv(b, tensors, `${p}.conv1`, x, planes, { kernel: 1, bias: false });
    y = b.batchnorm(`${p}.bn1`, y, TORCH_BN_EPS);
    y = b.relu(y, `${p}.relu1`);
    y = conv(b, tensors, `${p}.conv2`, y, widthOf(tensors, `${p}.conv1`, 4, planes), { kernel: 3, stride, pad: 1, bias: false });
    y = b.batchnorm(`${p}.bn2`, y, TORCH_BN_EPS);
    y = b.relu(y, `${p}.relu2`);
    // Bottleneck.expansion = 4: conv3 widens back to planes · 4.
    y = conv(b, tensors, `${p}.conv3`, y, planes * 4, { kernel: 1, bias: false });
    y = b.batchnorm(`${p}.bn3`, y, TORCH_BN_EPS);
    const identity = shortcut(b, p, x, b.shapeOf(y)[1], stride);
    return b.relu(b.add2(y, identity, `${p}.add`), `${p}.relu3`);
  },
};

function resnetBody(block: Block, layers: [number, number, number, number]) {
  return (b: GraphBuilder, tensors: TensorMap): string => {
    let x = conv(b, tensors, 'conv1', b.input, 64, { kernel: 7, stride: 2, pad: 3, bias: false });
    x = b.batchnorm('bn1', x, TORCH_BN_EPS);
    x = b.relu(x, 'relu');
    x = b.pool('max', x, { kernel: 3, stride: 2, pad: 1 }, 'maxpool');
    // ResNet._make_layer: planes 64·2^i, stride 2 from layer2 on; widths come from the file.
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < layers[i]; j++) {
        const stride = i > 0 && j === 0 ? 2 : 1;
        x = block.build(b, tensors, `layer${i + 1}.${j}`, x, 64 << i, stride);
      }
    }
    x = b.adaptivePool('avg', x, [1, 1], 'avgpool');
    x = flatten(b, x);
    return linear(b, tensors, 'fc', x, 1000);
  };
}

function resnet(name: string, block: Block, layers: [number, number, number, number], millions: string): Architecture {
  return torchvisionArchitecture(
    name,
    `torchvision ${name} (ResNet, ${block.kind} [${layers.join(', ')}], ${millions} M parameters at 1000 classes)`,
    resnetBody(block, layers),
  );
}

export const RESNET_ARCHITECTURES: Architecture[] = [
  resnet('resnet18', BASIC_BLOCK, [2, 2, 2, 2], '11.7'),
  resnet('resnet34', BASIC_BLOCK, [3, 4, 6, 3], '21.8'),
  resnet('resnet50', BOTTLENECK, [3, 4, 6, 3], '25.6'),
  resnet('resnet101', BOTTLENECK, [3, 4, 23, 3], '44.5'),
  resnet('resnet152', BOTTLENECK, [3, 8, 36, 3], '60.2'),
];
