/**
 * The storage an embedded store runs on: a synchronous, single-process table of keys, an event
 * log and a lease table. The engine (embedded-store.ts) holds all the rules (revisions, compares,
 * leases, watches); a backing only stores and finds rows, so memory and SQLite cannot drift apart.
 */
import type { KeyValue, WatchEvent } from '../store.ts';

export interface LeaseRow {
  id: string;
  ttlSeconds: number;
  /** Epoch milliseconds after which the lease is expired. */
  expiresAt: number;
}

export interface Backing {
  /**
   * Runs `fn` as one atomic unit. The engine validates before it writes, so `fn` only throws on
   * storage failure; a backing that can roll back (SQLite) does.
   */
  atomically<T>(fn: () => T): T;

  /**
   * Only for a backing whose commits become durable later (SQLite's group fsync): resolves once
   * every commit made so far is durable. The engine acknowledges a write, publishes its watch
   * events and answers a read only after it, so nothing that a power loss could undo is seen.
   * Without it, a commit is as durable as it will get when `atomically` returns.
   */
  whenDurable?: () => Promise<void>;

  /** Current store revision (1 in a fresh store, like etcd). */
  revision(): number;
  setRevision(revision: number): void;
  /** Events before this revision are gone (0: nothing compacted). */
  compactedRevision(): number;
  setCompactedRevision(revision: number): void;

  get(key: string): KeyValue | undefined;
  /** Keys starting with `prefix` in key order, at most `limit` of them. */
  range(prefix: string, limit: number | undefined): KeyValue[];
  put(kv: KeyValue): void;
  delete(key: string): void;
  keysOfLease(lease: string): string[];

  appendEvents(events: WatchEvent[]): void;
  /** Logged events with revision >= `revision`, in order. */
  eventsFrom(revision: number): WatchEvent[];
  deleteEventsBefore(revision: number): void;

  insertLease(row: LeaseRow): void;
  lease(id: string): LeaseRow | undefined;
  renewLease(id: string, expiresAt: number): void;
  deleteLease(id: string): void;
  /** Ids of leases with expiresAt <= now. */
  expiredLeases(now: number): string[];

  close(): void;
}
