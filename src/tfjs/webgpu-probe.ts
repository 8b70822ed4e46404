/**
 * `node webgpu-probe.js`: prints the WebGPU adapter Dawn offers here as one JSON line (`null`
 * when none), then exits. `--backend auto` asks this in a child process, so that deciding against
 * WebGPU costs the main process nothing: Dawn and the Vulkan drivers it loads print to stderr while
 * looking for adapters (lavapipe, unsupported drivers), and a broken driver can crash the process
 * that loads it. No tfjs here: this must start fast.
 */
import { pathToFileURL } from 'node:url';

export interface RawAdapter {
  info: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
}

interface Adapter {
  info?: object;
  isFallbackAdapter?: boolean;
  limits: object;
}

interface Gpu {
  requestAdapter(options?: object): Promise<Adapter | null>;
}

/** The adapter graft would use, as plain data; null when there is none. */
export async function rawAdapter(gpu: Gpu): Promise<RawAdapter | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  return adapter ? adapterAsData(adapter) : null;
}

/** GPUAdapterInfo and GPUSupportedLimits are getters on prototypes: JSON.stringify sees nothing. */
export function adapterAsData(adapter: Adapter): RawAdapter {
  const plain = <T>(object: object | undefined): Record<string, T> => {
    const out: Record<string, T> = {};
    if (!object) return out;
    for (let proto: object | null = object; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        const value = (object as Record<string, unknown>)[key];
        if (!(key in out) && ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value as T;
      }
    }
    return out;
  };
  return { info: plain(adapter.info), isFallbackAdapter: adapter.isFallbackAdapter, limits: plain<number>(adapter.limits) };
}

async function main(): Promise<void> {
  const name = 'webgpu';
  const { create } = (await import(name)) as { create(flags: string[]): Gpu };
  process.stdout.write(`${JSON.stringify(await rawAdapter(create([])))}\n`);
  // Dawn's instance can keep the event loop alive: this process has said all it has to say.
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? error.message.split('\n')[0] : String(error) })}\n`);
    process.exit(0);
  });
}
