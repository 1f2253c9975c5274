/**
 * The launch side of the jobs framework: the scheduler subscription, offers → tasks for runs
 * waiting in INITIAL (placement with reasons), task updates → run transitions, retries under the
 * restart policy, kills, reconciliation after a restart, and `maxLaunchDelay`.
 *
 * A job task that exits 0 ends its run SUCCESS and is never restarted; a failed one is retried
 * only under ON_FAILURE, within `activeDeadlineSeconds` (and `retries`, a Drover extension).
 */
import type { Logger } from '../../log/index.ts';
import { isTerminalState } from '../../protocol/mesos/enums.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { Resources } from '../../resources/index.ts';
import type { OfferJson, OutgoingCall, SchedulerConnection } from '../sdk/scheduler.ts';
import { keys, pairKey } from './job-store.ts';
import type { JobsFramework } from './jobs.ts';
import { fit } from './placement.ts';
import { isFinished, runTaskId, transition, type Run } from './run.ts';
import { buildJobTaskInfo } from './task-builder.ts';

/** How often a task the master does not know yet is asked about before it counts as lost. */
const UNKNOWN_RETRIES = 30;

export interface Rejection {
  agentId: string;
  hostname: string;
  reason: string;
  at: number;
}

export class RunLauncher {
  private connection: SchedulerConnection | undefined;
  private suppressed = true;
  private closed = false;
  private readonly unknown = new Map<string, number>();
  /** Why recent offers were not used, per job and agent (for /v1/queue). */
  readonly rejections = new Map<string, Map<string, Rejection>>();
  private reconcileTimer: NodeJS.Timeout | undefined;

  constructor(private readonly jobs: JobsFramework, private readonly log: Logger) {}

  async subscribe(): Promise<void> {
    const role = this.jobs.options.role ?? '*';
    const connection = await this.jobs.options.transport.subscribe({
      user: this.jobs.options.frameworkUser ?? 'nobody',
      name: this.jobs.options.frameworkName ?? 'metronome',
      roles: [role],
      failover_timeout: 604800,
      checkpoint: true,
      capabilities: [{ type: 'TASK_KILLING_STATE' }, { type: 'MULTI_ROLE' }],
      ...(this.jobs.frameworkId ? { id: { value: this.jobs.frameworkId } } : {}),
    }, { suppressedRoles: [role] });
    this.connection = connection;
    this.suppressed = true;
    if (this.jobs.frameworkId !== connection.frameworkId) await this.jobs.store.put(keys.frameworkId, connection.frameworkId);
    this.jobs.connected(connection);
    this.log.info({ frameworkId: connection.frameworkId, jobs: this.jobs.jobs.size }, 'jobs-subscribed');
    this.reconcile();
    if (!this.reconcileTimer) {
      this.reconcileTimer = setInterval(() => this.reconcile(), 30_000);
      this.reconcileTimer.unref();
    }
    void this.consume(connection);
    this.wantOffers();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.connection?.close();
  }

  private async consume(connection: SchedulerConnection): Promise<void> {
    try {
      for await (const event of connection.events()) {
        if (event.type === 'OFFERS') void this.jobs.serial(() => this.handleOffers(event.offers.offers)).catch((error: unknown) => this.log.error({ error }, 'jobs-offers-failed'));
        else if (event.type === 'UPDATE') void this.jobs.serial(() => this.handleUpdate(event.update.status)).catch((error: unknown) => this.log.error({ error }, 'jobs-update-failed'));
      }
    } catch (e) {
      this.log.warn({ error: e }, 'jobs-stream-failed');
    }
    if (this.closed || this.connection !== connection) return;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        await this.subscribe();
        return;
      } catch (e) {
        this.log.warn({ error: e, attempt }, 'jobs-resubscribe-failed');
      }
    }
  }

  private call(call: OutgoingCall): void {
    void (this.connection?.call(call) ?? Promise.resolve()).catch((error: unknown) => this.log.warn({ error, type: call.type }, 'jobs-call-failed'));
  }

  /**
   * Ask for offers while some run waits for one; stop asking when none does. `fresh`: a new run
   * was just created — revive even if not suppressed, which also clears earlier decline filters.
   */
  wantOffers(fresh = false): void {
    if (!this.connection) return;
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
    const tasks = this.liveTasks().map(({ task }) => ({ task_id: { value: task.id }, agent_id: { value: task.agentId } }));
    if (tasks.length > 0) this.call({ type: 'RECONCILE', reconcile: { tasks } });
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
      await this.jobs.finishRun(run, 'FAILED', `not launched within maxLaunchDelay ${job.run.maxLaunchDelay} s${last ? `: ${last}` : ''}`);
    }
  }

  private async handleOffers(offers: OfferJson[]): Promise<void> {
    const now = this.jobs.now();
    for (const offer of offers) {
      const attributes = Object.fromEntries((offer.attributes ?? []).map((a) => attributeEntry(a)));
      let remaining = Resources.fromJSON(offer.resources);
      const launched: Run[] = [];
      const taskInfos: Record<string, unknown>[] = [];
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
        const taskId = runTaskId(run);
        taskInfos.push(buildJobTaskInfo(job, run, taskId, offer.agent_id.value, placed.resources));
        run.tasks.push({ id: taskId, status: 'TASK_STAGING', agentId: offer.agent_id.value, hostname: offer.hostname, startedAt: now });
        transition(run, 'STARTING', now);
        delete run.waitingSince;
        remaining = remaining.subtract(placed.resources);
        launched.push(run);
      }
      if (launched.length === 0) {
        this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 5 } } });
        continue;
      }
      // The task ids are stored before the launch: after a crash, reconciliation finds them.
      for (let i = 0; i < launched.length; i += 100) {
        await this.jobs.store.txn({ success: launched.slice(i, i + 100).map((r) => ({ type: 'put' as const, key: keys.run(r.jobId, r.id), value: JSON.stringify(r) })) });
      }
      this.log.info({ runs: launched.map((r) => `${r.jobId}/${r.id}`), agentId: offer.agent_id.value }, 'launching-runs');
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

  private async handleUpdate(status: TaskStatus): Promise<void> {
    if (status.uuid && status.agent_id) this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } });
    const found = this.findRun(status.task_id.value);
    if (!found) {
      // A task of a deleted job or a finished run: make sure it does not keep running.
      if (!isTerminalState(status.state) && status.state !== 'TASK_UNKNOWN') this.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      return;
    }
    const { run, task } = found;
    const now = this.jobs.now();
    if (status.state === 'TASK_UNKNOWN') {
      // Right after a restart the agent may not have re-registered yet: ask again, a while.
      const n = (this.unknown.get(task.id) ?? 0) + 1;
      this.unknown.set(task.id, n);
      if (n < UNKNOWN_RETRIES) {
        setTimeout(() => this.reconcile(), 2000).unref();
        return;
      }
    }
    this.unknown.delete(task.id);
    if (isTerminalState(task.status)) return;
    task.status = status.state === 'TASK_UNKNOWN' ? 'TASK_LOST' : status.state;
    if (status.message) task.message = status.message;
    if (isFinished(run.status)) {
      // Marked successful (or stopped) while its task ran: only the task's record changes.
      if (isTerminalState(task.status)) task.completedAt = now;
      await this.jobs.saveRun(run);
      return;
    }
    if (!isTerminalState(task.status)) {
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

function attributeEntry(a: unknown): [string, string] {
  const attr = a as { name: string; text?: { value: string }; scalar?: { value: number } };
  return [attr.name, attr.text?.value ?? String(attr.scalar?.value ?? '')];
}
