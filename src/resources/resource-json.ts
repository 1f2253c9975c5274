/**
 * The Mesos v1 JSON form of one resource, `{name, type, scalar|ranges|set, role?}` (or the role in
 * the refined `reservations` stack). Parsing
 * validates the shape of untrusted input and reports `resources[i].field: reason`, with the same
 * place as a JSON pointer in the error's `details` for API edges.
 */
import { DroverError } from '../errors/errors.ts';
import { RangeSet } from './range-set.ts';
import { DEFAULT_ROLE, describeValue, identifierProblem } from './resource.ts';
import type { Resource, ResourceType } from './resource.ts';
import { scalarFromNumber } from './scalar.ts';
import { ValueSet } from './value-set.ts';

/** One element of Mesos' v1 JSON resource array. */
export interface ResourceJSON {
  name: string;
  type: ResourceType;
  scalar?: { value: number };
  ranges?: { range: Array<{ begin: number; end: number }> };
  set?: { item: string[] };
  role?: string;
}

export function resourceToJSON({ name, role, value }: Resource): ResourceJSON {
  const json: ResourceJSON = { name, type: value.type };
  if (value.type === 'SCALAR') json.scalar = { value: value.toNumber() };
  else if (value.type === 'RANGES') json.ranges = { range: value.toArray().map(([begin, end]) => ({ begin, end })) };
  else json.set = { item: value.toArray() };
  if (role !== DEFAULT_ROLE) json.role = role;
  return json;
}

export function resourceFromJSON(element: unknown, i: number): Resource {
  if (!isObject(element)) throw jsonError([i], `expected an object, got ${describeValue(element)}`);
  const nameReason = identifierProblem('name', element.name);
  if (nameReason !== undefined) throw jsonError([i, 'name'], nameReason);
  // Mesos' refined form names the role only in the `reservations` stack (its last entry).
  const role = element.role ?? refinedRole(element.reservations) ?? DEFAULT_ROLE;
  const roleReason = identifierProblem('role', role);
  if (roleReason !== undefined) throw jsonError([i, 'role'], roleReason);
  const base = { name: element.name as string, role: role as string };
  switch (element.type) {
    case 'SCALAR': {
      const scalar = element.scalar;
      if (!isObject(scalar)) throw jsonError([i, 'scalar'], `expected an object, got ${describeValue(scalar)}`);
      if (typeof scalar.value !== 'number') throw jsonError([i, 'scalar', 'value'], `expected a number, got ${describeValue(scalar.value)}`);
      const value = scalarFromNumber(scalar.value);
      if (typeof value === 'string') throw jsonError([i, 'scalar', 'value'], value);
      return { ...base, value };
    }
    case 'RANGES': {
      const ranges = element.ranges;
      if (!isObject(ranges)) throw jsonError([i, 'ranges'], `expected an object, got ${describeValue(ranges)}`);
      // Protobuf JSON omits empty repeated fields, so a missing `range` is an empty set.
      const list = ranges.range ?? [];
      if (!Array.isArray(list)) throw jsonError([i, 'ranges', 'range'], `expected an array, got ${describeValue(list)}`);
      const pairs: Array<[number, number]> = list.map((r: unknown, j: number) => {
        if (!isObject(r)) throw jsonError([i, 'ranges', 'range', j], `expected an object, got ${describeValue(r)}`);
        const begin = uint64(r.begin);
        if (begin === undefined) throw jsonError([i, 'ranges', 'range', j, 'begin'], `expected a non-negative integer, got ${describeValue(r.begin)}`);
        const end = uint64(r.end);
        if (end === undefined) throw jsonError([i, 'ranges', 'range', j, 'end'], `expected a non-negative integer, got ${describeValue(r.end)}`);
        if (begin > end) throw jsonError([i, 'ranges', 'range', j], `begin ${begin} is greater than end ${end}`);
        return [begin, end];
      });
      return { ...base, value: RangeSet.of(pairs) };
    }
    case 'SET': {
      const set = element.set;
      if (!isObject(set)) throw jsonError([i, 'set'], `expected an object, got ${describeValue(set)}`);
      const items = set.item ?? [];
      if (!Array.isArray(items)) throw jsonError([i, 'set', 'item'], `expected an array, got ${describeValue(items)}`);
      try {
        return { ...base, value: ValueSet.of(items as string[]) };
      } catch (e) {
        throw jsonError([i, 'set', 'item'], e instanceof Error ? e.message : String(e));
      }
    }
    default:
      throw jsonError([i, 'type'], `expected 'SCALAR', 'RANGES' or 'SET', got ${describeValue(element.type)}`);
  }
}

function refinedRole(stack: unknown): unknown {
  if (!Array.isArray(stack) || stack.length === 0) return undefined;
  const last: unknown = stack[stack.length - 1];
  return isObject(last) ? last.role : undefined;
}

/** Protobuf JSON may carry uint64 as a number or a decimal string; accept both. */
function uint64(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `resources[2].scalar.value: reason`, with the same place as a JSON pointer in `details`. */
export function jsonError(path: Array<string | number>, reason: string): DroverError {
  const dotted = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  const pointer = `/${path.map(String).join('/')}`;
  return new DroverError('RESOURCE_PARSE', `resources${dotted}: ${reason}`, {
    details: [{ path: path.length === 0 ? '' : pointer, errors: [reason] }],
  });
}
