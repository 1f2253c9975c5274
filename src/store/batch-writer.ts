/**
 * Group commit over Store.txn: puts and deletes queued within `maxDelayMs` (or until `maxBatch`
 * are queued) are written as one transaction, so a hot path pays one commit (one fsync, one raft
 * round) per batch instead of per write.
 *
 * Ordering: operations on the same key are committed in call order. A batch is cut before a key
 * it already contains (a transaction may not write a key twice, and every write should still
 * produce its own watch event), and a batch touching a key of a batch still in flight waits for
 * it. Batches on disjoint keys may be in flight concurrently (`maxInFlight`), which is what lets
 * a remote backend overlap round trips.
 *
 * A batch is atomic: if it fails (e.g. one put names an expired lease), every operation in it
 * fails with that error.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock/clock.ts';
import { DroverError } from '../errors/errors.ts';
import type { BatchWriter, BatchWriterOptions, Op, PutOptions, Store } from './store.ts';
import { MAX_TXN_OPS, requireKey, requireLeaseId, requireValue } from './validate.ts';

interface Queued {
  op: Op;
  key: string;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Settles (never rejects) when this operation's batch has finished. */
  done: Promise<void>;
}

export interface GroupCommitOptions extends BatchWriterOptions {
  /** Batches that may be committing at once (default 1). */
  maxInFlight?: number;
  /** Runs the maxDelayMs timer; default the system clock. */
  clock?: Clock;
}

export class GroupCommitWriter implements BatchWriter {
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly maxInFlight: number;
  private queue: Queued[] = [];
  private timer: TimerHandle | undefined;
  private readonly clock: Clock;
  /** The oldest queued operation has waited maxDelayMs: flush even a partial batch. */
  private due = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Keys written by in-flight batches, with how many batches hold each. */
  private readonly busyKeys = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly store: Pick<Store, 'txn'>,
    options: GroupCommitOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 2;
    this.maxInFlight = options.maxInFlight ?? 1;
    this.clock = options.clock ?? systemClock;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > MAX_TXN_OPS) {
      throw new DroverError('STORE_MISUSE', `maxBatch must be an integer in 1..${MAX_TXN_OPS}`);
    }
    if (typeof this.maxDelayMs !== 'number' || !(this.maxDelayMs >= 0)) {
      throw new DroverError('STORE_MISUSE', 'maxDelayMs must be a number >= 0');
    }
  }

  put(key: string, value: string, options: PutOptions = {}): Promise<void> {
    try {
      // Reject bad input here: inside a batch it would fail everyone else's writes too.
      requireKey(key);
      requireValue(value);
      requireLeaseId(options.lease);
    } catch (error) {
      return Promise.reject(error);
    }
    const op: Op = options.lease === undefined ? { type: 'put', key, value } : { type: 'put', key, value, lease: options.lease };
    return this.enqueue(op, key);
  }

  delete(key: string): Promise<void> {
    try {
      requireKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.enqueue({ type: 'delete', key }, key);
  }

  async flush(): Promise<void> {
    const waits = [...this.inFlight];
    const last = this.queue.at(-1);
    if (last) waits.push(last.done);
    this.due = this.queue.length > 0;
    this.pump();
    await Promise.all(waits);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private enqueue(op: Op, key: string): Promise<void> {
    if (this.closed) return Promise.reject(new DroverError('STORE_CLOSED', 'batch writer is closed'));
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    let settled!: () => void;
    const done = new Promise<void>((r) => (settled = r));
    const promise = new Promise<void>((res, rej) => {
      resolve = () => (res(), settled());
      reject = (error) => (rej(error), settled());
    });
    this.queue.push({ op, key, resolve, reject, done });
    if (this.queue.length >= this.maxBatch) this.pump();
    else this.arm();
    return promise;
  }

  /** Starts the maxDelayMs clock for the queue's oldest operation. */
  private arm(): void {
    if (this.timer !== undefined || this.due || this.queue.length === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      this.pump();
    }, this.maxDelayMs);
  }

  /** Dispatches as many batches as the flush policy, in-flight limit and key order allow. */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlight.size < this.maxInFlight) {
      if (!this.due && this.queue.length < this.maxBatch) break;
      const batch = this.takeBatch();
      if (batch.length === 0) break; // head's key is still in flight; its completion re-pumps
      this.dispatch(batch);
    }
    if (this.queue.length === 0) {
      this.due = false;
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    } else {
      this.arm();
    }
  }

  private takeBatch(): Queued[] {
    const keys = new Set<string>();
    let n = 0;
    while (n < this.queue.length && n < this.maxBatch) {
      const key = (this.queue[n] as Queued).key;
      if (keys.has(key) || this.busyKeys.has(key)) break;
      keys.add(key);
      n++;
    }
    return this.queue.splice(0, n);
  }

  private dispatch(batch: Queued[]): void {
    for (const { key } of batch) this.busyKeys.set(key, (this.busyKeys.get(key) ?? 0) + 1);
    const run = this.store.txn({ success: batch.map((q) => q.op) }).then(
      () => batch.forEach((q) => q.resolve()),
      (error: unknown) => batch.forEach((q) => q.reject(error)),
    );
    const tracked = run.finally(() => {
      this.inFlight.delete(tracked);
      for (const { key } of batch) {
        const count = (this.busyKeys.get(key) ?? 1) - 1;
        if (count === 0) this.busyKeys.delete(key);
        else this.busyKeys.set(key, count);
      }
      this.pump();
    });
    this.inFlight.add(tracked);
  }
}
