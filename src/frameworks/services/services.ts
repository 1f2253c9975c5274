/**
 * The services framework (Marathon's role): keeps apps' desired state in the store, subscribes to
 * the master through the scheduler SDK, and applies the pure reconciler's results — launches on
 * offers (placement with reasons), kills, backoff and the crash-loop stop. The HTTP API is api.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log/index.ts';
import { DroverError } from '../../protocol/errors.ts';
import { canonicalEnum, isTerminalState } from '../../protocol/mesos/enums.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { Resources } from '../../resources/index.ts';
import type { BatchWriter, Store } from '../../store/store.ts';
import type { OfferJson, SchedulerConnection, SchedulerTransport } from '../sdk/scheduler.ts';
import { type App, appIdOfTask, taskId as makeTaskId } from './app.ts';
import { normalizeId } from './app-schema.ts';
import { ServiceEvents } from './events.ts';
import { place, type Spot } from './placement.ts';
import { reconcile, isLive, type Instance } from './reconcile.ts';
import { buildTaskInfo } from './task-builder.ts';
import { Deployments, type Deployment } from './deployments.ts';
import { InstanceTable } from './instance-table.ts';
import { ReadinessChecks } from './readiness.ts';

const PREFIX = '/drover/services';
/** A run shorter than this that ends in failure counts toward the crash loop. */
const HEALTHY_RUN_MS = 10_000;
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
/** Instances asked about per periodic reconciliation (every 15 s). */
const RECONCILE_PERIODIC_TASKS = 10_000;

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
  private readonly writer: BatchWriter;
  private readonly log: Logger;
  private suppressed = false;
  private tickScheduled = false;
  /** Instances to write (or, when null, delete) at the next write turn. */
  private readonly dirty = new Map<string, Instance | null>();
  private writesScheduled = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconcileCursor: Iterator<Instance> | undefined;

  constructor(private readonly options: ServicesOptions) {
    this.now = options.now ?? Date.now;
    this.readiness = new ReadinessChecks(this.now);
    this.log = options.logger;
    this.writer = options.store.batchWriter({ maxBatch: 100, maxDelayMs: 5 });
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
      const instance = JSON.parse(kv.value) as Instance;
      this.instances.set(instance.taskId, instance);
    }
    this.frameworkId = id?.value;
    await this.subscribe();
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
    this.reconcileTimer = setInterval(() => this.reconcileSome(), 15_000);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.connection?.close();
    this.writeDirty();
    await this.writer.flush();
    this.events.close();
  }

  private async subscribe(): Promise<void> {
    const connection = await this.options.transport.subscribe({
      user: 'root',
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

  /** Explicit reconciliation of every instance we know, in calls the master accepts (≤ 100,000 tasks). */
  private reconcileInstances(): void {
    let tasks: Array<{ task_id: { value: string }; agent_id: { value: string } }> = [];
    for (const i of this.instances.values()) {
      tasks.push({ task_id: { value: i.taskId }, agent_id: { value: i.agentId } });
      if (tasks.length === RECONCILE_CALL_TASKS) {
        void this.call({ type: 'RECONCILE', reconcile: { tasks } });
        tasks = [];
      }
    }
    if (tasks.length > 0) void this.call({ type: 'RECONCILE', reconcile: { tasks } });
  }

  /**
   * The periodic reconciliation (Marathon repeats it too): the next RECONCILE_PERIODIC_TASKS
   * instances, round the table. Every instance every 15 s was 1,000,000 status updates each time
   * at scale-1m (docs/architecture/006-scale.md); up to 10,000 instances it is still all of them.
   */
  private reconcileSome(): void {
    if (this.instances.size <= RECONCILE_PERIODIC_TASKS) return this.reconcileInstances();
    const tasks: Array<{ task_id: { value: string }; agent_id: { value: string } }> = [];
    // A Map iterator stays valid while entries come and go; it ends after the last one.
    this.reconcileCursor ??= this.instances.values();
    while (tasks.length < RECONCILE_PERIODIC_TASKS) {
      const next = this.reconcileCursor.next();
      if (next.done) {
        this.reconcileCursor = this.instances.values();
        if (tasks.length > 0) break;
        continue;
      }
      tasks.push({ task_id: { value: next.value.taskId }, agent_id: { value: next.value.agentId } });
    }
    if (tasks.length > 0) void this.call({ type: 'RECONCILE', reconcile: { tasks } });
  }

  private async consume(connection: SchedulerConnection): Promise<void> {
    try {
      for await (const event of connection.events()) {
        if (event.type === 'OFFERS') this.handleOffers(event.offers.offers);
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
    for (const i of found) this.kill(i);
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
   * instances) — per update: 50,000 launches meant 100,000 full passes.
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
    let wantOffers = false;
    for (const app of this.apps.values()) {
      this.readiness.run(app, this.instancesOf(app.id), (instance) => {
        instance.ready = true;
        this.persist(instance);
        this.scheduleTick();
      });
      const result = reconcile(app, this.instancesOf(app.id), 0);
      for (const k of result.kill) {
        const i = this.instances.get(k.taskId);
        if (i) this.kill(i);
      }
      if (result.launch > 0 && this.launchAllowed(app)) wantOffers = true;
      for (const d of this.deployments.forApp(app.id)) {
        if (result.complete) this.finishDeployment(d);
      }
    }
    for (const d of this.deployments.list()) {
      if (d.apps.every((id) => !this.apps.has(id) && this.instancesOf(id).every((i) => !isLive(i)))) this.finishDeployment(d);
    }
    if (wantOffers && this.suppressed) {
      this.suppressed = false;
      void this.call({ type: 'REVIVE', revive: {} });
    } else if (!wantOffers && !this.suppressed) {
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
      if (dependency && !reconcile(dependency, this.instancesOf(id), 0).complete) return id;
    }
    return undefined;
  }

  private kill(i: Instance): void {
    if (i.state === 'TASK_KILLING' || isTerminalState(i.state)) return;
    i.state = 'TASK_KILLING';
    (i as Instance & { killedByUs?: boolean }).killedByUs = true;
    this.persist(i);
    void this.call({ type: 'KILL', kill: { task_id: { value: i.taskId }, agent_id: { value: i.agentId } } });
  }

  private handleOffers(offers: OfferJson[]): void {
    // One plan per app per batch of offers, not per offer: within a batch the reconciler's
    // launch count only drops by what the batch itself launches, and its kills are applied once.
    // (Per offer it was O(offers × every instance) per cycle: docs/architecture/006-scale.md.)
    const plans: Array<{ app: App; want: number; spots: Spot[] }> = [];
    for (const app of [...this.apps.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const plan = reconcile(app, this.instancesOf(app.id), 0);
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
    for (const offer of offers) {
      if (budget === 0) {
        // Launched enough for this batch: the rest go back at once, offered again next cycle.
        void this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
        continue;
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
        const result = short === undefined ? place(app, { agentId: offer.agent_id.value, hostname: offer.hostname, attributes, resources: remaining }, plan.spots, Math.min(plan.want, budget)) : { launches: [], reason: short };
        if (result.reason) recordRejection(runtime, { agentId: offer.agent_id.value, hostname: offer.hostname, reason: result.reason, at });
        else runtime.rejections.delete(offer.agent_id.value);
        for (const launch of result.launches) {
          const id = makeTaskId(app.id, randomUUID());
          remaining = remaining.subtract(launch.resources);
          taskInfos.push(buildTaskInfo(app, id, offer.agent_id.value, offer.hostname, launch.ports, launch.resources));
          const instance: Instance = {
            taskId: id, appId: app.id, agentId: offer.agent_id.value, hostname: offer.hostname, attributes,
            configVersion: app.versionInfo.lastConfigChangeAt, version: app.version, state: 'TASK_STAGING',
            // startedAt in the literal: added later it costs each instance a property array.
            ports: launch.ports, host: offer.hostname, stagedAt: new Date(this.now()).toISOString(), startedAt: undefined,
          };
          this.instances.set(id, instance);
          this.persist(instance);
          plan.want--;
          budget--;
          if (app.constraints.length > 0) plan.spots.push(instance);
        }
      }
      if (taskInfos.length > 0) {
        void this.call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: taskInfos as never } }], filters: { refuse_seconds: 1 } } });
      } else {
        void this.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 5 } } });
      }
    }
  }

  private handleUpdate(status: TaskStatus): void {
    if (status.uuid && status.agent_id) {
      void this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } });
    }
    const instance = this.instances.get(status.task_id.value);
    const appId = instance?.appId ?? appIdOfTask(status.task_id.value);
    if (!instance) {
      // A task we do not know (e.g. of a deleted app): make sure it does not run.
      if (!isTerminalState(status.state)) void this.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      return;
    }
    if (status.state === 'TASK_UNKNOWN') {
      // The master does not know the task (yet): not a reason to replace it; ask again soon.
      setTimeout(() => void this.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: instance.taskId }, agent_id: { value: instance.agentId } }] } }), 2000).unref();
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
    if (status.state === 'TASK_RUNNING' && !instance.startedAt) instance.startedAt = new Date(this.now()).toISOString();
    this.events.publish('status_update_event', {
      slaveId: instance.agentId, taskId: instance.taskId, taskStatus: status.state, message: status.message ?? '', appId: instance.appId,
      host: instance.host, ipAddresses: [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }], ports: instance.ports, version: instance.version,
    });
    if (wasHealthy !== instance.healthy && instance.healthy !== undefined) {
      this.events.publish('health_status_changed_event', { appId: instance.appId, instanceId: instance.taskId, version: instance.version, alive: instance.healthy });
    }
    if (isTerminalState(status.state)) {
      this.instances.delete(instance.taskId);
      this.readiness.forget(instance.taskId);
      this.unpersist(instance.taskId);
      if (appId && before !== 'TASK_KILLING') this.recordFailure(appId, instance, status);
    } else if (instance.state !== before || instance.healthy !== wasHealthy || instance.startedAt !== wasStartedAt) {
      // Only a change is written: the periodic reconciliation answers every instance every
      // 15 s, and at 50,000 instances rewriting them all was most of the store's load.
      this.persist(instance);
    }
    this.scheduleTick();
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
    // milliseconds apart but never in one turn. The ACCEPT never waited for this write (the
    // group commit was asynchronous before too); after a crash, reconciliation tells the truth.
    setTimeout(() => this.writeDirty(), WRITE_COALESCE_MS).unref();
  }

  private writeDirty(): void {
    this.writesScheduled = false;
    for (const [taskId, instance] of this.dirty) {
      const key = `${PREFIX}/instances/${taskId}`;
      if (instance === null) void this.writer.delete(key).catch(() => undefined);
      else void this.writer.put(key, JSON.stringify(instance)).catch((error: unknown) => this.log.error({ error }, 'instance-write-failed'));
    }
    this.dirty.clear();
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
