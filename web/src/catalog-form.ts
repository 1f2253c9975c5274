/**
 * The catalog page's form, generated from a package's options schema (its config.json, JSON
 * Schema draft 4): one field per leaf property, fieldsets for nested objects, the schema's
 * defaults as initial values, and the same draft-4 validation the master applies (ajv +
 * ajv-draft-04), so a bad value is shown at its field before anything is sent. The master stays
 * the judge: its JsonSchemaMismatch errors land on the same fields.
 */
import AjvDraft04 from 'ajv-draft-04';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };
type Schema = { type?: string | string[]; description?: string; default?: Json; properties?: Record<string, Schema>; required?: string[]; enum?: Json[] };

export interface Field {
  /** JSON pointer of the value (`/nginx/cpus`), as validation errors name it. */
  pointer: string;
  path: string[];
  label: string;
  kind: 'string' | 'number' | 'integer' | 'boolean' | 'json';
  description: string;
  required: boolean;
  enum?: Json[];
}

export interface Group {
  title: string;
  description: string;
  fields: Field[];
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (s: Schema): Field['kind'] => {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  return t === 'string' || t === 'number' || t === 'integer' || t === 'boolean' ? t : 'json';
};

/** The schema's fields, grouped by their nearest object (depth-first, the schema's order). */
export function fieldsOf(schema: unknown): Group[] {
  const groups: Group[] = [];
  const walk = (s: Schema, path: string[], title: string, description: string, depth: number): void => {
    if (depth > 8) return;
    const group: Group = { title, description, fields: [] };
    groups.push(group);
    for (const [name, child] of Object.entries(s.properties ?? {})) {
      if (!isObject(child)) continue;
      const c = child as Schema;
      if (c.properties !== undefined && kindOf(c) !== 'string') walk(c, [...path, name], [...path, name].join('.'), c.description ?? '', depth + 1);
      else
        group.fields.push({
          pointer: `/${[...path, name].map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`,
          path: [...path, name],
          label: name,
          kind: kindOf(c),
          description: c.description ?? '',
          required: (s.required ?? []).includes(name),
          ...(c.enum ? { enum: c.enum } : {}),
        });
    }
  };
  if (isObject(schema)) walk(schema as Schema, [], 'Options', '', 0);
  return groups.filter((g) => g.fields.length > 0);
}

/** Cosmos' defaults: `default` where given, else the nested properties' defaults. */
export function defaultsOf(schema: unknown): JsonObject {
  const walk = (properties: unknown, depth: number): JsonObject => {
    const out: JsonObject = {};
    if (!isObject(properties) || depth > 32) return out;
    for (const [name, p] of Object.entries(properties)) {
      if (!isObject(p)) continue;
      if ('default' in p) out[name] = p['default'] as Json;
      else if ('properties' in p) out[name] = walk(p['properties'], depth + 1);
    }
    return out;
  };
  return isObject(schema) ? walk(schema['properties'], 0) : {};
}

export function valueAt(o: JsonObject, path: string[]): Json | undefined {
  let v: Json | undefined = o;
  for (const p of path) v = isObject(v) ? v[p] : undefined;
  return v;
}

export function withValue(o: JsonObject, path: string[], value: Json | undefined): JsonObject {
  const [head, ...rest] = path;
  if (head === undefined) return o;
  const out = { ...o };
  if (rest.length === 0) {
    if (value === undefined) delete out[head];
    else out[head] = value;
  } else out[head] = withValue(isObject(o[head]) ? o[head] : {}, rest, value);
  return out;
}

/** What the user changed: only the values that differ from the defaults (what DCOS_PACKAGE_OPTIONS keeps). */
export function changes(values: JsonObject, defaults: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(values)) {
    const d = defaults[k];
    if (isObject(v) && isObject(d)) {
      const inner = changes(v, d);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else if (JSON.stringify(v) !== JSON.stringify(d)) out[k] = v;
  }
  return out;
}

/** Deep merge, `b` over `a` (Cosmos' rule: objects merge, anything else is replaced). */
export function merge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObject(out[k]) && isObject(v) ? merge(out[k] as JsonObject, v) : v;
  return out;
}

// ajv-draft-04 is CommonJS; bundlers hand its class over either as the default or as `.default`.
const AjvClass = (AjvDraft04 as unknown as { default?: typeof AjvDraft04 }).default ?? AjvDraft04;
const ajv = new AjvClass({ allErrors: true, strict: false, validateFormats: false });
const compiled = new WeakMap<object, ReturnType<typeof ajv.compile>>();

/** Errors by the JSON pointer of the value (a `required` error names the missing property). */
export function validate(schema: unknown, options: JsonObject): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!isObject(schema)) return out;
  let v = compiled.get(schema);
  if (v === undefined) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  if (v(options)) return out;
  for (const e of v.errors ?? []) {
    const missing = e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
    const pointer = missing === undefined ? e.instancePath || '/' : `${e.instancePath}/${missing}`;
    out.set(pointer, [...(out.get(pointer) ?? []), e.message ?? 'is not valid']);
  }
  return out;
}
