/**
 * One resource: a name, the role it is reserved for, and its value. This file is the shared
 * vocabulary of the bag (`resources.ts`) and its two wire forms (`resource-text.ts`,
 * `resource-json.ts`): the value union, the default role, identifier rules and value algebra.
 */
import { DroverError } from '../errors/errors.ts';
import type { RangeSet } from './range-set.ts';
import type { Scalar } from './scalar.ts';
import type { ValueSet } from './value-set.ts';

export type ResourceValue = Scalar | RangeSet | ValueSet;
export type ResourceType = ResourceValue['type'];

/** The unreserved role. */
export const DEFAULT_ROLE = '*';

export interface Resource {
  readonly name: string;
  readonly role: string;
  readonly value: ResourceValue;
}

// Names and roles may not contain the delimiters of the text syntax or whitespace, so that every
// bag survives format → parse.
const IDENTIFIER = /^[^\s:;()[\]{},]+$/;

export function combine(a: ResourceValue, b: ResourceValue, op: 'add' | 'subtract'): ResourceValue {
  if (a.type === 'SCALAR' && b.type === 'SCALAR') return op === 'add' ? a.add(b) : a.subtract(b);
  if (a.type === 'RANGES' && b.type === 'RANGES') return op === 'add' ? a.add(b) : a.subtract(b);
  if (a.type === 'SET' && b.type === 'SET') return op === 'add' ? a.add(b) : a.subtract(b);
  throw new DroverError('RESOURCE_MATH', `cannot ${op} ${b.type} and ${a.type}`);
}

export function valueContains(a: ResourceValue, b: ResourceValue): boolean {
  if (a.type === 'SCALAR' && b.type === 'SCALAR') return a.contains(b);
  if (a.type === 'RANGES' && b.type === 'RANGES') return a.contains(b);
  if (a.type === 'SET' && b.type === 'SET') return a.contains(b);
  return false;
}

export function valueEquals(a: ResourceValue, b: ResourceValue): boolean {
  if (a.type === 'SCALAR' && b.type === 'SCALAR') return a.equals(b);
  if (a.type === 'RANGES' && b.type === 'RANGES') return a.equals(b);
  if (a.type === 'SET' && b.type === 'SET') return a.equals(b);
  return false;
}

export function identifierProblem(what: string, value: unknown): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string, got ${describeValue(value)}`;
  if (value === '') return `empty ${what}`;
  if (!IDENTIFIER.test(value)) return `${what} '${value}' contains whitespace or one of :;()[]{},`;
  return undefined;
}

/** A short description of an untrusted value for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'object') return 'an object';
  return typeof v === 'undefined' ? 'nothing' : `${typeof v} ${String(v)}`;
}
