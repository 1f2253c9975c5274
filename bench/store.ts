/**
 * Store write throughput:
 *   `npm run bench -- store [--seconds=3] [--backend=sqlite,sqlite-full,sqlite-normal,etcd] [--rounds=1]`.
 *
 * For SQLite (a temp file; `sqlite` is the store as shipped — durable, the WAL fsynced off the
 * main thread once for all commits made meanwhile —, `sqlite-full` with SQLite's own
 * synchronous=FULL, an fsync in every commit, and `sqlite-normal` with synchronous=NORMAL, not
 * durable across a power loss: the before/after of durability) and etcd (a real single-member etcd started here, its data dir in the
 * same temp dir, so both write to the same disk) it measures:
 * - single:   one awaited put after another (latency-bound: each waits for its own commit);
 * - concurrent: 100 callers each awaiting its own put (one txn each), no batchWriter: what a
 *   durable store can share between transactions (one fsync for all commits made meanwhile);
 * - batch100: many concurrent writers through batchWriter (group commit, ≤ 100 puts per txn).
 * Each mode runs for a fixed time (default 3 s) rather than a fixed count, so slow and fast
 * backends both get a measurement of a few seconds. With `--rounds=N` the chosen backends take
 * turns N times (a fresh store each time), so on a noisy machine a comparison is interleaved
 * rather than one backend's minute against another's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../devkit/etcd.ts';
import { openStore } from '../src/store/open.ts';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';

interface Result {
  backend: string;
  round: number;
  mode: 'single' | 'concurrent' | 'batch100';
  writesPerSecond: number;
  writes: number;
  seconds: number;
  /** Store revisions used: one per transaction, so writes / revisions is the mean batch size. */
  revisions: number;
}

// A value the size of a typical task record, not a toy one-byte value.
const VALUE = JSON.stringify({ id: 'app.instance-00000000', state: 'TASK_RUNNING', agentId: 'agent-0001', resources: 'cpus:0.1;mem:128', ports: [31000] });

function flag(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

async function single(store: Store, seconds: number): Promise<Omit<Result, 'backend' | 'round'>> {
  for (let i = 0; i < 100; i++) await store.put(`/bench/warm/${i}`, VALUE);
  const before = await store.revision();
  const start = performance.now();
  const end = start + seconds * 1000;
  let writes = 0;
  while (performance.now() < end) {
    // Distinct keys: what a hot path writes (many tasks), and no single-key contention.
    await store.put(`/bench/single/${writes}`, VALUE);
    writes++;
  }
  const elapsed = (performance.now() - start) / 1000;
  return { mode: 'single', writes, seconds: round(elapsed), writesPerSecond: Math.round(writes / elapsed), revisions: (await store.revision()) - before };
}

async function concurrent(store: Store, seconds: number, callers = 100): Promise<Omit<Result, 'backend' | 'round'>> {
  const before = await store.revision();
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = 0;
  let writes = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < end) {
      await store.put(`/bench/concurrent/${next++}`, VALUE);
      writes++;
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  const elapsed = (performance.now() - start) / 1000;
  return { mode: 'concurrent', writes, seconds: round(elapsed), writesPerSecond: Math.round(writes / elapsed), revisions: (await store.revision()) - before };
}

async function batched(store: Store, seconds: number, writers = 2000): Promise<Omit<Result, 'backend' | 'round'>> {
  const writer = store.batchWriter({ maxBatch: 100 });
  const before = await store.revision();
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = 0;
  let writes = 0;
  // `writers` concurrent callers, each writing again as soon as its last write committed.
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await writer.put(`/bench/batch/${next++}`, VALUE);
      writes++;
    }
  };
  await Promise.all(Array.from({ length: writers }, worker));
  await writer.close();
  const elapsed = (performance.now() - start) / 1000;
  return { mode: 'batch100', writes, seconds: round(elapsed), writesPerSecond: Math.round(writes / elapsed), revisions: (await store.revision()) - before };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

async function measure(backend: string, round: number, store: Store, seconds: number): Promise<Result[]> {
  try {
    return [
      { backend, round, ...(await single(store, seconds)) },
      { backend, round, ...(await concurrent(store, seconds)) },
      { backend, round, ...(await batched(store, seconds)) },
    ];
  } finally {
    await store.close();
  }
}

const BACKENDS = ['sqlite', 'sqlite-full', 'sqlite-normal', 'etcd'] as const;

export default async function storeBench(args: string[]): Promise<Record<string, unknown>> {
  const seconds = Number(flag(args, 'seconds') ?? 3);
  const rounds = Number(flag(args, 'rounds') ?? 1);
  const backends = (flag(args, 'backend') ?? 'sqlite,etcd').split(',');
  const unknown = backends.filter((b) => !(BACKENDS as readonly string[]).includes(b));
  if (unknown.length > 0 || !(Number.isInteger(rounds) && rounds >= 1)) {
    throw new Error(`--backend takes a list of ${BACKENDS.join(', ')} (got ${unknown.join(', ')}); --rounds a positive integer`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-store-'));
  const results: Result[] = [];
  const etcd = backends.includes('etcd') ? await startEtcd({ parentDir: dir }) : undefined;
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const backend of backends) {
        const file = join(dir, `${backend}-${round}.db`);
        const store =
          backend === 'sqlite'
            ? await openStore(`sqlite:${file}`)
            : backend === 'sqlite-full'
              ? openSqliteStore(file, { synchronous: 'full' })
              : backend === 'sqlite-normal'
                ? openSqliteStore(file, { synchronous: 'normal' })
                : await openStore((etcd as { storeUrl: string }).storeUrl);
        results.push(...(await measure(backend, round, store, seconds)));
      }
    }
  } finally {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return { bench: 'store', seconds, rounds, results };
}
