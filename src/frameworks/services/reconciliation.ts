/**
 * Reconciliation rounds (Mesos' algorithm): every instance at each (re)subscription; then, every
 * RECONCILE_RETRY_MS, the instances with no status since — a master that just failed over does
 * not answer for agents that have not re-registered yet — and every instance again each
 * RECONCILE_ALL_MS (Marathon's --reconciliation_interval default). It was every instance every
 * 15 s: at 50,000 instances, 50,000 statuses built, sent and handled per round (≈ 0.7 s of master
 * CPU; at 1,000,000 instances more than the interval itself) to learn nothing new.
 *
 * This is also how an instance that was stored but never launched (a leader that stopped between
 * the write and its ACCEPT, or an ACCEPT the master refused) is found: the master answers
 * TASK_GONE for it, and it is replaced like any lost task.
 *
 * The other way round — a task the master knows of ours that we do not (an instance forgotten
 * while its agent was away, replaced, and the task come back to a master that learns it from the
 * agent's re-registration, with no status to tell us) — only implicit reconciliation finds: the
 * master answers every task of ours, and one we do not know is killed (status-updates.ts). As
 * Marathon (its --reconciliation_initial_delay, 15 s, and every --reconciliation_interval), one
 * RECONCILE_RETRY_MS after each (re)subscription, when agents have had time to re-register, and
 * with every full round. Without it the HA test's app ran 400 tasks for its 200 instances after
 * leader changes: the orphans held their resources for good.
 */
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import { repeatEvery, type ReconcileTask } from '../sdk/driver.ts';
import type { Instance } from './reconcile.ts';

export const RECONCILE_RETRY_MS = 15_000;
export const RECONCILE_ALL_MS = 600_000;
/** A TASK_UNKNOWN answer is asked again after this long (one re-ask, however many arrive). */
const UNKNOWN_RETRY_MS = 2000;

export class ReconciliationRounds {
  /** Task ids asked for by the last full round with no status since; empty when all answered. */
  private unanswered = new Set<string>();
  private rounds: { stop(): void } | undefined;
  private unknownRetry: TimerHandle | undefined;

  /** When the last full round asked for an implicit reconciliation (sent a round later), if it is still due. */
  private implicitDueSince: number | undefined;

  constructor(
    private readonly instances: ReadonlyMap<string, Instance>,
    private readonly reconcile: (tasks: Iterable<ReconcileTask>) => void,
    private readonly clock: Clock,
    private readonly reconcileAll: () => void = () => undefined,
  ) {}

  /** The periodic rounds (the first full one is the subscription's). */
  start(): void {
    let lastFull = this.clock.now();
    this.rounds = repeatEvery(this.clock, RECONCILE_RETRY_MS, () => {
      // The implicit one a full round asked for, at least a round later: after a subscription,
      // agents that were re-registering with a new master are back by then.
      const since = this.implicitDueSince;
      const implicit = since !== undefined && this.clock.now() - since >= RECONCILE_RETRY_MS;
      if (implicit) this.implicitDueSince = undefined;
      const full = this.clock.now() - lastFull >= RECONCILE_ALL_MS;
      if (full) lastFull = this.clock.now();
      this.round(full);
      if (implicit) this.reconcileAll();
    });
  }

  stop(): void {
    this.rounds?.stop();
    this.clock.clearTimeout(this.unknownRetry);
  }

  /** Every instance we know (`full`), or those the last full round has no answer for yet. */
  round(full: boolean): void {
    if (full) {
      this.unanswered = new Set(this.instances.keys());
      this.implicitDueSince = this.clock.now();
    }
    this.reconcile(this.asked());
  }

  /** These instances now (an ACCEPT the master refused: was anything launched?). */
  askNow(taskIds: Iterable<string>): void {
    const tasks: ReconcileTask[] = [];
    for (const taskId of taskIds) {
      const i = this.instances.get(taskId);
      if (i !== undefined) tasks.push({ task_id: { value: i.taskId }, agent_id: { value: i.agentId } });
    }
    if (tasks.length > 0) this.reconcile(tasks);
  }

  private *asked(): Generator<ReconcileTask> {
    for (const taskId of this.unanswered) {
      const i = this.instances.get(taskId);
      if (i === undefined) {
        this.unanswered.delete(taskId);
        continue;
      }
      yield { task_id: { value: i.taskId }, agent_id: { value: i.agentId } };
    }
  }

  /** A status other than TASK_UNKNOWN arrived for the task. */
  answered(taskId: string): void {
    this.unanswered.delete(taskId);
  }

  /** The master does not know the task (yet): not a reason to replace it; ask again soon. */
  unknown(): void {
    if (this.unknownRetry !== undefined) return;
    this.unknownRetry = this.clock
      .setTimeout(() => {
        this.unknownRetry = undefined;
        this.round(false);
      }, UNKNOWN_RETRY_MS)
      .unref();
  }
}
