/**
 * Shape checks for the anchors' compatibility suites (Marathon, Metronome, Chronos): a template is
 * a JSON value taken from the anchor's fixtures or documentation, never from Drover's output.
 *
 * - an object: every key of the template must be present, each checked against its template;
 * - an array: every element of the answer is checked against the template's first element (an
 *   empty template array only asks for an array);
 * - a string, number or boolean: the answer must have the same JSON type;
 * - `null`: present, any value (fields whose value the anchor leaves open).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'anchors');

/** A fixture file of the anchors, parsed (falls back to the shared folder next to any worktree). */
export function fixture(anchor: string, file: string): unknown {
  const candidates = [join(FIXTURES, anchor, file), join('/work/shared/fixtures/anchors', anchor, file)];
  for (const path of candidates) {
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      // next candidate
    }
  }
  throw new Error(`fixture ${anchor}/${file} not found`);
}

/** The template reduced to the given keys (the fields the anchor emits for every value). */
export function pick(template: unknown, keys: readonly string[]): Record<string, unknown> {
  const source = template as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (!(key in source)) throw new Error(`template has no key ${key}`);
    out[key] = source[key];
  }
  return out;
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Where `actual` departs from `template`: one line per difference, empty when in shape. */
export function mismatches(actual: unknown, template: unknown, path = ''): string[] {
  if (template === null) return actual === undefined ? [`${path || '/'}: missing`] : [];
  if (actual === undefined) return [`${path || '/'}: missing`];
  if (kind(actual) !== kind(template)) return [`${path || '/'}: expected ${kind(template)}, got ${kind(actual)}`];
  if (Array.isArray(template)) {
    if (template.length === 0) return [];
    return (actual as unknown[]).flatMap((element, i) => mismatches(element, template[0], `${path}/${i}`));
  }
  if (kind(template) === 'object') {
    const a = actual as Record<string, unknown>;
    return Object.entries(template as Record<string, unknown>).flatMap(([key, sub]) => mismatches(a[key], sub, `${path}/${key}`));
  }
  return [];
}
