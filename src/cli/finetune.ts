import type { CommandModule } from 'yargs';
import { type TrainArgs, stopOnInterrupt, toTrainOptions, trainOptions } from './train-options.js';

type FinetuneArgs = TrainArgs & { from?: string };

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
  command: 'finetune',
  describe: 'Fine-tune a converted model on an image folder or a table, with Chainer-style reports and checkpoints',
  builder: (y) =>
    trainOptions(y.option('from', { type: 'string', describe: 'Model directory to start from (graft convert output, or a best/ or last/ checkpoint)' }))
      .check((args) => {
        if (!args.from && !args.resume) throw new Error('give --from MODEL_DIR (or --resume with --out RUN_DIR)');
        return true;
      })
      .example('$0 finetune --from vgg16/ --data PetImages/ --cut-at fc7 --freeze-to fc6 --lr-mult head=10 --epochs 20', 'the Chainer seed: features from fc7, new head at 10× the rate')
      .example('$0 finetune --from vgg16/ --data pets/ --num-classes 2 --freeze "features.*"', 'the PyTorch seed: replace classifier[6], freeze the features')
      .example('$0 finetune --from resnet50/ --data pets/ --head gap --freeze-to 142', 'the Keras seed: include_top=False + GAP + Dense, layers[:143] frozen') as never,
  handler: async (args) => {
    const { trainModel } = await import('../train/finetune.js');
    const interrupt = stopOnInterrupt();
    try {
      const summary = await trainModel({ ...toTrainOptions(args), from: args.from, shouldStop: interrupt.shouldStop, log: (line) => process.stdout.write(`${line}\n`) });
      if (args.json) process.stdout.write(`${JSON.stringify({ ...summary, records: summary.records }, null, 2)}\n`);
      else if (summary.best) process.stdout.write(`best: epoch ${summary.best.epoch} (accuracy ${summary.best.accuracy.toFixed(4)}) in ${summary.out}/best\n`);
      if (summary.stopped) process.exitCode = 130;
    } finally {
      interrupt.dispose();
    }
  },
};
