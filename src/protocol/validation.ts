/**
 * Validation at the edge. Every input is checked against one TypeBox (JSON Schema) schema; a
 * failure becomes DROVER_ERR_VALIDATION with Marathon's body shape
 * `{"message":"Object is not valid","details":[{"path":"/cpus","errors":["must be >= 0.001"]}]}`
 * — one entry per failing path, reasons grouped, paths as JSON pointers ("/" for the root).
 */
import type { TSchema, Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { DroverError, type ErrorDetail } from '../errors/errors.ts';

/** Shape of one error as TypeBox (ajv-compatible) reports it. */
interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

export interface Validator<T> {
  /** True when `value` matches the schema. */
  check(value: unknown): value is T;
  /** Returns `value` typed, or throws DROVER_ERR_VALIDATION listing every failing path. */
  validate(value: unknown, message?: string): T;
  /** The failing paths and reasons (empty when valid). */
  details(value: unknown): ErrorDetail[];
}

/** Compile a schema once (at module load) and validate many times. */
export function compileValidator<S extends TSchema>(schema: S): Validator<Static<S>> {
  const compiled = Compile(schema);
  const details = (value: unknown): ErrorDetail[] => toDetails([...compiled.Errors(value)] as SchemaError[]);
  return {
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    details,
    validate(value: unknown, message = 'Object is not valid'): Static<S> {
      if (compiled.Check(value)) return value as Static<S>;
      throw new DroverError('VALIDATION', message, { details: details(value) });
    },
  };
}

/** Group schema errors by path, in first-seen order, with duplicate reasons removed. */
export function toDetails(errors: SchemaError[]): ErrorDetail[] {
  const byPath = new Map<string, string[]>();
  const add = (path: string, reason: string): void => {
    const key = path === '' ? '/' : path;
    const reasons = byPath.get(key) ?? [];
    if (!reasons.includes(reason)) reasons.push(reason);
    byPath.set(key, reasons);
  };
  for (const error of errors) {
    // `additionalProperties: false` is reported twice: once at the parent with the names and
    // once per property as "schema is false". Report it once, at the property's own path.
    if (error.keyword === 'boolean' && error.message === 'schema is false') continue;
    if (error.keyword === 'additionalProperties') {
      const names = error.params['additionalProperties'];
      for (const name of Array.isArray(names) ? names : []) {
        add(`${error.instancePath}/${escapePointer(String(name))}`, 'unknown property');
      }
      continue;
    }
    if (error.keyword === 'required') {
      const names = error.params['requiredProperties'] ?? error.params['missingProperty'];
      for (const name of Array.isArray(names) ? names : [names]) {
        add(`${error.instancePath}/${escapePointer(String(name))}`, 'is required');
      }
      continue;
    }
    if (error.keyword === 'enum' && Array.isArray(error.params['allowedValues'])) {
      const allowed = error.params['allowedValues'].map(String);
      const shown = allowed.length > 20 ? [...allowed.slice(0, 20), '…'] : allowed;
      add(error.instancePath, `must be one of: ${shown.join(', ')}`);
      continue;
    }
    add(error.instancePath, error.message);
  }
  return [...byPath].map(([path, errs]) => ({ path, errors: errs }));
}

/** RFC 6901: '~' and '/' inside a property name are escaped in a JSON pointer. */
export function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}
