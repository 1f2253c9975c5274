/**
 * Backing for the memory store: a sorted key array beside a Map (binary search for ranges), an
 * array event log, and a lease map. Rows handed out are copies, so callers cannot change the
 * stored data by mutating a result.
 */
import { compareKeys } from '../keys.ts';
import type { KeyValue, WatchEvent } from '../store.ts';
import type { Backing, LeaseRow } from '../embedded/backing.ts';

export class MemoryBacking implements Backing {
  private readonly kvs = new Map<string, KeyValue>();
  /** Every key in kvs, in UTF-8 byte order. */
  private readonly sorted: string[] = [];
  private readonly byLease = new Map<string, Set<string>>();
  private readonly leases = new Map<string, LeaseRow>();
  private events: WatchEvent[] = [];
  private current = 1;
  private compacted = 0;

  atomically<T>(fn: () => T): T {
    return fn();
  }

  revision(): number {
    return this.current;
  }

  setRevision(revision: number): void {
    this.current = revision;
  }

  compactedRevision(): number {
    return this.compacted;
  }

  setCompactedRevision(revision: number): void {
    this.compacted = revision;
  }

  get(key: string): KeyValue | undefined {
    const kv = this.kvs.get(key);
    return kv === undefined ? undefined : { ...kv };
  }

  range(prefix: string, limit: number | undefined): KeyValue[] {
    const out: KeyValue[] = [];
    for (let i = this.lowerBound(prefix); i < this.sorted.length; i++) {
      const key = this.sorted[i] as string;
      if (!key.startsWith(prefix) || (limit !== undefined && out.length >= limit)) break;
      out.push({ ...(this.kvs.get(key) as KeyValue) });
    }
    return out;
  }

  put(kv: KeyValue): void {
    const previous = this.kvs.get(kv.key);
    if (previous === undefined) this.sorted.splice(this.lowerBound(kv.key), 0, kv.key);
    else this.unlinkLease(previous);
    this.kvs.set(kv.key, kv);
    if (kv.lease !== undefined) {
      let keys = this.byLease.get(kv.lease);
      if (keys === undefined) this.byLease.set(kv.lease, (keys = new Set()));
      keys.add(kv.key);
    }
  }

  delete(key: string): void {
    const previous = this.kvs.get(key);
    if (previous === undefined) return;
    this.kvs.delete(key);
    this.unlinkLease(previous);
    this.sorted.splice(this.lowerBound(key), 1);
  }

  keysOfLease(lease: string): string[] {
    return [...(this.byLease.get(lease) ?? [])];
  }

  appendEvents(events: WatchEvent[]): void {
    for (const e of events) this.events.push(e);
  }

  eventsFrom(revision: number): WatchEvent[] {
    return this.events.slice(this.firstEventAt(revision));
  }

  deleteEventsBefore(revision: number): void {
    this.events = this.events.slice(this.firstEventAt(revision));
  }

  insertLease(row: LeaseRow): void {
    this.leases.set(row.id, { ...row });
  }

  lease(id: string): LeaseRow | undefined {
    const row = this.leases.get(id);
    return row === undefined ? undefined : { ...row };
  }

  renewLease(id: string, expiresAt: number): void {
    const row = this.leases.get(id);
    if (row !== undefined) row.expiresAt = expiresAt;
  }

  deleteLease(id: string): void {
    this.leases.delete(id);
    this.byLease.delete(id);
  }

  expiredLeases(now: number): string[] {
    return [...this.leases.values()].filter((row) => row.expiresAt <= now).map((row) => row.id);
  }

  close(): void {
    // Nothing to release; the data goes with the object.
  }

  private unlinkLease(kv: KeyValue): void {
    if (kv.lease === undefined) return;
    const keys = this.byLease.get(kv.lease);
    keys?.delete(kv.key);
    if (keys?.size === 0) this.byLease.delete(kv.lease);
  }

  /** Index of the first key >= `key` in byte order. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid] as string, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first logged event with revision >= `revision`. */
  private firstEventAt(revision: number): number {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.events[mid] as WatchEvent).revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
