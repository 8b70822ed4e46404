/**
 * A per-epoch progress bar on stderr, with the epoch's mean loss and accuracy so far, like Keras' and
 * Chainer's. Only on a terminal: piped or CI output gets the PrintReport rows alone, not thousands of
 * carriage-return redraws. The bar clears itself when the epoch ends, so the PrintReport row printed
 * next (on stdout) lands on a clean line.
 */
import cliProgress from 'cli-progress';

export interface EpochProgress {
  /** One batch done, with that batch's loss and accuracy (the bar shows their running mean). */
  tick(loss: number, accuracy: number): void;
  /** Ends the bar; call it in a `finally`, since the bar's redraw timer keeps Node alive. Idempotent. */
  stop(): void;
}

const NO_PROGRESS: EpochProgress = { tick() {}, stop() {} };

/** The stream the bar draws on; cli-progress only needs to write and to know whether it is a terminal. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export function epochProgress(
  epoch: number,
  totalBatches: number,
  enabled: boolean = process.stderr.isTTY === true,
  stream: ProgressStream = process.stderr,
): EpochProgress {
  if (!enabled) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      format: `epoch ${epoch} [{bar}] {value}/{total} | loss {loss} | accuracy {accuracy} | ETA {eta_formatted}`,
      stream: stream as NodeJS.WritableStream,
      clearOnComplete: true,
      // The cursor is left visible: a run killed with Ctrl-C would otherwise leave the terminal without one.
      hideCursor: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let batches = 0;
  let lossSum = 0;
  let accuracySum = 0;
  let stopped = false;
  bar.start(totalBatches, 0, { loss: '-', accuracy: '-' });
  return {
    tick(loss, accuracy) {
      if (stopped) return;
      batches++;
      lossSum += loss;
      accuracySum += accuracy;
      bar.update(batches, { loss: formatMetric(lossSum / batches), accuracy: formatMetric(accuracySum / batches) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

function formatMetric(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : String(value).toLowerCase();
}
