/**
 * Convergence: applies the pure reconciler (reconcile.ts) to every app — kills now, launches wait
 * for offers (offers.ts), how many are wanted goes to the revive decision (revive.ts) — finishes
 * deployments, and stops deleted apps in dependency order. It keeps the reconciler's latest result
 * per app until one of the app's instances changes, or the next refresh (≤ 1 s: how late an
 * unreachable instance may be found inactive or expunged).
 *
 * Unreachable instances (unreachableStrategy): an inactive one is announced once
 * (`instance_changed_event`, condition UnreachableInactive) and its replacement comes through the
 * normal launch path — offers, the launch budget, backoff — however many went at once; an
 * expunged one is forgotten, as is one killed while unreachable (a KILL cannot reach it): when
 * it comes back it is a task we do not know, and killed (status-updates.ts).
 *
 * A KILL can be lost (an agent re-registering, a master failing over): as Marathon's
 * `kill_retry_timeout`, an instance still KILLING `KILL_RETRY_MS` after its last KILL gets it again,
 * for as long as it stays KILLING — else a returned surplus instance would run on for good.
 *
 * Drain before SIGTERM: when it decides to kill a RUNNING instance, convergence publishes
 * `drover_instance_draining_event` (Drover's own: Marathon has none) before anything else, and
 * the instance is KILLING from then on (out of `/v2/apps`' RUNNING tasks, so out of the load
 * balancer and DNS). The KILL itself goes `drainMs` later — the app's `DROVER_DRAIN_SECONDS`
 * label, else the framework's `killDrainMs` (0: at once) — so the LB and DNS drop the backend
 * before the task is sent SIGTERM. A deleted app's instances get their KILL at once (its routes
 * go with it).
 */
import { isTerminalState } from '../../protocol/mesos/enums.ts';
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import type { App } from './app.ts';
import { normalizeId } from './app-schema.ts';
import type { Deployment, Deployments } from './deployments.ts';
import type { ServiceEvents } from './events.ts';
import type { InstanceTable } from './instance-table.ts';
import type { ReadinessChecks } from './readiness.ts';
import { reconcile, isLive, type Instance, type ReconcileResult } from './reconcile.ts';
import { instanceChanged } from './status-updates.ts';
import type { AppRuntime } from './runtime.ts';

/** What convergence reads and changes of the framework's state. */
export interface ConvergenceState {
  readonly apps: ReadonlyMap<string, App>;
  /** Deleted apps whose instances are still being stopped (in dependency order). */
  readonly stopping: Map<string, App>;
  readonly instances: InstanceTable;
  readonly deployments: Deployments;
  readonly events: ServiceEvents;
  readonly readiness: ReadinessChecks;
  runtimeOf(appId: string): AppRuntime;
}

export interface ConvergenceEffects {
  /** Queue an instance's change for the store (instance-writer.ts). */
  persist(instance: Instance): void;
  kill(taskId: string, agentId: string): void;
  /** Forget an instance: out of the table, the store and the readiness checks. */
  forget(instance: Instance): void;
  /** For the log: an unreachable instance was found inactive (replaced) or expunged (forgotten). */
  unreachable(instance: Instance, what: 'inactive' | 'expunged' | 'killed'): void;
  /** Launches wanted after this tick (revive.ts). */
  wanted(launches: number): void;
  /** Whether the framework is subscribed and running. */
  active(): boolean;
}

/** Drover's event at a kill decision, before the KILL (src/lb and src/discovery drop the backend on it). */
export const DRAINING_EVENT = 'drover_instance_draining_event';
/** The app label for the drain time before the KILL, in seconds (0–300). */
export const DRAIN_LABEL = 'DROVER_DRAIN_SECONDS';
const MAX_DRAIN_SECONDS = 300;

/** The drain time of an app's kills: its `DROVER_DRAIN_SECONDS` label if valid, else `fallbackMs`. */
export function drainMsOf(app: App | undefined, fallbackMs: number): number {
  const raw = app?.labels?.[DRAIN_LABEL];
  if (raw === undefined || raw.length > 8 || !/^\d+(\.\d{1,3})?$/.test(raw)) return fallbackMs;
  return Math.round(Math.min(MAX_DRAIN_SECONDS, Number(raw)) * 1000);
}

/** Marathon's `--kill_retry_timeout` default: how long a KILL may go unanswered before it is sent again. */
export const KILL_RETRY_MS = 10_000;

export class Convergence {
  /**
   * The reconciler's latest result per app, for the app object it was computed for. Valid until
   * one of the app's instances changes (`changed`): a tick or a batch of offers then recomputes
   * only the apps that changed, not every instance of every app (docs/architecture/006-scale.md).
   */
  private readonly plans = new Map<string, { app: App; instances: number; result: ReconcileResult }>();
  private tickScheduled = false;
  /** Instances being killed: task id → when their last KILL went (only these are swept). */
  private readonly killsSent = new Map<string, number>();
  /** Instances draining before their KILL (`DROVER_DRAIN_SECONDS`): task id → the timer that sends it. */
  private readonly drains = new Map<string, TimerHandle>();
  /** Whether instances recovered in KILLING (from the store) were taken into `killsSent`. */
  private killsRecovered = false;

  constructor(
    private readonly state: ConvergenceState,
    private readonly effects: ConvergenceEffects,
    private readonly clock: Clock,
    /** The drain time of an app without a `DROVER_DRAIN_SECONDS` label. */
    private readonly killDrainMs = 0,
  ) {}

  /**
   * A tick soon, once for everything that happened meanwhile. Status updates arrive in batches
   * (one per agent UPDATE call) and each used to tick — a reconcile of every app, O(all
   * instances) — per update: 50,000 launches meant 100,000 full passes. (Not later than the
   * next turn: a deployment is complete, and its app unlocked for the next PUT, the moment the
   * update that completes it has been handled.)
   */
  scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => {
      this.tickScheduled = false;
      this.tick();
    });
  }

  /**
   * Once a second from scratch: a change that did not go through `changed` is stale ≤ 1 s, and an
   * unreachable instance's phase moves with the clock. Only the plans of apps with instances are
   * made again: an app with none has a plan that depends on the app object alone (and on there
   * being no instance, which `planOf` checks), and 10,000 such plans made again every second held
   * the event loop 40–60 ms (a `GET /v2/apps` landing then waited for it: issue 21).
   */
  refresh(): void {
    for (const [id, plan] of this.plans) if (plan.instances > 0 || this.state.apps.get(id) !== plan.app) this.plans.delete(id);
    this.tick();
    if (this.effects.active()) this.retryKills();
  }

  /** Send the KILL again to every instance still KILLING `KILL_RETRY_MS` after its last one. */
  private retryKills(): void {
    const now = this.clock.now();
    if (!this.killsRecovered) {
      this.killsRecovered = true;
      for (const i of this.state.instances.values()) if (i.state === 'TASK_KILLING' && !this.killsSent.has(i.taskId)) this.killsSent.set(i.taskId, now);
    }
    for (const [taskId, at] of this.killsSent) {
      const i = this.state.instances.get(taskId);
      if (i === undefined || i.state !== 'TASK_KILLING') {
        this.killsSent.delete(taskId);
        continue;
      }
      if (now - at < KILL_RETRY_MS) continue;
      this.killsSent.set(taskId, now);
      this.effects.kill(i.taskId, i.agentId);
    }
  }

  /** Apply the reconciler to every app: kills now; launches wait for offers (revive if needed). */
  tick(): void {
    if (!this.effects.active()) return;
    this.stopReleased();
    let wanted = 0;
    // Every deployment by the apps it changes, once per tick (not a scan of every deployment per app).
    const deploymentsOf = this.state.deployments.byApp();
    for (const app of this.state.apps.values()) {
      if ((app.readinessChecks ?? []).length > 0) {
        this.state.readiness.run(app, this.state.instances.ofApp(app.id), (instance) => {
          instance.ready = true;
          this.changed(instance);
          this.effects.persist(instance);
          this.scheduleTick();
        });
      }
      const result = this.planOf(app);
      for (const id of result.inactive) {
        const i = this.state.instances.get(id);
        if (i === undefined || i.inactive === true) continue;
        i.inactive = true;
        this.effects.persist(i);
        this.effects.unreachable(i, 'inactive');
        this.state.events.publish('instance_changed_event', instanceChanged(i, 'UnreachableInactive'));
      }
      for (const id of result.expunge) {
        const i = this.state.instances.get(id);
        if (i === undefined) continue;
        this.effects.unreachable(i, 'expunged');
        this.forgetInstance(i);
      }
      for (const k of result.kill) {
        const i = this.state.instances.get(k.taskId);
        if (i) this.kill(i);
      }
      if (result.launch > 0 && this.launchAllowed(app)) wanted += result.launch;
      // (finishDeployment is a no-op for a deployment an earlier app of this tick finished.)
      if (result.complete) for (const d of deploymentsOf.get(app.id) ?? []) this.finishDeployment(d);
    }
    for (const d of this.state.deployments.list()) {
      // A pod's deployment (no apps) is pods.ts's to finish.
      if (d.apps.length > 0 && d.apps.every((id) => !this.state.apps.has(id) && this.state.instances.ofApp(id).every((i) => !isLive(i)))) this.finishDeployment(d);
    }
    this.effects.wanted(wanted);
  }

  private finishDeployment(d: Deployment): void {
    if (!this.state.deployments.finish(d.id)) return;
    this.state.events.publish('deployment_success', { id: d.id, plan: this.state.deployments.plan(d) });
  }

  launchAllowed(app: App): boolean {
    const r = this.state.runtimeOf(app.id);
    return r.stopped === undefined && this.clock.now() >= r.delayUntil && this.waitingFor(app) === undefined;
  }

  /**
   * Marathon's dependency order: an app starts (or scales) only once every app it depends on
   * runs all its instances, healthy. Returns the first dependency still being waited for.
   */
  waitingFor(app: App): string | undefined {
    const group = app.id.slice(0, app.id.lastIndexOf('/')) || '/';
    for (const raw of app.dependencies) {
      const id = normalizeId(raw, group);
      if (typeof id !== 'string') continue;
      const dependency = this.state.apps.get(id);
      if (dependency && !this.planOf(dependency).complete) return id;
    }
    return undefined;
  }

  /** The reconciler's result for the app, recomputed only when its instances changed. */
  planOf(app: App): ReconcileResult {
    const cached = this.plans.get(app.id);
    const count = this.state.instances.appInstances(app.id)?.size ?? 0;
    if (cached !== undefined && cached.app === app && cached.instances === count) return cached.result;
    const result = reconcile(app, this.state.instances.ofApp(app.id), 0, this.clock.now());
    this.plans.set(app.id, { app, instances: count, result });
    return result;
  }

  /** Every change of an instance the reconciler reads (added, removed, state, health, ready). */
  changed(instance: Instance): void {
    this.plans.delete(instance.appId);
  }

  forget(appId: string): void {
    this.plans.delete(appId);
  }

  kill(i: Instance): void {
    if (i.state === 'TASK_KILLING' || isTerminalState(i.state)) return;
    if (i.state === 'TASK_UNREACHABLE') {
      // No KILL reaches it now, and it would stay KILLING (never answered) for good: forget it.
      // Should it come back, it is unknown, and killed then. The KILL is sent all the same, for a
      // master that does reach it.
      this.effects.unreachable(i, 'killed');
      this.effects.kill(i.taskId, i.agentId);
      this.forgetInstance(i);
      return;
    }
    const wasRunning = i.state === 'TASK_RUNNING';
    const drainMs = wasRunning ? drainMsOf(this.state.apps.get(i.appId) ?? this.state.stopping.get(i.appId), this.killDrainMs) : 0;
    i.state = 'TASK_KILLING';
    this.changed(i);
    this.effects.persist(i);
    if (wasRunning) {
      this.state.events.publish(DRAINING_EVENT, { appId: i.appId, taskId: i.taskId, agentId: i.agentId, host: i.host, ports: i.ports, drainSeconds: drainMs / 1000 });
    }
    // The retry sweep counts from when the KILL goes, after the drain.
    this.killsSent.set(i.taskId, this.clock.now() + drainMs);
    if (drainMs === 0) this.effects.kill(i.taskId, i.agentId);
    else
      this.drains.set(
        i.taskId,
        // Unref'd: a stopping framework does not wait for it (the KILL is retried after a restart, KILL_RETRY_MS).
        this.clock.setTimeout(() => this.endDrain(i), drainMs).unref(),
      );
  }

  /** The drain is over (or cut short): the KILL goes now. */
  private endDrain(i: Instance): void {
    const timer = this.drains.get(i.taskId);
    if (timer === undefined) return;
    this.clock.clearTimeout(timer);
    this.drains.delete(i.taskId);
    this.killsSent.set(i.taskId, this.clock.now());
    this.effects.kill(i.taskId, i.agentId);
  }

  private forgetInstance(i: Instance): void {
    this.effects.forget(i);
    this.changed(i);
    this.state.events.publish('instance_changed_event', instanceChanged(i, 'Gone'));
  }

  /**
   * Marathon's stop order: a deleted app's instances are killed only once no app that depends on
   * it (still deployed, or being stopped too) has live instances — dependents stop first.
   */
  stopReleased(): void {
    const dependsOn = (app: App, id: string): boolean => {
      const group = app.id.slice(0, app.id.lastIndexOf('/')) || '/';
      return app.dependencies.some((raw) => normalizeId(raw, group) === id);
    };
    const { apps, stopping, instances } = this.state;
    for (const [id] of stopping) {
      const blocked = [...apps.values(), ...stopping.values()].some((other) => other.id !== id && dependsOn(other, id) && instances.ofApp(other.id).some(isLive));
      if (blocked) continue;
      for (const i of instances.ofApp(id)) {
        if (isLive(i)) this.kill(i);
        // A deleted app's routes and names go with it: its draining instances are not waited for.
        this.endDrain(i);
      }
      if (!instances.ofApp(id).some(isLive)) stopping.delete(id);
    }
  }
}
