/**
 * What every backend shares: argument checks, the closed state, and the pieces built on the
 * primitives (election, observe, group commit). A backend implements only the `do*` primitives
 * and may assume their arguments are valid and the store is open.
 */
import { systemClock, type Clock } from '../clock/clock.ts';
import { DroverError } from '../errors/errors.ts';
import { GroupCommitWriter } from './batch-writer.ts';
import { campaign, observe } from './election.ts';
import type {
  BatchWriter,
  BatchWriterOptions,
  CampaignOptions,
  KeyValue,
  Lease,
  LeaseOptions,
  Leadership,
  Observation,
  Observer,
  PutOptions,
  RangeOptions,
  RangeResult,
  Store,
  Txn,
  TxnResult,
  Watch,
  WatchOptions,
} from './store.ts';
import { requireElection, requireKey, requireLeaseId, requireLimit, requirePrefix, requireRevision, requireTtl, requireTxn, requireValue } from './validate.ts';

export abstract class BaseStore implements Store {
  abstract readonly backend: string;
  /** Batch-writer transactions that may be in flight at once (remote backends overlap them). */
  protected readonly batchConcurrency: number = 1;
  private closing: Promise<void> | undefined;

  /** Timers of the store's shells (batch writer delay, election watch resync, lease sweeps). */
  constructor(protected readonly clock: Clock = systemClock) {}

  protected abstract doGet(key: string): Promise<KeyValue | undefined>;
  protected abstract doPut(key: string, value: string, lease: string | undefined): Promise<{ revision: number }>;
  protected abstract doDelete(key: string): Promise<{ revision: number; deleted: boolean }>;
  protected abstract doRange(prefix: string, limit: number | undefined): Promise<RangeResult>;
  protected abstract doTxn(txn: Txn): Promise<TxnResult>;
  protected abstract doRevision(): Promise<number>;
  protected abstract doCompact(revision: number): Promise<void>;
  protected abstract doWatch(prefix: string, options: WatchOptions): Promise<Watch>;
  protected abstract doGrantLease(ttlSeconds: number, keepAlive: boolean): Promise<Lease>;
  protected abstract doClose(): Promise<void>;

  protected get isClosed(): boolean {
    return this.closing !== undefined;
  }

  protected ensureOpen(): void {
    if (this.closing !== undefined) throw new DroverError('STORE_CLOSED', `${this.backend} store is closed`);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    requireKey(key);
    return this.doGet(key);
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<{ revision: number }> {
    this.ensureOpen();
    requireKey(key);
    requireValue(value);
    requireLeaseId(options.lease);
    return this.doPut(key, value, options.lease);
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    this.ensureOpen();
    requireKey(key);
    return this.doDelete(key);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.ensureOpen();
    requirePrefix(prefix);
    requireLimit(options.limit);
    return this.doRange(prefix, options.limit);
  }

  async txn(txn: Txn): Promise<TxnResult> {
    this.ensureOpen();
    requireTxn(txn);
    return this.doTxn(txn);
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    return this.doRevision();
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    requireRevision(revision, 'compact revision', 0);
    return this.doCompact(revision);
  }

  async watch(prefix: string, options: WatchOptions): Promise<Watch> {
    this.ensureOpen();
    requirePrefix(prefix);
    if (typeof options !== 'object' || options === null || typeof options.onEvents !== 'function') {
      throw new DroverError('STORE_MISUSE', 'watch needs an onEvents function');
    }
    if (options.fromRevision !== undefined) requireRevision(options.fromRevision, 'fromRevision', 1);
    return this.doWatch(prefix, options);
  }

  async grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<Lease> {
    this.ensureOpen();
    requireTtl(ttlSeconds);
    return this.doGrantLease(ttlSeconds, options.keepAlive ?? true);
  }

  async campaign(election: string, candidate: string, options: CampaignOptions): Promise<Leadership> {
    this.ensureOpen();
    requireElection(election);
    requireValue(candidate);
    if (typeof options !== 'object' || options === null) throw new DroverError('STORE_MISUSE', 'campaign needs options');
    requireTtl(options.ttlSeconds);
    return campaign(this, election, candidate, options);
  }

  async observe(election: string, listener: (observation: Observation) => void): Promise<Observer> {
    this.ensureOpen();
    requireElection(election);
    if (typeof listener !== 'function') throw new DroverError('STORE_MISUSE', 'observe needs a listener function');
    return observe(this, election, listener, { clock: this.clock });
  }

  batchWriter(options: BatchWriterOptions = {}): BatchWriter {
    this.ensureOpen();
    return new GroupCommitWriter(this, { ...options, maxInFlight: this.batchConcurrency, clock: this.clock });
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }
}
