/** Parsers for option values shared by several commands. Each throws a UsageError naming the flag. */
import { UsageError } from '../errors.js';

export function parseNumberList(flag: string, text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const values = String(text)
    .split(/[,x×\s]+/)
    .filter((s) => s.length > 0)
    .map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) {
    throw new UsageError(`--${flag}: expected comma-separated numbers, got "${text}"`);
  }
  return values;
}

export function parseShape(flag: string, text: string | undefined): number[] | undefined {
  const values = parseNumberList(flag, text);
  if (values && values.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new UsageError(`--${flag}: dimensions must be positive integers, got "${text}"`);
  }
  return values;
}
