/**
 * Fixed-point scalar resource values (cpus, mem, disk, gpus, …) stored as integer milli-units.
 *
 * Mesos keeps scalars as doubles but rounds every value to 3 decimals (`llround(v * 1000)`) so that
 * repeated add/subtract cannot drift. Storing the milli-units as a safe integer gives the same
 * observable values with exact arithmetic: 0.1 + 0.2 is exactly 0.3 here.
 *
 * Rounding: a value with more than 3 decimals rounds half-up to the nearest milli-unit (for
 * non-negative values this is what `llround` does). Text is rounded on its decimal digits, so
 * "0.0015" is exactly 0.002; a JSON number is rounded on its shortest decimal form (`String(x)`),
 * so 0.0015 also becomes 0.002 even though its binary double is slightly below 0.0015. A value
 * that rounds to 0 (e.g. "0.0004") is zero, and zero resources drop out of a `Resources` bag.
 */
import { DroverError } from '../errors/errors.ts';

/** Largest representable milli-unit count; beyond this integers stop being exact. */
const MAX_MILLI = Number.MAX_SAFE_INTEGER;

const DECIMAL = /^(\d+)(?:\.(\d*))?$|^\.(\d+)$/;
const EXPONENT = /^(?:\d+\.?\d*|\.\d+)e[+-]?\d+$/i;

export class Scalar {
  readonly type = 'SCALAR' as const;

  static readonly ZERO = new Scalar(0);

  private constructor(
    /** The value in thousandths: 0.5 cpus is 500. Always a safe non-negative integer. */
    readonly milli: number,
  ) {}

  static fromMilli(milli: number): Scalar {
    if (!Number.isSafeInteger(milli) || milli < 0) {
      throw new DroverError('RESOURCE_MATH', `scalar milli-units must be a non-negative safe integer, got ${milli}`);
    }
    return milli === 0 ? Scalar.ZERO : new Scalar(milli);
  }

  /** From a JSON/JS number; throws RESOURCE_PARSE for NaN, ±Infinity, negatives and overflow. */
  static fromNumber(value: number): Scalar {
    const result = scalarFromNumber(value);
    if (typeof result === 'string') throw new DroverError('RESOURCE_PARSE', `invalid scalar ${value}: ${result}`);
    return result;
  }

  /** From text such as "0.5", "1024", "2.", ".25" or "1e3". */
  static parse(text: string): Scalar {
    const result = scalarFromText(text);
    if (typeof result === 'string') throw new DroverError('RESOURCE_PARSE', `invalid scalar '${text}': ${result}`);
    return result;
  }

  get isEmpty(): boolean {
    return this.milli === 0;
  }

  add(other: Scalar): Scalar {
    const sum = this.milli + other.milli;
    if (sum > MAX_MILLI) {
      throw new DroverError('RESOURCE_MATH', `scalar overflow: ${this.format()} + ${other.format()}`);
    }
    return Scalar.fromMilli(sum);
  }

  /** Throws RESOURCE_MATH when the result would be negative: resources never go below zero. */
  subtract(other: Scalar): Scalar {
    if (other.milli > this.milli) {
      throw new DroverError('RESOURCE_MATH', `cannot subtract ${other.format()} from ${this.format()}`);
    }
    return Scalar.fromMilli(this.milli - other.milli);
  }

  /** Negative, zero or positive, like a sort comparator. */
  compare(other: Scalar): number {
    return this.milli - other.milli;
  }

  contains(other: Scalar): boolean {
    return this.milli >= other.milli;
  }

  equals(other: Scalar): boolean {
    return this.milli === other.milli;
  }

  /** The value as a JS number (may be inexact in binary, e.g. 0.1); for display and JSON only. */
  toNumber(): number {
    return this.milli / 1000;
  }

  /** "0.5", "1024", "2.125": no trailing zeros, no exponent. */
  format(): string {
    const whole = Math.floor(this.milli / 1000);
    const frac = this.milli % 1000;
    if (frac === 0) return String(whole);
    return `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
  }

  toString(): string {
    return this.format();
  }
}

/**
 * Parses decimal text exactly (no binary floating point on the way), returning the reason as a
 * string on failure so callers can put it into their own positioned error message.
 */
export function scalarFromText(raw: string): Scalar | string {
  const text = raw.trim();
  if (text === '') return 'missing number';
  if (text.startsWith('-')) {
    return DECIMAL.test(text.slice(1)) || EXPONENT.test(text.slice(1)) ? `'${text}' is negative` : `'${text}' is not a number`;
  }
  const m = DECIMAL.exec(text);
  if (m === null) {
    return EXPONENT.test(text) ? scalarFromNumber(Number(text)) : `'${text}' is not a number`;
  }
  const whole = m[1] ?? '0';
  const frac = (m[2] ?? m[3] ?? '').padEnd(4, '0');
  const wholeNum = Number(whole);
  if (wholeNum > Math.floor(MAX_MILLI / 1000)) return `'${text}' is too large`;
  const roundUp = frac.charCodeAt(3) >= 0x35; // 4th decimal digit >= '5': half-up
  const milli = wholeNum * 1000 + Number(frac.slice(0, 3)) + (roundUp ? 1 : 0);
  if (milli > MAX_MILLI) return `'${text}' is too large`;
  return Scalar.fromMilli(milli);
}

export function scalarFromNumber(value: number): Scalar | string {
  if (typeof value !== 'number' || Number.isNaN(value)) return 'not a number';
  if (!Number.isFinite(value)) return 'not finite';
  if (value < 0) return 'negative';
  const shortest = String(value);
  if (DECIMAL.test(shortest)) return scalarFromText(shortest);
  // Exponent form: either tiny (rounds to 0 or a few milli) or huge (caught by the range check).
  const milli = Math.round(value * 1000);
  if (milli > MAX_MILLI) return 'too large';
  return Scalar.fromMilli(milli);
}
