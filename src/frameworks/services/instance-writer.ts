/**
 * InstanceWriter: every write of the services framework's instances to the store, and its failure
 * policy (README "Store failures").
 *
 * - A new instance is stored before its launch (`storeNew`, one write per batch of offers, in
 *   transactions of MAX_TXN_OPS): see offers.ts for why.
 * - Later changes are coalesced over WRITE_COALESCE_MS (`persist`, `unpersist`): an instance that
 *   changes several times in one batch of updates (STAGING → STARTING → RUNNING) is written once,
 *   in its latest state. At 50,000 launches per-change writes were a fifth of the master's CPU
 *   (docs/architecture/006-scale.md).
 */
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import type { Logger } from '../../log/index.ts';
import type { Op, Store } from '../../store/store.ts';
import { MAX_TXN_OPS } from '../../store/validate.ts';
import { encodeInstance } from './instance-codec.ts';
import type { Instance } from './reconcile.ts';

export const INSTANCES_PREFIX = '/drover/services/instances/';
/** Instance writes within this window are coalesced per instance. */
const WRITE_COALESCE_MS = 100;
/** A failed flush is retried after WRITE_COALESCE_MS × 2^failures, at most this. */
const RETRY_MAX_MS = 5000;

type Entry = [taskId: string, instance: Instance | null];

export class InstanceWriter {
  /** Instances to write (or, when null, delete) at the next flush. */
  private readonly dirty = new Map<string, Instance | null>();
  private timer: TimerHandle | undefined;
  /** The flush being committed, if any: the next waits for it, so a key's writes stay in order. */
  private writing: Promise<void> | undefined;
  /** Flushes in a row with a failed transaction: the retry backs off. */
  private failures = 0;
  private closed = false;

  constructor(
    private readonly store: Pick<Store, 'txn'>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Writes that are queued and not yet committed. */
  get pending(): number {
    return this.dirty.size;
  }

  persist(instance: Instance): void {
    this.dirty.set(instance.taskId, instance);
    this.schedule(WRITE_COALESCE_MS);
  }

  unpersist(taskId: string): void {
    this.dirty.set(taskId, null);
    this.schedule(WRITE_COALESCE_MS);
  }

  /**
   * Stores new instances before their launch; resolves with those that are stored, in order.
   * Policy: an instance whose transaction failed is not launched (the caller withdraws it, and
   * it is placed again on a later offer); a delete of its key is queued like any change, so that
   * a transaction that failed only in the client's eyes (a timeout after the commit) leaves no
   * instance stored that was never launched. Chunks commit independently: those that did are
   * launched, since each of their instances is stored.
   */
  async storeNew(instances: readonly Instance[]): Promise<Instance[]> {
    const chunks: Array<Promise<readonly Instance[]>> = [];
    for (let i = 0; i < instances.length; i += MAX_TXN_OPS) {
      const part = instances.slice(i, i + MAX_TXN_OPS);
      const success: Op[] = part.map((instance) => ({ type: 'put', key: INSTANCES_PREFIX + instance.taskId, value: encodeInstance(instance) }));
      chunks.push(
        this.store.txn({ success }).then(
          () => part,
          (error: unknown) => {
            this.log.error({ err: error, instances: part.length }, 'instance-write-failed-launches-withdrawn');
            for (const instance of part) this.unpersist(instance.taskId);
            return [];
          },
        ),
      );
    }
    return (await Promise.all(chunks)).flat();
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = this.clock
      .setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, ms)
      .unref();
  }

  /**
   * One flush: every dirty instance, in transactions of MAX_TXN_OPS (its keys are distinct, so
   * they may commit in any order). The window already batches; a group-commit writer on top cost
   * two promises and a queue entry per write, and cut transactions at 100.
   *
   * Policy: a failed transaction's entries go back into the queue — unless a newer change of
   * the same instance was queued meanwhile, which wins — and are retried with backoff, never
   * dropped: the store may lag the truth for a while, but does not lose an instance's change.
   */
  private flush(): Promise<void> {
    // A flush still committing: this one follows when it is done (below).
    if (this.writing !== undefined) return this.writing;
    if (this.dirty.size === 0) return Promise.resolve();
    const entries: Entry[] = [...this.dirty];
    this.dirty.clear();
    const chunks: Array<Promise<boolean>> = [];
    for (let i = 0; i < entries.length; i += MAX_TXN_OPS) {
      const part = entries.slice(i, i + MAX_TXN_OPS);
      const success: Op[] = part.map(([taskId, instance]) =>
        instance === null ? { type: 'delete', key: INSTANCES_PREFIX + taskId } : { type: 'put', key: INSTANCES_PREFIX + taskId, value: encodeInstance(instance) },
      );
      chunks.push(
        this.store.txn({ success }).then(
          () => true,
          (error: unknown) => {
            this.log.error({ err: error, writes: part.length, failures: this.failures + 1 }, 'instance-write-failed');
            for (const [taskId, instance] of part) if (!this.dirty.has(taskId)) this.dirty.set(taskId, instance);
            return false;
          },
        ),
      );
    }
    this.writing = Promise.all(chunks).then((results) => {
      this.writing = undefined;
      this.failures = results.every(Boolean) ? 0 : this.failures + 1;
      if (this.dirty.size > 0) this.schedule(this.failures === 0 ? WRITE_COALESCE_MS : Math.min(RETRY_MAX_MS, WRITE_COALESCE_MS * 2 ** this.failures));
    });
    return this.writing;
  }

  /**
   * On stop: the flush in progress, then one more of whatever is queued. What still fails is
   * logged and left: the next leader loads the store and reconciles every instance with the
   * master, which holds the truth about tasks (an instance it does not know comes back TASK_GONE).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing !== undefined) await this.writing;
    await this.flush();
    if (this.dirty.size > 0) this.log.error({ writes: this.dirty.size }, 'instance-writes-abandoned');
  }
}
