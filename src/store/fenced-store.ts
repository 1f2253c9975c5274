/**
 * A leader's view of the store: reads, watches and leases go straight through; every write is a
 * transaction that also checks the leadership (Leadership.guard: the candidacy key still has the
 * createRevision it was won with). A master that was paused or cut off and has lost its lease
 * therefore cannot write after its successor took over: the write fails with
 * DROVER_ERR_STORE_FENCED instead of landing (issue "High availability": fencing).
 *
 * Transactions with `failure` operations are refused: when the guard is what failed, applying
 * them would be exactly the stale write fencing exists to stop.
 */
import { DroverError } from '../errors/errors.ts';
import { GroupCommitWriter } from './batch-writer.ts';
import type { BatchWriter, BatchWriterOptions, Leadership, PutOptions, Store, Txn, TxnResult } from './store.ts';

export function fencedStore(store: Store, leadership: Leadership): Store {
  const txn = async (t: Txn): Promise<TxnResult> => {
    if (t.failure !== undefined && t.failure.length > 0) throw new DroverError('STORE_MISUSE', 'a fenced transaction cannot have failure operations');
    // Leadership.write tells "deposed" (throws FENCED) from "a caller's compare failed" (returns).
    return leadership.write(t.success, t.compare ?? []);
  };
  const fenced: Store = {
    backend: store.backend,
    get: (key) => store.get(key),
    range: (prefix, options) => store.range(prefix, options),
    revision: () => store.revision(),
    watch: (prefix, options) => store.watch(prefix, options),
    grantLease: (ttl, options) => store.grantLease(ttl, options),
    campaign: (election, candidate, options) => store.campaign(election, candidate, options),
    observe: (election, listener) => store.observe(election, listener),
    compact: (revision) => store.compact(revision),
    txn,
    async put(key: string, value: string, options: PutOptions = {}) {
      const { revision } = await txn({ success: [{ type: 'put', key, value, ...(options.lease === undefined ? {} : { lease: options.lease }) }] });
      return { revision };
    },
    async delete(key: string) {
      // Whether it existed is read first; the delete itself is fenced.
      const existed = (await store.get(key)) !== undefined;
      const { revision } = await txn({ success: [{ type: 'delete', key }] });
      return { revision, deleted: existed };
    },
    batchWriter(options: BatchWriterOptions = {}): BatchWriter {
      return new GroupCommitWriter({ txn }, options);
    },
    // The store belongs to the process, not to one term of leadership.
    close: async () => undefined,
  };
  return fenced;
}
