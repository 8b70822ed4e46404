/** A progress bar on stderr for long work, only when stderr is a terminal. */
import cliProgress from 'cli-progress';
import type { ProgressCallback } from '../util/files.js';

export function progressBar(enabled = process.stderr.isTTY === true): { onProgress?: ProgressCallback; stop(): void } {
  if (!enabled) return { stop() {} };
  let bar: cliProgress.SingleBar | undefined;
  let phase = '';
  return {
    onProgress(nextPhase, done, total) {
      // Small files finish before a bar would help.
      if (total < 32 << 20) return;
      if (nextPhase !== phase) {
        bar?.stop();
        phase = nextPhase;
        bar = new cliProgress.SingleBar(
          { format: `${phase.padEnd(6)} [{bar}] {percentage}% | {value}/{total} MB`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.round(total / 1e6), 0);
      }
      bar?.update(Math.round(done / 1e6));
    },
    stop() {
      bar?.stop();
    },
  };
}
