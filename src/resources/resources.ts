/**
 * Resources: an immutable bag of named resources, each optionally reserved for a role (Mesos'
 * `Resources`). A bag maps (name, role) to one value: a Scalar, a RangeSet or a ValueSet.
 *
 * Invariants every instance keeps, so that plain `equals` is bag equality:
 * - no empty values: a zero scalar, empty range set or empty set drops out (so `(a + b) - b`
 *   equals `a`, and "disk:0" parses to an empty bag, as in Mesos);
 * - one type per name across all roles: `cpus` cannot be a scalar in one role and a set in
 *   another. Mixing them in add/subtract throws RESOURCE_MATH (RESOURCE_PARSE while parsing).
 *
 * Entries keep insertion order for `format`/`toJSON`; equality ignores order.
 */
import { DroverError } from '../errors/errors.ts';
import { RangeSet } from './range-set.ts';
import { combine, DEFAULT_ROLE, describeValue, identifierProblem, valueContains, valueEquals } from './resource.ts';
import type { Resource, ResourceType, ResourceValue } from './resource.ts';
import { jsonError, resourceFromJSON, resourceToJSON } from './resource-json.ts';
import type { ResourceJSON } from './resource-json.ts';
import { formatResource, parseSegment } from './resource-text.ts';
import { Scalar } from './scalar.ts';
import { ValueSet } from './value-set.ts';

export { DEFAULT_ROLE } from './resource.ts';
export type { Resource, ResourceType, ResourceValue } from './resource.ts';
export type { ResourceJSON } from './resource-json.ts';

/**
 * What the allocator reads of a bag, worked out once per bag (it is immutable). Kept in a private
 * field: a bag's own memory, not a WeakMap entry elsewhere (the allocator reads every agent's
 * free bag every cycle, and at 10,000 agents each lookup elsewhere was a cache miss), and not a
 * property, so two equal bags stay deep-equal whether or not one was asked.
 */
interface Derived {
  millis: ReadonlyArray<readonly [name: string, milli: number]>;
  scalars: ReadonlyArray<ScalarEntry>;
  /** The role every entry has, or undefined when they differ (or there are none). */
  soleRole: string | undefined;
}

/** One scalar of a bag with its reservation role, as plain data (`scalarEntries`). */
export interface ScalarEntry {
  readonly name: string;
  readonly role: string;
  readonly milli: number;
}

export class Resources {
  static readonly EMPTY = new Resources(new Map());

  private readonly types: ReadonlyMap<string, ResourceType>;
  #derived: Derived | undefined = undefined;
  /**
   * No resources at all. A field, not `entries.size`: the offer cycle asks it of every agent's
   * bag, and the answer in the bag itself costs one memory read instead of three (the bag, its
   * map, the map's table) when the bag is not in the cache (docs/architecture/024-allocator-cycle.md).
   */
  readonly isEmpty: boolean;

  /** `entries` is owned by the new instance and already satisfies the invariants. */
  private constructor(private readonly entries: ReadonlyMap<string, Resource>) {
    const types = new Map<string, ResourceType>();
    for (const r of entries.values()) types.set(r.name, r.value.type);
    this.types = types;
    this.isEmpty = entries.size === 0;
  }

  /** Builds a bag from resources; repeated (name, role) pairs are added together. */
  static of(resources: Iterable<{ name: string; role?: string; value: ResourceValue }>): Resources {
    const acc = new Accumulator(new Map(), new Map());
    for (const r of resources) {
      const role = r.role ?? DEFAULT_ROLE;
      const reason = identifierProblem('name', r.name) ?? identifierProblem('role', role);
      if (reason !== undefined) throw new DroverError('RESOURCE_PARSE', `invalid resource: ${reason}`);
      acc.add({ name: r.name, role, value: r.value });
    }
    return Resources.build(acc);
  }

  /**
   * Mesos text syntax: `cpus:2;mem:1024;ports(*):[31000-32000];zones(web):{a,b}`. Empty segments
   * are skipped, a name given twice is added up. Errors name the segment and its character offset.
   */
  static parse(text: string, defaultRole: string = DEFAULT_ROLE): Resources {
    if (typeof text !== 'string') throw new DroverError('RESOURCE_PARSE', `invalid resources: expected a string, got ${typeof text}`);
    const roleReason = identifierProblem('default role', defaultRole);
    if (roleReason !== undefined) throw new DroverError('RESOURCE_PARSE', `invalid resources: ${roleReason}`);
    const acc = new Accumulator(new Map(), new Map());
    let offset = 0;
    for (const segment of text.split(';')) {
      const start = offset + (segment.length - segment.trimStart().length);
      offset += segment.length + 1;
      const item = segment.trim();
      if (item === '') continue;
      const result = parseSegment(item, defaultRole);
      const reason = typeof result === 'string' ? result : acc.tryAdd(result);
      if (reason !== undefined) {
        throw new DroverError('RESOURCE_PARSE', `invalid resource '${item}' at position ${start}: ${reason}`);
      }
    }
    return Resources.build(acc);
  }

  /** Mesos v1 JSON array; every problem is reported as `resources[i].field: reason`. */
  static fromJSON(input: unknown): Resources {
    if (!Array.isArray(input)) throw jsonError([], `expected an array, got ${describeValue(input)}`);
    const acc = new Accumulator(new Map(), new Map());
    input.forEach((element: unknown, i: number) => {
      const resource = resourceFromJSON(element, i);
      const reason = acc.tryAdd(resource);
      if (reason !== undefined) throw jsonError([i], reason);
    });
    return Resources.build(acc);
  }

  toJSON(): ResourceJSON[] {
    return [...this.entries.values()].map(resourceToJSON);
  }

  /** `cpus:2;mem:1024;ports:[31000-32000];zones(web):{a,b}`; the empty bag formats as ''. */
  format(): string {
    return [...this.entries.values()].map(formatResource).join(';');
  }

  toString(): string {
    return this.format();
  }

  add(other: Resources): Resources {
    if (other.isEmpty) return this;
    if (this.isEmpty) return other;
    const acc = this.accumulator();
    for (const r of other.entries.values()) acc.add(r);
    return Resources.build(acc);
  }

  /** Throws RESOURCE_MATH unless `this.contains(other)`: resources never go below zero. */
  subtract(other: Resources): Resources {
    if (other.isEmpty) return this;
    // An offer declined whole, an agent's only task ending: nothing is left.
    if (other === this) return Resources.EMPTY;
    for (const r of other.entries.values()) checkType(this.types, r);
    if (!this.contains(other)) {
      throw new DroverError('RESOURCE_MATH', `cannot subtract '${other.format()}' from '${this.format()}'`);
    }
    const acc = this.accumulator();
    for (const r of other.entries.values()) acc.subtract(r);
    return Resources.build(acc);
  }

  /** Role-aware: `cpus(web):1` is not contained in `cpus:4`. A type mismatch is simply false. */
  contains(other: Resources): boolean {
    // Keys, not `[key, value]` pairs: a pair is an array per entry, and the allocator asks
    // this per agent per role every cycle.
    for (const key of other.entries.keys()) {
      const own = this.entries.get(key);
      if (own === undefined || !valueContains(own.value, other.entries.get(key)!.value)) return false;
    }
    return true;
  }

  equals(other: Resources): boolean {
    if (this === other) return true;
    if (this.entries.size !== other.entries.size) return false;
    for (const key of this.entries.keys()) {
      const theirs = other.entries.get(key);
      if (theirs === undefined || !valueEquals(this.entries.get(key)!.value, theirs.value)) return false;
    }
    return true;
  }

  get(name: string, role: string = DEFAULT_ROLE): ResourceValue | undefined {
    return this.entries.get(keyOf(name, role))?.value;
  }

  /** Sum over all roles; zero when absent. Throws RESOURCE_MATH if `name` is not a scalar. */
  scalar(name: string): Scalar {
    let sum = Scalar.ZERO;
    for (const { value } of this.byName(name, 'SCALAR')) if (value.type === 'SCALAR') sum = sum.add(value);
    return sum;
  }

  /** Union over all roles; empty when absent. Throws RESOURCE_MATH if `name` is not ranges. */
  ranges(name: string): RangeSet {
    let union = RangeSet.EMPTY;
    for (const { value } of this.byName(name, 'RANGES')) if (value.type === 'RANGES') union = union.add(value);
    return union;
  }

  /** Union over all roles; empty when absent. Throws RESOURCE_MATH if `name` is not a set. */
  set(name: string): ValueSet {
    let union = ValueSet.EMPTY;
    for (const { value } of this.byName(name, 'SET')) if (value.type === 'SET') union = union.add(value);
    return union;
  }

  /**
   * Per scalar name, its milli-units summed over roles, in first-seen order. Computed once (the
   * bag is immutable): running sums and shares over many bags add these plain numbers instead
   * of building a new bag per addition.
   */
  scalarMillis(): ReadonlyArray<readonly [name: string, milli: number]> {
    return this.derived().millis;
  }

  /**
   * The bag's scalars per (name, role), as plain records. Computed once (the bag is immutable):
   * the allocator reads every agent's free bag every cycle, and an agent's free bag stays the
   * same object from one cycle to the next while nothing changes on it.
   */
  scalarEntries(): ReadonlyArray<ScalarEntry> {
    return this.derived().scalars;
  }

  /** The role every resource of the bag is reserved for (`'*'`: all unreserved); undefined when mixed or empty. */
  soleRole(): string | undefined {
    return this.derived().soleRole;
  }

  private derived(): Derived {
    let d = this.#derived;
    if (d === undefined) {
      const sums = new Map<string, number>();
      const scalars: ScalarEntry[] = [];
      let soleRole: string | undefined;
      let first = true;
      for (const r of this.entries.values()) {
        if (first) soleRole = r.role;
        else if (soleRole !== r.role) soleRole = undefined;
        first = false;
        if (r.value.type !== 'SCALAR') continue;
        sums.set(r.name, (sums.get(r.name) ?? 0) + r.value.milli);
        scalars.push({ name: r.name, role: r.role, milli: r.value.milli });
      }
      this.#derived = d = { millis: [...sums], scalars, soleRole };
    }
    return d;
  }

  cpus(): number {
    return this.scalar('cpus').toNumber();
  }

  mem(): number {
    return this.scalar('mem').toNumber();
  }

  disk(): number {
    return this.scalar('disk').toNumber();
  }

  ports(): RangeSet {
    return this.ranges('ports');
  }

  /** Distinct resource names, in first-seen order. */
  names(): string[] {
    return [...this.types.keys()];
  }

  roles(): string[] {
    return [...new Set([...this.entries.values()].map((r) => r.role))];
  }

  toArray(): Resource[] {
    return [...this.entries.values()];
  }

  [Symbol.iterator](): IterableIterator<Resource> {
    return this.entries.values();
  }

  /** Only the resources reserved for `role` (`'*'` gives the unreserved ones). */
  filterRole(role: string): Resources {
    // Immutable, so a bag that is all `role` is its own filter (the allocator asks this of
    // every agent every cycle, and nearly every agent is all unreserved).
    const sole = this.soleRole();
    if (sole === role || this.entries.size === 0) return this;
    if (sole !== undefined) return Resources.EMPTY;
    // None of it (a reserved agent asked for its unreserved part) is EMPTY without a new bag.
    let matching = 0;
    for (const r of this.entries.values()) if (r.role === role) matching++;
    if (matching === this.entries.size) return this;
    if (matching === 0) return Resources.EMPTY;
    return Resources.of(this.toArray().filter((r) => r.role === role));
  }

  /** The same amounts with every reservation moved to `role` (default: unreserved). */
  flatten(role: string = DEFAULT_ROLE): Resources {
    return Resources.of(this.toArray().map((r) => ({ name: r.name, role, value: r.value })));
  }

  private static build(acc: Accumulator): Resources {
    return acc.entries.size === 0 ? Resources.EMPTY : new Resources(acc.entries);
  }

  private accumulator(): Accumulator {
    return new Accumulator(new Map(this.entries), new Map(this.types));
  }

  private byName(name: string, type: ResourceType): Resource[] {
    const actual = this.types.get(name);
    if (actual === undefined) return [];
    if (actual !== type) throw new DroverError('RESOURCE_MATH', `resource '${name}' is ${actual}, not ${type}`);
    return [...this.entries.values()].filter((r) => r.name === name);
  }
}

/** Mutable builder used while constructing one new bag; keeps the invariants as it goes. */
class Accumulator {
  constructor(
    readonly entries: Map<string, Resource>,
    private readonly types: Map<string, ResourceType>,
  ) {}

  add(r: Resource): void {
    // Like Mesos, an empty value is no resource at all, so it cannot clash with another type.
    if (r.value.isEmpty) return;
    checkType(this.types, r);
    const key = keyOf(r.name, r.role);
    const own = this.entries.get(key);
    const value = own === undefined ? r.value : combine(own.value, r.value, 'add');
    this.put(key, { name: r.name, role: r.role, value });
  }

  /** Caller has checked containment. */
  subtract(r: Resource): void {
    const key = keyOf(r.name, r.role);
    const own = this.entries.get(key);
    if (own === undefined) throw new DroverError('RESOURCE_MATH', `cannot subtract absent resource '${key}'`);
    this.put(key, { name: r.name, role: r.role, value: combine(own.value, r.value, 'subtract') });
  }

  /** Like `add`, returning the reason instead of throwing, for parsers that add their position. */
  tryAdd(r: Resource): string | undefined {
    try {
      this.add(r);
      return undefined;
    } catch (e) {
      if (e instanceof DroverError) return e.message;
      throw e;
    }
  }

  private put(key: string, r: Resource): void {
    if (r.value.isEmpty) {
      this.entries.delete(key);
      if (![...this.entries.values()].some((e) => e.name === r.name)) this.types.delete(r.name);
    } else {
      this.entries.set(key, r);
      this.types.set(r.name, r.value.type);
    }
  }
}

function keyOf(name: string, role: string): string {
  return `${name}(${role})`;
}

/** A name has one type across all roles; mixing them is a RESOURCE_MATH error. */
function checkType(types: ReadonlyMap<string, ResourceType>, r: Resource): void {
  const have = types.get(r.name);
  if (have !== undefined && have !== r.value.type) {
    throw new DroverError('RESOURCE_MATH', `resource '${r.name}' is ${have} but was given as ${r.value.type}`);
  }
}
