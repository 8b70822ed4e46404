/**
 * How a fresh filter's shape sets what tfjs-backend-wasm's Conv2D pays to take it in.
 *
 * On a filter tensor it has not seen, the wasm Conv2D first transposes it from [R, Cout]
 * (R = kh·kw·Cin) to [Cout, R] with a loop that writes Cout streams R floats apart, then lets
 * XNNPACK pack it. When R is a multiple of a large power of two those streams fall on the same
 * cache sets and each write misses: measured here (bench/filter-packing.ts, 2 threads) on
 * [1, 1, R, 64] filters, 11.9 ns a float for R = 200704 = 2¹²·49 against 1.4 for R = 200832 =
 * 2⁷·1569 and 1.0–1.4 for 2³–2⁵; [3, 3, 512, 512] (R = 2⁹·9) 6.0 against 1.6 for
 * [3, 3, 520, 512]. The gradient kernels build fresh filters on every call (dy itself is the
 * filter of the filter gradient's convolution), with R = a power-of-two batch times a
 * resnet's 112², 56²… So they pad them with a few zero taps or channels to a friendlier R.
 */

/** The exponent of the largest power of two dividing n (n > 0). */
export function twoAdicValuation(n: number): number {
  let v = 0;
  while (n > 0 && n % 2 === 0) {
    n /= 2;
    v++;
  }
  return v;
}

/** From this valuation of R up the transpose slows down (2⁸: 4 ns a float; 2⁷ and below: 1–1.5 ns). */
export const ALIASING_VALUATION = 8;

/** Whether a [R, Cout] filter is worth reshaping before the wasm Conv2D takes it in. */
export function aliasingFilterRows(rows: number): boolean {
  return twoAdicValuation(rows) >= ALIASING_VALUATION;
}

/** Where a reshaped filter's R must get to: a margin below ALIASING_VALUATION. */
const TARGET_VALUATION = ALIASING_VALUATION - 3;

/**
 * The fewest zero taps [extra rows, extra columns] that bring a [rows, columns, channels, ·]
 * filter's R = rows·columns·channels to TARGET_VALUATION or below; [0, 0] when it is fine.
 */
export function zeroTapsForPacking(rows: number, columns: number, channels: number): [number, number] {
  if (!aliasingFilterRows(rows * columns * channels)) return [0, 0];
  let best: [number, number] = [0, 0];
  let bestSize = Infinity;
  for (let extraRows = 0; extraRows <= 3; extraRows++) {
    for (let extraColumns = 0; extraColumns <= 3; extraColumns++) {
      const size = (rows + extraRows) * (columns + extraColumns);
      if (twoAdicValuation(size * channels) <= TARGET_VALUATION && size < bestSize) {
        best = [extraRows, extraColumns];
        bestSize = size;
      }
    }
  }
  return best;
}

/**
 * The fewest zero channels to add to the input side of [taps, channels, ·] filters (one per
 * entry of `taps`) so that every R = taps·(channels + extra) is at TARGET_VALUATION or below.
 */
export function zeroChannelsForPacking(taps: number[], channels: number): number {
  if (!taps.some((t) => aliasingFilterRows(t * channels))) return 0;
  for (let extra = 4; extra <= 64; extra += 4) {
    if (taps.every((t) => twoAdicValuation(t * (channels + extra)) <= TARGET_VALUATION)) return extra;
  }
  // Tap counts with a large power of two themselves (an 8×8 kernel): channels cannot help.
  return 0;
}
