import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';

interface ServeArgs {
  model: string;
  port: number;
  open?: boolean;
  labels?: string;
  top: number;
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve <model>',
  describe: 'Serve a page on localhost that runs a model directory in the browser (choose, drop or film an image; top-k classes)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'Model directory (model.json + graft.json)' })
      .option('port', { type: 'number', default: 8080, describe: 'Port on 127.0.0.1 (0: any free port)' })
      .option('open', { type: 'boolean', describe: 'Open the page in the system browser' })
      .option('labels', { type: 'string', describe: 'Text file with one class name per line (default: graft.json classNames)' })
      .option('top', { type: 'number', default: 5, describe: 'How many classes the page shows' })
      .example('$0 serve lenet-tfjs --open', 'try a converted LeNet in the browser')
      .example('$0 serve alexnet-tfjs --labels synset_words.txt', 'an ImageNet model with class names'),
  handler: async (args) => {
    if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new UsageError(`--port: expected 0..65535, got ${args.port}`);
    const { startServer, openBrowser } = await import('../serve/server.js');
    const server = await startServer({ dir: args.model, port: args.port, labels: args.labels, top: args.top, log: (line) => process.stderr.write(`graft serve: ${line}\n`) });
    for (const problem of server.config.problems) process.stderr.write(`graft serve: warning: ${problem}\n`);
    process.stdout.write(`Serving ${server.config.dir} at ${server.url} (Ctrl-C to stop)\n`);
    if (args.open) openBrowser(server.url, (line) => process.stderr.write(`graft serve: ${line}\n`));
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void server.close().then(resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  },
};
