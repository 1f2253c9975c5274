/**
 * The etcd backend (HA): the Store primitives mapped one-to-one onto etcd's KV, Watch and Lease
 * APIs through the etcd3 client's low-level calls, which return etcd's response headers (and so
 * the revisions) directly. Keys are used as given; revisions are etcd's own.
 */
import { Etcd3, isRecoverableError, type IOptions, type Lease as EtcdLeaseHandle, type Watcher } from 'etcd3';
import { backoffDelay, type BackoffPolicy } from '../../clock/backoff.ts';
import { systemClock, type Clock } from '../../clock/clock.ts';
import { every, type Repeating } from '../../clock/every.ts';
import { DroverError } from '../../errors/errors.ts';
import { BaseStore } from '../base-store.ts';
import type { KeyValue, Lease, RangeResult, Txn, TxnResult, Watch, WatchEvent, WatchOptions } from '../store.ts';
import { prefixRange, storeError, toCompare, toKeyValue, toRequestOp, toWatchEvent } from './etcd-wire.ts';

type GlobalPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * etcd3 by default re-sends any call that failed "recoverably", deadline exceeded included. For
 * a write that may already have committed that is wrong: a CAS that succeeded would be re-sent,
 * fail its compare, and be reported as lost. So calls go out once; reads are retried here, and
 * writes report STORE_UNAVAILABLE (outcome unknown) to the caller. (Failing over to another
 * member when a circuit breaker kept the request from being sent is still etcd3's.)
 */
const callOnce = {
  execute: <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> => Promise.resolve().then(() => fn({ signal: new AbortController().signal })),
} as unknown as GlobalPolicy;

const READ_ATTEMPTS = 3;
/** Between read attempts: jittered, so the reads of every client of a failing member do not come back together. */
const READ_RETRY_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 500, factor: 2, jitter: 0.5 };

/** A point read whose only use is the header's revision (a count over all keys would be O(n)). */
const REVISION_PROBE = { key: Buffer.from([0]), keys_only: true };

export interface EtcdStoreOptions {
  /** Deadline for each unary call (default 5000 ms): a dead cluster fails calls, not hangs them. */
  callTimeoutMs?: number;
  /** Lease watchdogs, read retries, the batch writer and election watches; default the system clock. */
  clock?: Clock;
}

class EtcdLease implements Lease {
  private revoked = false;
  private lostFired = false;
  private readonly listeners: Array<() => void> = [];
  private lastRenewal: number;
  private readonly watchdog: Repeating | undefined;

  constructor(
    private readonly inner: EtcdLeaseHandle,
    readonly id: string,
    readonly ttlSeconds: number,
    keepAlive: boolean,
    private readonly ensureOpen: () => void,
    private readonly clock: Clock,
  ) {
    this.lastRenewal = clock.now();
    // etcd3 emits 'lost' when a keep-alive (automatic or once) finds the lease gone.
    inner.on('lost', () => this.fireLost());
    if (keepAlive) {
      // etcd3 only gives up after 2 × TTL without etcd; by then a successor may have led for a
      // whole TTL. A lease not renewed for one TTL may have expired: report it lost then.
      inner.on('keepaliveSucceeded', () => (this.lastRenewal = this.clock.now()));
      this.watchdog = every(clock, (ttlSeconds * 1000) / 4, () => {
        if (this.clock.now() - this.lastRenewal < ttlSeconds * 1000) return;
        this.fireLost();
        void this.inner.revoke().catch(() => undefined); // best effort: do not leave it half-alive
      });
    }
  }

  async keepAliveOnce(): Promise<void> {
    this.ensureOpen();
    try {
      await this.inner.keepaliveOnce();
      this.lastRenewal = this.clock.now();
    } catch (error) {
      throw storeError(error);
    }
  }

  async revoke(): Promise<void> {
    this.ensureOpen();
    this.revoked = true;
    this.stopWatchdog();
    try {
      await this.inner.revoke(); // etcd3 treats an already-ended lease as revoked
    } catch (error) {
      throw storeError(error);
    }
  }

  onLost(listener: () => void): void {
    if (this.lostFired) queueMicrotask(listener);
    else this.listeners.push(listener);
  }

  /** Store closing: stop renewing; the lease expires on its own. */
  release(): void {
    this.revoked = true;
    this.stopWatchdog();
    this.inner.release();
  }

  private stopWatchdog(): void {
    this.watchdog?.stop();
  }

  private fireLost(): void {
    if (this.revoked || this.lostFired) return;
    this.lostFired = true;
    this.stopWatchdog();
    for (const listener of this.listeners.splice(0)) queueMicrotask(listener);
  }
}

export class EtcdStore extends BaseStore {
  readonly backend = 'etcd';
  // Several batches in flight let etcd fold their proposals into one raft round and fsync.
  protected override readonly batchConcurrency = 8;
  private readonly leases = new Set<EtcdLease>();
  private readonly watches = new Map<Watcher, WatchOptions>();

  constructor(
    private readonly client: Etcd3,
    clock: Clock = systemClock,
  ) {
    super(clock);
  }

  protected async doGet(key: string): Promise<KeyValue | undefined> {
    const response = await this.read(() => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = response.kvs[0];
    return kv === undefined ? undefined : toKeyValue(kv);
  }

  protected async doPut(key: string, value: string, lease: string | undefined): Promise<{ revision: number }> {
    const request = lease === undefined ? { key: Buffer.from(key), value: Buffer.from(value) } : { key: Buffer.from(key), value: Buffer.from(value), lease };
    const response = await this.call(() => this.client.kv.put(request));
    return { revision: Number(response.header.revision) };
  }

  protected async doDelete(key: string): Promise<{ revision: number; deleted: boolean }> {
    const response = await this.call(() => this.client.kv.deleteRange({ key: Buffer.from(key) }));
    return { revision: Number(response.header.revision), deleted: Number(response.deleted) > 0 };
  }

  protected async doRange(prefix: string, limit: number | undefined): Promise<RangeResult> {
    const request = limit === undefined ? prefixRange(prefix) : { ...prefixRange(prefix), limit };
    const response = await this.read(() => this.client.kv.range(request));
    return { kvs: response.kvs.map(toKeyValue), revision: Number(response.header.revision), more: response.more };
  }

  protected async doTxn(txn: Txn): Promise<TxnResult> {
    const response = await this.call(() =>
      this.client.kv.txn({
        compare: (txn.compare ?? []).map(toCompare),
        success: txn.success.map(toRequestOp),
        failure: (txn.failure ?? []).map(toRequestOp),
      }),
    );
    return { succeeded: response.succeeded, revision: Number(response.header.revision) };
  }

  protected async doRevision(): Promise<number> {
    const response = await this.read(() => this.client.kv.range(REVISION_PROBE));
    return Number(response.header.revision);
  }

  protected async doCompact(revision: number): Promise<void> {
    if (revision === 0) return;
    try {
      await this.call(() => this.client.kv.compact({ revision }));
    } catch (error) {
      // Compacting an already compacted revision is a no-op on the other backends too.
      if (!(error instanceof DroverError && error.code === 'DROVER_ERR_STORE_COMPACTED')) throw error;
    }
  }

  protected async doWatch(prefix: string, options: WatchOptions): Promise<Watch> {
    let builder = this.client.watch();
    builder = prefix === '' ? builder.inRange({ start: Buffer.from([0]), end: Buffer.from([0]) }) : builder.prefix(prefix);
    if (options.fromRevision !== undefined) builder = builder.startRevision(String(options.fromRevision));
    // watcher() attaches at once: listeners must be on before etcd can answer, or an early
    // cancellation (compacted start revision) would be an unhandled 'error' event.
    const watcher = builder.watcher();
    let active = true;
    let established = false;
    // The next revision this watch owes its caller. etcd3 resumes a reconnected watch from the
    // last response header + 1, which skips history still being replayed when the stream broke;
    // resuming from what was actually delivered loses nothing and repeats nothing.
    let next: number | undefined = options.fromRevision;
    watcher.on('connecting', () => {
      if (next !== undefined) watcher.request.start_revision = String(next);
    });
    const end = (error: Error): void => {
      if (!active) return;
      active = false;
      this.watches.delete(watcher);
      options.onError?.(error);
    };
    const ready = new Promise<void>((resolve, reject) => {
      watcher.once('connected', (response) => {
        established = true;
        // Without fromRevision the watch starts after the revision it was created at.
        next ??= Number(response.header.revision) + 1;
        resolve();
      });
      watcher.on('error', (error: Error) => {
        // etcd cancels a watch without a reason only when its start revision was compacted.
        const mapped = /Watcher canceled: *$/.test(error.message)
          ? new DroverError('STORE_COMPACTED', 'watch start revision has been compacted: resync with a fresh range', { cause: error })
          : storeError(error);
        if (!established) reject(mapped);
        else end(mapped);
      });
    });
    watcher.on('data', (response) => {
      if (!active) return;
      if (response.events.length === 0) {
        // A progress notification: etcd sends them only to watches that have caught up.
        next = Math.max(next ?? 0, Number(response.header.revision) + 1);
        return;
      }
      const events = response.events.map(toWatchEvent);
      next = (events.at(-1) as WatchEvent).revision + 1;
      options.onEvents(events);
    });
    await ready;
    this.watches.set(watcher, options);
    return {
      cancel: async () => {
        if (!active) return;
        active = false;
        this.watches.delete(watcher);
        await watcher.cancel().catch(() => undefined);
      },
    };
  }

  protected async doGrantLease(ttlSeconds: number, keepAlive: boolean): Promise<Lease> {
    const inner = this.client.lease(ttlSeconds, { autoKeepAlive: keepAlive });
    let id: string;
    try {
      id = await inner.grant();
    } catch (error) {
      throw storeError(error);
    }
    const lease = new EtcdLease(inner, id, ttlSeconds, keepAlive, () => this.ensureOpen(), this.clock);
    this.leases.add(lease);
    return lease;
  }

  protected async doClose(): Promise<void> {
    for (const lease of this.leases) lease.release();
    this.leases.clear();
    const closed = new DroverError('STORE_CLOSED', 'etcd store closed');
    for (const [watcher, options] of this.watches) {
      void watcher.cancel().catch(() => undefined);
      queueMicrotask(() => options.onError?.(closed));
    }
    this.watches.clear();
    this.client.close();
  }

  /** A write: sent once (see callOnce). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw storeError(error);
    }
  }

  /** A read: safe to repeat, so retried on transient failures (possibly on another member). */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt >= READ_ATTEMPTS || this.isClosed || !(error instanceof Error && isRecoverableError(error))) {
          throw storeError(error);
        }
        await new Promise((resolve) => this.clock.setTimeout(() => resolve(undefined), backoffDelay(READ_RETRY_BACKOFF, attempt)));
      }
    }
  }
}

/**
 * Connects to etcd at `hosts` (`http://host:port`) and checks that it answers, so a wrong address
 * fails here with STORE_UNAVAILABLE rather than at the first write.
 */
export async function openEtcdStore(hosts: string[], options: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const timeout = options.callTimeoutMs ?? 5000;
  const client = new Etcd3({
    hosts,
    faultHandling: { global: callOnce },
    // A gRPC deadline is a wall-clock instant that the gRPC library times itself: never the injected clock.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
  });
  try {
    await client.kv.range(REVISION_PROBE);
  } catch (error) {
    client.close();
    const mapped = storeError(error);
    throw new DroverError('STORE_UNAVAILABLE', `cannot reach etcd at ${hosts.join(',')}: ${mapped.message}`, { cause: error });
  }
  return new EtcdStore(client, options.clock);
}
