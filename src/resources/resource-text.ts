/**
 * The Mesos text form of one resource, `name(role):value`, where value is a scalar ("0.5"),
 * ranges ("[31000-32000]") or a set ("{a,b}"). The bag-level syntax (segments joined by ';')
 * is in `Resources.parse` / `Resources.format`.
 */
import { rangesFromText } from './range-set.ts';
import { DEFAULT_ROLE, identifierProblem } from './resource.ts';
import type { Resource } from './resource.ts';
import { scalarFromText } from './scalar.ts';
import { setFromText } from './value-set.ts';

export function formatResource({ name, role, value }: Resource): string {
  return `${name}${role === DEFAULT_ROLE ? '' : `(${role})`}:${value.format()}`;
}

/** One text segment `name(role):value` (already trimmed); returns the reason on failure. */
export function parseSegment(item: string, defaultRole: string): Resource | string {
  const colon = item.indexOf(':');
  if (colon < 0) return `missing ':' between name and value`;
  if (item.indexOf(':', colon + 1) >= 0) return `more than one ':'`;
  const head = item.slice(0, colon).trim();
  const body = item.slice(colon + 1).trim();
  let name = head;
  let role = defaultRole;
  const paren = head.indexOf('(');
  if (paren >= 0) {
    if (!head.endsWith(')')) return `unterminated '(' in '${head}'`;
    name = head.slice(0, paren).trim();
    role = head.slice(paren + 1, -1).trim();
    if (role === '') return `empty role in '${head}'`;
  }
  const reason = identifierProblem('name', name) ?? identifierProblem('role', role);
  if (reason !== undefined) return reason;
  if (body === '') return `missing value for '${name}'`;
  const value = body.startsWith('[') ? rangesFromText(body) : body.startsWith('{') ? setFromText(body) : scalarFromText(body);
  return typeof value === 'string' ? value : { name, role, value };
}
