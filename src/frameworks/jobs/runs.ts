/**
 * The launch side of the jobs framework: the scheduler subscription, offers → tasks for runs
 * waiting in INITIAL (placement with reasons), task updates → run transitions, retries under the
 * restart policy, kills, reconciliation after a restart, and `maxLaunchDelay`.
 *
 * A job task that exits 0 ends its run SUCCESS and is never restarted; a failed one is retried
 * only under ON_FAILURE, within `activeDeadlineSeconds` (and `retries`, a Drover extension).
 */
import type { Clock } from '../../clock/clock.ts';
import type { Logger } from '../../log/index.ts';
import { isTerminalState, type TaskState } from '../../protocol/mesos/enums.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { Resources } from '../../resources/index.ts';
import type { Store } from '../../store/store.ts';
import { builtInFrameworkInfo, repeatEvery, SchedulerDriver } from '../sdk/driver.ts';
import { killsUnknownTask, type OfferJson, type OutgoingCall, type SchedulerConnection, type SchedulerTransport } from '../sdk/scheduler.ts';
import type { Job } from './job.ts';
import { keys, pairKey } from './job-store.ts';
import { fit } from './placement.ts';
import { isFinished, runTaskId, transition, type Run, type RunStatus } from './run.ts';
import { buildJobTaskInfo } from './task-builder.ts';

/** Reconciliation of every live task, this often. */
const RECONCILE_MS = 30_000;
/** Runs stored per transaction before their launch. */
const RUNS_PER_TXN = 100;

/** What the launch side needs of the jobs framework (JobsFramework satisfies it). */
export interface RunBook {
  readonly jobs: ReadonlyMap<string, Job>;
  readonly runs: ReadonlyMap<string, Run>;
  readonly store: Pick<Store, 'txn' | 'put'>;
  now(): number;
  /** Run `change` after every change before it. */
  serial<T>(change: () => Promise<T>): Promise<T>;
  saveRun(run: Run): Promise<void>;
  finishRun(run: Run, status: Extract<RunStatus, 'SUCCESS' | 'FAILED'>, reason?: string): Promise<void>;
}

export interface LauncherOptions {
  transport: SchedulerTransport;
  clock: Clock;
  frameworkName?: string;
  role?: string;
  /** FrameworkInfo.user: who a job's runs run as unless the job names a user; default nobody. */
  frameworkUser?: string;
}

/** How often a task the master does not know yet is asked about before it counts as lost. */
const UNKNOWN_RETRIES = 30;

export interface Rejection {
  agentId: string;
  hostname: string;
  reason: string;
  at: number;
}

export class RunLauncher {
  private suppressed = true;
  private readonly unknown = new Map<string, number>();
  /** Why recent offers were not used, per job and agent (for /v1/queue). */
  readonly rejections = new Map<string, Map<string, Rejection>>();
  private rounds: { stop(): void } | undefined;
  private readonly driver: SchedulerDriver;

  constructor(
    private readonly jobs: RunBook,
    private readonly log: Logger,
    options: LauncherOptions,
  ) {
    this.driver = new SchedulerDriver(
      {
        info: builtInFrameworkInfo({
          user: options.frameworkUser ?? 'nobody',
          name: options.frameworkName ?? 'metronome',
          role: options.role ?? '*',
          capabilities: ['TASK_KILLING_STATE', 'MULTI_ROLE'],
        }),
        subscribed: (connection, previousId) => this.subscribed(connection, previousId),
        offers: (offers) => void this.jobs.serial(() => this.handleOffers(offers)).catch((error: unknown) => this.log.error({ err: error }, 'jobs-offers-failed')),
        update: (status) => void this.jobs.serial(() => this.handleUpdate(status)).catch((error: unknown) => this.log.error({ err: error }, 'jobs-update-failed')),
      },
      { transport: options.transport, clock: options.clock, logger: log, name: 'jobs' },
    );
    this.clock = options.clock;
  }

  private readonly clock: Clock;

  get frameworkId(): string | undefined {
    return this.driver.frameworkId;
  }

  /** Subscribes (resuming `frameworkId`, from the store) and starts the reconciliation rounds. */
  async subscribe(frameworkId: string | undefined): Promise<void> {
    this.driver.restore(frameworkId);
    await this.driver.start();
    this.rounds = repeatEvery(this.clock, RECONCILE_MS, () => this.reconcile());
  }

  /** Policy: the framework id is stored before the subscription is used; failing, it does not count (see SchedulerDriver). */
  private async subscribed(connection: SchedulerConnection, previousId: string | undefined): Promise<void> {
    this.suppressed = true;
    if (previousId !== connection.frameworkId) await this.jobs.store.put(keys.frameworkId, connection.frameworkId);
    this.log.info({ frameworkId: connection.frameworkId, jobs: this.jobs.jobs.size }, 'jobs-subscribed');
    this.reconcile();
    this.wantOffers();
  }

  async close(): Promise<void> {
    this.rounds?.stop();
    await this.driver.close();
  }

  private call(call: OutgoingCall): void {
    void this.driver.call(call);
  }

  /**
   * Ask for offers while some run waits for one; stop asking when none does. `fresh`: a new run
   * was just created — revive even if not suppressed, which also clears earlier decline filters.
   */
  wantOffers(fresh = false): void {
    if (!this.driver.connection) return;
    const want = [...this.jobs.runs.values()].some((r) => r.status === 'INITIAL');
    if (want && (this.suppressed || fresh)) {
      this.suppressed = false;
      this.call({ type: 'REVIVE', revive: {} });
    } else if (!want && !this.suppressed) {
      this.suppressed = true;
      this.call({ type: 'SUPPRESS', suppress: {} });
    }
  }

  /** The latest state of every task of an active run (after a restart, and periodically). */
  private reconcile(): void {
    this.driver.reconcile(this.liveTasks().map(({ task }) => ({ task_id: { value: task.id }, agent_id: { value: task.agentId } })));
  }

  private liveTasks(): Array<{ run: Run; task: Run['tasks'][number] }> {
    return [...this.jobs.runs.values()].filter((r) => !isFinished(r.status)).flatMap((run) => run.tasks.filter((t) => !isTerminalState(t.status)).map((task) => ({ run, task })));
  }

  killTasks(run: Run): void {
    for (const t of run.tasks) {
      if (isTerminalState(t.status)) continue;
      this.call({ type: 'KILL', kill: { task_id: { value: t.id }, agent_id: { value: t.agentId } } });
    }
  }

  /** Runs waiting longer than `maxLaunchDelay` for an offer fail, with the last reason offers were refused. */
  async expireWaiting(now: number): Promise<void> {
    for (const run of [...this.jobs.runs.values()]) {
      if (run.status !== 'INITIAL') continue;
      const job = this.jobs.jobs.get(run.jobId);
      if (!job) continue;
      if (now - (run.waitingSince ?? run.createdAt) <= job.run.maxLaunchDelay * 1000) continue;
      const last = [...(this.rejections.get(run.jobId)?.values() ?? [])].map((r) => r.reason)[0];
      // Policy: a run whose end could not be stored stays INITIAL (finishRun restores it) and is expired at a later tick.
      await this.jobs
        .finishRun(run, 'FAILED', `not launched within maxLaunchDelay ${job.run.maxLaunchDelay} s${last ? `: ${last}` : ''}`)
        .catch((error: unknown) => this.log.error({ err: error, jobId: run.jobId, runId: run.id }, 'run-expiry-write-failed'));
    }
  }

  private async handleOffers(offers: OfferJson[]): Promise<void> {
    const now = this.jobs.now();
    for (const offer of offers) {
      const attributes = Object.fromEntries((offer.attributes ?? []).map((a) => attributeEntry(a)));
      let remaining = Resources.fromJSON(offer.resources);
      const launched: Array<{ run: Run; before: string; taskInfo: Record<string, unknown> }> = [];
      const waiting = [...this.jobs.runs.values()].filter((r) => r.status === 'INITIAL').sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
      for (const run of waiting) {
        const job = this.jobs.jobs.get(run.jobId);
        if (!job) continue;
        const placed = fit(job, { agentId: offer.agent_id.value, hostname: offer.hostname, attributes, resources: remaining });
        const rejections = this.rejections.get(job.id) ?? new Map<string, Rejection>();
        this.rejections.set(job.id, rejections);
        if ('reason' in placed) {
          rejections.set(offer.agent_id.value, { agentId: offer.agent_id.value, hostname: offer.hostname, reason: placed.reason, at: now });
          continue;
        }
        rejections.delete(offer.agent_id.value);
        const before = JSON.stringify(run);
        const taskId = runTaskId(run);
        const taskInfo = buildJobTaskInfo(job, run, taskId, offer.agent_id.value, placed.resources);
        run.tasks.push({ id: taskId, status: 'TASK_STAGING', agentId: offer.agent_id.value, hostname: offer.hostname, startedAt: now });
        transition(run, 'STARTING', now);
        delete run.waitingSince;
        remaining = remaining.subtract(placed.resources);
        launched.push({ run, before, taskInfo });
      }
      // The task ids are stored before the launch: after a crash, reconciliation finds them.
      // Policy: only runs whose write committed are launched; the others go back to what was
      // stored (INITIAL, waiting) and wait for a later offer, and an offer left with nothing to
      // launch is declined. A write that failed only in the client's eyes leaves a stored task
      // that was never launched: reconciliation gets TASK_GONE for it and the run is retried or
      // failed under its restart policy.
      const taskInfos: Record<string, unknown>[] = [];
      for (let i = 0; i < launched.length; i += RUNS_PER_TXN) {
        const chunk = launched.slice(i, i + RUNS_PER_TXN);
        try {
          await this.jobs.store.txn({ success: chunk.map(({ run }) => ({ type: 'put' as const, key: keys.run(run.jobId, run.id), value: JSON.stringify(run) })) });
          for (const { taskInfo } of chunk) taskInfos.push(taskInfo);
        } catch (error) {
          this.log.error({ err: error, runs: chunk.length }, 'run-write-failed-launches-withdrawn');
          for (const { run, before } of chunk) restoreRun(run, before);
        }
      }
      if (taskInfos.length === 0) {
        this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: launched.length === 0 ? 5 : 1 } } });
        continue;
      }
      this.log.info({ runs: launched.filter(({ run }) => run.status !== 'INITIAL').map(({ run }) => `${run.jobId}/${run.id}`), agentId: offer.agent_id.value }, 'launching-runs');
      this.call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: taskInfos as never } }], filters: { refuse_seconds: 1 } } });
    }
    this.wantOffers();
  }

  private findRun(taskId: string): { run: Run; task: Run['tasks'][number] } | undefined {
    // Task ids are `<jobId>_<runId>.<n>`; the run id has no '_' and job ids have none either.
    const match = /^(.+)_([^_.]+)\.\d+$/.exec(taskId);
    const run = match ? this.jobs.runs.get(pairKey(match[1]!, match[2]!)) : undefined;
    const task = run?.tasks.find((t) => t.id === taskId);
    return run && task ? { run, task } : undefined;
  }

  /**
   * Policy: an update is acknowledged once its effect is stored. If the write fails, the run goes
   * back to what was stored and the update stays unacknowledged, so the agent sends it again.
   */
  private async handleUpdate(status: TaskStatus): Promise<void> {
    const found = this.findRun(status.task_id.value);
    if (!found) {
      this.driver.acknowledge(status);
      // A task of a deleted job or a finished run: make sure it does not keep running.
      // Not on the master's TASK_LOST answer to that KILL, which would loop (killsUnknownTask).
      if (killsUnknownTask(status.state)) this.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      return;
    }
    const { run } = found;
    const before = JSON.stringify(run);
    try {
      await this.applyUpdate(status, found);
    } catch (error) {
      // finishRun restores the run itself when its own write failed; a failure after it (a
      // dependent's release) leaves the finished run as stored.
      if (isFinished(run.status) && JSON.parse(before).status !== run.status) throw error;
      restoreRun(run, before);
      throw error;
    }
    this.driver.acknowledge(status);
  }

  private async applyUpdate(status: TaskStatus, { run, task }: { run: Run; task: Run['tasks'][number] }): Promise<void> {
    const now = this.jobs.now();
    if (status.state === 'TASK_UNKNOWN') {
      // Right after a restart the agent may not have re-registered yet: ask again, a while.
      const n = (this.unknown.get(task.id) ?? 0) + 1;
      this.unknown.set(task.id, n);
      if (n < UNKNOWN_RETRIES) {
        this.clock.setTimeout(() => this.reconcile(), 2000).unref();
        return;
      }
    }
    this.unknown.delete(task.id);
    if (hasEnded(task)) {
      // A task lost with its agent that comes back: its run was retried (or has ended) since, and
      // two copies of one run must not run — it is killed. (Exactly once: the retry stays.)
      if (!isTerminalState(status.state) && !LOST_STATES.has(status.state)) {
        this.log.warn({ jobId: run.jobId, runId: run.id, taskId: task.id, state: status.state }, 'lost-task-returned-killed');
        this.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      }
      return;
    }
    task.status = status.state === 'TASK_UNKNOWN' ? 'TASK_LOST' : status.state;
    if (status.message) task.message = status.message;
    if (isFinished(run.status)) {
      // Marked successful (or stopped) while its task ran: only the task's record changes.
      if (hasEnded(task)) task.completedAt = now;
      await this.jobs.saveRun(run);
      return;
    }
    if (!hasEnded(task)) {
      if (task.status === 'TASK_RUNNING' && run.status === 'STARTING') transition(run, 'ACTIVE', now);
      await this.jobs.saveRun(run);
      return;
    }
    task.completedAt = now;
    if (task.status === 'TASK_FINISHED') {
      await this.jobs.finishRun(run, 'SUCCESS');
      return;
    }
    const why = `task ${task.id} ${task.status}${status.message ? `: ${status.message}` : ''}`;
    if (run.stopRequested) {
      await this.jobs.finishRun(run, 'FAILED', `stopped by request (${why})`);
      return;
    }
    const job = this.jobs.jobs.get(run.jobId);
    const restart = job?.run.restart;
    const withinDeadline = restart?.activeDeadlineSeconds === undefined || now - run.createdAt < restart.activeDeadlineSeconds * 1000;
    const withinRetries = restart?.retries === undefined || run.tasks.length <= restart.retries;
    if (restart?.policy === 'ON_FAILURE' && withinDeadline && withinRetries) {
      transition(run, 'INITIAL', now);
      run.waitingSince = now;
      await this.jobs.saveRun(run);
      this.log.info({ jobId: run.jobId, runId: run.id, attempt: run.tasks.length + 1, why }, 'retrying-run');
      this.wantOffers();
      return;
    }
    await this.jobs.finishRun(run, 'FAILED', why);
  }
}

/**
 * A run's task is over for the run when it ended, or when it was lost with its agent: TASK_LOST
 * (what a framework that is not partition-aware gets for an unreachable agent, and what an unknown
 * task becomes) or TASK_UNREACHABLE. Metronome's runs treat a lost task as failed: the run is
 * retried or fails under its restart policy instead of waiting for an agent that may never come
 * back — and if it does, the old task is killed (see applyUpdate).
 */
const LOST_STATES: ReadonlySet<TaskState> = new Set<TaskState>(['TASK_LOST', 'TASK_UNREACHABLE']);

function hasEnded(task: Run['tasks'][number]): boolean {
  return isTerminalState(task.status) || LOST_STATES.has(task.status) || task.completedAt !== undefined;
}

/** Puts a run back to a snapshot (JSON.stringify of it): fields added since are removed. */
export function restoreRun(run: Run, snapshot: string): void {
  const saved = JSON.parse(snapshot) as Record<string, unknown>;
  const target = run as unknown as Record<string, unknown>;
  for (const key of Object.keys(target)) if (!(key in saved)) delete target[key];
  Object.assign(target, saved);
}

function attributeEntry(a: unknown): [string, string] {
  const attr = a as { name: string; text?: { value: string }; scalar?: { value: number } };
  return [attr.name, attr.text?.value ?? String(attr.scalar?.value ?? '')];
}
