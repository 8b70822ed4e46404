import type { CommandModule } from 'yargs';
import { table } from './inspect.js';
import { parseNumberList } from './options.js';
import { BACKEND_HELP, BACKEND_NAMES, type BackendName } from '../tfjs/backend-names.js';

interface EvaluateArgs {
  model: string;
  data: string;
  'batch-size': number;
  'label-column'?: string;
  backend: BackendName;
  threads?: number;
  scale?: number;
  mean?: string;
  std?: string;
  'channel-order'?: 'RGB' | 'BGR' | 'GRAY';
  json?: boolean;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate',
  describe: 'Loss, accuracy and confusion matrix of a model directory on labelled data',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Model directory (e.g. result/best)' })
      .option('data', { type: 'string', demandOption: true, describe: 'Image folder or table' })
      .option('batch-size', { type: 'number', default: 100 })
      .option('label-column', { type: 'string', describe: 'Label column of a table (default the last)' })
      .option('backend', { choices: BACKEND_NAMES, default: 'auto' as const, describe: BACKEND_HELP })
      .option('threads', { type: 'number', describe: 'wasm: threads to compute on (default: $GRAFT_THREADS, else all cores; 1 = single-threaded)' })
      .option('scale', { type: 'number', describe: 'Override the image scale of graft.json' })
      .option('mean', { type: 'string', describe: 'Override the per-channel mean' })
      .option('std', { type: 'string', describe: 'Override the per-channel std' })
      .option('channel-order', { choices: ['RGB', 'BGR', 'GRAY'] as const })
      .option('json', { type: 'boolean', describe: 'Print {loss, accuracy, confusion, classNames, count}' }),
  handler: async (args) => {
    const { evaluateModel } = await import('../train/evaluate.js');
    const { describeBackend } = await import('../tfjs/backend.js');
    const result = await evaluateModel({
      model: args.model,
      data: args.data,
      batchSize: args['batch-size'],
      labelColumn: args['label-column'],
      backend: args.backend,
      threads: args.threads,
      scale: args.scale,
      mean: parseNumberList('mean', args.mean),
      std: parseNumberList('std', args.std),
      channelOrder: args['channel-order'],
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    process.stderr.write(`backend: ${describeBackend({ name: result.backend, threads: result.threads })}\n`);
    process.stdout.write(`${result.count} examples: loss ${result.loss.toFixed(5)}, accuracy ${result.accuracy.toFixed(4)}\n`);
    if (result.skipped.length) process.stdout.write(`skipped ${result.skipped.length} unreadable file(s)\n`);
    const names = result.confusion.map((_, i) => result.classNames[i] ?? String(i));
    const rows = result.confusion.map((row, i) => [names[i], ...row.map(String)]);
    process.stdout.write(`confusion (rows: true class, columns: predicted)\n`);
    process.stdout.write(table(['', ...names], rows, [false, ...names.map(() => true)]));
  },
};
