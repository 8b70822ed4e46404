import type { CommandModule } from 'yargs';

interface PlotBoundaryArgs {
  model: string;
  data: string;
  out: string;
  'label-column'?: string;
}

export const plotBoundaryCommand: CommandModule<object, PlotBoundaryArgs> = {
  command: 'plot-boundary <model>',
  describe: 'Draw the decision boundary of a 2-input classifier over a table of points (PNG)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory' })
      .option('data', { type: 'string', demandOption: true, describe: 'Table with two feature columns and a label' })
      .option('out', { alias: 'o', type: 'string', default: 'boundary.png', describe: 'PNG file to write' })
      .option('label-column', { type: 'string', describe: 'Label column (default the last)' }),
  handler: async (args) => {
    const { evaluateModel } = await import('../train/evaluate.js');
    const result = await evaluateModel({ model: args.model, data: args.data, labelColumn: args['label-column'], boundary: args.out });
    process.stdout.write(`${args.out}: ${result.count} points, accuracy ${result.accuracy.toFixed(4)}\n`);
  },
};
