/**
 * Cluster identity: the guard against a store file that silently became a new, empty cluster.
 *
 * A store is created with a random cluster id and creation time, kept twice: in the database
 * (table `cluster`) and in a small sidecar `<path>.id` beside it (mode 600, written once, fsynced,
 * renamed into place). The sidecar outlives what usually destroys a store file — truncation to
 * zero bytes, deletion, a restore that copied the wrong file — and says "a cluster was created
 * here". SQLite itself opens a zero-length or missing file as a fresh, empty database, so without
 * the sidecar the master would start a new cluster over the old one's agents and frameworks.
 *
 * `judgeStore` is the decision, pure over what was found on disk; the shell (sqlite-open.ts)
 * gathers the facts and applies the verdict.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DroverError } from '../../errors/errors.ts';

export interface ClusterIdentity {
  clusterId: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** What the database itself holds, read before anything is written to it. */
export interface DatabaseFacts {
  identity: ClusterIdentity | undefined;
  /** Any key, event or revision beyond a fresh store's: the file is somebody's state. */
  hasData: boolean;
}

export type Verdict =
  /** A fresh store where none was recorded: create a cluster identity. */
  | { action: 'create' }
  /** A store from before cluster identities (no identity, no sidecar, has data): record one now. */
  | { action: 'adopt' }
  /** All agree; `writeSidecar` when the sidecar is missing (e.g. the file was moved here). */
  | { action: 'open'; writeSidecar: boolean }
  | { action: 'refuse'; reason: string };

export function newClusterIdentity(now: number): ClusterIdentity {
  return { clusterId: randomBytes(16).toString('hex'), createdAt: now };
}

function describe(identity: ClusterIdentity): string {
  return `cluster ${identity.clusterId} (created ${new Date(identity.createdAt).toISOString()})`;
}

/**
 * Before the database is opened: SQLite would turn a missing or empty file into a new database
 * (and delete a WAL that has no database), so a recorded cluster must stop it here.
 */
export function judgeMissingFile(path: string, sidecar: ClusterIdentity | undefined, walBytes: number): Verdict | undefined {
  if (sidecar !== undefined) {
    return {
      action: 'refuse',
      reason:
        `${path} is missing or empty, but ${path}.id records ${describe(sidecar)} in this place: the store was lost. ` +
        `Restore ${path} (with ${path}-wal if you have it) from a backup. To start a NEW, empty cluster here instead ` +
        `(agents and frameworks of the old one will not be recognised), delete ${path}.id.`,
    };
  }
  if (walBytes > 0) {
    return {
      action: 'refuse',
      reason:
        `${path} is missing or empty but ${path}-wal holds ${walBytes} bytes of its log; SQLite would discard them. ` +
        `Restore ${path} from a backup, or move ${path}-wal away to start a new, empty cluster.`,
    };
  }
  return undefined;
}

/** After the database is opened read-only-in-effect: does it carry the cluster the sidecar names? */
export function judgeStore(path: string, db: DatabaseFacts, sidecar: ClusterIdentity | undefined): Verdict {
  if (db.identity !== undefined) {
    if (sidecar === undefined) return { action: 'open', writeSidecar: true };
    if (sidecar.clusterId === db.identity.clusterId) return { action: 'open', writeSidecar: false };
    return {
      action: 'refuse',
      reason:
        `${path} holds ${describe(db.identity)}, but ${path}.id records ${describe(sidecar)}: the file was replaced ` +
        `by another cluster's store. Put the right file back; if this store is meant to live here, delete ${path}.id.`,
    };
  }
  if (sidecar !== undefined) {
    return {
      action: 'refuse',
      reason:
        `${path} has no cluster identity, but ${path}.id records ${describe(sidecar)}: the store was replaced or ` +
        `re-created. Restore ${path} (with ${path}-wal) from a backup, or delete ${path}.id to start a NEW, empty cluster.`,
    };
  }
  return db.hasData ? { action: 'adopt' } : { action: 'create' };
}

/** Reads `<path>.id`; undefined if there is none. An unreadable sidecar is an error, never ignored. */
export function readSidecar(path: string): ClusterIdentity | undefined {
  const file = `${path}.id`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DroverError('STORE_DAMAGED', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const parsed = JSON.parse(text) as Partial<ClusterIdentity>;
    if (typeof parsed.clusterId === 'string' && /^[0-9a-f]{32}$/.test(parsed.clusterId) && Number.isSafeInteger(parsed.createdAt)) {
      return { clusterId: parsed.clusterId, createdAt: parsed.createdAt as number };
    }
  } catch {
    // fall through: same answer as a well-formed file with the wrong fields
  }
  throw new DroverError(
    'STORE_DAMAGED',
    `${file} is not a Drover cluster identity (expected {"clusterId": 32 hex digits, "createdAt": ms}). ` +
      `It guards ${path} against being silently replaced; fix it, or delete it if ${path} is the store you mean to run.`,
  );
}

/** Writes `<path>.id` so that a power loss leaves either no file or the whole file (mode 600). */
export function writeSidecar(path: string, identity: ClusterIdentity): void {
  const file = `${path}.id`;
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ clusterId: identity.clusterId, createdAt: identity.createdAt, createdAtIso: new Date(identity.createdAt).toISOString() })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  fsyncDirectory(dirname(file));
}

/** A new directory entry is durable only once its directory is fsynced. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
