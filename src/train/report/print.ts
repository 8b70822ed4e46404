/**
 * Chainer's PrintReport, as text: a header of column names, then one fixed-width row per epoch. Each
 * column is as wide as its name, at least 10 characters; values are left-aligned `{:<W g}` (Python's
 * general format, 6 significant digits) followed by two spaces; a value the record lacks (no validation
 * this epoch) leaves its column blank. Layout, widths and the trailing spaces match Chainer exactly so
 * that logs of the two tools can be compared line by line.
 */
import { formatGeneral } from './python-format.js';
import type { EpochRecord } from './types.js';

export const PRINT_REPORT_COLUMNS: readonly string[] = [
  'epoch',
  'iteration',
  'main/loss',
  'main/accuracy',
  'validation/main/loss',
  'validation/main/accuracy',
  'elapsed_time',
];

const MIN_COLUMN_WIDTH = 10;
const COLUMN_GAP = '  ';

const columnWidth = (name: string) => Math.max(MIN_COLUMN_WIDTH, name.length);

/** The header line, without a newline. */
export function printReportHeader(columns: readonly string[] = PRINT_REPORT_COLUMNS): string {
  return columns.map((name) => name.padEnd(columnWidth(name))).join(COLUMN_GAP);
}

/** One epoch's row, without a newline (it ends in the two spaces Chainer leaves after every column). */
export function printReportRow(record: EpochRecord, columns: readonly string[] = PRINT_REPORT_COLUMNS): string {
  return columns
    .map((name) => {
      const width = columnWidth(name);
      const value = record[name];
      const cell = typeof value === 'number' ? formatGeneral(value).padEnd(width) : ' '.repeat(width);
      return cell + COLUMN_GAP;
    })
    .join('');
}
