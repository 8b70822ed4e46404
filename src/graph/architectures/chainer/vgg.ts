/**
 * chainer.links.VGG16Layers / VGG19Layers (chainer/links/model/vision/vgg.py): 3×3 convolutions
 * with pad 1, each followed by ReLU; max_pooling_2d(ksize=2) (stride 2, cover_all) after each
 * stage; fc6 and fc7 with ReLU and dropout; fc8; softmax 'prob'.
 *
 * And the transfer-learning chain of the seed article (003): VGG16Layers held as a child link
 * (`self.base = L.VGG16Layers()`) with a new `L.Linear` on the features `base(x, layers=['fc7'])`
 * returns. The base's fc8 is saved but never run.
 */
import type { TensorMap } from '../../../tensor/tensor.js';
import { CHAINER_NAMING, GraphBuilder } from '../builder.js';
import type { Architecture } from '../registry.js';
import { CHAINER_DROPOUT, VGG_PREPARE, chainerMaxPool, dimOf, inputShapeOf, withAliases } from './common.js';

const STAGE_WIDTHS = [64, 128, 256, 512, 512];
const VGG16_STAGES = [2, 2, 3, 3, 3];
const VGG19_STAGES = [2, 2, 4, 4, 4];

/**
 * conv1_1 .. pool5 → fc6 → fc7 (each with ReLU and dropout), keys under `prefix` ('' or 'base/').
 * Widths are read from the file so a slimmed VGG with the same layout still matches.
 */
function vggTrunk(b: GraphBuilder, tensors: TensorMap, prefix: string, convsPerStage: number[], aliases: Record<string, string>) {
  let x = b.input;
  convsPerStage.forEach((count, stage) => {
    for (let i = 1; i <= count; i++) {
      const conv = `${prefix}conv${stage + 1}_${i}`;
      x = b.conv2d(conv, x, { filters: dimOf(tensors, `${conv}/W`, 0, STAGE_WIDTHS[stage]), kernel: 3, pad: 1 });
      x = b.relu(x, `${prefix}relu${stage + 1}_${i}`);
      aliases[conv] = x;
    }
    x = chainerMaxPool(b, x, 2, 2, `${prefix}pool${stage + 1}`);
  });
  const pool5 = x;
  for (const fc of [6, 7]) {
    x = b.dense(`${prefix}fc${fc}`, x, dimOf(tensors, `${prefix}fc${fc}/W`, 0, 4096));
    x = b.relu(x, `${prefix}relu${fc}`);
    x = b.dropout(x, CHAINER_DROPOUT, `${prefix}drop${fc}`);
    aliases[`${prefix}fc${fc}`] = x;
  }
  return { pool5, fc7: x };
}

function vggLayers(name: string, convsPerStage: number[]): Architecture {
  return {
    name,
    format: 'chainer',
    description: `chainer.links.${name}: ${convsPerStage.reduce((a, b) => a + b, 0)} conv + 3 fc, input 224×224 BGR minus mean`,
    inputShape: [1, 3, 224, 224],
    input: VGG_PREPARE,
    build(tensors, options) {
      const shape = inputShapeOf(options.inputShape, dimOf(tensors, 'conv1_1/W', 1, 3), 224);
      const b = new GraphBuilder(name, shape, CHAINER_NAMING);
      const aliases: Record<string, string> = {};
      const { fc7 } = vggTrunk(b, tensors, '', convsPerStage, aliases);
      // A fine-tuned head keeps the name fc8 with its own number of classes.
      const fc8 = b.dense('fc8', fc7, dimOf(tensors, 'fc8/W', 0, 1000));
      const prob = b.softmax(fc8, 'prob');
      return { graph: withAliases(b.build([prob]), aliases), expected: b.expected };
    },
  };
}

export const VGG16_LAYERS = vggLayers('VGG16Layers', VGG16_STAGES);
export const VGG19_LAYERS = vggLayers('VGG19Layers', VGG19_STAGES);

/**
 * Where the base and the head are: the base is the link whose path ends in conv1_1 (any name),
 * the head the one Linear (W, optional b) outside it.
 */
function baseAndHead(tensors: TensorMap): { base: string; head: string } | undefined {
  const base = [...tensors.keys()].find((key) => key.endsWith('/conv1_1/W'))?.slice(0, -'conv1_1/W'.length);
  if (!base) return undefined;
  const outside = [...tensors.keys()].filter((key) => !key.startsWith(base));
  const head = outside.find((key) => key.endsWith('/W'))?.slice(0, -2);
  if (head === undefined || outside.some((key) => key !== `${head}/W` && key !== `${head}/b`)) return undefined;
  return { base, head };
}

export const VGG_LAYERS_WITH_HEAD: Architecture = {
  name: 'VGGLayersWithHead',
  format: 'chainer',
  description:
    'a chain holding VGG16Layers or VGG19Layers as a child link plus one L.Linear on its fc7 features (the seed\'s transfer learning), or on pool5; outputs the head',
  inputShape: [1, 3, 224, 224],
  input: VGG_PREPARE,
  build(tensors, options) {
    const { base, head } = baseAndHead(tensors) ?? { base: 'base/', head: 'fc' };
    const stages = tensors.has(`${base}conv3_4/W`) ? VGG19_STAGES : VGG16_STAGES;
    const shape = inputShapeOf(options.inputShape, dimOf(tensors, `${base}conv1_1/W`, 1, 3), 224);
    const b = new GraphBuilder('VGGLayersWithHead', shape, CHAINER_NAMING);
    const aliases: Record<string, string> = {};
    const { pool5, fc7 } = vggTrunk(b, tensors, base, stages, aliases);
    // The head's input size says which features it was trained on: fc7's 4096 (extract()'s
    // default, and the seed's) or pool5's 512·7·7. fc6 also gives 4096: a head on fc6 would
    // leave fc7 unused, which the conversion reports.
    const poolFeatures = b.shapeOf(pool5).slice(1).reduce((p, d) => p * d, 1);
    const features = dimOf(tensors, `${head}/W`, 1, 0) === poolFeatures ? pool5 : fc7;
    const out = b.dense(head, features, dimOf(tensors, `${head}/W`, 0, 2), tensors.has(`${head}/b`));
    // The base's fc8 is a parameter of the saved chain that its forward never uses.
    const fc8Shape = [dimOf(tensors, `${base}fc8/W`, 0, 1000), dimOf(tensors, `${base}fc8/W`, 1, 4096)];
    b.expected.set(`${base}fc8/W`, { shape: fc8Shape, optional: true });
    b.expected.set(`${base}fc8/b`, { shape: [fc8Shape[0]], optional: true });
    return { graph: withAliases(b.build([out]), aliases), expected: b.expected };
  },
};
