/**
 * Test support: a Store that fails writes on demand, around a real store (the memory one in
 * tests). Reads, watches and leases go straight through. A failing write throws
 * DROVER_ERR_STORE_UNAVAILABLE either before anything is applied, or — `after` — once it has been
 * applied (a client that timed out on a transaction that did commit: the ambiguous case).
 */
import { DroverError } from '../../protocol/errors.ts';
import type { Op, Store, Txn } from '../../store/store.ts';

export interface FailurePlan {
  /** Which writes fail (default all): by their operations. */
  match?: (ops: readonly Op[]) => boolean;
  /** How many matching writes fail before writes succeed again (default: until `heal`). */
  times?: number;
  /** Fail after applying the write (default: before). */
  after?: boolean;
}

export class FailingStore {
  /** Writes attempted (each txn, put or delete is one), failed or not. */
  attempts = 0;
  failures = 0;
  private plan: FailurePlan | undefined;
  readonly store: Store;

  constructor(inner: Store) {
    const maybeFail = async <T>(ops: readonly Op[], write: () => Promise<T>): Promise<T> => {
      this.attempts++;
      const plan = this.plan;
      if (plan === undefined || !(plan.match?.(ops) ?? true)) return write();
      if (plan.times !== undefined && --plan.times <= 0) this.plan = undefined;
      this.failures++;
      if (plan.after) await write();
      throw new DroverError('STORE_UNAVAILABLE', 'store write failed (on purpose, in a test)');
    };
    const writes: Partial<Store> = {
      txn: (t: Txn) => maybeFail(t.success, () => inner.txn(t)),
      put: (key, value, options) => maybeFail([{ type: 'put', key, value }], () => inner.put(key, value, options)),
      delete: (key) => maybeFail([{ type: 'delete', key }], () => inner.delete(key)),
    };
    this.store = new Proxy(inner, {
      get(target, prop) {
        if (prop in writes) return writes[prop as keyof Store];
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** From now on, writes fail as planned. */
  fail(plan: FailurePlan = {}): void {
    this.plan = { ...plan };
  }

  heal(): void {
    this.plan = undefined;
  }
}
