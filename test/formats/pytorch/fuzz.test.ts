/**
 * Property test: truncated and byte-mutated .pth files (zip and legacy, deterministic PRNG) each
 * end in a GraftError or a well-formed result, quickly; nothing else escapes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraftError } from '../../../src/errors.js';
import { decodePyTorch } from '../../../src/formats/pytorch/reader.js';
import type { SourceModel } from '../../../src/formats/source.js';
import { DTYPES } from '../../../src/tensor/dtype.js';
import { sizeOf } from '../../../src/tensor/tensor.js';
import { fixtureBytes } from './helpers.js';

const BASES = [
  'small_zip.pth', 'small_legacy.pth', 'checkpoint.pth', 'checkpoint_legacy.pth', 'views.pth', 'views_legacy.pth',
  'dtypes.pth', 'dtypes_legacy.pth', 'small_deflated.pth', 'small_fp16_legacy.pth', 'malicious_nested.pth',
];
const CASES_PER_BASE = 100;
const MAX_MS_PER_CASE = 1000;

/** xorshift32: the same cases on every run and machine. */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n: number) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };
}

type Mutation = { kind: string; bytes: Uint8Array };

/** Positions favour the structure: the pickle at the start, the zip directory at the end. */
function position(random: (n: number) => number, length: number): number {
  const region = random(3);
  if (region === 0) return random(length);
  if (region === 1) return random(Math.min(length, 2048));
  return length - 1 - random(Math.min(length, 2048));
}

function mutate(original: Uint8Array, random: (n: number) => number): Mutation {
  const bytes = Uint8Array.from(original);
  const at = position(random, bytes.length);
  switch (random(7)) {
    case 0:
      return { kind: 'truncate', bytes: bytes.subarray(0, at) };
    case 1: {
      const flips = 1 + random(4);
      for (let i = 0; i < flips; i++) {
        const p = i === 0 ? at : position(random, bytes.length);
        bytes[p] ^= 1 << random(8);
      }
      return { kind: 'flip bits', bytes };
    }
    case 2: {
      const n = 1 + random(8);
      for (let i = 0; i < n && at + i < bytes.length; i++) bytes[at + i] = random(256);
      return { kind: 'random bytes', bytes };
    }
    case 3: {
      // Length and offset fields set to extremes.
      const extremes = [0, 0xffffffff, 0x7fffffff, 0x80000000, original.length + 1, 1];
      const value = extremes[random(extremes.length)];
      const p = Math.min(at, bytes.length - 4);
      new DataView(bytes.buffer).setUint32(p, value, true);
      return { kind: 'extreme u32', bytes };
    }
    case 4: {
      const n = 1 + random(16);
      return { kind: 'delete', bytes: Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + n)]) };
    }
    case 5: {
      const inserted = Array.from({ length: 1 + random(16) }, () => random(256));
      return { kind: 'insert', bytes: Uint8Array.from([...bytes.subarray(0, at), ...inserted, ...bytes.subarray(at)]) };
    }
    default: {
      const from = position(random, bytes.length);
      const n = 1 + random(32);
      bytes.copyWithin(at, from, from + n);
      return { kind: 'copy range', bytes };
    }
  }
}

function checkWellFormed(model: SourceModel): void {
  for (const [key, tensor] of model.tensors) {
    assert.ok(tensor.data instanceof DTYPES[tensor.dtype].array, `${key}: array type`);
    assert.equal(tensor.data.length, sizeOf(tensor.shape), `${key}: length`);
  }
}

function sameTensors(a: SourceModel, b: SourceModel): boolean {
  if (a.tensors.size !== b.tensors.size) return false;
  for (const [key, tensor] of a.tensors) {
    const other = b.tensors.get(key);
    if (!other || other.dtype !== tensor.dtype || other.shape.join() !== tensor.shape.join()) return false;
    const x = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    const y = new Uint8Array(other.data.buffer, other.data.byteOffset, other.data.byteLength);
    if (Buffer.compare(x, y) !== 0) return false;
  }
  return true;
}

test(`${BASES.length * CASES_PER_BASE} truncated or mutated .pth files: a GraftError or a well-formed result, never a crash or a hang`, { timeout: 300_000 }, (t) => {
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  let cases = 0;
  for (const [index, base] of BASES.entries()) {
    const original = fixtureBytes(base);
    let reference: SourceModel | undefined;
    try {
      reference = decodePyTorch(original, base);
    } catch {
      reference = undefined; // malicious_nested: refused as a whole, mutations must stay refused or fail cleanly
    }
    const random = prng(0x9e3779b9 ^ (index * 7919));
    for (let i = 0; i < CASES_PER_BASE; i++, cases++) {
      const { kind, bytes } = mutate(original, random);
      const label = `${base} case ${i} (${kind}, ${bytes.length} bytes)`;
      const started = performance.now();
      try {
        // Every mutated file is a fresh copy, so half the cases also let legacy storages move in place.
        const model = decodePyTorch(bytes, label, {}, i % 2 === 1);
        checkWellFormed(model);
        // Cutting bytes off can only succeed when nothing the tensors need was cut.
        if (kind === 'truncate' && reference) assert.ok(sameTensors(model, reference), `${label}: truncated file read differently`);
        count('read');
      } catch (error) {
        if (!(error instanceof GraftError)) {
          assert.fail(`${label}: ${error instanceof Error ? `${error.constructor.name}: ${error.stack}` : String(error)}`);
        }
        count(error.constructor.name);
      }
      const elapsed = performance.now() - started;
      assert.ok(elapsed < MAX_MS_PER_CASE, `${label}: took ${elapsed.toFixed(0)} ms`);
    }
  }
  assert.ok(cases >= 1000);
  t.diagnostic(`outcomes: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
});
