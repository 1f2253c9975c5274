/**
 * Permissions: a resource id (DC/OS "rid", e.g. `dcos:service:marathon:marathon:services:/dev`)
 * and an action (create, read, update, delete, or full ⊇ all four).
 *
 * What a grant covers (pure; the only place that decides it):
 * - the same rid, or any rid below it by whole `:` segments (a grant without DC/OS's optional
 *   narrowing suffix covers every value: `dcos:mesos:master:task:app_id` covers
 *   `dcos:mesos:master:task:app_id:/dev`);
 * - a rid whose last segment is a path (`…:/dev`) covers that path and the paths below it by whole
 *   `/` segments: `/dev` covers `/dev/x`, never `/dev-x`; `/` covers every path;
 * - paths are normalised first and `..`/`.` segments are refused, on grants and requests alike, so
 *   `/dev/../prod` is never read as being under `/dev`;
 * - `dcos:superuser` covers everything.
 */
import { DroverError } from '../errors/errors.ts';

export const ACTIONS = ['create', 'read', 'update', 'delete', 'full'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Permission {
  rid: string;
  action: Action;
}

export const SUPERUSER = 'dcos:superuser';

/** Longest rid accepted anywhere (a bound before any string work on it). */
export const MAX_RID_LENGTH = 1024;

export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && (ACTIONS as readonly string[]).includes(value);
}

/**
 * A path in canonical form: leading `/`, no empty, `.` or `..` segments, no trailing `/` (but `/`
 * itself). Returns an error string for what cannot be made canonical.
 */
export function normalizePath(raw: string): string | { error: string } {
  if (raw.length > MAX_RID_LENGTH) return { error: `longer than ${MAX_RID_LENGTH} characters` };
  if (raw.includes('\0')) return { error: 'contains a NUL byte' };
  const segments = raw.split('/').filter((s) => s !== '');
  for (const s of segments) if (s === '.' || s === '..') return { error: `'${s}' segments are not allowed` };
  return `/${segments.join('/')}`;
}

/** `child` is `parent` or below it, by whole segments (both canonical). */
export function pathCovers(parent: string, child: string): boolean {
  return parent === '/' || child === parent || child.startsWith(`${parent}/`);
}

/** Splits a rid into its segments before the path, and the canonical path (if it has one). */
export function parseRid(rid: string): { base: string; path?: string } {
  if (rid.length === 0 || rid.length > MAX_RID_LENGTH) throw invalidRid(rid, `must be 1 to ${MAX_RID_LENGTH} characters`);
  if (/[\s\0]/.test(rid)) throw invalidRid(rid, 'must not contain whitespace or NUL');
  const at = rid.indexOf(':/');
  if (at < 0) {
    if (rid.startsWith('/')) return { base: '', path: checked(rid, rid) };
    return { base: rid };
  }
  return { base: rid.slice(0, at), path: checked(rid, rid.slice(at + 1)) };
}

function checked(rid: string, path: string): string {
  const p = normalizePath(path);
  if (typeof p !== 'string') throw invalidRid(rid, p.error);
  return p;
}

function invalidRid(rid: string, why: string): DroverError {
  return new DroverError('MALFORMED', `Invalid resource id '${rid.slice(0, 80)}': ${why}`, { details: [{ path: '/rid', errors: [why] }] });
}

/** The canonical text of a rid (paths normalised); throws a 400 for a rid that cannot be. */
export function canonicalRid(rid: string): string {
  const { base, path } = parseRid(rid);
  if (path === undefined) return base;
  return base === '' ? path : `${base}:${path}`;
}

/** Does a grant on `grantRid` (canonical) cover `rid` (canonical)? */
export function ridCovers(grantRid: string, rid: string): boolean {
  if (grantRid === SUPERUSER || grantRid === rid) return true;
  const g = parseRid(grantRid);
  const r = parseRid(rid);
  if (g.path !== undefined) return r.path !== undefined && g.base === r.base && pathCovers(g.path, r.path);
  // No path on the grant: whole `:` segments of the base cover everything below them.
  const full = r.path === undefined ? r.base : `${r.base}:${r.path}`;
  return full.startsWith(`${g.base}:`);
}

export function actionCovers(granted: Action, wanted: Action): boolean {
  return granted === 'full' || granted === wanted;
}

/** Does any of `grants` allow `wanted`? */
export function allows(grants: Iterable<Permission>, wanted: Permission): boolean {
  for (const g of grants) if (actionCovers(g.action, wanted.action) && ridCovers(g.rid, wanted.rid)) return true;
  return false;
}

/** Does any grant allow `action` on `base:<path>` for some path under which `path` may lie (or above)? Used to filter lists. */
export function readablePath(grants: readonly Permission[], base: string, path: string): boolean {
  return allows(grants, { rid: `${base}:${path}`, action: 'read' });
}
