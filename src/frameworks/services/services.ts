/**
 * The services framework (Marathon's role): keeps apps' desired state in the store, subscribes to
 * the master through the scheduler SDK, and applies the pure reconciler's results — launches on
 * offers (placement with reasons), kills, backoff and the crash-loop stop. The HTTP API is api.ts.
 */
import type { Logger } from '../../log/index.ts';
import { DroverError } from '../../protocol/errors.ts';
import { canonicalEnum, isTerminalState } from '../../protocol/mesos/enums.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { Resources } from '../../resources/index.ts';
import type { Op, Store } from '../../store/store.ts';
import { MAX_TXN_OPS } from '../../store/validate.ts';
import type { Acknowledgement, OfferJson, SchedulerConnection, SchedulerTransport } from '../sdk/scheduler.ts';
import { type App, appIdOfTask, taskId as makeTaskId } from './app.ts';
import { normalizeId } from './app-schema.ts';
import { ServiceEvents } from './events.ts';
import { place, type Spot } from './placement.ts';
import { reconcile, isLive, type Instance, type ReconcileResult } from './reconcile.ts';
import { buildTaskInfo } from './task-builder.ts';
import { Deployments, type Deployment } from './deployments.ts';
import { InstanceTable } from './instance-table.ts';
import { decodeInstance, encodeInstance } from './instance-codec.ts';
import { ReadinessChecks } from './readiness.ts';
import { TimeOrderedUuids } from './time-uuid.ts';

const PREFIX = '/drover/services';
/** A run shorter than this that ends in failure counts toward the crash loop. */
const HEALTHY_RUN_MS = 10_000;
/**
 * Reconciliation (Mesos' algorithm): every instance at each (re)subscription; then, every
 * RECONCILE_RETRY_MS, the instances with no status since — a master that just failed over does
 * not answer for agents that have not re-registered yet — and every instance again each
 * RECONCILE_ALL_MS (Marathon's --reconciliation_interval default). It was every instance every
 * 15 s: at 50,000 instances, 50,000 statuses built, sent and handled per round (≈ 0.7 s of master
 * CPU; at 1,000,000 instances more than the interval itself) to learn nothing new.
 */
const RECONCILE_RETRY_MS = 15_000;
const RECONCILE_ALL_MS = 600_000;
/** At most one REVIVE for new demand per this long (Marathon's min_revive_offers_interval). */
const MIN_REVIVE_INTERVAL_MS = 1000;
/** Launches placed from one OFFERS event before the framework yields a turn (handleOffers). */
const LAUNCHES_PER_TURN = 1000;
/** Instance writes within this window are coalesced per instance. */
const WRITE_COALESCE_MS = 100;
/** The master's limit on tasks named in one RECONCILE call. */
const RECONCILE_CALL_TASKS = 100_000;
/**
 * Launches per batch of offers (Marathon caps launches per offer cycle too). Without a cap one
 * cycle of 10,000 offers built every TaskInfo of a million-task deployment in one turn: gigabytes
 * of TaskInfos, instances and ACCEPTs alive at once (docs/architecture/006-scale.md).
 */
const MAX_LAUNCHES_PER_OFFERS = 10_000;
/**
 * Launches not yet RUNNING, at most. At scale-1m without it the master fell minutes behind on
 * status updates and acknowledgements: its accept queue filled, agents missed heartbeats.
 */
const MAX_LAUNCHES_IN_FLIGHT = 10_000;

export interface AppRuntime {
  /** Failures in a row without a run that lasted HEALTHY_RUN_MS (or was healthy). */
  consecutiveFailures: number;
  /** No launch before this time (ms): Marathon's backoff. */
  delayUntil: number;
  /** Set when relaunching stopped after too many failures: the reason. */
  stopped?: string;
  lastTaskFailure?: Record<string, unknown>;
  /** Why recent offers were not used, per agent (for /v2/queue). */
  rejections: Map<string, { agentId: string; hostname: string; reason: string; at: string }>;
}

export interface ServicesOptions {
  transport: SchedulerTransport;
  store: Store;
  logger: Logger;
  now?: () => number;
  frameworkName?: string;
  role?: string;
  /** FrameworkInfo.user: who an app's tasks run as unless the app names a user (Marathon's --mesos_user); default nobody. */
  frameworkUser?: string;
}

export class ServicesFramework {
  readonly apps = new Map<string, App>();
  readonly instances = new InstanceTable();
  readonly runtime = new Map<string, AppRuntime>();
  /** Deleted apps whose instances are still being stopped (in dependency order). */
  private readonly stopping = new Map<string, App>();
  readonly events = new ServiceEvents();
  readonly deployments = new Deployments();
  readonly readiness: ReadinessChecks;
  readonly now: () => number;
  frameworkId: string | undefined;
  private connection: SchedulerConnection | undefined;
  /** The instance writes being committed, if any: later ones wait, so a key's writes stay in order. */
  private writing: Promise<void> | undefined;
  private readonly log: Logger;
  private suppressed = false;
  /** Launches wanted at the last tick: more now is new demand (see tick). */
  private wantedBefore = 0;
  private lastReviveAt = -Infinity;
  private reviveTimer: NodeJS.Timeout | undefined;
  private tickScheduled = false;
  /** The OFFERS batches being placed, in order (consume). */
  private placing: Promise<void> = Promise.resolve();
  /**
   * The reconciler's latest result per app, for the app object it was computed for. Valid until
   * one of the app's instances changes (`changed`): a tick or a batch of offers then recomputes
   * only the apps that changed, not every instance of every app (docs/architecture/006-scale.md).
   */
  private readonly plans = new Map<string, { app: App; result: ReconcileResult }>();
  /** Instances to write (or, when null, delete) at the next write turn. */
  private readonly dirty = new Map<string, Instance | null>();
  private writesScheduled = false;
  /** Acknowledgements of the updates handled this turn, sent together at the next one. */
  private acks: Acknowledgement[] = [];
  private acksScheduled = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  /** Task ids asked for by the last full reconciliation with no status since (RECONCILE_RETRY_MS); empty when all answered. */
  private unanswered = new Set<string>();
  /** Task ids increase with time, so the instance table is appended to (time-uuid.ts). */
  private readonly uuids: TimeOrderedUuids;
  /** One pending re-ask for TASK_UNKNOWN answers, however many arrive. */
  private unknownRetry: NodeJS.Timeout | undefined;

  constructor(private readonly options: ServicesOptions) {
    this.now = options.now ?? Date.now;
    this.readiness = new ReadinessChecks(this.now);
    this.uuids = new TimeOrderedUuids(this.now);
    this.log = options.logger;
  }

  async start(): Promise<void> {
    const [apps, instances, id] = await Promise.all([
      this.options.store.range(`${PREFIX}/apps/`),
      this.options.store.range(`${PREFIX}/instances/`),
      this.options.store.get(`${PREFIX}/framework-id`),
    ]);
    for (const kv of apps.kvs) {
      const app = JSON.parse(kv.value) as App;
      this.apps.set(app.id, app);
    }
    for (const kv of instances.kvs) {
      const instance = decodeInstance(kv.key.slice(`${PREFIX}/instances/`.length), kv.value);
      this.instances.set(instance.taskId, instance);
    }
    this.frameworkId = id?.value;
    await this.subscribe();
    this.timer = setInterval(() => {
      // Once a second from scratch: a change that did not go through `changed` is stale ≤ 1 s.
      this.plans.clear();
      this.tick();
    }, 1000);
    this.timer.unref();
    let lastFull = this.now();
    this.reconcileTimer = setInterval(() => {
      const full = this.now() - lastFull >= RECONCILE_ALL_MS;
      if (full) lastFull = this.now();
      this.reconcileInstances(full);
    }, RECONCILE_RETRY_MS);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.reviveTimer) clearTimeout(this.reviveTimer);
    if (this.unknownRetry) clearTimeout(this.unknownRetry);
    await this.connection?.close();
    this.writeDirty();
    while (this.writing !== undefined) {
      await this.writing;
      this.writeDirty();
    }
    this.events.close();
  }

  private async subscribe(): Promise<void> {
    const connection = await this.options.transport.subscribe({
      user: this.options.frameworkUser ?? 'nobody',
      name: this.options.frameworkName ?? 'marathon',
      roles: [this.options.role ?? '*'],
      failover_timeout: 604800,
      checkpoint: true,
      capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }, { type: 'MULTI_ROLE' }],
      ...(this.frameworkId ? { id: { value: this.frameworkId } } : {}),
    }, { suppressedRoles: [this.options.role ?? '*'] });
    this.connection = connection;
    if (this.frameworkId !== connection.frameworkId) {
      this.frameworkId = connection.frameworkId;
      await this.options.store.put(`${PREFIX}/framework-id`, connection.frameworkId);
    }
    // Subscribed suppressed: offers are asked for (REVIVE) only when an app needs a launch.
    this.suppressed = true;
    this.log.info({ frameworkId: connection.frameworkId, apps: this.apps.size, instances: this.instances.size }, 'services-subscribed');
    this.events.publish('scheduler_registered_event', { frameworkId: connection.frameworkId, master: '' });
    // After a (re)subscription, learn the truth about every instance we think exists.
    this.reconcileInstances();
    void this.consume(connection);
    this.tick();
  }

  /** Explicit reconciliation of every instance we know, or of those the last full one has no answer for yet. */
  private reconcileInstances(all = true): void {
    if (all) this.unanswered = new Set(this.instances.keys());
    // In calls the master accepts (RECONCILE_CALL_TASKS each).
    let tasks: Array<{ task_id: { value: string }; agent_id: { value: string } }> = [];
    for (const taskId of this.unanswered) {
      const i = this.instances.get(taskId);
      if (i === undefined) {
        this.unanswered.delete(taskId);
        continue;
      }
      tasks.push({ task_id: { value: i.taskId }, agent_id: { value: i.agentId } });
      if (tasks.length === RECONCILE_CALL_TASKS) {
        void this.call({ type: 'RECONCILE', reconcile: { tasks } });
        tasks = [];
      }
    }
    if (tasks.length > 0) void this.call({ type: 'RECONCILE', reconcile: { tasks } });
  }

  private async consume(connection: SchedulerConnection): Promise<void> {
    try {
      for await (const event of connection.events()) {
        if (event.type === 'OFFERS') {
          // Offers one batch after another (a batch's plans assume no other batch is placing),
          // but status updates are not held behind them: a batch of 1,000 agents yields turns
          // (handleOffers), and updates queued that long had their acknowledgements late enough
          // for agents to resend them.
          const offers = event.offers.offers;
          this.placing = this.placing.then(() => this.handleOffers(offers, connection)).catch((error: unknown) => this.log.error({ error }, 'services-offers-failed'));
        }
        else if (event.type === 'UPDATE') this.handleUpdate(event.update.status);
      }
    } catch (e) {
      this.log.warn({ error: e }, 'services-stream-failed');
    }
    if (this.stopped || this.connection !== connection) return;
    // The master went away: subscribe again with our id (the failover timeout keeps our tasks).
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        await this.subscribe();
        return;
      } catch (e) {
        this.log.warn({ error: e, attempt }, 'services-resubscribe-failed');
      }
    }
  }

  private call(call: Parameters<SchedulerConnection['call']>[0]): Promise<void> {
    return (this.connection?.call(call) ?? Promise.resolve()).catch((error: unknown) => this.log.warn({ error, type: call.type }, 'services-call-failed'));
  }

  runtimeOf(appId: string): AppRuntime {
    let r = this.runtime.get(appId);
    if (!r) this.runtime.set(appId, (r = { consecutiveFailures: 0, delayUntil: 0, rejections: new Map() }));
    return r;
  }

  instancesOf(appId: string): Instance[] {
    return this.instances.ofApp(appId);
  }

  // ---- desired state ------------------------------------------------------------------------

  /** Store a new version of an app (create or update) and start its deployment. */
  async putApp(app: App, options: { force?: boolean; create?: boolean } = {}): Promise<Deployment> {
    const existing = this.apps.get(app.id);
    if (options.create && existing) throw new DroverError('CONFLICT', `An app with id [${app.id}] already exists.`);
    this.deployments.checkLock([app.id], options.force ?? false);
    // The definition and its entry in the version history go in one transaction.
    await this.options.store.txn({
      success: [
        { type: 'put', key: `${PREFIX}/apps${app.id}`, value: JSON.stringify(app) },
        { type: 'put', key: `${PREFIX}/versions${app.id}/@${app.version}`, value: JSON.stringify(app) },
      ],
    });
    this.apps.set(app.id, app);
    const runtime = this.runtimeOf(app.id);
    if (!existing || existing.versionInfo.lastConfigChangeAt !== app.versionInfo.lastConfigChangeAt) {
      // A new configuration gets a fresh start: backoff and the crash-loop stop are reset.
      Object.assign(runtime, { consecutiveFailures: 0, delayUntil: 0, stopped: undefined });
    }
    const action = !existing ? 'StartApplication' : existing.versionInfo.lastConfigChangeAt !== app.versionInfo.lastConfigChangeAt ? 'RestartApplication' : 'ScaleApplication';
    const deployment = this.deployments.start([app.id], app.version, action, options.force ?? false, existing ? [{ appId: app.id, app: existing }] : []);
    this.events.publish('deployment_info', { plan: this.deployments.plan(deployment), currentStep: this.deployments.step(deployment) });
    this.tick();
    return deployment;
  }

  /** Stored versions of an app, oldest first (ISO timestamps sort in time order). */
  async versions(appId: string): Promise<App[]> {
    // '@' cannot appear in an app id, so /web's versions never include /web/x's.
    const result = await this.options.store.range(`${PREFIX}/versions${appId}/@`);
    return result.kvs.map((kv) => JSON.parse(kv.value) as App);
  }

  /** Every stored version of every app under `group` ('/' = all). */
  async versionsUnder(group: string): Promise<App[]> {
    const result = await this.options.store.range(`${PREFIX}/versions${group === '/' ? '/' : `${group}/`}`);
    return result.kvs.map((kv) => JSON.parse(kv.value) as App);
  }

  /**
   * DELETE /v2/deployments/{id}: without force, roll the affected apps back to their previous
   * definitions (a new deployment; a new app is removed); with force, just stop tracking it.
   */
  async cancelDeployment(id: string, force: boolean): Promise<Deployment | undefined> {
    const d = this.deployments.get(id);
    if (!d) throw new DroverError('NOT_FOUND', `DeploymentPlan ${id} does not exist`);
    this.deployments.finish(id);
    if (force) return undefined;
    let rollback: Deployment | undefined;
    for (const appId of d.apps) {
      const before = d.previous.find((p) => p.appId === appId)?.app as App | undefined;
      if (!before) {
        if (this.apps.has(appId)) rollback = await this.deleteApp(appId, true);
        continue;
      }
      const version = new Date(this.now()).toISOString();
      rollback = await this.putApp({ ...before, version, versionInfo: { lastConfigChangeAt: version, lastScalingAt: version } }, { force: true });
    }
    return rollback;
  }

  async deleteApp(appId: string, force = false): Promise<Deployment> {
    if (!this.apps.has(appId)) throw new DroverError('NOT_FOUND', `App '${appId}' does not exist`);
    this.deployments.checkLock([appId], force);
    const previous = this.apps.get(appId);
    await this.options.store.txn({ success: [{ type: 'delete', key: `${PREFIX}/apps${appId}` }, { type: 'deletePrefix', prefix: `${PREFIX}/versions${appId}/@` }] });
    this.apps.delete(appId);
    this.runtime.delete(appId);
    this.plans.delete(appId);
    const deployment = this.deployments.start([appId], new Date(this.now()).toISOString(), 'StopApplication', force, previous ? [{ appId, app: previous }] : []);
    if (previous) this.stopping.set(appId, previous);
    this.stopReleased();
    this.events.publish('app_terminated_event', { appId });
    this.tick();
    return deployment;
  }

  /**
   * Marathon's stop order: a deleted app's instances are killed only once no app that depends on
   * it (still deployed, or being stopped too) has live instances — dependents stop first.
   */
  private stopReleased(): void {
    const dependsOn = (app: App, id: string): boolean => {
      const group = app.id.slice(0, app.id.lastIndexOf('/')) || '/';
      return app.dependencies.some((raw) => normalizeId(raw, group) === id);
    };
    for (const [id] of this.stopping) {
      const blocked = [...this.apps.values(), ...this.stopping.values()].some(
        (other) => other.id !== id && dependsOn(other, id) && this.instancesOf(other.id).some(isLive),
      );
      if (blocked) continue;
      for (const i of this.instancesOf(id)) if (isLive(i)) this.kill(i);
      if (!this.instancesOf(id).some(isLive)) this.stopping.delete(id);
    }
  }

  /** Kill instances (and with `scale`, lower the app's instance count accordingly). */
  async killTasks(taskIds: string[], scale: boolean): Promise<Instance[]> {
    const found = taskIds.map((t) => this.instances.get(t)).filter((i): i is Instance => i !== undefined);
    // Killed before the scale is stored: putApp's tick would otherwise see too many live
    // instances and kill as many again by age (then relaunch them), twice the kills asked for.
    for (const i of found) this.kill(i);
    if (scale) {
      const byApp = new Map<string, number>();
      for (const i of found) byApp.set(i.appId, (byApp.get(i.appId) ?? 0) + 1);
      for (const [appId, n] of byApp) {
        const app = this.apps.get(appId);
        if (!app) continue;
        const version = new Date(this.now()).toISOString();
        await this.putApp({ ...app, instances: Math.max(0, app.instances - n), version, versionInfo: { ...app.versionInfo, lastScalingAt: version } }, { force: true });
      }
    }
    return found;
  }

  resetDelay(appId: string): void {
    const r = this.runtimeOf(appId);
    Object.assign(r, { consecutiveFailures: 0, delayUntil: 0, stopped: undefined });
    this.tick();
  }

  // ---- the loop -----------------------------------------------------------------------------

  /**
   * A tick soon, once for everything that happened meanwhile. Status updates arrive in batches
   * (one per agent UPDATE call) and each used to tick — a reconcile of every app, O(all
   * instances) — per update: 50,000 launches meant 100,000 full passes. (Not later than the
   * next turn: a deployment is complete, and its app unlocked for the next PUT, the moment the
   * update that completes it has been handled.)
   */
  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => {
      this.tickScheduled = false;
      this.tick();
    });
  }

  /** Apply the reconciler to every app: kills now; launches wait for offers (revive if needed). */
  tick(): void {
    if (this.stopped || !this.connection) return;
    this.stopReleased();
    let wanted = 0;
    for (const app of this.apps.values()) {
      if ((app.readinessChecks ?? []).length > 0) {
        this.readiness.run(app, this.instancesOf(app.id), (instance) => {
          instance.ready = true;
          this.changed(instance);
          this.persist(instance);
          this.scheduleTick();
        });
      }
      const result = this.planOf(app);
      for (const k of result.kill) {
        const i = this.instances.get(k.taskId);
        if (i) this.kill(i);
      }
      if (result.launch > 0 && this.launchAllowed(app)) wanted += result.launch;
      for (const d of this.deployments.forApp(app.id)) {
        if (result.complete) this.finishDeployment(d);
      }
    }
    for (const d of this.deployments.list()) {
      if (d.apps.every((id) => !this.apps.has(id) && this.instancesOf(id).every((i) => !isLive(i)))) this.finishDeployment(d);
    }
    // New demand (an app created or scaled up, a task to replace) while offers are already
    // wanted: the agents we declined stay filtered for refuse_seconds, and a burst of POSTs
    // otherwise waited that long for them. REVIVE clears the filters, as Marathon revives on new
    // launch demand — at most once per MIN_REVIVE_INTERVAL_MS, the rest picked up by a timer.
    const newDemand = wanted > this.wantedBefore;
    this.wantedBefore = wanted;
    if (wanted > 0 && (this.suppressed || newDemand || this.reviveTimer !== undefined)) {
      const wait = this.lastReviveAt + MIN_REVIVE_INTERVAL_MS - this.now();
      if (wait <= 0 || this.suppressed) {
        this.suppressed = false;
        this.lastReviveAt = this.now();
        if (this.reviveTimer !== undefined) clearTimeout(this.reviveTimer);
        this.reviveTimer = undefined;
        void this.call({ type: 'REVIVE', revive: {} });
      } else if (this.reviveTimer === undefined) {
        this.reviveTimer = setTimeout(() => {
          this.reviveTimer = undefined;
          this.wantedBefore = 0; // still wanted then: revive
          this.tick();
        }, wait);
        this.reviveTimer.unref();
      }
    } else if (wanted === 0 && !this.suppressed) {
      this.suppressed = true;
      void this.call({ type: 'SUPPRESS', suppress: {} });
    }
  }

  private finishDeployment(d: Deployment): void {
    if (!this.deployments.finish(d.id)) return;
    this.events.publish('deployment_success', { id: d.id, plan: this.deployments.plan(d) });
  }

  private launchAllowed(app: App): boolean {
    const r = this.runtimeOf(app.id);
    return r.stopped === undefined && this.now() >= r.delayUntil && this.waitingFor(app) === undefined;
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
      const dependency = this.apps.get(id);
      if (dependency && !this.planOf(dependency).complete) return id;
    }
    return undefined;
  }

  /** The reconciler's result for the app, recomputed only when its instances changed. */
  private planOf(app: App): ReconcileResult {
    const cached = this.plans.get(app.id);
    if (cached !== undefined && cached.app === app) return cached.result;
    const result = reconcile(app, this.instancesOf(app.id), 0);
    this.plans.set(app.id, { app, result });
    return result;
  }

  /** Every change of an instance the reconciler reads (added, removed, state, health, ready). */
  private changed(instance: Instance): void {
    this.plans.delete(instance.appId);
  }

  private kill(i: Instance): void {
    if (i.state === 'TASK_KILLING' || isTerminalState(i.state)) return;
    i.state = 'TASK_KILLING';
    this.changed(i);
    (i as Instance & { killedByUs?: boolean }).killedByUs = true;
    this.persist(i);
    void this.call({ type: 'KILL', kill: { task_id: { value: i.taskId }, agent_id: { value: i.agentId } } });
  }

  private async handleOffers(offers: OfferJson[], connection: SchedulerConnection): Promise<void> {
    // One plan per app per batch of offers, not per offer: within a batch the reconciler's
    // launch count only drops by what the batch itself launches, and its kills are applied once.
    // (Per offer it was O(offers × every instance) per cycle: docs/architecture/006-scale.md.)
    const plans: Array<{ app: App; want: number; spots: Spot[] }> = [];
    for (const app of [...this.apps.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const plan = this.planOf(app);
      // The launch count assumes this round's kills happen: apply them together.
      for (const k of plan.kill) {
        const victim = this.instances.get(k.taskId);
        if (victim) this.kill(victim);
      }
      if (plan.launch === 0 || !this.launchAllowed(app)) continue;
      // Spots matter only to constraints; without any, placement never reads them.
      plans.push({ app, want: plan.launch, spots: app.constraints.length > 0 ? this.instancesOf(app.id).filter(isLive) : [] });
    }
    const at = new Date(this.now()).toISOString();
    // Backpressure: launches not yet RUNNING count against the budget, so the launch rate follows
    // what the master and agents confirm instead of piling up updates and acks in their queues.
    let inFlight = 0;
    for (const i of this.instances.values()) if (i.state === 'TASK_STAGING' || i.state === 'TASK_STARTING') inFlight++;
    let budget = Math.max(0, Math.min(MAX_LAUNCHES_PER_OFFERS, MAX_LAUNCHES_IN_FLIGHT - inFlight));
    let placed = 0;
    // Launches wait for their instances to be stored (see storeThenAccept).
    const fresh: Instance[] = [];
    const accepts: Array<{ offerId: OfferJson['id']; taskInfos: Record<string, unknown>[] }> = [];
    for (const offer of offers) {
      if (budget === 0) {
        // Launched enough for this batch: the rest go back at once, offered again next cycle.
        void this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
        continue;
      }
      if (placed >= LAUNCHES_PER_TURN) {
        // Let the accepts of this much go out (and agents start on them) before placing more: one
        // OFFERS event of 1,000 agents placed 50,000 tasks in one turn, and the master, then the
        // agents, then the master again each waited for the whole batch.
        placed = 0;
        await this.storeThenAccept(fresh.splice(0), accepts.splice(0));
        await new Promise((resolve) => setImmediate(resolve));
        if (this.stopped || this.connection !== connection) return;
        // An app deleted or changed meanwhile gets nothing more from this batch.
        for (const plan of plans) if (this.apps.get(plan.app.id) !== plan.app) plan.want = 0;
      }
      const resources = Resources.fromJSON(offer.resources);
      const attributes = Object.fromEntries((offer.attributes ?? []).map((a) => attributeEntry(a)));
      let remaining = resources;
      const taskInfos: Record<string, unknown>[] = [];
      for (const plan of plans) {
        const app = plan.app;
        if (plan.want === 0 || budget === 0) continue;
        const runtime = this.runtimeOf(app.id);
        // An offer already used up by earlier apps: say why without running placement (at
        // 1,000 apps × 10,000 offers a cycle, placement's parsing was the whole cycle).
        const short = remaining.cpus() < app.cpus ? `insufficient cpus: ${remaining.cpus()} < ${app.cpus}` : remaining.mem() < app.mem ? `insufficient mem: ${remaining.mem()} < ${app.mem}` : undefined;
        const result = short === undefined ? place(app, { agentId: offer.agent_id.value, hostname: offer.hostname, attributes, resources: remaining }, plan.spots, Math.min(plan.want, budget)) : { launches: [], reason: short, remaining };
        if (result.reason) recordRejection(runtime, { agentId: offer.agent_id.value, hostname: offer.hostname, reason: result.reason, at });
        else runtime.rejections.delete(offer.agent_id.value);
        remaining = result.remaining;
        for (const launch of result.launches) {
          const id = makeTaskId(app.id, this.uuids.next());
          taskInfos.push(buildTaskInfo(app, id, offer.agent_id.value, offer.hostname, launch.ports, launch.resources));
          const instance: Instance = {
            taskId: id, appId: app.id, agentId: offer.agent_id.value, hostname: offer.hostname, attributes,
            configVersion: app.versionInfo.lastConfigChangeAt, version: app.version, state: 'TASK_STAGING',
            ports: launch.ports, host: offer.hostname, stagedAt: at, startedAt: undefined,
          };
          this.instances.set(id, instance);
          this.changed(instance);
          fresh.push(instance);
          plan.want--;
          placed++;
          budget--;
          if (app.constraints.length > 0) plan.spots.push(instance);
        }
      }
      if (taskInfos.length > 0) {
        accepts.push({ offerId: offer.id, taskInfos });
      } else {
        void this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 5 } } });
      }
    }
    await this.storeThenAccept(fresh, accepts);
  }

  /**
   * Stores the new instances, then launches them — as Marathon stores an instance before its
   * launch. A launch sent before its instance was stored could be lost with a leader that stopped
   * in between: the next leader, not knowing the instance, launched another, and the first ran
   * on unowned (the SIGSTOP test in test/ha.test.ts caught 10 running for 5 wanted). One write
   * per batch of offers (in transactions of MAX_TXN_OPS), so the rate is kept. If the write
   * fails nothing is launched: the offers are declined and the instances forgotten, to be placed
   * again on a later offer.
   */
  private async storeThenAccept(fresh: Instance[], accepts: Array<{ offerId: OfferJson['id']; taskInfos: Record<string, unknown>[] }>): Promise<void> {
    if (accepts.length === 0) return;
    const ops: Op[] = fresh.map((instance) => ({ type: 'put', key: `${PREFIX}/instances/${instance.taskId}`, value: encodeInstance(instance) }));
    try {
      const chunks: Array<Promise<unknown>> = [];
      for (let i = 0; i < ops.length; i += MAX_TXN_OPS) chunks.push(this.options.store.txn({ success: ops.slice(i, i + MAX_TXN_OPS) }));
      await Promise.all(chunks);
    } catch (error) {
      this.log.error({ error, instances: fresh.length }, 'instance-write-failed-launches-withdrawn');
      for (const instance of fresh) {
        this.instances.delete(instance.taskId);
        this.changed(instance);
      }
      for (const { offerId } of accepts) void this.call({ type: 'DECLINE', decline: { offer_ids: [offerId], filters: { refuse_seconds: 1 } } });
      return;
    }
    for (const { offerId, taskInfos } of accepts) {
      void this.call({ type: 'ACCEPT', accept: { offer_ids: [offerId], operations: [{ type: 'LAUNCH', launch: { task_infos: taskInfos as never } }], filters: { refuse_seconds: 1 } } });
    }
  }

  private handleUpdate(status: TaskStatus): void {
    if (status.uuid && status.agent_id) this.acknowledge({ agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid });
    const instance = this.instances.get(status.task_id.value);
    const appId = instance?.appId ?? appIdOfTask(status.task_id.value);
    if (status.state !== 'TASK_UNKNOWN') this.unanswered.delete(status.task_id.value);
    if (!instance) {
      // A task we do not know (e.g. of a deleted app): make sure it does not run.
      if (!isTerminalState(status.state)) void this.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      return;
    }
    if (status.state === 'TASK_UNKNOWN') {
      // The master does not know the task (yet): not a reason to replace it; ask again soon.
      if (this.unknownRetry === undefined) {
        this.unknownRetry = setTimeout(() => {
          this.unknownRetry = undefined;
          this.reconcileInstances(false);
        }, 2000);
        this.unknownRetry.unref();
      }
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
    if (status.healthy !== undefined) instance.healthy = status.healthy;
    // The reconciler reads live, killing and healthy: STAGING → STARTING changes none of them.
    if (!(before === 'TASK_STAGING' && instance.state === 'TASK_STARTING') && (instance.state !== before || instance.healthy !== wasHealthy)) this.changed(instance);
    if (status.state === 'TASK_RUNNING' && !instance.startedAt) instance.startedAt = new Date(this.now()).toISOString();
    if (this.events.listening) {
      this.events.publish('status_update_event', {
        slaveId: instance.agentId, taskId: instance.taskId, taskStatus: status.state, message: status.message ?? '', appId: instance.appId,
        host: instance.host, ipAddresses: [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }], ports: instance.ports, version: instance.version,
      });
    }
    if (wasHealthy !== instance.healthy && instance.healthy !== undefined) {
      this.events.publish('health_status_changed_event', { appId: instance.appId, instanceId: instance.taskId, version: instance.version, alive: instance.healthy });
    }
    if (isTerminalState(status.state)) {
      this.instances.delete(instance.taskId);
      this.changed(instance);
      this.readiness.forget(instance.taskId);
      this.unpersist(instance.taskId);
      if (appId && before !== 'TASK_KILLING') this.recordFailure(appId, instance, status);
    } else if ((instance.state !== before && instance.state !== 'TASK_STARTING') || instance.healthy !== wasHealthy || instance.startedAt !== wasStartedAt) {
      // Only a change is written: a reconciliation answers every instance, and at 50,000
      // instances rewriting them all (every 15 s, then) was most of the store's load. Nor is
      // TASK_STARTING: recovered, STAGING and STARTING mean the same (launched, not running
      // yet; reconciliation tells which), and under load it was a third of the writes.
      this.persist(instance);
    }
    this.scheduleTick();
  }

  /**
   * Acknowledgements go out once per turn, together (acknowledgeAll where the transport has it):
   * one in-process call each was a promise, a validation and a framework lookup per update.
   * Sent after the update was handled, as before the agent retries until it sees one.
   */
  private acknowledge(ack: Acknowledgement): void {
    this.acks.push(ack);
    if (this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => this.sendAcks());
  }

  private sendAcks(): void {
    this.acksScheduled = false;
    const acks = this.acks;
    this.acks = [];
    const connection = this.connection;
    if (acks.length === 0 || !connection) return;
    if (connection.acknowledgeAll) {
      connection.acknowledgeAll(acks).catch((error: unknown) => this.log.warn({ error, type: 'ACKNOWLEDGE', acks: acks.length }, 'services-call-failed'));
      return;
    }
    for (const acknowledge of acks) void this.call({ type: 'ACKNOWLEDGE', acknowledge });
  }

  /** Marathon's backoff, and the crash-loop stop after `maxConsecutiveFailures`. */
  private recordFailure(appId: string, instance: Instance, status: TaskStatus): void {
    const app = this.apps.get(appId);
    if (!app || status.state === 'TASK_KILLED') return;
    const r = this.runtimeOf(appId);
    const ranFor = instance.startedAt ? this.now() - Date.parse(instance.startedAt) : 0;
    r.consecutiveFailures = ranFor >= HEALTHY_RUN_MS || instance.healthy === true ? 1 : r.consecutiveFailures + 1;
    const delay = Math.min(app.backoffSeconds * app.backoffFactor ** (r.consecutiveFailures - 1), app.maxLaunchDelaySeconds);
    r.delayUntil = this.now() + delay * 1000;
    r.lastTaskFailure = { appId, host: instance.host, message: status.message ?? '', state: status.state, taskId: instance.taskId, timestamp: new Date(this.now()).toISOString(), version: instance.version, slaveId: instance.agentId };
    if (app.maxConsecutiveFailures > 0 && r.consecutiveFailures >= app.maxConsecutiveFailures && r.stopped === undefined) {
      r.stopped = `stopped relaunching after ${r.consecutiveFailures} consecutive failures (maxConsecutiveFailures ${app.maxConsecutiveFailures}); last: ${status.message ?? status.state}. Deploy a new version or DELETE /v2/queue${appId}/delay to resume.`;
      this.events.publish('app_launch_stopped_event', { appId, reason: r.stopped });
      this.log.warn({ appId, failures: r.consecutiveFailures }, 'app-crash-loop-stopped');
    }
  }

  /**
   * Instance writes are coalesced over WRITE_COALESCE_MS: an instance that changes several times in one batch
   * of updates (STAGING → STARTING → RUNNING) is written once, in its latest state. At 50,000
   * launches the per-change writes were a fifth of the master's CPU (docs/architecture/006-scale.md).
   */
  private persist(instance: Instance): void {
    this.dirty.set(instance.taskId, instance);
    this.scheduleWrites();
  }

  private unpersist(taskId: string): void {
    this.dirty.set(taskId, null);
    this.scheduleWrites();
  }

  private scheduleWrites(): void {
    if (this.writesScheduled) return;
    this.writesScheduled = true;
    // A short window, not the next turn: STARTING and RUNNING of one instance are a few
    // milliseconds apart but never in one turn. (A new instance is written before its launch,
    // by storeThenAccept; these are the changes after it.)
    setTimeout(() => this.writeDirty(), WRITE_COALESCE_MS).unref();
  }

  /**
   * One flush: every dirty instance, in transactions of MAX_TXN_OPS (its keys are distinct, so
   * they may commit in any order). The window above already batches; a group-commit writer on
   * top cost two promises and a queue entry per write, and cut transactions at 100.
   */
  private writeDirty(): void {
    this.writesScheduled = false;
    // A flush still committing: this one follows when it is done (finally below).
    if (this.writing !== undefined || this.dirty.size === 0) return;
    const ops: Op[] = [];
    for (const [taskId, instance] of this.dirty) {
      const key = `${PREFIX}/instances/${taskId}`;
      ops.push(instance === null ? { type: 'delete', key } : { type: 'put', key, value: encodeInstance(instance) });
    }
    this.dirty.clear();
    const chunks: Array<Promise<unknown>> = [];
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) {
      const success = ops.slice(i, i + MAX_TXN_OPS);
      chunks.push(this.options.store.txn({ success }).catch((error: unknown) => this.log.error({ error, writes: success.length }, 'instance-write-failed')));
    }
    this.writing = Promise.all(chunks).then(() => {
      this.writing = undefined;
      if (this.dirty.size > 0 && !this.stopped) this.scheduleWrites();
    });
  }
}

/** Rejections kept per app (the latest ones, for /v2/queue): bounded, or 1,000 apps × 10,000 agents of them pile up. */
const MAX_REJECTIONS_KEPT = 100;

function recordRejection(runtime: AppRuntime, rejection: { agentId: string; hostname: string; reason: string; at: string }): void {
  runtime.rejections.delete(rejection.agentId);
  runtime.rejections.set(rejection.agentId, rejection);
  if (runtime.rejections.size > MAX_REJECTIONS_KEPT) runtime.rejections.delete(runtime.rejections.keys().next().value!);
}

function attributeEntry(a: unknown): [string, string] {
  const attr = a as { name: string; text?: { value: string }; scalar?: { value: number } };
  return [attr.name, attr.text?.value ?? String(attr.scalar?.value ?? '')];
}
