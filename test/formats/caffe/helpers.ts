/** Fixture paths and small builders of synthetic Caffe files for the caffe reader tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { caffeSchema } from '../../../src/formats/caffe/schema.js';

/** Tests run from the repository root; the shared fixtures sit beside it. */
export function fixture(...parts: string[]): string {
  return path.resolve(process.cwd(), '../shared/fixtures', ...parts);
}

export const LENET = fixture('real', 'caffe-lenet', 'lenet_iter_10000.caffemodel');
export const LENET_DEPLOY = fixture('real', 'caffe-lenet', 'deploy.prototxt');
export const ALEXNET = fixture('caffe', 'alexnet_small_group.caffemodel');
export const ALEXNET_PROTOTXT = fixture('caffe', 'alexnet_small_group.prototxt');

let scratch: string | undefined;

/** One scratch folder per test process, removed when it exits. */
export function tempDir(): string {
  if (!scratch) {
    const dir = mkdtempSync(path.join(tmpdir(), 'graft-caffe-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}

/** Writes (or overwrites) `name` in the scratch folder. */
export function writeTemp(name: string, contents: Uint8Array | string): string {
  const file = path.join(tempDir(), name);
  writeFileSync(file, contents);
  return file;
}

/** float32 little-endian bytes, as BlobProto.data holds them once packed. */
export function floatBytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** Values 0.5, 1.5, 2.5, ... scaled, so every element is distinct and exactly representable. */
export function ramp(count: number, scale = 1): number[] {
  return Array.from({ length: count }, (_, i) => (i + 0.5) * scale);
}

export function blob(dims: number[], values: ArrayLike<number> = ramp(dims.reduce((a, b) => a * b, 1))): object {
  return { shape: { dim: dims }, data: floatBytes(values) };
}

/** A NetParameter in protobufjs plain-object form (snake_case names) → .caffemodel bytes. */
export function encodeNet(net: object): Uint8Array {
  const { net: type } = caffeSchema();
  const problem = type.verify(net);
  if (problem) throw new Error(`test net does not fit the schema: ${problem}`);
  return type.encode(type.fromObject(net)).finish();
}

/** Deterministic bytes for fuzz-style tests. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

export { protobuf };
