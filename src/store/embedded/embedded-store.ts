/**
 * The engine of the embedded backends (memory, SQLite): etcd's data model (one revision counter,
 * per-key create/mod revision and version, an event log for watches, leases that delete their
 * keys) implemented once over a synchronous Backing. Everything runs on the caller's thread, so
 * a transaction is trivially serialised with every other one.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../clock/clock.ts';
import { every, type Repeating } from '../../clock/every.ts';
import { DroverError } from '../../errors/errors.ts';
import { BaseStore } from '../base-store.ts';
import { compareKeys } from '../keys.ts';
import type { Compare, KeyValue, Lease, Op, RangeResult, Txn, TxnResult, Watch, WatchEvent, WatchOptions } from '../store.ts';
import type { Backing } from './backing.ts';
import { EmbeddedLease, type LeaseEngine } from './embedded-lease.ts';
import { WatchHub } from './watch-hub.ts';

export interface EmbeddedOptions {
  /** Lease expiry times, the sweep and the keep-alive renewals (default the system clock). */
  clock?: Clock;
  /** How often expired leases are swept (default 250 ms; 0 = never, call expireLeases()). */
  sweepIntervalMs?: number;
  /**
   * Watch history kept by automatic compaction, in revisions (default 10,000; 0 = keep all).
   * Without it the event log would grow with every write forever. When the log is 10% over,
   * events older than the last `historyRevisions` are dropped; a watch from before that gets
   * STORE_COMPACTED and must resync from a fresh range.
   */
  historyRevisions?: number;
}

export const DEFAULT_HISTORY_REVISIONS = 10_000;

function tombstone(key: string, revision: number): WatchEvent {
  return { type: 'delete', revision, kv: { key, value: '', createRevision: 0, modRevision: revision, version: 0 } };
}

export class EmbeddedStore extends BaseStore implements LeaseEngine {
  private readonly hub = new WatchHub();
  /** Lease handles granted by this store, to tell them when their lease ends. */
  private readonly handles = new Map<string, EmbeddedLease>();
  private readonly sweeper: Repeating | undefined;
  private readonly historyRevisions: number;
  /**
   * Highest revision whose events were published. With a backing that becomes durable after the
   * commit, a commit waits between the two; watch replay stops here, so a watch registered in
   * that gap gets the commit live, once, like every other watcher.
   */
  private published: number;
  /** Several group-commit batches may share one deferred fsync; one at a time otherwise. */
  protected override readonly batchConcurrency: number;

  constructor(
    readonly backend: string,
    private readonly backing: Backing,
    options: EmbeddedOptions = {},
  ) {
    super(options.clock ?? systemClock);
    this.historyRevisions = options.historyRevisions ?? DEFAULT_HISTORY_REVISIONS;
    this.published = backing.revision();
    this.batchConcurrency = backing.whenDurable === undefined ? 1 : 8;
    const sweepIntervalMs = options.sweepIntervalMs ?? 250;
    if (sweepIntervalMs > 0) {
      this.sweeper = every(this.clock, sweepIntervalMs, () => this.expireLeases());
    }
  }

  /** Public for EmbeddedLease: after close, lease calls fail like store calls. */
  override ensureOpen(): void {
    super.ensureOpen();
  }

  // Reads answer only once what they saw is durable (see Backing.whenDurable): what a caller
  // acts on is never undone by a power loss. Read first, then wait: the wait covers every commit
  // the read could have seen.
  protected async doGet(key: string): Promise<KeyValue | undefined> {
    const kv = this.backing.get(key);
    await this.backing.whenDurable?.();
    return kv;
  }

  protected async doPut(key: string, value: string, lease: string | undefined): Promise<{ revision: number }> {
    const op: Op = lease === undefined ? { type: 'put', key, value } : { type: 'put', key, value, lease };
    const { revision, events } = this.apply([op]);
    await this.settle(events);
    return { revision };
  }

  protected async doDelete(key: string): Promise<{ revision: number; deleted: boolean }> {
    const { revision, events } = this.apply([{ type: 'delete', key }]);
    await this.settle(events);
    return { revision, deleted: events.length > 0 };
  }

  protected async doRange(prefix: string, limit: number | undefined): Promise<RangeResult> {
    // One row more than asked tells whether the limit cut the result.
    const rows = this.backing.range(prefix, limit === undefined ? undefined : limit + 1);
    const more = limit !== undefined && rows.length > limit;
    const revision = this.backing.revision();
    await this.backing.whenDurable?.();
    return { kvs: more ? rows.slice(0, limit) : rows, revision, more };
  }

  protected async doTxn(txn: Txn): Promise<TxnResult> {
    const succeeded = (txn.compare ?? []).every((c) => this.holds(c));
    const { revision, events } = this.apply(succeeded ? txn.success : (txn.failure ?? []));
    await this.settle(events); // also when nothing changed: the compares read the current state
    return { succeeded, revision };
  }

  protected async doRevision(): Promise<number> {
    const revision = this.backing.revision();
    await this.backing.whenDurable?.();
    return revision;
  }

  protected async doCompact(revision: number): Promise<void> {
    if (revision > this.backing.revision()) {
      throw new DroverError('STORE_MISUSE', `cannot compact at future revision ${revision} (current ${this.backing.revision()})`);
    }
    this.backing.atomically(() => this.compactTo(revision));
  }

  protected async doWatch(prefix: string, options: WatchOptions): Promise<Watch> {
    const from = options.fromRevision;
    let history: WatchEvent[] | 'compacted' = [];
    if (from !== undefined) {
      const published = this.published;
      history = from < this.backing.compactedRevision() ? 'compacted' : this.backing.eventsFrom(from).filter((e) => e.revision <= published);
    }
    return this.hub.add(prefix, options, history);
  }

  protected async doGrantLease(ttlSeconds: number, keepAlive: boolean): Promise<Lease> {
    let id: string;
    do {
      // Random 63-bit ids like etcd's, so an id is never reused across restarts of a SQLite store.
      id = (randomBytes(8).readBigUInt64BE() >> 1n).toString();
    } while (id === '0' || this.backing.lease(id) !== undefined);
    this.backing.insertLease({ id, ttlSeconds, expiresAt: this.clock.now() + ttlSeconds * 1000 });
    const handle = new EmbeddedLease(this, id, ttlSeconds, keepAlive, this.clock);
    this.handles.set(id, handle);
    return handle;
  }

  protected async doClose(): Promise<void> {
    this.sweeper?.stop();
    // Leases are not revoked: like a crashed process's, they expire (on reopen, for SQLite).
    for (const handle of this.handles.values()) handle.stop();
    this.handles.clear();
    this.hub.failAll(new DroverError('STORE_CLOSED', `${this.backend} store closed`));
    this.backing.close();
  }

  renewLease(id: string): void {
    this.ensureOpen();
    const row = this.backing.lease(id);
    if (row === undefined || row.expiresAt <= this.clock.now()) {
      if (row !== undefined) this.endLease(id);
      throw new DroverError('STORE_LEASE_NOT_FOUND', `lease ${id} has expired or was revoked`);
    }
    this.backing.renewLease(id, this.clock.now() + row.ttlSeconds * 1000);
  }

  revokeLease(id: string): void {
    this.ensureOpen();
    if (this.backing.lease(id) !== undefined) this.endLease(id);
  }

  /** Ends every lease past its expiry. Runs on the sweep timer; tests with a fake clock call it. */
  expireLeases(): void {
    if (this.isClosed) return;
    for (const id of this.backing.expiredLeases(this.clock.now())) this.endLease(id);
  }

  /** Deletes the lease and its keys as one revision (as etcd does), and tells its handle. */
  private endLease(id: string): void {
    const events = this.backing.atomically(() => {
      const revision = this.backing.revision() + 1;
      const deleted = this.backing
        .keysOfLease(id)
        .sort(compareKeys)
        .map((key) => tombstone(key, revision));
      for (const e of deleted) this.backing.delete(e.kv.key);
      this.backing.deleteLease(id);
      this.commit(revision, deleted);
      return deleted;
    });
    const handle = this.handles.get(id);
    this.handles.delete(id);
    const settled = this.settle(events);
    if (settled === undefined) handle?.markEnded();
    else
      void settled.then(
        () => handle?.markEnded(),
        () => handle?.markEnded(),
      );
  }

  /**
   * Publishes a commit's events once it is durable: at once (returning undefined) for a backing
   * durable at commit, else when Backing.whenDurable resolves. Those resolve in commit order, so
   * watchers still get revisions in order. A failed fsync ends every watch: the store has stopped.
   */
  private settle(events: WatchEvent[]): Promise<void> | undefined {
    const publish = (): void => {
      this.hub.publish(events);
      if (events.length > 0) this.published = (events[0] as WatchEvent).revision;
    };
    if (this.backing.whenDurable === undefined) {
      publish();
      return undefined;
    }
    return this.backing.whenDurable().then(publish, (error: unknown) => {
      this.hub.failAll(error as Error);
      throw error;
    });
  }

  private holds(compare: Compare): boolean {
    const kv = this.backing.get(compare.key);
    if (compare.target === 'value') {
      // As in etcd: a value compare against a missing key fails, whatever the operator.
      if (kv === undefined) return false;
      return test(compareKeys(kv.value, compare.value as string), compare.op);
    }
    const actual = kv === undefined ? 0 : kv[compare.target];
    return test(actual - (compare.value as number), compare.op);
  }

  /**
   * Applies one branch of operations as one revision (a branch that changes nothing keeps it) and
   * returns its events, for the caller to settle (publish once durable).
   */
  private apply(ops: Op[]): { revision: number; events: WatchEvent[] } {
    // Check everything that can fail before writing anything: a transaction is all-or-nothing.
    const now = this.clock.now();
    for (const op of ops) {
      if (op.type !== 'put' || op.lease === undefined) continue;
      const row = this.backing.lease(op.lease);
      if (row === undefined || row.expiresAt <= now) {
        throw new DroverError('STORE_LEASE_NOT_FOUND', `lease ${op.lease} has expired or was revoked`);
      }
    }
    const events = this.backing.atomically(() => {
      const revision = this.backing.revision() + 1;
      const changes: WatchEvent[] = [];
      for (const op of ops) {
        if (op.type === 'put') {
          const previous = this.backing.get(op.key);
          const kv: KeyValue = {
            key: op.key,
            value: op.value,
            createRevision: previous?.createRevision ?? revision,
            modRevision: revision,
            version: (previous?.version ?? 0) + 1,
          };
          if (op.lease !== undefined) kv.lease = op.lease;
          this.backing.put(kv);
          changes.push({ type: 'put', revision, kv });
        } else {
          const victims = op.type === 'delete' ? (this.backing.get(op.key) ? [op.key] : []) : this.backing.range(op.prefix, undefined).map((kv) => kv.key);
          for (const key of victims) {
            this.backing.delete(key);
            changes.push(tombstone(key, revision));
          }
        }
      }
      this.commit(revision, changes);
      return changes;
    });
    return { revision: this.backing.revision(), events };
  }

  /** Inside an atomic unit: makes `revision` current if anything changed, logs, auto-compacts. */
  private commit(revision: number, events: WatchEvent[]): void {
    if (events.length === 0) return;
    this.backing.setRevision(revision);
    this.backing.appendEvents(events);
    const keep = this.historyRevisions;
    if (keep > 0 && revision - this.backing.compactedRevision() > keep + Math.max(1, Math.floor(keep / 10))) {
      this.compactTo(revision - keep);
    }
  }

  private compactTo(revision: number): void {
    if (revision <= this.backing.compactedRevision()) return;
    this.backing.deleteEventsBefore(revision);
    this.backing.setCompactedRevision(revision);
  }
}

function test(difference: number, op: Compare['op']): boolean {
  switch (op) {
    case '=':
      return difference === 0;
    case '!=':
      return difference !== 0;
    case '<':
      return difference < 0;
    case '>':
      return difference > 0;
  }
}
