/**
 * Store write throughput: `npm run bench -- store [--seconds=3] [--backend=sqlite|etcd]`.
 *
 * For SQLite (a temp file) and etcd (a real single-member etcd started here, its data dir in the
 * same temp dir, so both write to the same disk) it measures:
 * - single:   one awaited put after another (latency-bound: each waits for its own commit);
 * - batch100: many concurrent writers through batchWriter (group commit, ≤ 100 puts per txn).
 * Each mode runs for a fixed time (default 3 s) rather than a fixed count, so slow and fast
 * backends both get a measurement of a few seconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../devkit/etcd.ts';
import { openStore } from '../src/store/open.ts';
import type { Store } from '../src/store/store.ts';

interface Result {
  backend: string;
  mode: 'single' | 'batch100';
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

async function single(store: Store, seconds: number): Promise<Omit<Result, 'backend'>> {
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

async function batched(store: Store, seconds: number, writers = 2000): Promise<Omit<Result, 'backend'>> {
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

async function measure(backend: string, store: Store, seconds: number): Promise<Result[]> {
  try {
    return [{ backend, ...(await single(store, seconds)) }, { backend, ...(await batched(store, seconds)) }];
  } finally {
    await store.close();
  }
}

export default async function storeBench(args: string[]): Promise<Record<string, unknown>> {
  const seconds = Number(flag(args, 'seconds') ?? 3);
  const only = flag(args, 'backend');
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-store-'));
  const results: Result[] = [];
  try {
    if (only === undefined || only === 'sqlite') {
      results.push(...(await measure('sqlite', await openStore(`sqlite:${join(dir, 'bench.db')}`), seconds)));
    }
    if (only === undefined || only === 'etcd') {
      const etcd = await startEtcd({ parentDir: dir });
      try {
        results.push(...(await measure('etcd', await openStore(etcd.storeUrl), seconds)));
      } finally {
        await etcd.stop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { bench: 'store', seconds, results };
}
