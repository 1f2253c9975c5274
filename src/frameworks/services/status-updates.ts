/**
 * Status updates → instance states: the instance's state and health, events for /v2/events,
 * the instance's store write (only what changed), and for a task that ended, Marathon's backoff
 * and Drover's crash-loop stop — for the task's own failures only (loss-cause.ts). An instance
 * that turns TASK_UNREACHABLE (or TASK_LOST) records since when; the reconciler decides from that
 * when it is replaced (unreachableStrategy).
 */
import type { Clock } from '../../clock/clock.ts';
import { canonicalEnum, isTerminalState } from '../../protocol/mesos/enums.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { readHealthLabels } from '../../protocol/health-labels.ts';
import { killsUnknownTask } from '../sdk/scheduler.ts';
import { type App, appIdOfTask } from './app.ts';
import type { ServiceEvents } from './events.ts';
import type { InstanceTable } from './instance-table.ts';
import { lossCause } from './loss-cause.ts';
import type { Instance, InstanceHealth } from './reconcile.ts';
import type { AppRuntime } from './runtime.ts';

/** A run shorter than this that ends in failure counts toward the crash loop. */
export const HEALTHY_RUN_MS = 10_000;

export interface UpdateContext {
  readonly apps: ReadonlyMap<string, App>;
  readonly instances: InstanceTable;
  readonly events: ServiceEvents;
  runtimeOf(appId: string): AppRuntime;
  changed(instance: Instance): void;
  /** Queue the instance's change, or its removal, for the store (instance-writer.ts). */
  persist(instance: Instance): void;
  unpersist(taskId: string): void;
  /** The task ended: its readiness state goes. */
  forgetReadiness(taskId: string): void;
  /** A task we do not know: make sure it does not run. */
  kill(status: TaskStatus): void;
  /** An instance of ours to kill (failed its health check too often): replaced like any lost one. */
  killInstance(instance: Instance): void;
  acknowledge(status: TaskStatus): void;
  /** Reconciliation (reconciliation.ts): a status arrived / the master does not know the task yet. */
  answered(taskId: string): void;
  unknown(): void;
  scheduleTick(): void;
  crashLoopStopped(appId: string, failures: number): void;
  /** An unreachable instance is reachable again (or ended while away): for the log. */
  returned(instance: Instance, state: string): void;
}

export class StatusUpdates {
  constructor(
    private readonly context: UpdateContext,
    private readonly clock: Clock,
  ) {}

  handle(status: TaskStatus): void {
    const c = this.context;
    // Acknowledged once handled here: the instance's store write is queued and, if it fails,
    // retried until it lands (instance-writer.ts), so the update is not lost with the process alive.
    c.acknowledge(status);
    const instance = c.instances.get(status.task_id.value);
    const appId = instance?.appId ?? appIdOfTask(status.task_id.value);
    if (status.state !== 'TASK_UNKNOWN') c.answered(status.task_id.value);
    if (!instance) {
      // A task we do not know (e.g. of a deleted app): make sure it does not run (killsUnknownTask says when).
      if (killsUnknownTask(status.state)) c.kill(status);
      return;
    }
    if (status.state === 'TASK_UNKNOWN') {
      // The master does not know the task (yet): not a reason to replace it; ask again soon.
      c.unknown();
      return;
    }
    const before = instance.state;
    const wasHealthy = instance.healthy;
    const wasStartedAt = instance.startedAt;
    // A kill we asked for ends only in a terminal state: a health update (TASK_RUNNING with
    // `healthy`) that was already on its way must not bring the instance back to life.
    const killing = before === 'TASK_KILLING' && !isTerminalState(status.state);
    // The module's string, not the event's: kept per instance, a parsed copy is 32 bytes each.
    if (!killing) instance.state = status.state === 'TASK_LOST' ? 'TASK_UNREACHABLE' : canonicalEnum(status.state);
    if (status.healthy !== undefined) {
      instance.health = nextHealth(instance.health, instance.healthy, status, this.clock.now());
      instance.healthy = status.healthy;
    }
    // The reconciler reads live, killing and healthy: STAGING → STARTING changes none of them.
    if (!(before === 'TASK_STAGING' && instance.state === 'TASK_STARTING') && (instance.state !== before || instance.healthy !== wasHealthy)) c.changed(instance);
    if (status.state === 'TASK_RUNNING' && !instance.startedAt) instance.startedAt = new Date(this.clock.now()).toISOString();
    if (instance.state === 'TASK_UNREACHABLE' && before !== 'TASK_UNREACHABLE') {
      // Our clock, not the master's: the strategy's delays are measured where they are applied.
      instance.unreachableSince = new Date(this.clock.now()).toISOString();
    } else if (before === 'TASK_UNREACHABLE' && instance.state !== 'TASK_UNREACHABLE') {
      delete instance.unreachableSince;
      delete instance.inactive;
      c.returned(instance, status.state);
    }
    if (instance.state !== before && c.events.listening) c.events.publish('instance_changed_event', instanceChanged(instance));
    if (c.events.listening) {
      c.events.publish('status_update_event', {
        slaveId: instance.agentId,
        taskId: instance.taskId,
        taskStatus: status.state,
        message: status.message ?? '',
        appId: instance.appId,
        host: instance.host,
        ipAddresses: [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }],
        ports: instance.ports,
        version: instance.version,
      });
    }
    if (wasHealthy !== instance.healthy && instance.healthy !== undefined) {
      c.events.publish('health_status_changed_event', { appId: instance.appId, instanceId: instance.taskId, version: instance.version, alive: instance.healthy });
      // Marathon's event for a check that failed, with the check that did.
      if (instance.healthy === false && c.events.listening) {
        c.events.publish('failed_health_check_event', {
          appId: instance.appId,
          taskId: instance.taskId,
          instanceId: instance.taskId,
          version: instance.version,
          healthCheck: c.apps.get(instance.appId)?.healthChecks[0] ?? null,
        });
      }
    }
    if (isTerminalState(status.state)) {
      c.instances.delete(instance.taskId);
      c.changed(instance);
      c.forgetReadiness(instance.taskId);
      c.unpersist(instance.taskId);
      if (appId && before !== 'TASK_KILLING') this.recordFailure(appId, instance, status);
    } else if ((instance.state !== before && instance.state !== 'TASK_STARTING') || instance.healthy !== wasHealthy || instance.startedAt !== wasStartedAt) {
      // Only a change is written: a reconciliation answers every instance, and at 50,000
      // instances rewriting them all (every 15 s, then) was most of the store's load. Nor is
      // TASK_STARTING: recovered, STAGING and STARTING mean the same (launched, not running
      // yet; reconciliation tells which), and under load it was a third of the writes.
      c.persist(instance);
    }
    if (instance.healthy === false && wasHealthy !== false && instance.state === 'TASK_RUNNING') this.killIfTooUnhealthy(instance);
    c.scheduleTick();
  }

  /**
   * Marathon's HealthCheckActor.checkConsecutiveFailures: an instance whose check failed
   * `maxConsecutiveFailures` times in a row (0: never) is killed, with `unhealthy_instance_kill_event`,
   * and the reconciler launches its replacement. Unreachable instances are not killed (no KILL
   * reaches them); this runs only for a RUNNING one.
   */
  private killIfTooUnhealthy(instance: Instance): void {
    const c = this.context;
    const check = c.apps.get(instance.appId)?.healthChecks[0];
    if (check === undefined) return;
    const max = check.maxConsecutiveFailures ?? 3;
    const failures = instance.health?.consecutiveFailures ?? 0;
    if (max <= 0 || failures < max) return;
    c.events.publish('unhealthy_instance_kill_event', {
      appId: instance.appId,
      taskId: instance.taskId,
      instanceId: instance.taskId,
      version: instance.version,
      reason: instance.health?.lastFailureCause ?? 'unknown',
      host: instance.host,
      slaveId: instance.agentId,
      timestamp: instance.health?.lastFailure ?? new Date(this.clock.now()).toISOString(),
    });
    c.killInstance(instance);
  }

  /** Marathon's backoff, and the crash-loop stop after `maxConsecutiveFailures`. */
  private recordFailure(appId: string, instance: Instance, status: TaskStatus): void {
    const app = this.context.apps.get(appId);
    if (!app || status.state === 'TASK_KILLED') return;
    const now = this.clock.now();
    const r = this.context.runtimeOf(appId);
    r.lastTaskFailure = {
      appId,
      host: instance.host,
      message: status.message ?? '',
      state: status.state,
      taskId: instance.taskId,
      timestamp: new Date(now).toISOString(),
      version: instance.version,
      slaveId: instance.agentId,
    };
    // Lost with its machine (agent restarted, removed, preempted...): replaced at once, and not
    // a crash — ten young tasks on an agent killed -9 used to stop the app for good.
    if (lossCause(status) === 'machine') return;
    const ranFor = instance.startedAt ? now - Date.parse(instance.startedAt) : 0;
    r.consecutiveFailures = ranFor >= HEALTHY_RUN_MS || instance.healthy === true ? 1 : r.consecutiveFailures + 1;
    const delay = Math.min(app.backoffSeconds * app.backoffFactor ** (r.consecutiveFailures - 1), app.maxLaunchDelaySeconds);
    r.delayUntil = now + delay * 1000;
    if (app.maxConsecutiveFailures > 0 && r.consecutiveFailures >= app.maxConsecutiveFailures && r.stopped === undefined) {
      r.stopped = `stopped relaunching after ${r.consecutiveFailures} consecutive failures (maxConsecutiveFailures ${app.maxConsecutiveFailures}); last: ${status.message ?? status.state}. Deploy a new version or DELETE /v2/queue${appId}/delay to resume.`;
      this.context.events.publish('app_launch_stopped_event', { appId, reason: r.stopped });
      this.context.crashLoopStopped(appId, r.consecutiveFailures);
    }
  }
}

/**
 * The instance's `Health` after a status carrying `healthy`. A Drover agent sends its check's
 * record in the status' labels (src/protocol/health-labels.ts): taken as is, keeping the first
 * success we already knew (an agent restart starts its record afresh). Without one (another
 * agent, or a reconciliation answer), Marathon's `Health.update` on a change of `healthy`: a
 * success sets first/last success and clears the count, a failure sets the last failure, its
 * cause (the status' message) and counts one more.
 */
export function nextHealth(before: InstanceHealth | undefined, wasHealthy: boolean | undefined, status: TaskStatus, nowMs: number): InstanceHealth | undefined {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const record = readHealthLabels(status.labels);
  if (record !== undefined) {
    const next: InstanceHealth = { consecutiveFailures: record.consecutiveFailures };
    const firstSuccess = before?.firstSuccess ?? iso(record.firstSuccessMs);
    const lastSuccess = iso(record.lastSuccessMs) ?? before?.lastSuccess;
    const lastFailure = iso(record.lastFailureMs) ?? before?.lastFailure;
    const lastFailureCause = record.lastFailureCause ?? before?.lastFailureCause;
    if (firstSuccess !== undefined) next.firstSuccess = firstSuccess;
    if (lastSuccess !== undefined) next.lastSuccess = lastSuccess;
    if (lastFailure !== undefined) next.lastFailure = lastFailure;
    if (lastFailureCause !== undefined) next.lastFailureCause = lastFailureCause;
    return next;
  }
  if (before !== undefined && wasHealthy === status.healthy) return before;
  const at = new Date(status.timestamp !== undefined && Number.isFinite(status.timestamp) ? status.timestamp * 1000 : nowMs).toISOString();
  if (status.healthy === true) return { ...before, consecutiveFailures: 0, firstSuccess: before?.firstSuccess ?? at, lastSuccess: at };
  return { ...before, consecutiveFailures: (before?.consecutiveFailures ?? 0) + 1, lastFailure: at, lastFailureCause: status.message ?? '' };
}

/** Marathon's condition of an instance (stringTypes.raml), from its Mesos state. */
const CONDITIONS: Readonly<Record<string, string>> = {
  TASK_STAGING: 'Staging',
  TASK_STARTING: 'Starting',
  TASK_RUNNING: 'Running',
  TASK_KILLING: 'Killing',
  TASK_FINISHED: 'Finished',
  TASK_FAILED: 'Failed',
  TASK_KILLED: 'Killed',
  TASK_ERROR: 'Error',
  TASK_UNREACHABLE: 'Unreachable',
  TASK_GONE: 'Gone',
  TASK_GONE_BY_OPERATOR: 'Gone',
  TASK_DROPPED: 'Dropped',
  TASK_UNKNOWN: 'Unknown',
};

/** Marathon's `instance_changed_event` body (core/event/Events.scala InstanceChanged). */
export function instanceChanged(instance: Instance, condition = CONDITIONS[instance.state] ?? 'Unknown'): Record<string, unknown> {
  return { instanceId: instance.taskId, condition, runSpecId: instance.appId, agentId: instance.agentId, host: instance.host, runSpecVersion: instance.version };
}
