/**
 * What both torch.save formats give the rest of the reader: the unpickled object, and where each
 * storage's bytes are.
 */
import { FormatError } from '../../errors.js';
import { PyGlobalRef, pyTypeName } from './py-values.js';
import type { StorageRef } from './torch-tensors.js';
import { TorchStorageType } from './torch-types.js';

export interface TorchContainer {
  kind: 'zip' | 'legacy';
  /** The object passed to torch.save. */
  root: unknown;
  /** The whole root storage named by `ref.key`; `tensorKey` names the tensor in errors. */
  bytesOf(ref: StorageRef, tensorKey: string): Uint8Array;
  littleEndian: boolean;
}

/** Shared checks on a persistent id's fields (torch/serialization.py `persistent_load`). */
export function storageIdFields(
  pid: unknown,
  file: string,
  where: string | number,
): { typename: string; fields: unknown[] } {
  if (!Array.isArray(pid) || pid.length === 0) throw new FormatError(file, where, `persistent id is a ${pyTypeName(pid)}, not a tuple`);
  const typename = asText(pid[0]);
  if (typename === undefined) throw new FormatError(file, where, 'persistent id without a type name');
  return { typename, fields: pid.slice(1) };
}

export function storageTypeOf(value: unknown, file: string, where: string | number): TorchStorageType {
  if (value instanceof TorchStorageType) return value;
  const name = value instanceof PyGlobalRef ? value.qualifiedName : pyTypeName(value);
  throw new FormatError(file, where, `unknown storage type ${name}`);
}

export function storageCount(value: unknown, file: string, where: string | number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new FormatError(file, where, `bad ${what}`);
  return value;
}

/** Python 2 pickles keys as byte strings; torch's `_maybe_decode_ascii` turns them into text. */
export function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder('latin1').decode(value);
  return undefined;
}
