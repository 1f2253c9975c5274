/**
 * Leader election over the Store primitives, the way etcd's `concurrency` package does it, so
 * every backend gets the same semantics from one implementation:
 *
 * - a candidacy is the key `/_drover/election/<election>/<leaseId>`, put with a kept-alive lease
 *   and the candidate as value;
 * - the leader is the live candidacy with the lowest createRevision (first come, first served;
 *   a crashed leader's key vanishes with its lease and the next in line takes over);
 * - a candidate waits until every candidacy created before its own is deleted;
 * - the fencing token is the candidacy key's createRevision: writes guarded by
 *   `createRevision(key) = token` fail once the key is gone, even if the deposed leader has not
 *   noticed yet.
 */
import { Backoff, type BackoffPolicy, type RandomSource } from '../clock/backoff.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { DroverError, isDroverError } from '../errors/errors.ts';
import type { CampaignOptions, Compare, KeyValue, Lease, Leadership, Observation, Observer, Op, Store, TxnResult, Watch, WatchEvent } from './store.ts';

/** Reserved key space: applications must not write under it. */
export const ELECTION_PREFIX = '/_drover/election/';

export function electionPrefix(election: string): string {
  return `${ELECTION_PREFIX}${election}/`;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The campaign was aborted', 'AbortError');
}

/** Runs `task` one at a time; calls made while it runs collapse into one more run. */
function serialized(task: () => Promise<void>, onError: (error: unknown) => void): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    running = true;
    do {
      again = false;
      try {
        await task();
      } catch (error) {
        onError(error);
      }
    } while (again);
    running = false;
  };
  return () => {
    if (running) again = true;
    else void run();
  };
}

export async function campaign(store: Store, election: string, candidate: string, options: CampaignOptions): Promise<Leadership> {
  options.signal?.throwIfAborted();
  const lease = await store.grantLease(options.ttlSeconds, { keepAlive: true });
  const prefix = electionPrefix(election);
  const key = prefix + lease.id;
  try {
    const created = await store.txn({
      compare: [{ key, target: 'version', op: '=', value: 0 }],
      success: [{ type: 'put', key, value: candidate, lease: lease.id }],
    });
    if (!created.succeeded) throw new DroverError('INTERNAL', `candidacy key ${key} already exists`);
    // The put was the only write of its transaction, so the key's createRevision is its revision.
    const revision = created.revision;
    await waitForTurn(store, prefix, key, revision, lease, options.signal);
    const leadership = new StoreLeadership(store, election, candidate, key, revision, lease);
    await leadership.start();
    return leadership;
  } catch (error) {
    // Withdraw: revoking the lease deletes the candidacy key, so nobody waits on it.
    await lease.revoke().catch(() => undefined);
    throw error;
  }
}

/** Resolves when no candidacy older than ours is left; rejects if ours ends or is aborted. */
async function waitForTurn(store: Store, prefix: string, key: string, revision: number, lease: Lease, signal: AbortSignal | undefined): Promise<void> {
  let watch: Watch | undefined;
  let settled = false;
  let resolveTurn!: () => void;
  let rejectTurn!: (error: unknown) => void;
  const turn = new Promise<void>((resolve, reject) => {
    resolveTurn = resolve;
    rejectTurn = reject;
  });
  // It may reject (abort, lease lost) while we still await the first range or the watch below.
  turn.catch(() => undefined);
  const fail = (error: unknown): void => {
    if (settled) return;
    settled = true;
    rejectTurn(error);
  };
  const onAbort = (): void => fail(abortReason(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort(); // aborted while the candidacy was being created
  lease.onLost(() => fail(new DroverError('STORE_LEASE_NOT_FOUND', 'candidacy lease lost while campaigning')));

  /** Returns the revision the check was made at, having settled the wait if it can. */
  const check = async (): Promise<number> => {
    const { kvs, revision: at } = await store.range(prefix);
    if (settled) return at;
    const mine = kvs.find((kv) => kv.key === key);
    if (mine === undefined || mine.createRevision !== revision) {
      fail(new DroverError('STORE_LEASE_NOT_FOUND', 'candidacy ended while campaigning'));
    } else if (!kvs.some((kv) => kv.createRevision < revision)) {
      settled = true;
      resolveTurn();
    }
    return at;
  };
  const recheck = serialized(async () => void (await check()), fail);

  try {
    const at = await check();
    if (!settled) {
      // Watching from just after the range's revision: no delete can slip between the two.
      watch = await store.watch(prefix, {
        fromRevision: at + 1,
        onEvents: (events) => {
          if (events.some((e) => e.type === 'delete')) recheck();
        },
        onError: fail,
      });
    }
    await turn;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await watch?.cancel().catch(() => undefined);
  }
}

class StoreLeadership implements Leadership {
  private lost = false;
  private resigned = false;
  private readonly listeners: Array<() => void> = [];
  private watch: Watch | undefined;

  constructor(
    private readonly store: Store,
    readonly election: string,
    readonly candidate: string,
    readonly key: string,
    readonly revision: number,
    readonly lease: Lease,
  ) {}

  /** Follows the candidacy key, so deletion (expiry, revocation, removal) ends leadership. */
  async start(): Promise<void> {
    this.lease.onLost(() => this.markLost());
    await this.follow(this.revision + 1);
  }

  private async follow(fromRevision: number): Promise<void> {
    if (this.lost) return;
    const watch = await this.store.watch(this.key, {
      fromRevision,
      onEvents: (events: WatchEvent[]) => {
        // A prefix watch: lease ids can be prefixes of one another, so match the exact key.
        if (events.some((e) => e.kv.key === this.key && e.type === 'delete')) this.markLost();
      },
      onError: (error) => void this.recover(error),
    });
    this.watch = watch;
    if (this.lost) void watch.cancel().catch(() => undefined); // lost while the watch was starting
  }

  /** The key watch broke (compaction, backend trouble): re-check the key and follow again. */
  private async recover(error: Error): Promise<void> {
    if (this.lost) return;
    if (isDroverError(error, 'STORE_CLOSED')) return this.markLost();
    try {
      const { kvs, revision } = await this.store.range(this.key);
      const mine = kvs.find((kv: KeyValue) => kv.key === this.key);
      if (mine?.createRevision !== this.revision) return this.markLost();
      await this.follow(revision + 1);
    } catch {
      this.markLost();
    }
  }

  guard(): Compare {
    return { key: this.key, target: 'createRevision', op: '=', value: this.revision };
  }

  async write(ops: Op[], extraCompare: Compare[] = []): Promise<TxnResult> {
    // Once we know we are deposed, refuse without asking: the store would refuse too.
    if (this.lost) throw this.fenced();
    const result = await this.store.txn({ compare: [this.guard(), ...extraCompare], success: ops });
    if (result.succeeded) return result;
    // Failed: the guard or one of the caller's compares. Only the first means deposed.
    if (extraCompare.length === 0 || !(await this.stillLeads())) {
      this.markLost();
      throw this.fenced();
    }
    return result;
  }

  private async stillLeads(): Promise<boolean> {
    const kv = await this.store.get(this.key);
    return kv?.createRevision === this.revision;
  }

  private fenced(): DroverError {
    return new DroverError('STORE_FENCED', `no longer leader of '${this.election}' (fencing token ${this.revision})`);
  }

  async resign(): Promise<void> {
    if (this.resigned) return;
    this.resigned = true;
    this.markLost();
    await this.watch?.cancel().catch(() => undefined);
    // Revoking deletes the key with the lease; after close the lease will simply expire.
    try {
      await this.lease.revoke();
    } catch (error) {
      if (!isDroverError(error, 'STORE_CLOSED')) throw error;
    }
  }

  onLost(listener: () => void): void {
    if (this.lost) queueMicrotask(listener);
    else this.listeners.push(listener);
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    void this.watch?.cancel().catch(() => undefined);
    for (const listener of this.listeners.splice(0)) queueMicrotask(listener);
  }
}

/** Jittered: every observer of a broken store (all masters and their frameworks) resyncs at once otherwise. */
const WATCH_RESYNC_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };

/**
 * Follows who leads `election`: the listener is called now with the current leader and again
 * whenever the leader (its candidacy or its value) changes.
 */
export async function observe(store: Store, election: string, listener: (observation: Observation) => void, options: { clock?: Clock; random?: RandomSource } = {}): Promise<Observer> {
  const clock = options.clock ?? systemClock;
  const prefix = electionPrefix(election);
  const candidates = new Map<string, { createRevision: number; value: string }>();
  let cancelled = false;
  let watch: Watch | undefined;
  let reported: string | undefined | null = null; // null: nothing reported yet
  const resyncDelay = new Backoff(WATCH_RESYNC_BACKOFF, options.random);

  const report = (): void => {
    let leaderKey: string | undefined;
    let best = Infinity;
    for (const [key, c] of candidates) {
      if (c.createRevision < best) [best, leaderKey] = [c.createRevision, key];
    }
    const leader = leaderKey === undefined ? undefined : (candidates.get(leaderKey) as { value: string }).value;
    const identity = leaderKey === undefined ? undefined : `${leaderKey}\n${leader}`;
    if (identity === reported) return;
    reported = identity;
    if (!cancelled) listener({ leader });
  };

  const sync = async (): Promise<void> => {
    const { kvs, revision } = await store.range(prefix);
    candidates.clear();
    for (const kv of kvs) candidates.set(kv.key, { createRevision: kv.createRevision, value: kv.value });
    report();
    if (cancelled) return;
    const started = await store.watch(prefix, {
      fromRevision: revision + 1,
      onEvents: (events) => {
        for (const e of events) {
          if (e.type === 'delete') candidates.delete(e.kv.key);
          else candidates.set(e.kv.key, { createRevision: e.kv.createRevision, value: e.kv.value });
        }
        report();
      },
      onError: (error) => void resync(error),
    });
    if (cancelled) return void (await started.cancel()); // cancelled while the watch was starting
    watch = started;
    resyncDelay.reset();
  };

  // A broken watch (compacted history, backend trouble) is repaired by re-reading from scratch.
  const resync = async (error: unknown): Promise<void> => {
    watch = undefined;
    if (cancelled || isDroverError(error, 'STORE_CLOSED')) return;
    await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), resyncDelay.next()));
    if (cancelled) return;
    await sync().catch((e: unknown) => resync(e));
  };

  await sync();
  return {
    cancel: async () => {
      cancelled = true;
      await watch?.cancel();
    },
  };
}
