import type { CommandModule } from 'yargs';

interface InspectArgs {
  path: string;
  json?: boolean;
  trainable?: boolean;
  freeze?: string[];
  'freeze-to'?: string;
  'unfreeze-from'?: string;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <path>',
  describe: 'List the tensors of a weights file, or the layers of a converted model directory',
  builder: (y) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'A weights file or a model directory' })
      .option('json', { type: 'boolean', describe: 'Print JSON' })
      .option('trainable', { type: 'boolean', describe: 'Show what the freezing flags below would leave trainable (as graft finetune would)' })
      .option('freeze', { type: 'string', array: true, describe: 'With --trainable: layers to freeze (names, globs, indices)' })
      .option('freeze-to', { type: 'string', describe: 'With --trainable: freeze up to and including this layer' })
      .option('unfreeze-from', { type: 'string', describe: 'With --trainable: freeze everything before this layer' })
      .example('$0 inspect resnet50/ --trainable --freeze-to 142', 'which layers a fine-tune would train')
      .example('$0 inspect lenet.caffemodel', 'every blob: name, dtype, shape, bytes')
      .example('$0 inspect lenet-tfjs/', 'index, name, type, output shape, params, trainable'),
  handler: async (args) => {
    const { inspectPath } = await import('../tfjs/inspect.js');
    const trainable = args.trainable || args.freeze || args['freeze-to'] || args['unfreeze-from']
      ? { freeze: args.freeze, freezeTo: args['freeze-to'], unfreezeFrom: args['unfreeze-from'] }
      : undefined;
    const result = await inspectPath(args.path, trainable);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    if (result.kind === 'weights') {
      const rows = result.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, t.bytes.toLocaleString('en-US')]);
      process.stdout.write(table(['name', 'dtype', 'shape', 'bytes'], rows, [false, false, false, true]));
      process.stdout.write(`${result.tensors.length} tensors, ${result.totalBytes.toLocaleString('en-US')} bytes (${result.format})\n`);
      for (const w of result.warnings) process.stdout.write(`warning: ${w}\n`);
      return;
    }
    const rows = result.layers.map((l) => [
      String(l.index),
      l.name,
      l.type,
      formatShape(l.outputShape),
      l.params.toLocaleString('en-US'),
      l.trainable ? 'yes' : 'no',
    ]);
    process.stdout.write(table(['#', 'name', 'type', 'output shape', 'params', 'trainable'], rows, [true, false, false, false, true, false]));
    process.stdout.write(
      `total params: ${result.totalParams.toLocaleString('en-US')}, trainable: ${result.trainableParams.toLocaleString('en-US')}, non-trainable: ${(result.totalParams - result.trainableParams).toLocaleString('en-US')}\n`,
    );
  },
};

function formatShape(shape: unknown): string {
  if (Array.isArray(shape) && Array.isArray(shape[0])) return shape.map(formatShape).join(' ');
  return `[${(shape as (number | null)[]).map((d) => d ?? 'N').join(', ')}]`;
}

export function table(header: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (alignRight[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return `${[line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')}\n`;
}
