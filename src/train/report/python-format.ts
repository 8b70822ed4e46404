/**
 * Python's `format(x, 'g')` (precision 6 unless given), so graft's PrintReport rows are character for
 * character what Chainer prints. JavaScript has no equivalent: toPrecision never strips zeros, switches
 * to exponents at other magnitudes, writes `e+6` not `e+06`, and rounds exact ties up where Python
 * rounds them to even. So this works on the exact decimal expansion of the double instead.
 */
export function formatGeneral(value: number, precision = 6): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  if (value === 0) return `${sign}0`;
  const p = Math.max(1, precision);

  const exact = exactDecimal(Math.abs(value));
  let { digits, pointPosition } = exact;
  if (digits.length > p) {
    const rounded = roundHalfEven(digits, p);
    digits = rounded.digits;
    pointPosition += rounded.carried ? 1 : 0;
  }
  digits = digits.padEnd(p, '0');
  // Exponent of the first significant digit in scientific notation, after rounding (as Python decides).
  const exponent = pointPosition - 1;

  if (exponent >= -4 && exponent < p) {
    let integerPart: string;
    let fraction: string;
    if (exponent >= 0) {
      integerPart = digits.slice(0, exponent + 1);
      fraction = digits.slice(exponent + 1);
    } else {
      integerPart = '0';
      fraction = '0'.repeat(-exponent - 1) + digits;
    }
    fraction = fraction.replace(/0+$/, '');
    return sign + integerPart + (fraction ? `.${fraction}` : '');
  }
  const mantissaFraction = digits.slice(1).replace(/0+$/, '');
  const exponentText = String(Math.abs(exponent)).padStart(2, '0');
  return `${sign}${digits[0]}${mantissaFraction ? `.${mantissaFraction}` : ''}e${exponent < 0 ? '-' : '+'}${exponentText}`;
}

/**
 * A positive finite double as significant digits (no leading or trailing zeros) and the position of
 * the decimal point relative to the first digit: value = 0.DIGITS × 10^pointPosition. Exact, because a
 * double is m·2^e and m·2^−k = m·5^k / 10^k.
 */
function exactDecimal(value: number): { digits: string; pointPosition: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biasedExponent = Number((bits >> 52n) & 0x7ffn);
  const fractionBits = bits & ((1n << 52n) - 1n);
  // Subnormals have no implicit leading 1 and the exponent of the smallest normal.
  const mantissa = biasedExponent === 0 ? fractionBits : fractionBits | (1n << 52n);
  const exponent2 = (biasedExponent === 0 ? 1 : biasedExponent) - 1075;

  let integer: bigint;
  let decimalPlaces: number;
  if (exponent2 >= 0) {
    integer = mantissa << BigInt(exponent2);
    decimalPlaces = 0;
  } else {
    integer = mantissa * 5n ** BigInt(-exponent2);
    decimalPlaces = -exponent2;
  }
  const text = integer.toString();
  const digits = text.replace(/0+$/, '');
  return { digits, pointPosition: text.length - decimalPlaces };
}

/** Keeps `count` leading digits, rounding the rest half to even; `carried` when 99.. became 100... */
function roundHalfEven(digits: string, count: number): { digits: string; carried: boolean } {
  const kept = digits.slice(0, count);
  const first = digits.charCodeAt(count) - 48;
  const restIsZero = /^0*$/.test(digits.slice(count + 1));
  const lastKeptIsOdd = (kept.charCodeAt(count - 1) - 48) % 2 === 1;
  const roundUp = first > 5 || (first === 5 && (!restIsZero || lastKeptIsOdd));
  if (!roundUp) return { digits: kept, carried: false };
  const incremented = (BigInt(kept) + 1n).toString();
  if (incremented.length > count) return { digits: incremented.slice(0, count), carried: true };
  return { digits: incremented, carried: false };
}
