import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { epochProgress } from '../../../src/train/report/progress.js';

/** A stream that says it is a terminal and records what is drawn on it. */
class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly columns = 120;
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test('on a terminal the bar shows the epoch, batches and running means, and clears itself', async () => {
  const terminal = new FakeTerminal();
  const progress = epochProgress(3, 4, true, terminal);
  progress.tick(1.0, 0.25);
  progress.tick(0.5, 0.75);
  progress.stop();
  progress.stop(); // idempotent
  progress.tick(9, 9); // ignored after stop
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(terminal.text, /epoch 3 \[/);
  assert.match(terminal.text, /2\/4 \| loss 0\.7500 \| accuracy 0\.5000/);
  assert.doesNotMatch(terminal.text, /loss 9|3\/4/);
  // clearOnComplete: the last thing drawn erases the line (ESC [2K), leaving it for the PrintReport row.
  const lastDraw = terminal.text.slice(terminal.text.lastIndexOf('accuracy 0.5000'));
  assert.ok(lastDraw.includes('\x1b[2K'), JSON.stringify(lastDraw));
});

test('off a terminal it is a no-op that writes nothing', () => {
  const terminal = new FakeTerminal();
  const progress = epochProgress(1, 10, false, terminal);
  progress.tick(0.5, 0.5);
  progress.stop();
  assert.equal(terminal.text, '');
});
