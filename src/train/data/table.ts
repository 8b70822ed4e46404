/**
 * Tabular training data: CSV, TSV or whitespace-separated text with an optional header, one label
 * column (the last unless named). Labels become class indices 0..K−1 in sorted order; the mapping
 * is kept so a trained model can name its classes.
 */
import { readFileSync } from 'node:fs';
import { FormatError, UsageError } from '../../errors.js';
import { describeFsError } from '../../util/files.js';

export interface Table {
  file: string;
  featureNames: string[];
  /** [rows, features] row-major. */
  features: Float32Array;
  labels: Int32Array;
  classNames: string[];
  rows: number;
}

export interface TableOptions {
  /** Column name or 0-based index; default the last column. */
  labelColumn?: string | number;
}

function splitterFor(line: string): (s: string) => string[] {
  if (line.includes('\t')) return (s) => s.split('\t').map((c) => c.trim());
  if (line.includes(',')) return (s) => s.split(',').map((c) => c.trim());
  return (s) => s.trim().split(/\s+/);
}

const isNumber = (s: string) => s.length > 0 && Number.isFinite(Number(s));

export function readTable(file: string, options: TableOptions = {}): Table {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: ${describeFsError(error)}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0 && !l.trimStart().startsWith('#'));
  if (lines.length === 0) throw new FormatError(file, 'line 1', 'no rows');
  const split = splitterFor(lines[0]);
  const first = split(lines[0]);
  // A header is a first row with a non-numeric cell where the second row has a number.
  const second = lines.length > 1 ? split(lines[1]) : first;
  const hasHeader = first.some((cell, i) => !isNumber(cell) && isNumber(second[i] ?? ''));
  const columns = first.length;
  if (columns < 2) throw new FormatError(file, 'line 1', 'needs at least one feature column and a label column');
  const names = hasHeader ? first : first.map((_, i) => `column${i + 1}`);
  let labelIndex = columns - 1;
  if (options.labelColumn !== undefined) {
    const column = options.labelColumn;
    // A name first; else an index, also as a string (--label-column 0 arrives as "0").
    labelIndex = typeof column === 'number' ? column : names.includes(column) ? names.indexOf(column) : /^\d+$/.test(column) ? Number(column) : -1;
    if (labelIndex < 0 || labelIndex >= columns) throw new UsageError(`${file}: no label column ${options.labelColumn} (columns: ${names.join(', ')})`);
  }
  const body = hasHeader ? lines.slice(1) : lines;
  const rows = body.length;
  const featureCount = columns - 1;
  const features = new Float32Array(rows * featureCount);
  const rawLabels: string[] = new Array(rows);
  body.forEach((line, r) => {
    const cells = split(line);
    const lineNumber = r + (hasHeader ? 2 : 1);
    if (cells.length !== columns) throw new FormatError(file, `line ${lineNumber}`, `${cells.length} columns, expected ${columns}`);
    let f = 0;
    for (let c = 0; c < columns; c++) {
      if (c === labelIndex) {
        rawLabels[r] = cells[c];
        continue;
      }
      const value = Number(cells[c]);
      if (!isNumber(cells[c])) throw new FormatError(file, `line ${lineNumber}`, `column ${names[c]} is not a number: "${cells[c]}"`);
      features[r * featureCount + f++] = value;
    }
  });
  const distinct = [...new Set(rawLabels)];
  const numeric = distinct.every(isNumber);
  distinct.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
  const index = new Map(distinct.map((name, i) => [name, i]));
  const labels = Int32Array.from(rawLabels, (l) => index.get(l)!);
  return {
    file,
    featureNames: names.filter((_, i) => i !== labelIndex),
    features,
    labels,
    classNames: distinct,
    rows,
  };
}
