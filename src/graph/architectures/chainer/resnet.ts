/**
 * chainer.links.ResNet50Layers / 101 / 152 (chainer/links/model/vision/resnet.py), and any chain
 * built from the same parts (ResNetChain):
 *   conv1 (7×7, stride 2, pad 3, with bias) → bn1 → ReLU → max_pooling_2d(3, stride 2, cover_all)
 *   → res2..res5 → global average pooling 'pool5' → fc6 → softmax 'prob'.
 * A stage is a BuildingBlock (BottleneckA 'a', then BottleneckB 'b1'..) or, in smaller chains, a
 * bare BottleneckA under the stage's own name. res2 keeps the resolution, later stages halve it.
 * BottleneckA (downsample_1x1=True, the default and MSRA's layout) puts its stride on the 1×1
 * conv1, not the 3×3 conv2 as torchvision does, plus the projection conv4/bn4; no conv has a bias.
 */
import { GraftError } from '../../../errors.js';
import type { TensorMap } from '../../../tensor/tensor.js';
import { CHAINER_NAMING, GraphBuilder } from '../builder.js';
import type { Architecture } from '../registry.js';
import { CHAINER_BN_EPS, RESNET_PREPARE, chainerMaxPool, dimOf, inputShapeOf, withAliases } from './common.js';

const STAGE_MIDS = [64, 128, 256, 512];

function convBn(b: GraphBuilder, prefix: string, index: number, x: string, filters: number, kernel: number, stride: number, pad: number): string {
  const h = b.conv2d(`${prefix}/conv${index}`, x, { filters, kernel, stride, pad, bias: false });
  return b.batchnorm(`${prefix}/bn${index}`, h, CHAINER_BN_EPS);
}

/** Reduces the resolution by `stride` and projects the shortcut (conv4/bn4). */
function bottleneckA(b: GraphBuilder, prefix: string, x: string, mid: number, out: number, stride: number): string {
  let h = b.relu(convBn(b, prefix, 1, x, mid, 1, stride, 0), `${prefix}/relu1`);
  h = b.relu(convBn(b, prefix, 2, h, mid, 3, 1, 1), `${prefix}/relu2`);
  h = convBn(b, prefix, 3, h, out, 1, 1, 0);
  const shortcut = convBn(b, prefix, 4, x, out, 1, stride, 0);
  return b.relu(b.add2(h, shortcut, `${prefix}/add`), prefix);
}

/** Keeps the resolution; identity shortcut. */
function bottleneckB(b: GraphBuilder, prefix: string, x: string, mid: number): string {
  const channels = b.shapeOf(x)[1];
  let h = b.relu(convBn(b, prefix, 1, x, mid, 1, 1, 0), `${prefix}/relu1`);
  h = b.relu(convBn(b, prefix, 2, h, mid, 3, 1, 1), `${prefix}/relu2`);
  h = convBn(b, prefix, 3, h, channels, 1, 1, 0);
  return b.relu(b.add2(h, x, `${prefix}/add`), prefix);
}

interface Stage {
  name: string;
  /** Bottlenecks in a BuildingBlock ('a', 'b1'..); 0 for a bare BottleneckA. */
  blocks: number;
}

/** The stages a file holds: res2, res3, ... while their keys exist. */
function stagesInFile(tensors: TensorMap): Stage[] {
  const stages: Stage[] = [];
  for (let k = 2; ; k++) {
    const name = `res${k}`;
    if (tensors.has(`${name}/a/conv1/W`)) {
      let blocks = 1;
      while (tensors.has(`${name}/b${blocks}/conv1/W`)) blocks++;
      stages.push({ name, blocks });
    } else if (tensors.has(`${name}/conv1/W`)) {
      stages.push({ name, blocks: 0 });
    } else {
      return stages;
    }
  }
}

interface ResNetOptions {
  name: string;
  description: string;
  /** Fixed stage layout (the zoo's), or undefined to read it from the file. */
  stages?: Stage[];
  /** The zoo's models end in softmax 'prob'; a user's chain is returned as its fc6 logits. */
  withProb: boolean;
}

function resnet(options: ResNetOptions): Architecture {
  return {
    name: options.name,
    format: 'chainer',
    description: options.description,
    inputShape: [1, 3, 224, 224],
    input: options.stages ? RESNET_PREPARE : {},
    build(tensors, { inputShape }) {
      const stages = options.stages ?? stagesInFile(tensors);
      if (stages.length === 0) throw new GraftError(`${options.name}: the file has no res2 stage`);
      const shape = inputShapeOf(inputShape, dimOf(tensors, 'conv1/W', 1, 3), 224);
      const b = new GraphBuilder(options.name, shape, CHAINER_NAMING);
      const aliases: Record<string, string> = {};
      // ResNetLayers' conv1 keeps Convolution2D's default bias (the zoo's 101/152 files hold zeros there).
      let x = b.conv2d('conv1', b.input, { filters: dimOf(tensors, 'conv1/W', 0, 64), kernel: 7, stride: 2, pad: 3, bias: options.stages !== undefined || tensors.has('conv1/b') });
      x = b.relu(b.batchnorm('bn1', x, CHAINER_BN_EPS), 'conv1/relu');
      aliases.conv1 = x;
      x = chainerMaxPool(b, x, 3, 2, 'pool1');
      stages.forEach((stage, i) => {
        const stride = i === 0 ? 1 : 2;
        const first = stage.blocks === 0 ? stage.name : `${stage.name}/a`;
        const mid = dimOf(tensors, `${first}/conv1/W`, 0, STAGE_MIDS[i] ?? 64);
        const out = dimOf(tensors, `${first}/conv3/W`, 0, 4 * mid);
        x = bottleneckA(b, first, x, mid, out, stride);
        for (let j = 1; j < stage.blocks; j++) x = bottleneckB(b, `${stage.name}/b${j}`, x, mid);
        if (stage.blocks > 0) aliases[stage.name] = x;
      });
      x = b.globalPool('avg', x, 'pool5');
      const fc6 = b.dense('fc6', x, dimOf(tensors, 'fc6/W', 0, 1000));
      const output = options.withProb ? b.softmax(fc6, 'prob') : fc6;
      return { graph: withAliases(b.build([output]), aliases), expected: b.expected };
    },
  };
}

function zooResNet(depth: number, blocks: number[]): Architecture {
  return resnet({
    name: `ResNet${depth}Layers`,
    description: `chainer.links.ResNet${depth}Layers: stages of ${blocks.join('/')} bottlenecks, input 224×224 BGR minus mean`,
    stages: blocks.map((count, i) => ({ name: `res${i + 2}`, blocks: count })),
    withProb: true,
  });
}

export const RESNET50_LAYERS = zooResNet(50, [3, 4, 6, 3]);
export const RESNET101_LAYERS = zooResNet(101, [3, 4, 23, 3]);
export const RESNET152_LAYERS = zooResNet(152, [3, 8, 36, 3]);

/** A chain built like ResNetLayers whose stage count and widths come from the file (the fixtures' TinyResNet). */
export const RESNET_CHAIN = resnet({
  name: 'ResNetChain',
  description: 'a chain built like ResNetLayers (conv1/bn1, res2.. stages of BottleneckA [+ BottleneckB], pool5, fc6), stages and widths read from the file; outputs fc6',
  withProb: false,
});
