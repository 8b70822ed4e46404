/**
 * The AlexNet chain of Chainer's ImageNet example (examples/imagenet/alex.py) and of the seed
 * article's fine-tuning (weights from Caffe's bvlc_alexnet, whose conv2/4/5 have group 2):
 *   conv1 (11×11, stride 4) → ReLU → LRN → max_pooling_2d(3, stride 2)
 *   conv2 (5×5, pad 2)      → ReLU → LRN → max pool
 *   conv3, conv4, conv5 (3×3, pad 1) → ReLU each; max pool after conv5
 *   fc6, fc7 (ReLU, dropout) → fc8 logits.
 * Widths, groups (the input channels over W's second axis) and the number of classes come from
 * the file. The example feeds 227×227 crops minus a mean image, scaled by 1/255: a mean image is
 * not a per-channel convention, so graft.json records none.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import { CHAINER_NAMING, GraphBuilder } from '../builder.js';
import type { Architecture } from '../registry.js';
import { CHAINER_DROPOUT, CHAINER_LRN, chainerMaxPool, dimOf, inputShapeOf } from './common.js';

const CONVS = [
  { name: 'conv1', kernel: 11, stride: 4, pad: 0, width: 96 },
  { name: 'conv2', kernel: 5, stride: 1, pad: 2, width: 256 },
  { name: 'conv3', kernel: 3, stride: 1, pad: 1, width: 384 },
  { name: 'conv4', kernel: 3, stride: 1, pad: 1, width: 384 },
  { name: 'conv5', kernel: 3, stride: 1, pad: 1, width: 256 },
];

/** Convolution2D(groups=g) keeps W as [out, in/g, kh, kw]: g is the input width over W's axis 1. */
function groupsOf(tensors: TensorMap, key: string, inChannels: number): number {
  const perGroup = dimOf(tensors, key, 1, inChannels);
  return inChannels % perGroup === 0 ? inChannels / perGroup : 1;
}

export const ALEXNET: Architecture = {
  name: 'AlexNet',
  format: 'chainer',
  description: 'the AlexNet chain of Chainer\'s ImageNet example (conv1..conv5 with LRN, fc6..fc8; groups as in Caffe\'s AlexNet allowed), outputs fc8',
  inputShape: [1, 3, 227, 227],
  input: {},
  build(tensors, { inputShape }) {
    const shape = inputShapeOf(inputShape, dimOf(tensors, 'conv1/W', 1, 3), 227);
    const b = new GraphBuilder('AlexNet', shape, CHAINER_NAMING);
    let x = b.input;
    CONVS.forEach((conv, i) => {
      const groups = groupsOf(tensors, `${conv.name}/W`, b.shapeOf(x)[1]);
      x = b.conv2d(conv.name, x, { filters: dimOf(tensors, `${conv.name}/W`, 0, conv.width), kernel: conv.kernel, stride: conv.stride, pad: conv.pad, groups });
      x = b.relu(x, `relu${i + 1}`);
      if (i < 2) x = b.lrn(x, CHAINER_LRN, `norm${i + 1}`);
      if (i < 2 || i === 4) x = chainerMaxPool(b, x, 3, 2, `pool${i + 1}`);
    });
    for (const fc of [6, 7]) {
      x = b.dense(`fc${fc}`, x, dimOf(tensors, `fc${fc}/W`, 0, 4096));
      x = b.relu(x, `relu${fc}`);
      x = b.dropout(x, CHAINER_DROPOUT, `drop${fc}`);
    }
    const fc8 = b.dense('fc8', x, dimOf(tensors, 'fc8/W', 0, 1000));
    return { graph: b.build([fc8]), expected: b.expected };
  },
};
