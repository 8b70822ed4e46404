import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { parseNumberList, parseShape } from './options.js';
import { BACKEND_HELP, BACKEND_NAMES, type BackendName } from '../tfjs/backend-names.js';

interface PredictArgs {
  model: string;
  images?: string[];
  input?: string;
  layout?: 'nchw' | 'nhwc';
  layer?: string;
  save?: string;
  top?: number;
  labels?: string;
  scale?: number;
  mean?: string;
  std?: string;
  'channel-order'?: 'RGB' | 'BGR' | 'GRAY';
  'input-size'?: string;
  backend?: BackendName;
  threads?: number;
  json?: boolean;
}

export const predictCommand: CommandModule<object, PredictArgs> = {
  command: 'predict <model> [images..]',
  describe: 'Run a converted model on images (top-k classes) or on a raw .npy array (any layer, saved as .npy)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory (model.json + graft.json)' })
      .positional('images', { type: 'string', array: true, describe: 'PNG or JPEG files' })
      .option('input', { type: 'string', describe: 'A .npy input array instead of images' })
      .option('layout', { choices: ['nchw', 'nhwc'] as const, describe: 'Layout of --input and --save (default: the source framework\'s, NCHW for images)' })
      .option('layer', { type: 'string', describe: 'Output of this layer or source blob instead of the model output' })
      .option('save', { type: 'string', describe: 'Write the output array to this .npy file' })
      .option('top', { type: 'number', default: 5, describe: 'How many classes to show per image' })
      .option('labels', { type: 'string', describe: 'Text file with one class name per line' })
      .option('scale', { type: 'number', describe: 'Multiply 0..255 pixels by this (default from graft.json)' })
      .option('mean', { type: 'string', describe: 'Per-channel mean subtracted after scaling, e.g. 104,117,123' })
      .option('std', { type: 'string', describe: 'Per-channel divisor applied last' })
      .option('channel-order', { choices: ['RGB', 'BGR', 'GRAY'] as const, describe: 'Channel order the model expects' })
      .option('input-size', { type: 'string', describe: 'Resize images to H,W (default: the model input)' })
      .option('backend', { choices: BACKEND_NAMES, default: 'auto' as const, describe: BACKEND_HELP })
      .option('threads', { type: 'number', describe: 'wasm: threads to compute on (default: $GRAFT_THREADS, else all cores; 1 = single-threaded)' })
      .option('json', { type: 'boolean', describe: 'Print JSON' })
      .example('$0 predict lenet/ digit.png --scale 0.00390625', 'top-5 classes of an image')
      .example('$0 predict alexnet/ --input x.npy --layer pool5 --save pool5.npy', 'one layer on a raw NCHW array'),
  handler: async (args) => {
    const images = args.images ?? [];
    if (args.input !== undefined && images.length > 0) throw new UsageError('give either images or --input, not both');
    if (args.input === undefined && images.length === 0) throw new UsageError('give one or more images, or --input x.npy');
    const { predictArray, predictImages } = await import('../tfjs/predict.js');
    const { describeBackend } = await import('../tfjs/backend.js');
    if (args.input !== undefined) {
      const result = await predictArray({
        model: args.model,
        input: args.input,
        layout: args.layout,
        layer: args.layer,
        save: args.save,
        backend: args.backend,
        threads: args.threads,
      });
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ backend: result.backend, threads: result.threads, layer: result.layer, shape: result.shape, layout: result.layout, saved: args.save ?? null, values: args.save ? undefined : Array.from(result.data) })}\n`);
        return;
      }
      process.stderr.write(`backend: ${describeBackend({ name: result.backend, threads: result.threads })}\n`);
      process.stdout.write(`${result.layer}: shape [${result.shape.join(', ')}] (${result.layout})${args.save ? `, saved to ${args.save}` : ''}\n`);
      if (!args.save) process.stdout.write(`${Array.from(result.data.subarray(0, 64), (v) => v.toPrecision(6)).join(' ')}${result.data.length > 64 ? ' ...' : ''}\n`);
      return;
    }
    const size = parseShape('input-size', args['input-size']);
    if (size && size.length !== 2) throw new UsageError('--input-size: expected H,W');
    const { backend, threads, predictions, output } = await predictImages({
      model: args.model,
      images,
      top: args.top,
      labels: args.labels,
      layer: args.layer,
      save: args.save,
      layout: args.layout,
      backend: args.backend,
      threads: args.threads,
      scale: args.scale,
      mean: parseNumberList('mean', args.mean),
      std: parseNumberList('std', args.std),
      channelOrder: args['channel-order'],
      inputSize: size as [number, number] | undefined,
    });
    if (args.json) {
      const values = args.save ? undefined : Array.from(output.data);
      process.stdout.write(`${JSON.stringify({ backend, threads, predictions, output: { layer: output.layer, shape: output.shape, layout: output.layout, saved: args.save ?? null, values } }, null, 2)}\n`);
      return;
    }
    process.stderr.write(`backend: ${describeBackend({ name: backend, threads })}\n`);
    for (const p of predictions) {
      const top = p.top.map((t) => `${t.label ?? t.index} ${(t.probability * 100).toFixed(2)}%`).join(', ');
      process.stdout.write(`${p.file}: ${top}\n`);
    }
    if (args.layer || args.save) {
      process.stdout.write(`${output.layer}: shape [${output.shape.join(', ')}] (${output.layout})${args.save ? `, saved to ${args.save}` : ''}\n`);
    }
  },
};
