/**
 * A heap-workers.ts worker: runs the parts of heap tasks it is sent on the shared wasm heap and
 * counts each one done in the control words, whatever happens.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CONTROL, HEAP_TASKS, type HeapContext, type HeapTaskName } from './heap-tasks.js';
import type { SimdModules } from './simd.js';

const { DONE, FAILED, READY } = CONTROL;

interface Message {
  name: HeapTaskName;
  args: unknown;
  buffer: SharedArrayBuffer;
  part: number;
  parts: number;
}

const { control, index, memory, simd } = workerData as { control: Int32Array; index: number; memory: WebAssembly.Memory | null; simd: SimdModules };

parentPort?.on('message', ({ name, args, buffer, part, parts }: Message) => {
  try {
    const task = HEAP_TASKS[name] as (heap: Float32Array, args: unknown, part: number, parts: number, context: HeapContext) => void;
    task(new Float32Array(buffer), args, part, parts, { memory, simd });
  } catch {
    Atomics.store(control, FAILED, 1);
  } finally {
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
});

Atomics.store(control, READY + index, 1);
