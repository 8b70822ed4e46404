/**
 * A heap-workers.ts worker: runs the parts of heap tasks it is sent on the shared wasm heap and
 * counts each one done in the control words, whatever happens.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HEAP_TASKS, type HeapTaskName } from './heap-tasks.js';

const DONE = 0;
const FAILED = 1;
const READY = 2;

interface Message {
  name: HeapTaskName;
  args: unknown;
  buffer: SharedArrayBuffer;
  part: number;
  parts: number;
}

const { control, index } = workerData as { control: Int32Array; index: number };

parentPort?.on('message', ({ name, args, buffer, part, parts }: Message) => {
  try {
    const task = HEAP_TASKS[name] as (heap: Float32Array, args: unknown, part: number, parts: number) => void;
    task(new Float32Array(buffer), args, part, parts);
  } catch {
    Atomics.store(control, FAILED, 1);
  } finally {
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
});

Atomics.store(control, READY + index, 1);
