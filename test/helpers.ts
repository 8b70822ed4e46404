import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run compiled from dist/test/...). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = path.resolve(REPO, '../shared');
export const SHARED_FIXTURES = path.join(SHARED, 'fixtures');
export const FIXTURES = path.join(REPO, 'fixtures');

/** max |a − b| / max |b|: the relative error the acceptance criteria use. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxDiff / (maxRef || 1);
}
