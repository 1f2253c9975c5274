/**
 * Where the jobs framework keeps its state in the store, and loading it back after a restart.
 *
 *   /drover/jobs/framework-id
 *   /drover/jobs/specs/<jobId>                    the job (desired state)
 *   /drover/jobs/cursors/<jobId>/<scheduleId>     {cursor, storedAt}: ticks up to `cursor` are decided
 *   /drover/jobs/claims/<jobId>/<cycle>           {runId} or {skipped}: the one decision per (job, cycle)
 *   /drover/jobs/runs/<jobId>/<runId>             a run (active, or finished and still in the history)
 *   /drover/jobs/history/<jobId>                  counters and the last N runs
 *
 * A scheduled run's cycle is its tick time, so its claim is the (job id, scheduled time) key: it
 * is created (compare version = 0) in the same transaction that moves the cursor past the tick
 * and stores the run, before anything is launched.
 */
import type { Store } from '../../store/store.ts';
import type { History } from './history.ts';
import type { Job } from './job.ts';
import type { Run } from './run.ts';

export const PREFIX = '/drover/jobs';

export const keys = {
  frameworkId: `${PREFIX}/framework-id`,
  spec: (jobId: string) => `${PREFIX}/specs/${jobId}`,
  cursor: (jobId: string, scheduleId: string) => `${PREFIX}/cursors/${jobId}/${scheduleId}`,
  cursors: (jobId: string) => `${PREFIX}/cursors/${jobId}/`,
  claim: (jobId: string, cycle: string) => `${PREFIX}/claims/${jobId}/${encodeURIComponent(cycle)}`,
  claims: (jobId: string) => `${PREFIX}/claims/${jobId}/`,
  run: (jobId: string, runId: string) => `${PREFIX}/runs/${jobId}/${runId}`,
  runs: (jobId: string) => `${PREFIX}/runs/${jobId}/`,
  history: (jobId: string) => `${PREFIX}/history/${jobId}`,
};

export interface Cursor {
  /** The last tick decided (ms). */
  cursor: number;
  /** When the schedule was stored: the origin of intervals without a start. */
  storedAt: number;
}

export type Claim = { runId: string } | { skipped: string };

export interface LoadedState {
  frameworkId: string | undefined;
  jobs: Job[];
  cursors: Map<string, Cursor>;
  claims: Map<string, Claim>;
  runs: Run[];
  histories: Map<string, History>;
}

/** Map keys used in memory for (job, schedule) and (job, cycle). */
export const pairKey = (a: string, b: string): string => `${a}\u0000${b}`;

export async function loadState(store: Store): Promise<LoadedState> {
  const [specs, cursors, claims, runs, histories, id] = await Promise.all([
    store.range(`${PREFIX}/specs/`),
    store.range(`${PREFIX}/cursors/`),
    store.range(`${PREFIX}/claims/`),
    store.range(`${PREFIX}/runs/`),
    store.range(`${PREFIX}/history/`),
    store.get(keys.frameworkId),
  ]);
  const rest = (key: string, prefix: string): string[] => key.slice(`${PREFIX}/${prefix}/`.length).split('/');
  return {
    frameworkId: id?.value,
    jobs: specs.kvs.map((kv) => JSON.parse(kv.value) as Job),
    cursors: new Map(
      cursors.kvs.map((kv) => {
        const [jobId = '', scheduleId = ''] = rest(kv.key, 'cursors');
        return [pairKey(jobId, scheduleId), JSON.parse(kv.value) as Cursor];
      }),
    ),
    claims: new Map(
      claims.kvs.map((kv) => {
        const [jobId = '', cycle = ''] = rest(kv.key, 'claims');
        return [pairKey(jobId, decodeURIComponent(cycle)), JSON.parse(kv.value) as Claim];
      }),
    ),
    runs: runs.kvs.map((kv) => JSON.parse(kv.value) as Run),
    histories: new Map(histories.kvs.map((kv) => [rest(kv.key, 'history')[0] ?? '', JSON.parse(kv.value) as History])),
  };
}
