/**
 * RangeSet: an immutable set of non-negative integers stored as inclusive ranges [begin, end]
 * (Mesos' `Value::Ranges`, used for ports). Every instance is canonical: ranges are sorted,
 * non-overlapping and non-adjacent ([1-2] and [3-4] are always stored as [1-4]), so structural
 * equality is set equality and `rangeCount` is the true fragmentation.
 *
 * Values go up to Number.MAX_SAFE_INTEGER (2^53 - 1) so arithmetic on them stays exact.
 * Set operations are linear merges over the two range lists; `contains(value)` is a binary search.
 */
import { DroverError } from '../errors/errors.ts';

export type Range = readonly [begin: number, end: number];

const MAX_VALUE = Number.MAX_SAFE_INTEGER;
const INTEGER = /^\d+$/;

export class RangeSet {
  readonly type = 'RANGES' as const;

  static readonly EMPTY = new RangeSet([]);

  /** Flat [b0, e0, b1, e1, …]; canonical by construction, never mutated after the constructor. */
  private readonly bounds: readonly number[];

  private constructor(bounds: readonly number[]) {
    this.bounds = bounds;
  }

  /** Normalises any list of ranges: sorts, merges overlapping and adjacent ranges. */
  static of(ranges: Iterable<Range>): RangeSet {
    const list: Range[] = [];
    let i = 0;
    for (const r of ranges) {
      const reason = rangeProblem(r[0], r[1]);
      if (reason !== undefined) throw new DroverError('RESOURCE_PARSE', `invalid range at index ${i}: ${reason}`);
      list.push(r);
      i++;
    }
    list.sort((a, b) => a[0] - b[0]);
    const bounds: number[] = [];
    for (const [b, e] of list) pushCoalesced(bounds, b, e);
    return bounds.length === 0 ? RangeSet.EMPTY : new RangeSet(bounds);
  }

  static single(value: number): RangeSet {
    return RangeSet.of([[value, value]]);
  }

  /** Mesos text form: "[31000-32000,35000-35010]", whitespace tolerant; "[]" is empty. */
  static parse(text: string): RangeSet {
    const result = rangesFromText(text);
    if (typeof result === 'string') throw new DroverError('RESOURCE_PARSE', `invalid ranges '${text}': ${result}`);
    return result;
  }

  get isEmpty(): boolean {
    return this.bounds.length === 0;
  }

  get rangeCount(): number {
    return this.bounds.length >> 1;
  }

  /** Number of values in the set. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.bounds.length; i += 2) n += this.bounds[i + 1]! - this.bounds[i]! + 1;
    return n;
  }

  contains(what: number | RangeSet): boolean {
    if (typeof what === 'number') return this.indexOf(what) >= 0;
    // Every range of `what` must lie inside one of our ranges (ours are maximal, so one suffices).
    const a = this.bounds;
    const b = what.bounds;
    let i = 0;
    for (let j = 0; j < b.length; j += 2) {
      while (i < a.length && a[i + 1]! < b[j]!) i += 2;
      if (i >= a.length || a[i]! > b[j]! || a[i + 1]! < b[j + 1]!) return false;
    }
    return true;
  }

  add(other: RangeSet): RangeSet {
    if (other.isEmpty) return this;
    if (this.isEmpty) return other;
    const a = this.bounds;
    const b = other.bounds;
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
        pushCoalesced(out, a[i]!, a[i + 1]!);
        i += 2;
      } else {
        pushCoalesced(out, b[j]!, b[j + 1]!);
        j += 2;
      }
    }
    return new RangeSet(out);
  }

  /** Set difference; values of `other` that are not in this set are ignored. */
  subtract(other: RangeSet): RangeSet {
    if (other.isEmpty || this.isEmpty) return this;
    const a = this.bounds;
    const b = other.bounds;
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < a.length; i += 2) {
      let begin = a[i]!;
      const end = a[i + 1]!;
      while (j < b.length && b[j + 1]! < begin) j += 2;
      // Cut every subtrahend range that overlaps [begin, end]; keep j on the last one, which
      // may also overlap the next range of `a`.
      let k = j;
      while (begin <= end && k < b.length && b[k]! <= end) {
        if (b[k]! > begin) out.push(begin, b[k]! - 1);
        begin = Math.max(begin, b[k + 1]! + 1);
        k += 2;
      }
      if (begin <= end) out.push(begin, end);
    }
    return out.length === 0 ? RangeSet.EMPTY : new RangeSet(out);
  }

  intersect(other: RangeSet): RangeSet {
    return this.subtract(this.subtract(other));
  }

  equals(other: RangeSet): boolean {
    const a = this.bounds;
    const b = other.bounds;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  toArray(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.bounds.length; i += 2) out.push([this.bounds[i]!, this.bounds[i + 1]!]);
    return out;
  }

  /** Ascending values; for small sets (tests, debugging), a port range can hold 65536 values. */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.bounds.length; i += 2) {
      for (let v = this.bounds[i]!; v <= this.bounds[i + 1]!; v++) yield v;
    }
  }

  /** Mesos form, single values as "[80-80]" like Mesos prints them. */
  format(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.bounds.length; i += 2) parts.push(`${this.bounds[i]}-${this.bounds[i + 1]}`);
    return `[${parts.join(',')}]`;
  }

  toString(): string {
    return this.format();
  }

  /**
   * Takes the `n` lowest values. Lowest-first never splits a range, so repeated allocation from
   * the same set keeps fragmentation where it is.
   */
  allocate(n: number): { allocated: RangeSet; rest: RangeSet } {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new DroverError('RESOURCE_MATH', `cannot allocate ${n} values: expected a non-negative integer`);
    }
    if (n > this.size) throw new DroverError('RESOURCE_MATH', `cannot allocate ${n} values from ${this.format()}`);
    const taken: number[] = [];
    let left = n;
    for (let i = 0; i < this.bounds.length && left > 0; i += 2) {
      const b = this.bounds[i]!;
      const e = Math.min(this.bounds[i + 1]!, b + left - 1);
      taken.push(b, e);
      left -= e - b + 1;
    }
    const allocated = taken.length === 0 ? RangeSet.EMPTY : new RangeSet(taken);
    return { allocated, rest: this.subtract(allocated) };
  }

  /** Takes exactly `wanted`; throws RESOURCE_MATH if any of it is not in this set. */
  allocateSpecific(wanted: RangeSet): { allocated: RangeSet; rest: RangeSet } {
    if (!this.contains(wanted)) {
      throw new DroverError('RESOURCE_MATH', `cannot allocate ${wanted.format()} from ${this.format()}`);
    }
    return { allocated: wanted, rest: this.subtract(wanted) };
  }

  /** Index into `bounds` of the range holding `value`, or -1. */
  private indexOf(value: number): number {
    let lo = 0;
    let hi = (this.bounds.length >> 1) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.bounds[2 * mid + 1]! < value) lo = mid + 1;
      else if (this.bounds[2 * mid]! > value) hi = mid - 1;
      else return 2 * mid;
    }
    return -1;
  }
}

/** Appends [b, e] (b >= last begin) to canonical bounds, merging with the last range if they touch. */
function pushCoalesced(out: number[], b: number, e: number): void {
  const n = out.length;
  if (n > 0 && b <= out[n - 1]! + 1) {
    if (e > out[n - 1]!) out[n - 1] = e;
  } else {
    out.push(b, e);
  }
}

function rangeProblem(b: unknown, e: unknown): string | undefined {
  for (const v of [b, e]) {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `${String(v)} is not an integer`;
    if (v < 0) return `${v} is negative`;
    if (v > MAX_VALUE) return `${v} is larger than ${MAX_VALUE}`;
  }
  if ((b as number) > (e as number)) return `begin ${String(b)} is greater than end ${String(e)}`;
  return undefined;
}

/**
 * Parses "[b-e, …]" returning the reason as a string on failure, so a caller can wrap it with its
 * own position. A bare value inside the brackets ("[80]") means [80-80]; Mesos rejects it, but
 * it is unambiguous and convenient.
 */
export function rangesFromText(raw: string): RangeSet | string {
  const text = raw.trim();
  if (!text.startsWith('[')) return `ranges must start with '[', got '${text}'`;
  if (!text.endsWith(']') || text.length < 2) return `unterminated '[' in '${text}'`;
  const body = text.slice(1, -1);
  if (/[[\]]/.test(body)) return `unexpected bracket inside '${text}'`;
  if (body.trim() === '') return RangeSet.EMPTY;
  const ranges: Range[] = [];
  for (const part of body.split(',')) {
    const item = part.trim();
    if (item === '') return `empty range in '${text}'`;
    const dash = item.indexOf('-');
    const bText = (dash < 0 ? item : item.slice(0, dash)).trim();
    const eText = (dash < 0 ? item : item.slice(dash + 1)).trim();
    if (!INTEGER.test(bText) || !INTEGER.test(eText)) {
      return `range '${item}' is not of the form begin-end with non-negative integers`;
    }
    const b = Number(bText);
    const e = Number(eText);
    const reason = rangeProblem(b, e);
    if (reason !== undefined) return `range '${item}': ${reason}`;
    ranges.push([b, e]);
  }
  return RangeSet.of(ranges);
}
