import type { CommandModule } from 'yargs';
import { parseShape } from './options.js';
import { type TrainArgs, stopOnInterrupt, toTrainOptions, trainOptions } from './train-options.js';

type TrainFromScratchArgs = TrainArgs & { arch: string; 'input-shape'?: string };

export const trainCommand: CommandModule<object, TrainFromScratchArgs> = {
  command: 'train',
  describe: 'Train a model defined by a spec.json from scratch (same options as finetune)',
  builder: (y) =>
    trainOptions(
      y
        .option('arch', { type: 'string', demandOption: true, describe: 'Layer-list spec (the --arch spec.json format of graft convert)' })
        .option('input-shape', { type: 'string', describe: 'Input shape (batch first), overriding the spec' }),
    ).example('$0 train --arch xor.json --data xor_complex_large.txt --optimizer sgd --lr 0.05 --epochs 5 --batch-size 100 --val-split 0', 'the R Keras seed\'s 2-5-7-1 network') as never,
  handler: async (args) => {
    const { trainModel } = await import('../train/finetune.js');
    const interrupt = stopOnInterrupt();
    try {
      const summary = await trainModel({
        ...toTrainOptions(args),
        arch: args.arch,
        inputShape: parseShape('input-shape', args['input-shape']),
        shouldStop: interrupt.shouldStop,
        log: (line) => process.stdout.write(`${line}\n`),
      });
      if (args.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if (summary.best) process.stdout.write(`best: epoch ${summary.best.epoch} (accuracy ${summary.best.accuracy.toFixed(4)}) in ${summary.out}/best\n`);
      if (summary.stopped) process.exitCode = 130;
    } finally {
      interrupt.dispose();
    }
  },
};
