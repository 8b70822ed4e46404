/** The options `graft finetune` and `graft train` share, and their mapping onto TrainOptions. */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { parseNumberList, parseShape } from './options.js';
import { BACKEND_HELP, BACKEND_NAMES, type BackendName } from '../tfjs/backend-names.js';

export interface TrainArgs {
  data: string;
  'validation-data'?: string;
  out: string;
  'num-classes'?: number;
  'cut-at'?: string;
  head?: 'gap';
  reinit?: string[];
  freeze?: string[];
  'freeze-to'?: string;
  'unfreeze-from'?: string;
  optimizer?: 'adam' | 'sgd' | 'momentum';
  lr?: number;
  momentum?: number;
  'lr-mult'?: string[];
  'weight-decay'?: number;
  'batch-size'?: number;
  'micro-batch'?: number;
  epochs: number;
  'val-split'?: number;
  seed: number;
  'limit-per-class'?: number;
  'label-column'?: string;
  cache: boolean;
  shuffle?: boolean;
  resume?: boolean;
  backend: BackendName;
  threads?: number;
  scale?: number;
  mean?: string;
  std?: string;
  'channel-order'?: 'RGB' | 'BGR' | 'GRAY';
  'input-size'?: string;
  json?: boolean;
}

export function trainOptions<T>(y: Argv<T>): Argv<T & TrainArgs> {
  return y
    .option('data', { type: 'string', demandOption: true, describe: 'Image folder (one subfolder per class) or a CSV/TSV/space-separated table' })
    .option('validation-data', { type: 'string', describe: 'Held-out data instead of a split of --data' })
    .option('out', { alias: 'o', type: 'string', default: 'result', describe: 'Run directory: log.json, loss.png, accuracy.png, best/, last/' })
    .option('num-classes', { type: 'number', describe: 'Replace the last Dense layer with one of N outputs (default: when the data has another number of classes)' })
    .option('cut-at', { type: 'string', describe: 'Take this layer\'s output (name or index) and add a new Dense head' })
    .option('head', { choices: ['gap'] as const, describe: 'gap: drop the top, add GlobalAveragePooling2D + Dense' })
    .option('reinit', { type: 'string', array: true, describe: 'Re-initialise these layers (names, globs or indices)' })
    .option('freeze', { type: 'string', array: true, describe: 'Freeze these layers (names, globs or indices from graft inspect)' })
    .option('freeze-to', { type: 'string', describe: 'Freeze every layer up to and including this one' })
    .option('unfreeze-from', { type: 'string', describe: 'Freeze every layer before this one, train it and the rest' })
    .option('optimizer', { choices: ['adam', 'sgd', 'momentum'] as const, describe: 'Optimizer (default adam; with --resume, the first run\'s: another one starts afresh)' })
    .option('lr', { type: 'number', describe: 'Learning rate (default 1e-4 for adam, 0.01 otherwise; with --resume, the first run\'s unless given)' })
    .option('momentum', { type: 'number', describe: 'Momentum for --optimizer momentum (default 0.9)' })
    .option('lr-mult', { type: 'string', array: true, describe: 'PATTERN=K: layers matching PATTERN train at K × the rate (e.g. head=10)' })
    .option('weight-decay', { type: 'number', describe: 'L2 weight decay on kernels (with --resume, the first run\'s unless given)' })
    .option('batch-size', { type: 'number', describe: 'Batch size (default 32; with --resume, the first run\'s)' })
    .option('micro-batch', { type: 'number', describe: 'Examples per forward/backward pass; larger batches sum the gradients of several passes (default: the whole batch, or what fits in the wasm heap)' })
    .option('epochs', { type: 'number', default: 10, describe: 'Epochs (with --resume: the total to reach)' })
    .option('val-split', { type: 'number', describe: 'Fraction held out for validation, per class (0: none; default 0.3; with --resume, the first run\'s)' })
    .option('seed', { type: 'number', default: 0, describe: 'Seed for the split, shuffling and new weights' })
    .option('limit-per-class', { type: 'number', describe: 'Use at most N images per class' })
    .option('label-column', { type: 'string', describe: 'Label column of a table (name or index; default the last)' })
    .option('cache', { type: 'boolean', default: true, describe: 'Compute the frozen prefix once per example (--no-cache to run it every epoch)' })
    .option('shuffle', { type: 'boolean', describe: 'Reshuffle the training data every epoch (default; --no-shuffle to keep the order)' })
    .option('resume', { type: 'boolean', describe: 'Continue the run in --out from its last checkpoint' })
    .option('backend', { choices: BACKEND_NAMES, default: 'auto' as const, describe: BACKEND_HELP })
    .option('threads', { type: 'number', describe: 'wasm: threads to compute on (default: $GRAFT_THREADS, else all cores; 1 = single-threaded)' })
    .option('scale', { type: 'number', describe: 'Image preprocessing: multiply 0..255 pixels (default from graft.json)' })
    .option('mean', { type: 'string', describe: 'Per-channel mean subtracted after scaling' })
    .option('std', { type: 'string', describe: 'Per-channel divisor' })
    .option('channel-order', { choices: ['RGB', 'BGR', 'GRAY'] as const, describe: 'Channel order the model expects' })
    .option('input-size', { type: 'string', describe: 'Resize images to H,W' })
    .option('json', { type: 'boolean', describe: 'Print the summary as JSON at the end' }) as unknown as Argv<T & TrainArgs>;
}

/** Ctrl-C: finish cleanly (the last completed epoch is already saved); a second Ctrl-C quits at once. */
export function stopOnInterrupt(): { shouldStop: () => boolean; dispose: () => void } {
  let stop = false;
  const handler = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\ngraft: stopping after this batch (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', handler);
  return { shouldStop: () => stop, dispose: () => process.off('SIGINT', handler) };
}

export function toTrainOptions(args: TrainArgs) {
  const size = parseShape('input-size', args['input-size']);
  if (size && size.length !== 2) throw new UsageError('--input-size: expected H,W');
  return {
    data: args.data,
    validationData: args['validation-data'],
    out: args.out,
    numClasses: args['num-classes'],
    cutAt: args['cut-at'],
    head: args.head,
    reinit: args.reinit,
    freeze: args.freeze,
    freezeTo: args['freeze-to'],
    unfreezeFrom: args['unfreeze-from'],
    optimizer: args.optimizer,
    lr: args.lr,
    momentum: args.momentum,
    lrMult: args['lr-mult'],
    weightDecay: args['weight-decay'],
    batchSize: args['batch-size'],
    microBatch: args['micro-batch'],
    epochs: args.epochs,
    valSplit: args['val-split'],
    seed: args.seed,
    limitPerClass: args['limit-per-class'],
    labelColumn: args['label-column'],
    cache: args.cache,
    shuffle: args.shuffle,
    resume: args.resume,
    backend: args.backend,
    threads: args.threads,
    scale: args.scale,
    mean: parseNumberList('mean', args.mean),
    std: parseNumberList('std', args.std),
    channelOrder: args['channel-order'],
    inputSize: size as [number, number] | undefined,
  };
}
