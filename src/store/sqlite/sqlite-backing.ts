/**
 * Backing for the SQLite store (better-sqlite3: synchronous, in-process).
 *
 * Tables: `kv` (the live keys), `events` (the watch log: one row per changed key per revision,
 * pruned by compaction), `leases` (id, ttl, expiry), `meta` (current and compacted revision,
 * so a reopened store continues its revision sequence instead of restarting it) and `cluster`
 * (the store's cluster identity).
 *
 * Durability (docs/architecture/002-store.md, "Power loss and damage"): WAL with
 * synchronous=FULL, so an acknowledged commit survives a power loss; opening refuses a damaged
 * file, a store that lost its cluster identity, and one older than the revision it had committed
 * (sqlite-open.ts). The file is opened with an exclusive lock: two processes writing one store
 * would each hand out the same revisions, so the second open fails instead.
 */
import type Database from 'better-sqlite3';
import { prefixEnd } from '../keys.ts';
import type { KeyValue, WatchEvent } from '../store.ts';
import type { Backing, LeaseRow } from '../embedded/backing.ts';
import type { ClusterIdentity } from './cluster-identity.ts';
import type { RevisionMark } from './revision-mark.ts';
import { openStoreFile, type Synchronous } from './sqlite-open.ts';
import type { WalSync } from './wal-sync.ts';

export interface SqliteBackingOptions {
  /** Default 'group'; see Synchronous. */
  synchronous?: Synchronous;
  /** Epoch milliseconds, for the cluster identity's creation time (default Date.now). */
  now?: () => number;
}

interface KvRow {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
  version: number;
  lease: string | null;
}

interface EventRow extends KvRow {
  rev: number;
  type: number;
}

const PUT = 0;
const DELETE = 1;

function toKv(row: KvRow): KeyValue {
  const kv: KeyValue = { key: row.key, value: row.value, createRevision: row.create_rev, modRevision: row.mod_rev, version: row.version };
  if (row.lease !== null) kv.lease = row.lease;
  return kv;
}

export class SqliteBacking implements Backing {
  private readonly db: Database.Database;
  private readonly mark: RevisionMark;
  private readonly walSync: WalSync | undefined;
  readonly identity: ClusterIdentity;
  /** Only in `group` mode, where a commit is durable once the WAL's next fsync returns. */
  readonly whenDurable?: () => Promise<void>;
  private current: number;
  private compacted: number;
  private readonly statements;

  constructor(path: string, options: SqliteBackingOptions = {}) {
    const opened = openStoreFile(path, options.synchronous ?? 'group', options.now ?? Date.now);
    this.db = opened.db;
    this.mark = opened.mark;
    this.walSync = opened.walSync;
    const walSync = opened.walSync;
    if (walSync !== undefined) this.whenDurable = () => walSync.whenDurable();
    this.identity = opened.identity;
    const db = this.db;
    this.statements = {
      meta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare<[string, number]>('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)'),
      get: db.prepare<[string], KvRow>('SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key = ?'),
      rangeAll: db.prepare<[number], KvRow>('SELECT key, value, create_rev, mod_rev, version, lease FROM kv ORDER BY key LIMIT ?'),
      rangeFrom: db.prepare<[string, number], KvRow>('SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key >= ? ORDER BY key LIMIT ?'),
      rangeBetween: db.prepare<[string, string, number], KvRow>('SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
      put: db.prepare<[string, string, number, number, number, string | null]>('INSERT OR REPLACE INTO kv (key, value, create_rev, mod_rev, version, lease) VALUES (?, ?, ?, ?, ?, ?)'),
      delete: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
      keysOfLease: db.prepare<[string], { key: string }>('SELECT key FROM kv WHERE lease = ?'),
      appendEvent: db.prepare<[number, number, number, string, string, number, number, number, string | null]>(
        'INSERT INTO events (rev, seq, type, key, value, create_rev, mod_rev, version, lease) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      eventsFrom: db.prepare<[number], EventRow>('SELECT rev, type, key, value, create_rev, mod_rev, version, lease FROM events WHERE rev >= ? ORDER BY rev, seq'),
      deleteEventsBefore: db.prepare<[number]>('DELETE FROM events WHERE rev < ?'),
      insertLease: db.prepare<[string, number, number]>('INSERT INTO leases (id, ttl, expires_at) VALUES (?, ?, ?)'),
      lease: db.prepare<[string], { id: string; ttl: number; expires_at: number }>('SELECT id, ttl, expires_at FROM leases WHERE id = ?'),
      renewLease: db.prepare<[number, string]>('UPDATE leases SET expires_at = ? WHERE id = ?'),
      deleteLease: db.prepare<[string]>('DELETE FROM leases WHERE id = ?'),
      expiredLeases: db.prepare<[number], { id: string }>('SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at'),
    };
    this.current = this.statements.meta.get('revision')?.value ?? 1;
    this.compacted = this.statements.meta.get('compacted')?.value ?? 0;
  }

  atomically<T>(fn: () => T): T {
    // After a failed fsync nothing more is written (wal-sync.ts says why).
    if (this.walSync?.failure !== undefined) throw this.walSync.failure;
    const [current, compacted] = [this.current, this.compacted];
    try {
      const result = this.db.transaction(fn)();
      if (this.current !== current && !this.db.inTransaction) {
        // The mark may only ever name a durable revision: under FULL that is now, under `group`
        // once the WAL's fsync returned (the syncer records it then).
        if (this.walSync === undefined) this.mark.record(this.current);
        else this.walSync.committedAt(this.current);
      }
      return result;
    } catch (error) {
      // SQLite rolled back; the cached counters must follow.
      [this.current, this.compacted] = [current, compacted];
      throw error;
    }
  }

  revision(): number {
    return this.current;
  }

  setRevision(revision: number): void {
    this.statements.setMeta.run('revision', revision);
    this.current = revision;
  }

  compactedRevision(): number {
    return this.compacted;
  }

  setCompactedRevision(revision: number): void {
    this.statements.setMeta.run('compacted', revision);
    this.compacted = revision;
  }

  get(key: string): KeyValue | undefined {
    const row = this.statements.get.get(key);
    return row === undefined ? undefined : toKv(row);
  }

  range(prefix: string, limit: number | undefined): KeyValue[] {
    const n = limit ?? -1; // LIMIT -1: no limit
    if (prefix === '') return this.statements.rangeAll.all(n).map(toKv);
    // TEXT compares with memcmp on UTF-8 (BINARY collation): the same byte order as etcd.
    const end = prefixEnd(prefix);
    const rows = end === undefined ? this.statements.rangeFrom.all(prefix, n) : this.statements.rangeBetween.all(prefix, end, n);
    return rows.map(toKv);
  }

  put(kv: KeyValue): void {
    this.statements.put.run(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease ?? null);
  }

  delete(key: string): void {
    this.statements.delete.run(key);
  }

  keysOfLease(lease: string): string[] {
    return this.statements.keysOfLease.all(lease).map((row) => row.key);
  }

  appendEvents(events: WatchEvent[]): void {
    events.forEach((e, seq) => {
      const { kv } = e;
      this.statements.appendEvent.run(e.revision, seq, e.type === 'put' ? PUT : DELETE, kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease ?? null);
    });
  }

  eventsFrom(revision: number): WatchEvent[] {
    return this.statements.eventsFrom.all(revision).map((row) => ({
      type: row.type === PUT ? 'put' : 'delete',
      revision: row.rev,
      kv: toKv(row),
    }));
  }

  deleteEventsBefore(revision: number): void {
    this.statements.deleteEventsBefore.run(revision);
  }

  insertLease(row: LeaseRow): void {
    this.statements.insertLease.run(row.id, row.ttlSeconds, row.expiresAt);
  }

  lease(id: string): LeaseRow | undefined {
    const row = this.statements.lease.get(id);
    return row === undefined ? undefined : { id: row.id, ttlSeconds: row.ttl, expiresAt: row.expires_at };
  }

  renewLease(id: string, expiresAt: number): void {
    this.statements.renewLease.run(expiresAt, id);
  }

  deleteLease(id: string): void {
    this.statements.deleteLease.run(id);
  }

  expiredLeases(now: number): string[] {
    return this.statements.expiredLeases.all(now).map((row) => row.id);
  }

  close(): void {
    try {
      this.walSync?.close();
    } finally {
      try {
        this.db.close();
        this.mark.sync();
      } finally {
        this.mark.close();
      }
    }
  }
}
