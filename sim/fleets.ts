/**
 * The hollow agents of a run, split over worker threads (or in this thread when `workers` is 0),
 * behind one small interface: start, sum of stats, stop.
 */
import { Worker } from 'node:worker_threads';
import { AgentFleet, sumReports, sumStats, type FleetSpec, type PartitionReport } from './agent-fleet.ts';
import type { HollowAgentStats } from './hollow-agent.ts';

export interface Fleets {
  stats(): Promise<HollowAgentStats>;
  stop(): Promise<void>;
  /** Cut `fraction` of all agents off from the master at once (the partition scenario). */
  partition(fraction: number): Promise<{ agents: number; tasks: number; tasksByHost: Record<string, number> }>;
  /** Every cut-off agent reconnects. */
  heal(): Promise<void>;
  partitionReport(): Promise<PartitionReport>;
}

export async function startFleets(spec: Omit<FleetSpec, 'first' | 'count'>, agents: number, workers: number): Promise<Fleets> {
  if (workers <= 0) {
    const fleet = new AgentFleet({ ...spec, first: 0, count: agents });
    await fleet.start();
    return {
      stats: async () => fleet.stats(),
      stop: () => fleet.stop(),
      partition: (fraction) => fleet.partition(fraction),
      heal: async () => fleet.heal(),
      partitionReport: async () => fleet.partitionReport(),
    };
  }
  const per = Math.ceil(agents / workers);
  const threads: Worker[] = [];
  for (let w = 0; w < workers && w * per < agents; w++) {
    const worker = new Worker(new URL('./agent-worker-boot.mjs', import.meta.url), { workerData: { ...spec, first: w * per, count: Math.min(per, agents - w * per) } });
    threads.push(worker);
  }
  // Generous: with TLS each agent first makes a key and a CSR, and a loaded machine starves the workers.
  await Promise.all(threads.map((t) => reply(t, undefined, 'started', 600_000)));
  return {
    async stats() {
      const all = await Promise.all(threads.map((t) => reply(t, { type: 'stats' }, 'stats', 60_000)));
      return sumStats(all.map((m) => (m as { stats: HollowAgentStats }).stats));
    },
    async partition(fraction) {
      const all = await Promise.all(threads.map((t) => reply(t, { type: 'partition', fraction }, 'partitioned', 60_000)));
      const lost = all.map((m) => (m as { lost: { agents: number; tasks: number; tasksByHost: Record<string, number> } }).lost);
      return { agents: lost.reduce((n, l) => n + l.agents, 0), tasks: lost.reduce((n, l) => n + l.tasks, 0), tasksByHost: Object.assign({}, ...lost.map((l) => l.tasksByHost)) };
    },
    async heal() {
      await Promise.all(threads.map((t) => reply(t, { type: 'heal' }, 'healed', 60_000)));
    },
    async partitionReport() {
      const all = await Promise.all(threads.map((t) => reply(t, { type: 'report' }, 'report', 60_000)));
      return sumReports(all.map((m) => (m as { report: PartitionReport }).report));
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
