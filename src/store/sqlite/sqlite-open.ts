/**
 * Opening a SQLite store file, or refusing to. The order matters: everything that decides whether
 * this file may be served runs before the first write, because a write would destroy the
 * evidence (SQLite appends after the last valid WAL frame, overwriting a damaged tail, and turns
 * a missing file into a new database).
 *
 *   1. a missing or empty file where `<path>.id` records a cluster        → refuse (lost store)
 *   2. files private: created 600, an older file's group/other bits removed (db, -wal, -shm)
 *   3. open: exclusive lock, WAL, synchronous=FULL
 *   4. PRAGMA quick_check                                                 → refuse if not ok
 *   5. cluster identity in the file vs `<path>.id`                        → refuse on mismatch/loss
 *   6. revision in the file vs the mark `<path>.rev`                      → refuse if older
 *   7. schema (and a new cluster identity) in one exclusive transaction, then the sidecars
 * Every refusal is DROVER_ERR_STORE_DAMAGED naming the files and what a person can do.
 */
import { chmodSync, closeSync, fsyncSync, openSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { DroverError } from '../../errors/errors.ts';
import { fsyncDirectory, judgeMissingFile, judgeStore, newClusterIdentity, readSidecar, writeSidecar, type ClusterIdentity, type DatabaseFacts } from './cluster-identity.ts';
import { readRevisionMark, RevisionMark } from './revision-mark.ts';
import { WalSync } from './wal-sync.ts';

export const SCHEMA_VERSION = 1;
/** WAL size (pages) at which a commit checkpoints; see openStoreFile. */
const WAL_AUTOCHECKPOINT_PAGES = 4000;

// `cluster` came after schema 1 without a version bump: it is additive, and an older Drover that
// ignores it still reads and writes the store correctly.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL,
    create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease TEXT
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease IS NOT NULL;
  CREATE TABLE IF NOT EXISTS events (
    rev INTEGER NOT NULL, seq INTEGER NOT NULL, type INTEGER NOT NULL, key TEXT NOT NULL,
    value TEXT NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL,
    version INTEGER NOT NULL, lease TEXT,
    PRIMARY KEY (rev, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, ttl INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_at);
  CREATE TABLE IF NOT EXISTS cluster (id TEXT NOT NULL, created_at INTEGER NOT NULL);
`;

/**
 * `group` (the default): SQLite commits with synchronous=NORMAL and wal-sync.ts fsyncs the WAL
 * off the main thread, one fsync for every commit made meanwhile; a write is acknowledged once
 * its fsync returned, so it survives a power loss.
 * `full`: SQLite's synchronous=FULL, an fsync inside every commit, on the caller's thread. Same
 * guarantee, fewer writes per second; kept for the benchmark and as a fallback.
 * `normal`: only checkpoints fsync; a power loss may lose the last acknowledged commits. It exists
 * for the benchmark's before/after figure and the power-loss test's control run, not for use.
 */
export type Synchronous = 'group' | 'full' | 'normal';

export interface OpenedStoreFile {
  db: Database.Database;
  identity: ClusterIdentity;
  /** Records each durable commit's revision in `<path>.rev`. */
  mark: RevisionMark;
  /** In `group` mode: the WAL's fsync, shared by the commits made meanwhile. */
  walSync: WalSync | undefined;
}

function damaged(reason: string, cause?: unknown): DroverError {
  return new DroverError('STORE_DAMAGED', `refusing to open the SQLite store: ${reason}`, cause === undefined ? {} : { cause });
}

function unavailable(path: string, error: unknown): DroverError {
  return new DroverError('STORE_UNAVAILABLE', `cannot open SQLite store at ${path}: ${(error as Error).message}`, { cause: error });
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The store holds secrets (app environments, credentials in task records) in clear, and SQLite
 * creates `-wal` and `-shm` with the database file's mode: so the database is created 600, and
 * any group/other bits left from an older Drover are removed from all three.
 */
function makePrivate(path: string, create: boolean): void {
  if (create) {
    const fd = openSync(path, 'wx', 0o600);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    fsyncDirectory(dirname(path));
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    const stats = statOrUndefined(file);
    if (stats !== undefined && (stats.mode & 0o077) !== 0) chmodSync(file, stats.mode & 0o700);
  }
}

function integrityCheck(db: Database.Database, path: string): void {
  const rows = db.pragma('quick_check(5)') as Array<{ quick_check: string }>;
  const problems = rows.map((row) => row.quick_check);
  if (problems.length === 1 && problems[0] === 'ok') return;
  throw damaged(
    `${path} failed SQLite's integrity check (PRAGMA quick_check: ${problems.join('; ')}). ` +
      `Stop here and keep a copy of ${path} and ${path}-wal as they are. Restore both from a backup; ` +
      `\`sqlite3 ${path} .recover\` may salvage rows into a new file for inspection.`,
  );
}

function readFacts(db: Database.Database): DatabaseFacts & { revision: number } {
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
  const revision = tables.has('meta') ? ((db.prepare("SELECT value FROM meta WHERE name = 'revision'").get() as { value: number } | undefined)?.value ?? 1) : 1;
  const identityRow = tables.has('cluster') ? (db.prepare('SELECT id, created_at FROM cluster LIMIT 1').get() as { id: string; created_at: number } | undefined) : undefined;
  const hasKeys = tables.has('kv') && db.prepare('SELECT 1 FROM kv LIMIT 1').get() !== undefined;
  return {
    revision,
    identity: identityRow === undefined ? undefined : { clusterId: identityRow.id, createdAt: identityRow.created_at },
    // Any table but ours, any key, or a revision past a fresh store's: this is somebody's state.
    hasData: hasKeys || revision > 1 || [...tables].some((t) => !t.startsWith('sqlite_') && !['meta', 'kv', 'events', 'leases', 'cluster'].includes(t)),
  };
}

export function openStoreFile(path: string, synchronous: Synchronous, now: () => number): OpenedStoreFile {
  let db: Database.Database;
  let sidecar: ClusterIdentity | undefined;
  try {
    const file = statOrUndefined(path);
    sidecar = readSidecar(path);
    if (file === undefined || file.size === 0) {
      const verdict = judgeMissingFile(path, sidecar, statOrUndefined(`${path}-wal`)?.size ?? 0);
      if (verdict?.action === 'refuse') throw damaged(verdict.reason);
    }
    makePrivate(path, file === undefined);
    db = new Database(path, { timeout: 1000 });
  } catch (error) {
    if (error instanceof DroverError) throw error;
    throw unavailable(path, error);
  }
  let mark: RevisionMark | undefined;
  let walSync: WalSync | undefined;
  try {
    // Exclusive before WAL: the lock is then held for the connection's life, and two processes
    // writing one store (each handing out the same revisions) fail at open instead.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    // An acknowledged write must survive a power loss: FULL fsyncs the WAL in every commit, on
    // this thread; `group` commits with NORMAL and fsyncs the WAL itself, off the thread, once for
    // all the commits made meanwhile (wal-sync.ts; figures in docs/architecture/002-store.md).
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    // A checkpoint (two fsyncs) runs inside the commit that crosses the threshold, on the caller's
    // (the master's) thread. The default 1,000 pages (4 MB) meant one every ~8 group commits of
    // 100 instance writes: at 50,000 launches the master sat seconds in fsync. 4,000 pages
    // (16 MB of WAL) checkpoint a quarter as often, and pages rewritten meanwhile are copied once.
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new DroverError('STORE_UNAVAILABLE', `SQLite store ${path} has schema ${version}; this Drover knows ${SCHEMA_VERSION}`);
    }
    integrityCheck(db, path);
    const facts = readFacts(db);
    const verdict = judgeStore(path, facts, sidecar);
    if (verdict.action === 'refuse') throw damaged(verdict.reason);
    // Only this cluster's mark counts: a fresh or adopted store has no past to fall behind.
    const recorded = readRevisionMark(path);
    const marked = recorded !== undefined && recorded.clusterId === facts.identity?.clusterId ? recorded.revision : undefined;
    if (marked !== undefined && marked > facts.revision) {
      throw damaged(
        `${path} is at revision ${facts.revision}, but this store had committed revision ${marked} (recorded in ${path}.rev). ` +
          `Commits were lost: ${path}-wal was truncated, damaged or deleted, or ${path} was restored from an older copy. ` +
          `Serving it would hand agents and frameworks an older cluster. Restore ${path} together with ${path}-wal from ` +
          `the newest copy; to accept the loss and continue from revision ${facts.revision}, delete ${path}.rev.`,
      );
    }
    let identity = facts.identity;
    // BEGIN EXCLUSIVE takes the write lock now, so a second process fails at open, not later.
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      if (identity === undefined) {
        identity = newClusterIdentity(now());
        db.prepare('INSERT INTO cluster (id, created_at) VALUES (?, ?)').run(identity.clusterId, identity.createdAt);
      }
    }).exclusive();
    const marker = new RevisionMark(path, (identity as ClusterIdentity).clusterId);
    mark = marker;
    if (synchronous === 'group') {
      walSync = new WalSync(`${path}-wal`, (revision) => marker.record(revision));
      walSync.committedAt(facts.revision);
      walSync.syncNow(); // the transaction above, under NORMAL, is durable only now
      fsyncDirectory(dirname(path)); // and so is the WAL's directory entry
    }
    // After the commit above is durable: the sidecar never names a cluster the file lacks.
    if (verdict.action !== 'open' || verdict.writeSidecar) writeSidecar(path, identity as ClusterIdentity);
    makePrivate(path, false);
    marker.record(facts.revision);
    return { db, identity: identity as ClusterIdentity, mark: marker, walSync };
  } catch (error) {
    try {
      walSync?.close();
    } catch {
      // the open's own failure is the one to report
    }
    mark?.close();
    db.close();
    if (error instanceof DroverError) throw error;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')) {
      throw damaged(`${path} is not a readable SQLite database (${(error as Error).message}). Keep a copy of ${path} and ${path}-wal ` + `as they are and restore both from a backup.`, error);
    }
    throw unavailable(path, error);
  }
}
