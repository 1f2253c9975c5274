/**
 * Cycles: the shell side of the tick planner and the dependency graph. A tick is decided once —
 * launched or skipped with the reason — in one store transaction that moves the schedule's cursor
 * and creates the claim (job id, tick) only if absent; a finished (or skipped) run releases its
 * children in the same cycle: each runs, is recorded as skipped naming its parent, or waits.
 * Called only from inside `JobsFramework.serial`.
 */
import type { Logger } from '../../log/index.ts';
import type { Compare, Op, Store } from '../../store/store.ts';
import { recordSkipped, type History } from './history.ts';
import type { Job, Schedule } from './job.ts';
import { keys, pairKey, type Claim, type Cursor } from './job-store.ts';
import { childrenOf, decideChild, planTicks, type Outcome, type TickDecision } from './planner.ts';
import type { Run } from './run.ts';

/**
 * What cycles read and change of the jobs framework (JobsFramework satisfies it). Store failures:
 * every decision is written in one transaction before memory changes; a failed one throws, the
 * cursor stays where it was, and the next tick decides the same ticks again.
 */
export interface CycleBook {
  readonly jobs: ReadonlyMap<string, Job>;
  readonly runs: Map<string, Run>;
  readonly cursors: Map<string, Cursor>;
  readonly claims: Map<string, Claim>;
  readonly histories: Map<string, History>;
  readonly historyCount: number;
  readonly store: Pick<Store, 'txn' | 'get' | 'range'>;
  readonly launcher: { wantOffers(fresh?: boolean): void };
  now(): number;
  history(jobId: string): History;
  newRun(job: Job, trigger: Run['trigger'], cycle: string, now: number, scheduledAt?: number, id?: string): Run;
  createRun(job: Job, trigger: Run['trigger'], cycle: string, now: number, scheduledAt?: number, id?: string): Promise<Run | undefined>;
}

/**
 * Decisions per transaction: each is a compare and up to three operations (claim, run, a pruned
 * skip's claim), plus the cursor and the history — well under etcd's 128 per list.
 */
const TICKS_PER_TXN = 30;

export class Cycles {
  constructor(
    private readonly jobs: CycleBook,
    private readonly log: Logger,
  ) {}

  /** `active`: a run of the job that has not finished, if any (for FORBID). */
  async tickSchedule(job: Job, schedule: Schedule, now: number, active: string | undefined): Promise<void> {
    const cursor = this.jobs.cursors.get(pairKey(job.id, schedule.id)) ?? { cursor: now, storedAt: now };
    const plan = planTicks(schedule, cursor.cursor, cursor.storedAt, now, active);
    if (plan.cursor === cursor.cursor) return;
    // A tick whose cycle is already claimed was decided before (e.g. by a previous incarnation).
    const decisions = plan.decisions.filter((d) => !this.jobs.claims.has(pairKey(job.id, cycleOf(d.tick))));
    // Bounded transactions (etcd refuses more than 128 operations in one): the cursor moves chunk by chunk.
    for (let i = 0; i === 0 || i < decisions.length; i += TICKS_PER_TXN) {
      const chunk = decisions.slice(i, i + TICKS_PER_TXN);
      const last = i + TICKS_PER_TXN >= decisions.length;
      if (!(await this.commitTicks(job, schedule, chunk, last ? plan.cursor : chunk[chunk.length - 1]!.tick, now))) return;
    }
  }

  /** One transaction: these decisions and the cursor, iff the cursor is what this instance last saw. */
  private async commitTicks(job: Job, schedule: Schedule, decisions: TickDecision[], cursorTo: number, now: number): Promise<boolean> {
    const cursorKey = pairKey(job.id, schedule.id);
    const cursor = this.jobs.cursors.get(cursorKey) ?? { cursor: now, storedAt: now };
    const next: Cursor = { ...cursor, cursor: cursorTo };
    const compare: Compare[] = [
      this.jobs.cursors.has(cursorKey)
        ? { key: keys.cursor(job.id, schedule.id), target: 'value', op: '=', value: JSON.stringify(cursor) }
        : { key: keys.cursor(job.id, schedule.id), target: 'version', op: '=', value: 0 },
    ];
    const ops: Op[] = [{ type: 'put', key: keys.cursor(job.id, schedule.id), value: JSON.stringify(next) }];
    const runs: Run[] = [];
    const claims = new Map<string, Claim>();
    let history = this.jobs.history(job.id);
    for (const d of decisions) {
      const cycle = cycleOf(d.tick);
      compare.push({ key: keys.claim(job.id, cycle), target: 'version', op: '=', value: 0 });
      let claim: Claim;
      if (d.action === 'launch') {
        const run = this.jobs.newRun(job, 'schedule', cycle, now, d.tick);
        runs.push(run);
        claim = { runId: run.id };
        ops.push({ type: 'put', key: keys.run(job.id, run.id), value: JSON.stringify(run) });
      } else {
        claim = { skipped: d.reason };
        history = recordSkipped(history, { cycle, scheduledAt: d.tick, skippedAt: now, reason: d.reason, count: d.count ?? 1 }, this.jobs.historyCount);
      }
      claims.set(cycle, claim);
    }
    if (history !== this.jobs.history(job.id)) ops.push({ type: 'put', key: keys.history(job.id), value: JSON.stringify(history) });
    // Skip records beyond the retained history leave no claim behind (the cursor is past their
    // ticks): older ones are deleted, and ones that never made it into the kept history are not written.
    const kept = new Set(history.skippedRuns.map((x) => x.cycle));
    const transient = new Set([...claims].filter(([c, claim]) => 'skipped' in claim && !kept.has(c)).map(([c]) => c));
    for (const [cycle, claim] of claims) if (!transient.has(cycle)) ops.push({ type: 'put', key: keys.claim(job.id, cycle), value: JSON.stringify(claim) });
    const prunedSkips = droppedSkips(this.jobs.history(job.id), history).filter((c) => !claims.has(c));
    for (const cycle of prunedSkips) ops.push({ type: 'delete', key: keys.claim(job.id, cycle) });
    const result = await this.jobs.store.txn({ compare, success: ops });
    if (!result.succeeded) {
      // Someone else (an earlier incarnation, another master) decided these ticks: take its word.
      await this.reloadSchedule(job.id, schedule.id);
      this.log.warn({ jobId: job.id, scheduleId: schedule.id }, 'tick-already-decided');
      return false;
    }
    this.jobs.cursors.set(cursorKey, next);
    this.jobs.histories.set(job.id, history);
    for (const cycle of prunedSkips) this.jobs.claims.delete(pairKey(job.id, cycle));
    for (const [cycle, claim] of claims) this.jobs.claims.set(pairKey(job.id, cycle), claim);
    for (const run of runs) this.jobs.runs.set(pairKey(job.id, run.id), run);
    if (runs.length > 0) this.jobs.launcher.wantOffers(true);
    for (const d of decisions) {
      if (d.action === 'launch') this.log.info({ jobId: job.id, tick: new Date(d.tick).toISOString() }, 'scheduled-run');
      else this.log.warn({ jobId: job.id, tick: new Date(d.tick).toISOString(), reason: d.reason }, 'skipped-tick');
    }
    // A skipped tick is a skipped cycle: dependents are recorded as skipped too, never left waiting.
    for (const d of decisions) if (d.action === 'skip') await this.releaseChildren(job.id, cycleOf(d.tick));
    for (const cycle of transient) this.jobs.claims.delete(pairKey(job.id, cycle));
    return true;
  }

  private async reloadSchedule(jobId: string, scheduleId: string): Promise<void> {
    const [cursor, claims] = await Promise.all([this.jobs.store.get(keys.cursor(jobId, scheduleId)), this.jobs.store.range(keys.claims(jobId))]);
    if (cursor) this.jobs.cursors.set(pairKey(jobId, scheduleId), JSON.parse(cursor.value) as Cursor);
    for (const kv of claims.kvs) this.jobs.claims.set(pairKey(jobId, decodeURIComponent(kv.key.slice(keys.claims(jobId).length))), JSON.parse(kv.value) as Claim);
  }

  /** After a parent's outcome in `cycle` is known: each child runs, is skipped (naming why), or waits. */
  async releaseChildren(parentId: string, cycle: string): Promise<void> {
    for (const child of childrenOf(this.jobs.jobs.values(), parentId)) {
      const claim = this.jobs.claims.get(pairKey(child.id, cycle));
      if (claim && 'runId' in claim) continue;
      const decision = decideChild(child, cycle, (id) => this.outcome(id, cycle));
      if (decision.action === 'wait') continue;
      if (decision.action === 'launch') {
        await this.jobs.createRun(child, 'dependency', cycle, this.jobs.now());
        continue;
      }
      if (claim) continue;
      const skip: Claim = { skipped: decision.reason };
      const history = recordSkipped(this.jobs.history(child.id), { cycle, skippedAt: this.jobs.now(), reason: decision.reason, count: 1 }, this.jobs.historyCount);
      const pruned = droppedSkips(this.jobs.history(child.id), history).filter((c) => c !== cycle);
      const result = await this.jobs.store.txn({
        compare: [{ key: keys.claim(child.id, cycle), target: 'version', op: '=', value: 0 }],
        success: [
          { type: 'put', key: keys.claim(child.id, cycle), value: JSON.stringify(skip) },
          { type: 'put', key: keys.history(child.id), value: JSON.stringify(history) },
          ...pruned.map((c) => ({ type: 'delete' as const, key: keys.claim(child.id, c) })),
        ],
      });
      if (!result.succeeded) continue;
      for (const c of pruned) this.jobs.claims.delete(pairKey(child.id, c));
      this.jobs.claims.set(pairKey(child.id, cycle), skip);
      this.jobs.histories.set(child.id, history);
      this.log.warn({ jobId: child.id, cycle, reason: decision.reason }, 'skipped-dependent-run');
      await this.releaseChildren(child.id, cycle);
    }
  }

  private outcome(jobId: string, cycle: string): Outcome {
    const claim = this.jobs.claims.get(pairKey(jobId, cycle));
    if (!claim) return { state: 'PENDING' };
    if ('skipped' in claim) return { state: 'SKIPPED', reason: claim.skipped };
    const run = this.jobs.runs.get(pairKey(jobId, claim.runId));
    if (run?.status === 'SUCCESS') return { state: 'SUCCESS', runId: run.id };
    if (run?.status === 'FAILED') return { state: 'FAILED', runId: run.id };
    return { state: 'PENDING' };
  }
}

/** The cycle of a scheduled tick: its time, so parents on the same schedule share cycles. */
export function cycleOf(tick: number): string {
  return new Date(tick).toISOString();
}

/** Cycles of skip records that fell out of the retained history (their claims can go). */
function droppedSkips(before: History, after: History): string[] {
  const kept = new Set(after.skippedRuns.map((s) => s.cycle));
  return before.skippedRuns.map((s) => s.cycle).filter((c) => !kept.has(c));
}
