/**
 * ValueSet: an immutable set of strings (Mesos' `Value::Set`, text form "{a,b}"), used for
 * resources such as `zones:{a,b}` or `gpus_models:{k80,p100}`.
 *
 * Items are kept sorted so that equal sets format and serialise identically. An item may not be
 * empty, may not start or end with whitespace, and may not contain any of `{}[],;:()`: those are
 * the delimiters of the resource text syntax, and an item holding one would not survive
 * format → parse.
 */
import { DroverError } from '../errors/errors.ts';

const FORBIDDEN = /[{}[\],;:()]/;

export class ValueSet {
  readonly type = 'SET' as const;

  static readonly EMPTY = new ValueSet([]);

  private readonly items: readonly string[];
  private readonly lookup: ReadonlySet<string>;

  /** `items` must already be sorted, unique and valid. */
  private constructor(items: readonly string[]) {
    this.items = items;
    this.lookup = new Set(items);
  }

  static of(items: Iterable<string>): ValueSet {
    const unique = new Set<string>();
    for (const item of items) {
      const reason = itemProblem(item);
      if (reason !== undefined) throw new DroverError('RESOURCE_PARSE', `invalid set item: ${reason}`);
      unique.add(item);
    }
    return unique.size === 0 ? ValueSet.EMPTY : new ValueSet([...unique].sort());
  }

  /** Mesos text form "{a,b,c}", whitespace around items ignored; "{}" is empty. */
  static parse(text: string): ValueSet {
    const result = setFromText(text);
    if (typeof result === 'string') throw new DroverError('RESOURCE_PARSE', `invalid set '${text}': ${result}`);
    return result;
  }

  get isEmpty(): boolean {
    return this.items.length === 0;
  }

  get size(): number {
    return this.items.length;
  }

  contains(what: string | ValueSet): boolean {
    if (typeof what === 'string') return this.lookup.has(what);
    return what.items.every((item) => this.lookup.has(item));
  }

  add(other: ValueSet): ValueSet {
    if (other.isEmpty) return this;
    if (this.isEmpty) return other;
    return new ValueSet([...new Set([...this.items, ...other.items])].sort());
  }

  /** Set difference; items of `other` that are not in this set are ignored. */
  subtract(other: ValueSet): ValueSet {
    if (other.isEmpty || this.isEmpty) return this;
    const rest = this.items.filter((item) => !other.lookup.has(item));
    return rest.length === 0 ? ValueSet.EMPTY : new ValueSet(rest);
  }

  equals(other: ValueSet): boolean {
    return this.items.length === other.items.length && this.items.every((item, i) => item === other.items[i]);
  }

  toArray(): string[] {
    return [...this.items];
  }

  format(): string {
    return `{${this.items.join(',')}}`;
  }

  toString(): string {
    return this.format();
  }
}

function itemProblem(item: unknown): string | undefined {
  if (typeof item !== 'string') return `expected a string, got ${typeof item}`;
  if (item === '') return 'empty item';
  if (item.trim() !== item) return `item '${item}' has leading or trailing whitespace`;
  if (FORBIDDEN.test(item)) return `item '${item}' contains one of {}[],;:()`;
  return undefined;
}

/** Parses "{a,b}" returning the reason as a string on failure (callers add their own position). */
export function setFromText(raw: string): ValueSet | string {
  const text = raw.trim();
  if (!text.startsWith('{')) return `set must start with '{', got '${text}'`;
  if (!text.endsWith('}') || text.length < 2) return `unterminated '{' in '${text}'`;
  const body = text.slice(1, -1);
  if (body.trim() === '') return ValueSet.EMPTY;
  const items: string[] = [];
  for (const part of body.split(',')) {
    const item = part.trim();
    const reason = itemProblem(item);
    if (reason !== undefined) return `${reason} in '${text}'`;
    items.push(item);
  }
  return ValueSet.of(items);
}
