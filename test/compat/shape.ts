/**
 * A small shape language for the compatibility suites: each case states the anchor's documented
 * response (field names and JSON types, from the anchor's proto or docs), and `shapeErrors` lists
 * every place a response differs. Extra fields are allowed (Drover adds `drover_*` keys); a field
 * the shape names must be present unless marked optional.
 *
 *   'string' | 'number' | 'boolean' | 'object' | 'array' | 'any'   a JSON type
 *   { key: Shape }                                                    an object with these keys
 *   [Shape]                                                           an array, every item the shape
 *   opt(Shape)                                                        may be absent
 *   values(Shape)                                                     an object whose every value is the shape
 *   literal(v)                                                        exactly v
 */
export type Shape = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'any' | { readonly [key: string]: Shape } | readonly [Shape] | Optional | Values | Literal;

interface Optional {
  readonly kind: 'optional';
  readonly shape: Shape;
}
interface Values {
  readonly kind: 'values';
  readonly shape: Shape;
}
interface Literal {
  readonly kind: 'literal';
  readonly value: unknown;
}

export const opt = (shape: Shape): Optional => ({ kind: 'optional', shape });
export const values = (shape: Shape): Values => ({ kind: 'values', shape });
export const literal = (value: unknown): Literal => ({ kind: 'literal', value });

function isMarker(shape: Shape): shape is Optional | Values | Literal {
  return typeof shape === 'object' && !Array.isArray(shape) && typeof (shape as { kind?: unknown }).kind === 'string' && Object.keys(shape).length <= 2 && ('shape' in shape || 'value' in shape);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Every difference between `value` and `shape`, as `path: expected …, got …`; empty when it fits. */
export function shapeErrors(value: unknown, shape: Shape, path = ''): string[] {
  const at = path === '' ? '/' : path;
  if (typeof shape === 'string') {
    if (shape === 'any' || typeOf(value) === shape) return [];
    return [`${at}: expected ${shape}, got ${typeOf(value)}`];
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${at}: expected array, got ${typeOf(value)}`];
    return value.flatMap((item, i) => shapeErrors(item, shape[0] as Shape, `${path}/${i}`));
  }
  if (isMarker(shape)) {
    if (shape.kind === 'optional') return value === undefined ? [] : shapeErrors(value, shape.shape, path);
    if (shape.kind === 'literal') return Object.is(value, shape.value) ? [] : [`${at}: expected ${JSON.stringify(shape.value)}, got ${JSON.stringify(value)}`];
    if (typeOf(value) !== 'object') return [`${at}: expected object, got ${typeOf(value)}`];
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => shapeErrors(v, shape.shape, `${path}/${k}`));
  }
  if (typeOf(value) !== 'object') return [`${at}: expected object, got ${typeOf(value)}`];
  const object = value as Record<string, unknown>;
  return Object.entries(shape as Record<string, Shape>).flatMap(([key, inner]) => {
    if (object[key] === undefined) return isMarker(inner) && inner.kind === 'optional' ? [] : [`${path}/${key}: missing`];
    return shapeErrors(object[key], inner, `${path}/${key}`);
  });
}
