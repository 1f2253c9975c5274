/**
 * The jobs framework (Metronome's role, with Chronos' dependent jobs): keeps jobs, schedules,
 * runs and history in the store, and applies the pure core's decisions — ticks (planner.ts),
 * dependency cycles (planner.ts), history (history.ts). Launching on offers and task updates is
 * runs.ts; the HTTP API is api.ts.
 *
 * Every change goes through `serial`, one at a time, so the in-memory view and the store agree;
 * every decision that must happen once (a tick, a child's run in a cycle) is a create-if-absent
 * in the store, written before anything is launched.
 */
import { systemClock, type Clock } from '../../clock/clock.ts';
import type { Logger } from '../../log/index.ts';
import { DroverError } from '../../errors/errors.ts';
import type { Compare, Op, Store } from '../../store/store.ts';
import { repeatEvery } from '../sdk/driver.ts';
import type { SchedulerTransport } from '../sdk/scheduler.ts';
import { DEFAULT_HISTORY_COUNT, emptyHistory, recordFinished, type History } from './history.ts';
import { invalid, type Job, type Schedule } from './job.ts';
import { keys, loadState, pairKey, type Claim, type Cursor } from './job-store.ts';
import { childrenOf, dependencyErrors } from './planner.ts';
import { cycleRunId, isFinished, manualRunId, transition, type Run, type RunStatus } from './run.ts';
import { RunLauncher, restoreRun } from './runs.ts';
import { Cycles } from './cycles.ts';

export interface JobsOptions {
  transport: SchedulerTransport;
  store: Store;
  logger: Logger;
  clock?: Clock;
  /** Finished runs kept per job and kind (Metronome's `history.count`, default 10). */
  historyCount?: number;
  /** Random bytes for manual run ids (default crypto.randomBytes). */
  random?: (size: number) => Buffer;
  /** Evaluate schedules every this many ms on a real timer (default 1000); 0 = only when `tick()` is called. */
  tickIntervalMs?: number;
  frameworkName?: string;
  role?: string;
  /** FrameworkInfo.user: who a job's runs run as unless the job names a user; default nobody. */
  frameworkUser?: string;
}

export class JobsFramework {
  readonly jobs = new Map<string, Job>();
  /** Runs by pairKey(jobId, runId): active ones, and finished ones still in the history. */
  readonly runs = new Map<string, Run>();
  readonly histories = new Map<string, History>();
  readonly cursors = new Map<string, Cursor>();
  readonly claims = new Map<string, Claim>();
  readonly clock: Clock;
  readonly historyCount: number;
  readonly launcher: RunLauncher;
  readonly cycles: Cycles;
  private storedFrameworkId: string | undefined;
  private readonly log: Logger;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: { stop(): void } | undefined;
  /** Dependents' releases whose store write failed: retried at each tick (policy, see finishRun). */
  private readonly pendingReleases = new Map<string, { parentId: string; cycle: string }>();
  private stopped = false;
  /** A timer tick is queued or running: the next one is not queued behind it. */
  private ticking = false;

  constructor(readonly options: JobsOptions) {
    this.clock = options.clock ?? systemClock;
    this.historyCount = options.historyCount ?? DEFAULT_HISTORY_COUNT;
    this.log = options.logger;
    this.launcher = new RunLauncher(this, options.logger, {
      transport: options.transport,
      clock: this.clock,
      ...(options.frameworkName === undefined ? {} : { frameworkName: options.frameworkName }),
      ...(options.role === undefined ? {} : { role: options.role }),
      ...(options.frameworkUser === undefined ? {} : { frameworkUser: options.frameworkUser }),
    });
    this.cycles = new Cycles(this, options.logger);
  }

  get frameworkId(): string | undefined {
    return this.launcher.frameworkId ?? this.storedFrameworkId;
  }

  get store(): Store {
    return this.options.store;
  }

  async start(): Promise<void> {
    const state = await loadState(this.store);
    for (const job of state.jobs) this.jobs.set(job.id, job);
    for (const [k, v] of state.cursors) this.cursors.set(k, v);
    for (const [k, v] of state.claims) this.claims.set(k, v);
    for (const [k, v] of state.histories) this.histories.set(k, v);
    for (const run of state.runs) this.runs.set(pairKey(run.jobId, run.id), run);
    this.storedFrameworkId = state.frameworkId;
    await this.launcher.subscribe(state.frameworkId);
    // Catch up right away: ticks between the last decided one and now are decided before anything else.
    await this.tick();
    const every = this.options.tickIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = repeatEvery(this.clock, every, () => {
        if (this.ticking) return;
        this.ticking = true;
        void this.tick()
          .catch((error: unknown) => this.log.error({ err: error }, 'jobs-tick-failed'))
          .finally(() => (this.ticking = false));
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.stop();
    await this.launcher.close();
    await this.chain;
  }

  /** Run `change` after every change before it (never call serial from inside serial). */
  serial<T>(change: () => Promise<T>): Promise<T> {
    const next = this.chain.then(change, change);
    this.chain = next.catch(() => undefined);
    return next;
  }

  now(): number {
    return this.clock.now();
  }

  // ---- reading ------------------------------------------------------------------------------

  job(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new DroverError('NOT_FOUND', `Job '${id}' does not exist`);
    return job;
  }

  runsOf(jobId: string): Run[] {
    return [...this.runs.values()].filter((r) => r.jobId === jobId).sort((a, b) => b.createdAt - a.createdAt);
  }

  activeRuns(jobId: string): Run[] {
    return this.runsOf(jobId).filter((r) => !isFinished(r.status));
  }

  run(jobId: string, runId: string): Run {
    this.job(jobId);
    const run = this.runs.get(pairKey(jobId, runId));
    if (!run) throw new DroverError('NOT_FOUND', `Run '${runId}' of job '${jobId}' does not exist`);
    return run;
  }

  history(jobId: string): History {
    return this.histories.get(jobId) ?? emptyHistory();
  }

  cursorOf(jobId: string, scheduleId: string): Cursor | undefined {
    return this.cursors.get(pairKey(jobId, scheduleId));
  }

  // ---- desired state ------------------------------------------------------------------------

  /** Create (`create`) or replace a job. A schedule that is new or changed starts counting from now. */
  putJob(job: Job, create: boolean): Promise<Job> {
    return this.serial(async () => {
      const previous = this.jobs.get(job.id);
      if (create && previous) throw new DroverError('CONFLICT', `Job with id '${job.id}' already exists`);
      const errors = dependencyErrors(this.jobs, job);
      if (errors.length > 0) throw invalid(errors);
      const now = this.now();
      const ops: Op[] = [{ type: 'put', key: keys.spec(job.id), value: JSON.stringify(job) }];
      const cursors = new Map<string, Cursor>();
      for (const s of job.schedules) {
        const before = previous?.schedules.find((p) => p.id === s.id);
        const existing = this.cursorOf(job.id, s.id);
        if (before && existing && sameTiming(before, s)) continue;
        cursors.set(s.id, { cursor: now, storedAt: now });
      }
      for (const [id, c] of cursors) ops.push({ type: 'put', key: keys.cursor(job.id, id), value: JSON.stringify(c) });
      for (const p of previous?.schedules ?? []) if (!job.schedules.some((s) => s.id === p.id)) ops.push({ type: 'delete', key: keys.cursor(job.id, p.id) });
      const compare: Compare[] = create ? [{ key: keys.spec(job.id), target: 'version', op: '=', value: 0 }] : [];
      const result = await this.store.txn({ compare, success: ops });
      if (!result.succeeded) throw new DroverError('CONFLICT', `Job with id '${job.id}' already exists`);
      this.jobs.set(job.id, job);
      for (const p of previous?.schedules ?? []) if (!job.schedules.some((s) => s.id === p.id)) this.cursors.delete(pairKey(job.id, p.id));
      for (const [id, c] of cursors) this.cursors.set(pairKey(job.id, id), c);
      this.log.info({ jobId: job.id, create }, 'stored-job');
      return job;
    });
  }

  /** DELETE /v1/jobs/{id}: 409 while runs are active (unless `stopCurrentJobRuns`) or jobs depend on it. */
  deleteJob(jobId: string, stopCurrentJobRuns: boolean): Promise<Job> {
    return this.serial(async () => {
      const job = this.job(jobId);
      const dependents = childrenOf(this.jobs.values(), jobId);
      if (dependents.length > 0) throw new DroverError('CONFLICT', `Job '${jobId}' is a dependency of ${dependents.map((d) => `'${d.id}'`).join(', ')}; delete or change those first`);
      const active = this.activeRuns(jobId);
      if (active.length > 0 && !stopCurrentJobRuns) throw new DroverError('CONFLICT', 'There are active job runs. Override with stopCurrentJobRuns=true');
      // Policy: the store first; a failed write throws (503) and nothing is killed or forgotten.
      await this.store.txn({
        success: [
          { type: 'delete', key: keys.spec(jobId) },
          { type: 'delete', key: keys.history(jobId) },
          { type: 'deletePrefix', prefix: keys.cursors(jobId) },
          { type: 'deletePrefix', prefix: keys.claims(jobId) },
          { type: 'deletePrefix', prefix: keys.runs(jobId) },
        ],
      });
      for (const run of active) this.launcher.killTasks(run);
      this.jobs.delete(jobId);
      this.histories.delete(jobId);
      // Its offer rejections (for /v1/queue) too: kept, every job id ever created stayed in memory.
      this.launcher.rejections.delete(jobId);
      for (const map of [this.cursors, this.claims, this.runs] as Array<Map<string, unknown>>) {
        for (const key of [...map.keys()]) if (key.startsWith(`${jobId}\u0000`)) map.delete(key);
      }
      this.log.info({ jobId, stoppedRuns: active.length }, 'deleted-job');
      return job;
    });
  }

  // ---- runs ---------------------------------------------------------------------------------

  /** POST /v1/jobs/{id}/runs: a run now, in a cycle of its own (its dependents follow it). */
  runNow(jobId: string): Promise<Run> {
    return this.serial(async () => {
      const job = this.job(jobId);
      const now = this.now();
      const id = manualRunId(now, this.options.random);
      const run = await this.createRun(job, 'manual', `manual-${id}`, now, undefined, id);
      if (!run) throw new DroverError('CONFLICT', `Run '${id}' of job '${jobId}' already exists`);
      return run;
    });
  }

  /** POST …/runs/{runId}/actions/stop: kill the run's task; the run ends FAILED and is not retried. */
  stopRun(jobId: string, runId: string): Promise<Run> {
    return this.serial(async () => {
      const run = this.run(jobId, runId);
      if (isFinished(run.status)) throw new DroverError('CONFLICT', `Run '${runId}' of job '${jobId}' already finished (${run.status})`);
      // Policy: stored before the kill; a failed write throws (503) and the run is as it was.
      const launched = run.status !== 'INITIAL';
      run.stopRequested = true;
      try {
        if (launched) await this.saveRun(run);
        else await this.finishRun(run, 'FAILED', 'stopped by request before it was launched');
      } catch (error) {
        delete run.stopRequested;
        throw error;
      }
      if (launched) this.launcher.killTasks(run);
      return run;
    });
  }

  /**
   * POST …/runs/{runId}/actions/success (Chronos' `job/success`): the run counts as successful
   * — an active one's task is killed, a failed one moves to the successes — and its dependents
   * in the same cycle are released (a child skipped because of it runs now).
   */
  markSuccess(jobId: string, runId: string): Promise<Run> {
    return this.serial(async () => {
      const run = this.run(jobId, runId);
      if (run.status === 'SUCCESS') return run;
      const active = !isFinished(run.status);
      // Policy: stored first, then the kill: a failed write throws (503) and the run goes on.
      await this.finishRun(run, 'SUCCESS', 'marked successful by hand');
      if (active) this.launcher.killTasks(run);
      return run;
    });
  }

  /** A new run of `job` in `cycle`, stored with its claim before anything launches; undefined if the cycle is taken. */
  async createRun(job: Job, trigger: Run['trigger'], cycle: string, now: number, scheduledAt?: number, id?: string): Promise<Run | undefined> {
    const run = this.newRun(job, trigger, cycle, now, scheduledAt, id);
    const claimKey = pairKey(job.id, cycle);
    const previous = this.claims.get(claimKey);
    // Create-if-absent, or replace exactly the skip it was (a parent marked successful by hand).
    const compare: Compare = previous
      ? { key: keys.claim(job.id, cycle), target: 'value', op: '=', value: JSON.stringify(previous) }
      : { key: keys.claim(job.id, cycle), target: 'version', op: '=', value: 0 };
    const claim: Claim = { runId: run.id };
    const result = await this.store.txn({
      compare: [compare],
      success: [
        { type: 'put', key: keys.claim(job.id, cycle), value: JSON.stringify(claim) },
        { type: 'put', key: keys.run(job.id, run.id), value: JSON.stringify(run) },
      ],
    });
    if (!result.succeeded) {
      this.log.warn({ jobId: job.id, cycle }, 'run-already-claimed');
      return undefined;
    }
    this.claims.set(claimKey, claim);
    this.runs.set(pairKey(job.id, run.id), run);
    this.log.info({ jobId: job.id, runId: run.id, trigger, cycle }, 'created-run');
    this.launcher.wantOffers(true);
    return run;
  }

  newRun(job: Job, trigger: Run['trigger'], cycle: string, now: number, scheduledAt?: number, id?: string): Run {
    return {
      id: id ?? cycleRunId(job.id, cycle, scheduledAt ?? now),
      jobId: job.id,
      status: 'INITIAL',
      createdAt: now,
      trigger,
      cycle,
      tasks: [],
      waitingSince: now,
      ...(scheduledAt === undefined ? {} : { scheduledAt }),
    };
  }

  /** A run's change (inside serial). Its callers restore the run if this fails (runs.ts). */
  async saveRun(run: Run): Promise<void> {
    await this.store.put(keys.run(run.jobId, run.id), JSON.stringify(run));
  }

  /**
   * End a run (inside serial): history, the run record and pruning in one write; then its dependents.
   * Policy: if the write fails the run is restored to what was stored and the error thrown (the
   * caller leaves the update unacknowledged, or answers 503). If releasing a dependent fails after
   * it, the release is retried at each tick until it lands.
   */
  async finishRun(run: Run, status: Extract<RunStatus, 'SUCCESS' | 'FAILED'>, reason?: string): Promise<void> {
    const snapshot = JSON.stringify(run);
    const { before } = transition(run, status, this.now());
    if (reason !== undefined) run.reason = reason;
    const change = recordFinished(this.history(run.jobId), run, this.historyCount);
    const ops: Op[] = [
      { type: 'put', key: keys.run(run.jobId, run.id), value: JSON.stringify(run) },
      { type: 'put', key: keys.history(run.jobId), value: JSON.stringify(change.history) },
    ];
    // A run that leaves the history takes its claim along: the store does not grow with every tick.
    // (Its tick stays decided: the cursor is past it.)
    const droppedCycles = change.dropped.map((id) => this.runs.get(pairKey(run.jobId, id))?.cycle).filter((c): c is string => c !== undefined);
    for (const id of change.dropped) ops.push({ type: 'delete', key: keys.run(run.jobId, id) });
    for (const cycle of droppedCycles) ops.push({ type: 'delete', key: keys.claim(run.jobId, cycle) });
    try {
      await this.store.txn({ success: ops });
    } catch (error) {
      restoreRun(run, snapshot);
      throw error;
    }
    this.histories.set(run.jobId, change.history);
    for (const id of change.dropped) this.runs.delete(pairKey(run.jobId, id));
    for (const cycle of droppedCycles) this.claims.delete(pairKey(run.jobId, cycle));
    this.log.info({ jobId: run.jobId, runId: run.id, before, status, reason }, 'finished-run');
    await this.release(run.jobId, run.cycle);
  }

  /** Release `parentId`'s dependents in `cycle`; a failed write leaves it pending for the next tick. */
  private async release(parentId: string, cycle: string): Promise<void> {
    const key = pairKey(parentId, cycle);
    try {
      await this.cycles.releaseChildren(parentId, cycle);
      this.pendingReleases.delete(key);
    } catch (error) {
      this.pendingReleases.set(key, { parentId, cycle });
      this.log.error({ err: error, jobId: parentId, cycle }, 'release-write-failed');
    }
  }

  // ---- schedules and dependencies ------------------------------------------------------------

  /** Decide every due tick of every schedule, exactly once each, then launch-side housekeeping. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.serial(async () => {
      const now = this.now();
      // One pass over the runs, not one per job: a run of each job that has not finished (FORBID).
      const active = new Map<string, string>();
      for (const r of this.runs.values()) if (!isFinished(r.status)) active.set(r.jobId, r.id);
      for (const job of [...this.jobs.values()]) {
        for (const schedule of job.schedules) await this.cycles.tickSchedule(job, schedule, now, active.get(job.id));
      }
      for (const { parentId, cycle } of [...this.pendingReleases.values()]) await this.release(parentId, cycle);
      await this.launcher.expireWaiting(now);
      this.launcher.wantOffers();
    });
  }
}

function sameTiming(a: Schedule, b: Schedule): boolean {
  return a.cron === b.cron && a.timezone === b.timezone && a.enabled === b.enabled;
}
