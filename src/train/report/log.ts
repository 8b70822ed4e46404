/**
 * Chainer's LogReport: DIR/log.json holds every epoch's record so far as one JSON list, rewritten whole
 * after each epoch (atomically), so `pandas.DataFrame(json.load(open('log.json')))` works at any moment.
 *
 * The file is byte-for-byte in Chainer's layout: `json.dump(log, f, indent=4)`, observation keys first
 * and then epoch, iteration, elapsed_time (the order Chainer's dict ends up in). Like Chainer, an epoch
 * without validation simply has no validation keys. Unlike Chainer, which writes Python's bare `NaN`
 * (not standard JSON: strict parsers, JavaScript's included, reject it), a diverged, non-finite value is
 * written as null, which json.load and pandas read as NaN (None); reading it back here gives NaN too.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { FormatError } from '../../errors.js';
import type { EpochRecord } from './types.js';
import { writeFileAtomically } from './write-atomic.js';

export const LOG_FILE_NAME = 'log.json';

/** Chainer's key order: the observations as reported, then the counters its LogReport adds. */
const LEADING_KEYS = ['main/loss', 'main/accuracy', 'validation/main/loss', 'validation/main/accuracy'];
const TRAILING_KEYS = ['epoch', 'iteration', 'elapsed_time'];
const REQUIRED_KEYS = ['epoch', 'iteration', 'main/loss', 'main/accuracy', 'elapsed_time'];

export class LogReport {
  readonly dir: string;
  readonly file: string;
  readonly records: EpochRecord[];
  /** Appends write in call order even when the caller does not await each one. */
  private pendingWrite: Promise<void> = Promise.resolve();

  /** `records`: what an earlier run logged, when resuming (see LogReport.resume). */
  constructor(dir: string, records: EpochRecord[] = []) {
    this.dir = dir;
    this.file = path.join(dir, LOG_FILE_NAME);
    this.records = records;
  }

  /** A LogReport that goes on from DIR/log.json (empty when there is none yet), for `--resume`. */
  static async resume(dir: string): Promise<LogReport> {
    return new LogReport(dir, await LogReport.read(dir));
  }

  /** Adds one epoch's record and rewrites DIR/log.json with all of them. */
  append(record: EpochRecord): Promise<void> {
    this.records.push(record);
    const text = formatLog(this.records);
    const write = this.pendingWrite.then(() => writeFileAtomically(this.file, text));
    // A failed write is reported to its caller; later appends still try to write.
    this.pendingWrite = write.catch(() => undefined);
    return write;
  }

  /** The records in DIR/log.json, or [] when the file does not exist. */
  static async read(dir: string): Promise<EpochRecord[]> {
    const file = path.join(dir, LOG_FILE_NAME);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return parseLog(text, file);
  }
}

/** The text of log.json for these records. */
export function formatLog(records: readonly EpochRecord[]): string {
  // JSON.stringify already writes NaN and ±Infinity as null; ordering the keys is the only work.
  return JSON.stringify(records.map(orderedLikeChainer), null, 4);
}

function orderedLikeChainer(record: EpochRecord): Record<string, number | undefined> {
  const keys = Object.keys(record);
  const middle = keys.filter((k) => !LEADING_KEYS.includes(k) && !TRAILING_KEYS.includes(k));
  const ordered: Record<string, number | undefined> = {};
  for (const key of [...LEADING_KEYS, ...middle, ...TRAILING_KEYS]) {
    if (record[key] !== undefined) ordered[key] = record[key];
  }
  return ordered;
}

/** Parses log.json text (graft's or Chainer's own) into records; `file` names it in errors. */
export function parseLog(text: string, file: string): EpochRecord[] {
  let parsed: unknown;
  try {
    // Chainer's own files may hold Python's NaN/Infinity tokens; read them as numbers, not an error.
    parsed = JSON.parse(text.replace(/(?<=[:\[,]\s*)-?(NaN|Infinity)(?=\s*[,}\]])/g, 'null'));
  } catch (error) {
    throw new FormatError(file, undefined, `not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new FormatError(file, undefined, 'expected a JSON list of epoch records');
  return parsed.map((entry, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new FormatError(file, `record ${index}`, 'expected an object');
    }
    const record: Record<string, number> = {};
    for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
      if (value === null) record[key] = Number.NaN;
      else if (typeof value === 'number') record[key] = value;
      else throw new FormatError(file, `record ${index}, key "${key}"`, `expected a number, got ${JSON.stringify(value)}`);
    }
    for (const key of REQUIRED_KEYS) {
      if (!(key in record)) throw new FormatError(file, `record ${index}`, `missing "${key}"`);
    }
    return record as EpochRecord;
  });
}
