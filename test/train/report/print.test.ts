import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printReportHeader, printReportRow } from '../../../src/train/report/print.js';
import { formatGeneral } from '../../../src/train/report/python-format.js';
import type { EpochRecord } from '../../../src/train/report/types.js';

const record = (overrides: Partial<EpochRecord>): EpochRecord => ({
  epoch: 1,
  iteration: 100,
  'main/loss': 0.6931471805599453,
  'main/accuracy': 0.5,
  'validation/main/loss': 0.6,
  'validation/main/accuracy': 0.55,
  elapsed_time: 1.2345649,
  ...overrides,
});

test("PrintReport header and rows match Chainer's layout character for character", () => {
  // What Chainer's PrintReport prints for these columns: each column max(10, len(name)) wide, two
  // spaces between; rows use '{:<Wg}  ' per column, so they also end in two spaces.
  const columns = ['epoch', 'main/loss', 'main/accuracy', 'validation/main/loss', 'validation/main/accuracy', 'elapsed_time'];
  assert.equal(
    printReportHeader(columns),
    'epoch       main/loss   main/accuracy  validation/main/loss  validation/main/accuracy  elapsed_time',
  );
  assert.equal(
    printReportRow(record({}), columns),
    '1           0.693147    0.5            0.6                   0.55                      1.23456       ',
  );
  assert.equal(
    printReportRow(record({ epoch: 12, 'main/loss': 1.5e-5, 'main/accuracy': 1, 'validation/main/loss': 123456789, elapsed_time: 3600.25 }), columns),
    '12          1.5e-05     1              1.23457e+08           0.55                      3600.25       ',
  );
});

test('the default columns are the issue\'s, iteration included', () => {
  assert.equal(
    printReportHeader(),
    'epoch       iteration   main/loss   main/accuracy  validation/main/loss  validation/main/accuracy  elapsed_time',
  );
  assert.equal(
    printReportRow(record({ epoch: 3, iteration: 300 })),
    '3           300         0.693147    0.5            0.6                   0.55                      1.23456       ',
  );
});

test('an epoch without validation leaves those columns blank, as Chainer does', () => {
  const row = printReportRow({ epoch: 2, iteration: 200, 'main/loss': 0.25, 'main/accuracy': 0.875, elapsed_time: 10 });
  assert.equal(row, '2           200         0.25        0.875                                                          10            ');
  assert.equal(row.length, printReportHeader().length + 2);
});

test("formatGeneral is Python's format(x, 'g')", () => {
  // Expected values printed by CPython 3.11.
  const cases: [number, string][] = [
    [0.6931471805599453, '0.693147'],
    [1.23456789, '1.23457'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [0.00012345678, '0.000123457'],
    [123456, '123456'],
    [1234567, '1.23457e+06'],
    [1234565, '1.23456e+06'], // an exact tie rounds to even...
    [1234575, '1.23458e+06'], // ...both ways
    [999999.5, '1e+06'],
    [100, '100'],
    [0.1, '0.1'],
    [1 / 3, '0.333333'],
    [2.5e-7, '2.5e-07'],
    [1e100, '1e+100'],
    [5e-324, '4.94066e-324'],
    [1.7976931348623157e308, '1.79769e+308'],
    [-1.5, '-1.5'],
    [-0, '-0'],
    [0, '0'],
    [Number.NaN, 'nan'],
    [Number.POSITIVE_INFINITY, 'inf'],
    [Number.NEGATIVE_INFINITY, '-inf'],
  ];
  for (const [value, expected] of cases) assert.equal(formatGeneral(value), expected, `format(${value}, 'g')`);
  assert.equal(formatGeneral(0.125, 2), '0.12');
  assert.equal(formatGeneral(12.5, 2), '12');
  assert.equal(formatGeneral(0.0000125, 3), '1.25e-05');
});
