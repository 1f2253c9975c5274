/**
 * The pure core of the jobs framework: which ticks of a schedule are due at `now` and what to do
 * with each (launch, or skip with the reason), and the dependency graph (validation, and what a
 * child does in a cycle given its parents' outcomes). No clock, no store: the shell passes `now`
 * and applies the result.
 */
import type { ErrorDetail } from '../../errors/errors.ts';
import { nextTick, type Job, type Schedule } from './job.ts';

export type TickDecision = { tick: number; action: 'launch' } | { tick: number; action: 'skip'; reason: string; count?: number };

export interface TickPlan {
  decisions: TickDecision[];
  /** The last tick decided: the new cursor (ticks up to it are done, exactly once). */
  cursor: number;
}

/** More missed ticks than this are summarised in one skip record instead of one each. */
export const MAX_SKIP_RECORDS = 100;
/** Ticks beyond this many in one plan are handled by the next plan (bounds a plan's work). */
const MAX_TICKS_PER_PLAN = 10_000;

/**
 * Every tick in (cursor, now]: missed by more than `startingDeadlineSeconds` → skipped with the
 * reason; under FORBID while a run is active → skipped; otherwise launched. `activeRunId` is a
 * run of the job that has not finished (FORBID counts the runs this plan launches too).
 */
export function planTicks(schedule: Schedule, cursor: number, storedAt: number, now: number, activeRunId: string | undefined): TickPlan {
  const decisions: TickDecision[] = [];
  if (!schedule.enabled) return { decisions, cursor: Math.max(cursor, now) };
  const deadlineMs = schedule.startingDeadlineSeconds * 1000;
  let active = activeRunId;
  let last = cursor;
  const missed: number[] = [];
  for (let n = 0; n < MAX_TICKS_PER_PLAN; n++) {
    const tick = nextTick(schedule, last, storedAt);
    if (tick === undefined || tick > now) break;
    last = tick;
    if (now - tick > deadlineMs) {
      missed.push(tick);
      continue;
    }
    if (schedule.concurrencyPolicy === 'FORBID' && active !== undefined) {
      decisions.push({ tick, action: 'skip', reason: `concurrencyPolicy FORBID: run ${active} is still active` });
      continue;
    }
    decisions.push({ tick, action: 'launch' });
    active = `of tick ${new Date(tick).toISOString()}`;
  }
  return { decisions: [...missedDecisions(missed, schedule, now), ...decisions], cursor: last };
}

function missedDecisions(missed: number[], schedule: Schedule, now: number): TickDecision[] {
  const reason = (tick: number): string =>
    `missed: tick ${new Date(tick).toISOString()} was ${Math.round((now - tick) / 1000)} s ago, beyond startingDeadlineSeconds ${schedule.startingDeadlineSeconds} (the framework was not running)`;
  if (missed.length <= MAX_SKIP_RECORDS) return missed.map((tick) => ({ tick, action: 'skip' as const, reason: reason(tick) }));
  // One record for the oldest ones, so a long outage cannot flood the history.
  const older = missed.slice(0, missed.length - MAX_SKIP_RECORDS + 1);
  const first = older[0]!;
  const lastOlder = older[older.length - 1]!;
  return [
    {
      tick: lastOlder,
      action: 'skip',
      count: older.length,
      reason: `missed: ${older.length} ticks from ${new Date(first).toISOString()} to ${new Date(lastOlder).toISOString()}, beyond startingDeadlineSeconds ${schedule.startingDeadlineSeconds} (the framework was not running)`,
    },
    ...missed.slice(missed.length - MAX_SKIP_RECORDS + 1).map((tick) => ({ tick, action: 'skip' as const, reason: reason(tick) })),
  ];
}

// ---- dependencies -----------------------------------------------------------------------------

/** Unknown parents and cycles, if `candidate` replaced its namesake in `jobs`. */
export function dependencyErrors(jobs: ReadonlyMap<string, Job>, candidate: Job): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const [i, d] of candidate.dependencies.entries()) {
    if (d.id === candidate.id) out.push({ path: `/dependencies/${i}/id`, errors: ['a job cannot depend on itself'] });
    else if (!jobs.has(d.id)) out.push({ path: `/dependencies/${i}/id`, errors: [`unknown parent job '${d.id}'`] });
  }
  if (out.length > 0) return out;
  const graph = new Map([...jobs].map(([id, j]) => [id, j.dependencies.map((d) => d.id)]));
  graph.set(
    candidate.id,
    candidate.dependencies.map((d) => d.id),
  );
  const path = cycleThrough(graph, candidate.id);
  if (path) out.push({ path: '/dependencies', errors: [`dependency cycle: ${path.join(' → ')}`] });
  return out;
}

/** A cycle through `start` following parent edges, as a path start → … → start. */
function cycleThrough(graph: Map<string, string[]>, start: string): string[] | undefined {
  const seen = new Set<string>();
  const walk = (id: string, path: string[]): string[] | undefined => {
    for (const parent of graph.get(id) ?? []) {
      if (parent === start) return [...path, parent];
      if (seen.has(parent)) continue;
      seen.add(parent);
      const found = walk(parent, [...path, parent]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, [start]);
}

/** Jobs that list `parentId` as a dependency. */
export function childrenOf(jobs: Iterable<Job>, parentId: string): Job[] {
  return [...jobs].filter((j) => j.dependencies.some((d) => d.id === parentId)).sort((a, b) => a.id.localeCompare(b.id));
}

export type Outcome = { state: 'PENDING' } | { state: 'SUCCESS'; runId: string } | { state: 'FAILED'; runId: string } | { state: 'SKIPPED'; reason: string };

export type ChildDecision = { action: 'wait' } | { action: 'launch' } | { action: 'skip'; reason: string };

/**
 * What `child` does in `cycle`: run once every parent succeeded in that same cycle; be skipped,
 * naming the parent, as soon as one failed or was skipped; otherwise wait for the others.
 */
export function decideChild(child: Job, cycle: string, outcomeOf: (jobId: string) => Outcome): ChildDecision {
  let waiting = false;
  let skipped: string | undefined;
  for (const { id } of child.dependencies) {
    const o = outcomeOf(id);
    if (o.state === 'FAILED') return { action: 'skip', reason: `parent '${id}' failed in cycle ${cycle} (run ${o.runId})` };
    if (o.state === 'SKIPPED') skipped ??= `parent '${id}' was skipped in cycle ${cycle}: ${o.reason}`;
    if (o.state === 'PENDING') waiting = true;
  }
  if (skipped) return { action: 'skip', reason: skipped };
  return waiting ? { action: 'wait' } : { action: 'launch' };
}
