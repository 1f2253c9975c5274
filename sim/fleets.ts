/**
 * The hollow agents of a run, split over worker threads (or in this thread when `workers` is 0),
 * behind one small interface: start, sum of stats, stop.
 */
import { Worker } from 'node:worker_threads';
import { AgentFleet, sumStats, type FleetSpec } from './agent-fleet.ts';
import type { HollowAgentStats } from './hollow-agent.ts';

export interface Fleets {
  stats(): Promise<HollowAgentStats>;
  stop(): Promise<void>;
}

export async function startFleets(spec: Omit<FleetSpec, 'first' | 'count'>, agents: number, workers: number): Promise<Fleets> {
  if (workers <= 0) {
    const fleet = new AgentFleet({ ...spec, first: 0, count: agents });
    await fleet.start();
    return { stats: async () => fleet.stats(), stop: () => fleet.stop() };
  }
  const per = Math.ceil(agents / workers);
  const threads: Worker[] = [];
  for (let w = 0; w < workers && w * per < agents; w++) {
    const worker = new Worker(new URL('./agent-worker-boot.mjs', import.meta.url), { workerData: { ...spec, first: w * per, count: Math.min(per, agents - w * per) } });
    threads.push(worker);
  }
  await Promise.all(threads.map((t) => reply(t, undefined, 'started', 120_000)));
  return {
    async stats() {
      const all = await Promise.all(threads.map((t) => reply(t, { type: 'stats' }, 'stats', 60_000)));
      return sumStats(all.map((m) => (m as { stats: HollowAgentStats }).stats));
    },
    async stop() {
      await Promise.all(threads.map((t) => reply(t, { type: 'stop' }, 'stopped', 30_000).catch(() => undefined)));
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}

/** Posts `message` (if any) and resolves with the worker's next message of `type`. */
function reply(worker: Worker, message: unknown, type: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.off('message', onMessage);
      reject(new Error(`agent worker: no '${type}' in ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: { type: string }): void => {
      if (m.type !== type) return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      resolve(m);
    };
    const onError = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    if (message !== undefined) worker.postMessage(message);
  });
}
