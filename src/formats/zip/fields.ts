/**
 * Reading the little-endian fields that every zip record is made of.
 */
import { FormatError } from '../../errors.js';

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A zip64 field as a number. Offsets and sizes past 2^53 cannot address anything a Node process
 * can read, so they can only come from a corrupt record.
 */
export function readUint64(view: DataView, at: number, file: string, where: number): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(file, where, `64-bit field ${value} is out of range`);
  return Number(value);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * An entry name. Bit 11 of the flags marks UTF-8 names, but miniz (torch.save's writer) leaves it
 * clear on UTF-8 names too, so any name that is valid UTF-8 is read as UTF-8. Anything else is
 * the spec's CP437, read as Latin-1: they agree on ASCII, and distinct names stay distinct.
 */
export function decodeEntryName(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}
