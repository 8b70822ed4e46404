import type { CommandModule } from 'yargs';
import { parseShape } from './options.js';
import { progressBar } from './progress.js';

interface ConvertArgs {
  model: string;
  prototxt?: string;
  output?: string;
  'input-shape'?: string;
  arch?: string;
  dtype?: 'float32' | 'float16';
  force?: boolean;
  json?: boolean;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <model>',
  describe: 'Convert a .caffemodel (with or without deploy.prototxt), a PyTorch .pth or a Chainer .npz to a TensorFlow.js layers model directory',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Weights file (.caffemodel, .pth/.pt, .npz)' })
      .option('prototxt', { type: 'string', describe: 'Caffe deploy.prototxt giving the structure (default: the one stored in the .caffemodel)' })
      .option('output', { alias: 'o', type: 'string', describe: 'Output directory (default: <model>-tfjs in the current directory)' })
      .option('input-shape', { type: 'string', describe: 'Input shape N,C,H,W (Caffe nets that declare none; other sizes for .pth/.npz architectures)' })
      .option('arch', { type: 'string', describe: 'Architecture of a weights-only file: a known name (vgg16, resnet50, VGG16Layers...) or a spec.json (default: recognised from the tensors)' })
      .option('dtype', { choices: ['float32', 'float16'] as const, default: 'float32' as const, describe: 'Weight dtype in the written shards' })
      .option('force', { type: 'boolean', describe: 'Replace a non-empty output directory' })
      .option('json', { type: 'boolean', describe: 'Print the summary as JSON' })
      .example('$0 convert lenet.caffemodel --prototxt deploy.prototxt -o lenet/', 'Caffe with its deploy net')
      .example('$0 convert net.caffemodel --input-shape 1,3,227,227', 'Caffe, structure taken from the caffemodel')
      .example('$0 convert vgg16.pth', 'PyTorch state dict; torchvision architecture recognised from its keys')
      .example('$0 convert model.npz --arch spec.json', 'Chainer weights with a custom layer list'),
  handler: async (args) => {
    const { convertModel } = await import('../tfjs/convert.js');
    const progress = progressBar(!args.json && process.stderr.isTTY === true);
    try {
      const summary = await convertModel({
        input: args.model,
        prototxt: args.prototxt,
        output: args.output,
        inputShape: parseShape('input-shape', args['input-shape']),
        arch: args.arch,
        dtype: args.dtype,
        force: args.force,
        onProgress: progress.onProgress,
      });
      progress.stop();
      if (args.json) {
        process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        return;
      }
      const lines = [
        `Converted ${args.model} (${summary.format}${summary.name ? `, net "${summary.name}"` : ''})`,
        ...(summary.architecture ? [`  architecture ${summary.architecture}`] : []),
        `  input       ${summary.input.name} [${summary.input.shape.join(', ')}] (source layout; the tfjs model takes NHWC)`,
        ...summary.outputs.map((o) => `  output      ${o.name} [${o.shape.map((d) => d ?? 'N').join(', ')}]`),
        `  layers      ${summary.layers}`,
        `  parameters  ${summary.parameters.toLocaleString('en-US')} (${(summary.weightBytes / 1e6).toFixed(1)} MB)`,
        `  written to  ${summary.output}`,
        ...summary.warnings.map((w) => `  warning: ${w}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      progress.stop();
    }
  },
};
