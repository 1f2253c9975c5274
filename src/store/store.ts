/**
 * The Store: Drover's one persistence interface, with three backends that pass one contract suite
 * (src/store/contract.ts): SQLite (embedded default), etcd (HA) and memory (tests, simulator).
 *
 * The model is etcd's, because that is the strongest contract of the three and the others can
 * honour it cheaply:
 * - one global, monotonically increasing `revision`; every successful write bumps it by one
 *   (a transaction with many operations bumps it once);
 * - each key carries `createRevision` (revision of the put that created it), `modRevision`
 *   (revision of its last put) and `version` (number of puts since creation);
 * - watches deliver every change under a prefix in revision order, and can resume from any
 *   revision that has not been compacted away;
 * - keys may be attached to a lease; when the lease expires or is revoked, its keys are deleted
 *   (and watchers see the deletes).
 *
 * Keys and values are strings (values are usually JSON). Keys must be non-empty.
 */

/** A key with its value and etcd-style revision metadata. */
export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id the key is attached to, if any. */
  lease?: string;
}

export interface PutOptions {
  /** Attach the key to this lease: it is deleted when the lease ends. */
  lease?: string;
}

export interface RangeOptions {
  /** Return at most this many keys (in key order). */
  limit?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** The store revision the range was read at. */
  revision: number;
  /** True when `limit` cut the result. */
  more: boolean;
}

/** A guard in a transaction. `value` compares as a string for `value`, as a number otherwise. */
export interface Compare {
  key: string;
  target: 'value' | 'version' | 'createRevision' | 'modRevision';
  op: '=' | '!=' | '<' | '>';
  /**
   * For a key that does not exist, version, createRevision and modRevision are 0 and value is
   * undefined (so `{target:'version', op:'=', value:0}` means "key absent").
   */
  value: string | number;
}

export type Op =
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'delete'; key: string }
  /** Deletes every key that starts with `prefix`. */
  | { type: 'deletePrefix'; prefix: string };

export interface Txn {
  compare?: Compare[];
  success: Op[];
  failure?: Op[];
}

export interface TxnResult {
  /** True when every compare held and `success` was applied. */
  succeeded: boolean;
  /** Store revision after the transaction (unchanged if nothing was written). */
  revision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For deletes, `value` is '' and `modRevision` is the revision of the delete. */
  kv: KeyValue;
  /** Revision of the write that caused this event. */
  revision: number;
}

export interface WatchOptions {
  /**
   * Deliver every event with revision >= fromRevision. Omitted: only changes after the watch
   * is established. A compacted fromRevision fails the watch with DROVER_ERR_STORE_COMPACTED
   * (via onError), which tells the caller to resync with a fresh range().
   */
  fromRevision?: number;
  /** Events, in revision order; events of one transaction arrive in one call. */
  onEvents: (events: WatchEvent[]) => void;
  /** The watch ended abnormally (compacted, store closed, backend lost). It is cancelled. */
  onError?: (error: Error) => void;
}

export interface Watch {
  cancel(): Promise<void>;
}

export interface LeaseOptions {
  /** Renew the lease automatically (default true) until revoked or the store closes. */
  keepAlive?: boolean;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Renew once; throws DROVER_ERR_STORE_LEASE_NOT_FOUND if the lease already ended. */
  keepAliveOnce(): Promise<void>;
  /** End the lease now: its keys are deleted. Idempotent. */
  revoke(): Promise<void>;
  /** Called once if the lease is found to have ended while keep-alive was running. */
  onLost(listener: () => void): void;
}

export interface CampaignOptions {
  /** TTL of the candidacy lease; a crashed leader is replaced within about this long. */
  ttlSeconds: number;
  /** Aborts a campaign that has not yet won (the candidacy is withdrawn). */
  signal?: AbortSignal;
}

/**
 * Leadership won by `campaign`. Fencing: `write` applies operations only while this candidacy
 * is still the leader (guarded by its key's createRevision), and throws DROVER_ERR_STORE_FENCED
 * otherwise, so a deposed leader that has not noticed yet can never overwrite its successor.
 */
export interface Leadership {
  readonly election: string;
  readonly candidate: string;
  /** The candidacy key in the store. */
  readonly key: string;
  /** createRevision of the candidacy key: the fencing token. */
  readonly revision: number;
  readonly lease: Lease;
  /** The compare that holds exactly while this candidacy leads (for callers' own txns). */
  guard(): Compare;
  /** Apply ops atomically if still leader; else throw DROVER_ERR_STORE_FENCED. */
  write(ops: Op[], extraCompare?: Compare[]): Promise<TxnResult>;
  /** Step down: the candidacy key is deleted and the next candidate takes over. */
  resign(): Promise<void>;
  /** Called once when leadership is lost (lease lost, key deleted, or resigned). */
  onLost(listener: () => void): void;
}

export interface Observation {
  /** Current leader's candidate value, or undefined when there is none. */
  leader: string | undefined;
}

export interface Observer {
  cancel(): Promise<void>;
}

export interface BatchWriterOptions {
  /** Flush when this many operations are queued (default 100). */
  maxBatch?: number;
  /** Flush at the latest this long after the first queued operation (default 2 ms). */
  maxDelayMs?: number;
}

/**
 * Group commit for hot paths: puts and deletes queued within a short window are written in one
 * transaction. Each call's promise settles when its batch is durable (or failed).
 */
export interface BatchWriter {
  put(key: string, value: string, options?: PutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Write whatever is queued now. */
  flush(): Promise<void>;
  /** Flush and stop accepting writes. */
  close(): Promise<void>;
}

export interface Store {
  /** Backend name: 'sqlite' | 'etcd' | 'memory'. */
  readonly backend: string;

  get(key: string): Promise<KeyValue | undefined>;
  put(key: string, value: string, options?: PutOptions): Promise<{ revision: number }>;
  delete(key: string): Promise<{ revision: number; deleted: boolean }>;
  /** All keys starting with `prefix` ('' = all), in key order. */
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  /** Compare-and-set over many keys, applied atomically. */
  txn(txn: Txn): Promise<TxnResult>;
  /** Current store revision. */
  revision(): Promise<number>;
  /** Drop watch history before `revision`; later watches from before it get "compacted". */
  compact(revision: number): Promise<void>;

  /** Resolves once the watch is established (events after that point will be delivered). */
  watch(prefix: string, options: WatchOptions): Promise<Watch>;

  grantLease(ttlSeconds: number, options?: LeaseOptions): Promise<Lease>;

  /**
   * Stand for leader of `election` as `candidate`; resolves when this candidacy leads.
   * Exactly one candidacy leads at a time: the live candidacy key with the lowest createRevision.
   */
  campaign(election: string, candidate: string, options: CampaignOptions): Promise<Leadership>;
  /** Follow who leads `election`; called now and on every change. */
  observe(election: string, listener: (observation: Observation) => void): Promise<Observer>;

  batchWriter(options?: BatchWriterOptions): BatchWriter;

  /** Release connections, timers and file handles. Calls after close fail with STORE_CLOSED. */
  close(): Promise<void>;
}
