/**
 * The graft command line. Each command is a thin yargs module that lazy-loads the library; exit
 * codes are decided here, once: 0 ok, 1 a GraftError (one line on stderr), 2 a usage error, 70 a
 * bug (with its stack).
 */
import yargs from 'yargs';
import { GraftError } from '../errors.js';
import { convertCommand } from './convert.js';
import { inspectCommand } from './inspect.js';
import { predictCommand } from './predict.js';
import { finetuneCommand } from './finetune.js';
import { trainCommand } from './train.js';
import { evaluateCommand } from './evaluate.js';
import { plotBoundaryCommand } from './plot-boundary.js';

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  // `graft inspect x | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  let usageFailure: string | undefined;
  const parser = yargs(argv)
    .scriptName('graft')
    .usage('$0 <command> [options]\n\nConvert pretrained Caffe, Chainer and PyTorch CNNs to TensorFlow.js, and fine-tune them.')
    .command(convertCommand)
    .command(inspectCommand)
    .command(predictCommand)
    .command(finetuneCommand)
    .command(trainCommand)
    .command(evaluateCommand)
    .command(plotBoundaryCommand)
    .command((await import('./serve.js')).serveCommand)
    .option('debug', { type: 'boolean', describe: 'Show stack traces for errors' })
    .demandCommand(1, 'Name a command: convert, inspect, predict, finetune, train or evaluate (graft --help lists them).')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(process.stdout.isTTY ? Math.min(120, process.stdout.columns) : null)
    .fail((message, error) => {
      if (error) throw error;
      usageFailure = message;
    })
    .exitProcess(false);
  try {
    await parser.parseAsync();
  } catch (error) {
    return report(error, debug);
  }
  if (usageFailure !== undefined) {
    process.stderr.write(`graft: ${usageFailure}\n`);
    return 2;
  }
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

function report(error: unknown, debug: boolean): number {
  if (error instanceof GraftError) {
    process.stderr.write(`graft: ${error.message}\n`);
    if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`graft: internal error: ${message}\n`);
  if (error instanceof Error && error.stack) process.stderr.write(`${debug ? error.stack : 'run again with --debug for the stack trace'}\n`);
  return 70;
}
