/**
 * The services framework (Marathon's role), composed of its parts: desired state (apps, versions,
 * deployments) here; convergence.ts applies the pure reconciler; offers.ts places and launches;
 * status-updates.ts turns updates into instance states, backoff and the crash-loop stop;
 * revive.ts decides when to ask for offers; reconciliation.ts runs the reconciliation rounds;
 * instance-writer.ts writes instances. The subscription loop is the SDK's SchedulerDriver; the
 * HTTP API is api.ts. Store failures: README "Store failures".
 */
import { ResidentSlots } from './stateful.ts';
import { systemClock, type Clock } from '../../clock/clock.ts';
import type { Logger } from '../../log/index.ts';
import { DroverError } from '../../errors/errors.ts';
import type { Store } from '../../store/store.ts';
import { builtInFrameworkInfo, repeatEvery, SchedulerDriver } from '../sdk/driver.ts';
import type { SchedulerConnection, SchedulerTransport } from '../sdk/scheduler.ts';
import type { App } from './app.ts';
import { Convergence } from './convergence.ts';
import { Deployments, type Deployment, type DeploymentEnd } from './deployments.ts';
import { ServiceEvents } from './events.ts';
import { decodeInstance } from './instance-codec.ts';
import { InstanceTable } from './instance-table.ts';
import { InstanceWriter, INSTANCES_PREFIX } from './instance-writer.ts';
import { OfferPlacement } from './offers.ts';
import { PodManager } from './pods.ts';
import { ReadinessChecks } from './readiness.ts';
import type { Instance, ReconcileResult } from './reconcile.ts';
import { ReconciliationRounds } from './reconciliation.ts';
import { OfferDemand } from './revive.ts';
import { newRuntime, type AppRuntime } from './runtime.ts';
import { StatusUpdates } from './status-updates.ts';
import { assignServicePorts, assignServicePortsAll, ServicePortIndex, type ServicePortRange } from './service-ports.ts';
import { TimeOrderedUuids } from './time-uuid.ts';
import { roleErrors } from './placement.ts';

export type { AppRuntime } from './runtime.ts';

const PREFIX = '/drover/services';
/** Where running deployments are kept (one key each), so a restart or failover resumes them. */
const DEPLOYMENTS = `${PREFIX}/deployments/`;

/** The group an app id is in (`/prod/web` → `/prod`, `/web` → `/`). */
const groupOf = (appId: string): string => appId.slice(0, appId.lastIndexOf('/')) || '/';
/** The reconciler runs from scratch this often (see Convergence.refresh). */
const REFRESH_MS = 1000;

export interface ServicesOptions {
  transport: SchedulerTransport;
  store: Store;
  logger: Logger;
  clock?: Clock;
  /** Drain time before a KILL for apps without a `DROVER_DRAIN_SECONDS` label (convergence.ts); default 0. */
  killDrainMs?: number;
  frameworkName?: string;
  /** FrameworkInfo.user: who an app's tasks run as unless the app names a user (Marathon's --mesos_user); default nobody. */
  frameworkUser?: string;
  role?: string;
  /**
   * More roles the framework subscribes with (MULTI_ROLE), for apps and pods that name one in
   * `role`; `role` (default `*`) stays the default role of those that do not (Marathon's --mesos_role).
   */
  roles?: readonly string[];
  /** Where `port: 0` service ports come from (Marathon's --local_port_min/max); default 10000–20000. */
  servicePortRange?: ServicePortRange;
}

export class ServicesFramework {
  readonly apps = new Map<string, App>();
  readonly instances = new InstanceTable();
  readonly runtime = new Map<string, AppRuntime>();
  /** Deleted apps whose instances are still being stopped (in dependency order). */
  private readonly stopping = new Map<string, App>();
  readonly events = new ServiceEvents();
  readonly deployments = new Deployments((d, how) => this.deploymentEnded(d, how));
  readonly readiness: ReadinessChecks;
  /** Marathon pods (task groups): pods.ts. */
  readonly pods: PodManager;
  /** Which app holds which service port (service-ports.ts). */
  readonly servicePorts: ServicePortIndex;
  readonly clock: Clock;
  /** The roles this framework subscribes with; the first is the default role of apps and pods. */
  readonly roles: readonly string[];
  private readonly store: Store;
  private readonly log: Logger;
  private readonly driver: SchedulerDriver;
  private readonly writer: InstanceWriter;
  private readonly convergence: Convergence;
  private readonly demand: OfferDemand;
  private readonly rounds: ReconciliationRounds;
  private readonly placement: OfferPlacement;
  private readonly updates: StatusUpdates;
  /** Resident apps' reservations and volumes (stateful.ts). */
  private readonly residentSlots: ResidentSlots;
  private refresher: { stop(): void } | undefined;
  private stopped = false;

  constructor(options: ServicesOptions) {
    const clock = (this.clock = options.clock ?? systemClock);
    const log = (this.log = options.logger);
    this.store = options.store;
    this.residentSlots = new ResidentSlots(options.store);
    this.roles = [...new Set([options.role ?? '*', ...(options.roles ?? [])])];
    this.servicePorts = new ServicePortIndex(options.servicePortRange);
    const now = (): number => clock.now();
    this.readiness = new ReadinessChecks(now);
    /** Task ids increase with time, so the instance table is appended to (time-uuid.ts). */
    const uuids = new TimeOrderedUuids(now);
    this.driver = new SchedulerDriver(
      {
        info: {
          ...builtInFrameworkInfo({
            user: options.frameworkUser ?? 'nobody',
            name: options.frameworkName ?? 'marathon',
            role: this.roles[0]!,
            capabilities: ['PARTITION_AWARE', 'TASK_KILLING_STATE', 'MULTI_ROLE'],
          }),
          roles: [...this.roles],
        },
        subscribed: (connection, previousId) => this.subscribed(connection, previousId),
        offers: (offers, connection) => {
          this.demand.offersReceived();
          // Pods first (they take whole offers for their task groups); apps get the rest.
          const rest = this.pods.offer(offers);
          if (rest.length > 0) this.placement.offer(rest, connection);
        },
        update: (status) => {
          if (!this.pods.handle(status)) this.updates.handle(status);
        },
      },
      { transport: options.transport, clock, logger: log, name: 'services' },
    );
    const call = this.driver.call.bind(this.driver);
    this.writer = new InstanceWriter(this.store, clock, log);
    this.demand = new OfferDemand(
      (c) => void call(c),
      clock,
      () => this.convergence.tick(),
    );
    this.rounds = new ReconciliationRounds(
      this.instances,
      (tasks) => this.driver.reconcile(tasks),
      clock,
      () => this.driver.reconcileAll(),
    );
    this.convergence = new Convergence(
      { apps: this.apps, stopping: this.stopping, instances: this.instances, deployments: this.deployments, events: this.events, readiness: this.readiness, runtimeOf: (id) => this.runtimeOf(id) },
      {
        persist: (i) => this.writer.persist(i),
        kill: (taskId, agentId) => void call({ type: 'KILL', kill: { task_id: { value: taskId }, agent_id: { value: agentId } } }),
        forget: (i) => {
          this.instances.delete(i.taskId);
          this.writer.unpersist(i.taskId);
          this.readiness.forget(i.taskId);
        },
        unreachable: (i, what) => log.warn({ appId: i.appId, taskId: i.taskId, agentId: i.agentId, unreachableSince: i.unreachableSince }, `unreachable-instance-${what}`),
        // Slots to release need offers of their agents too (stateful.ts).
        wanted: (n) => this.demand.update(n + this.pods.wanted() + this.residentSlots.releasing()),
        active: () => !this.stopped && this.driver.connection !== undefined,
      },
      clock,
      options.killDrainMs ?? 0,
    );
    const convergence = this.convergence;
    this.pods = new PodManager({
      store: this.store,
      events: this.events,
      deployments: this.deployments,
      clock,
      logger: log,
      call,
      acknowledge: (status) => this.driver.acknowledge(status),
      reconcile: (tasks) => this.driver.reconcile(tasks),
      demandChanged: () => convergence.scheduleTick(),
      active: () => !this.stopped && this.driver.connection !== undefined,
      defaultRole: this.roles[0]!,
    });
    this.placement = new OfferPlacement(
      {
        apps: this.apps,
        instances: this.instances,
        uuids,
        defaultRole: this.roles[0]!,
        runtimeOf: (id) => this.runtimeOf(id),
        planOf: (app) => convergence.planOf(app),
        launchAllowed: (app) => convergence.launchAllowed(app),
        kill: (i) => convergence.kill(i),
        changed: (i) => convergence.changed(i),
        storeNew: (instances) => this.writer.storeNew(instances),
        call,
        askNow: (taskIds) => this.rounds.askNow(taskIds),
        current: (connection) => !this.stopped && this.driver.connection === connection,
        resident: {
          slots: this.residentSlots,
          instances: this.instances,
          role: options.role ?? '*',
          nextUuid: () => uuids.next(),
          runtimeOf: (id) => this.runtimeOf(id),
          changed: (i) => convergence.changed(i),
          storeNew: (instances) => this.writer.storeNew(instances),
          call,
          log,
        },
      },
      clock,
      (error) => log.error({ err: error }, 'services-offers-failed'),
    );
    this.updates = new StatusUpdates(
      {
        apps: this.apps,
        instances: this.instances,
        events: this.events,
        runtimeOf: (id) => this.runtimeOf(id),
        changed: (i) => convergence.changed(i),
        persist: (i) => this.writer.persist(i),
        unpersist: (taskId) => this.writer.unpersist(taskId),
        forgetReadiness: (taskId) => this.readiness.forget(taskId),
        kill: (status) => void call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } }),
        killInstance: (i) => {
          log.info({ appId: i.appId, taskId: i.taskId, failures: i.health?.consecutiveFailures, cause: i.health?.lastFailureCause }, 'unhealthy-instance-killed');
          convergence.kill(i);
        },
        acknowledge: (status) => this.driver.acknowledge(status),
        answered: (taskId) => this.rounds.answered(taskId),
        unknown: () => this.rounds.unknown(),
        scheduleTick: () => convergence.scheduleTick(),
        crashLoopStopped: (appId, failures) => log.warn({ appId, failures }, 'app-crash-loop-stopped'),
        returned: (i, state) => log.info({ appId: i.appId, taskId: i.taskId, agentId: i.agentId, state }, 'unreachable-instance-returned'),
      },
      clock,
    );
  }

  get frameworkId(): string | undefined {
    return this.driver.frameworkId;
  }

  now(): number {
    return this.clock.now();
  }

  async start(): Promise<void> {
    const [apps, instances, id, deployments] = await Promise.all([
      this.store.range(`${PREFIX}/apps/`),
      this.store.range(INSTANCES_PREFIX),
      this.store.get(`${PREFIX}/framework-id`),
      this.store.range(DEPLOYMENTS),
    ]);
    // Deployments that were running resume: the reconciler finishes each once its apps converge.
    this.deployments.restore(deployments.kvs.map((kv) => JSON.parse(kv.value) as Deployment));
    for (const kv of apps.kvs) {
      const app = JSON.parse(kv.value) as App;
      this.apps.set(app.id, app);
      this.servicePorts.hold(app);
    }
    for (const kv of instances.kvs) {
      const instance = decodeInstance(kv.key.slice(INSTANCES_PREFIX.length), kv.value);
      this.instances.set(instance.taskId, instance);
    }
    await this.pods.load();
    await this.residentSlots.load();
    this.driver.restore(id?.value);
    await this.driver.start();
    this.refresher = repeatEvery(this.clock, REFRESH_MS, () => this.convergence.refresh());
    this.rounds.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.refresher?.stop();
    this.pods.stop();
    this.rounds.stop();
    this.demand.cancel();
    await this.driver.close();
    await this.writer.close();
    this.events.close();
  }

  /**
   * Each (re)subscription. Policy: the framework id is stored before anything is done with the
   * subscription; if that write fails the subscription does not count (start fails, or the
   * driver subscribes again), so a restart never subscribes as a new framework.
   */
  private async subscribed(connection: SchedulerConnection, previousId: string | undefined): Promise<void> {
    if (previousId !== connection.frameworkId) await this.store.put(`${PREFIX}/framework-id`, connection.frameworkId);
    this.demand.subscribed();
    this.log.info({ frameworkId: connection.frameworkId, apps: this.apps.size, instances: this.instances.size }, 'services-subscribed');
    this.events.publish('scheduler_registered_event', { frameworkId: connection.frameworkId, master: '' });
    // After a (re)subscription, learn the truth about every instance we think exists.
    this.rounds.round(true);
    this.pods.reconcileAll();
    this.convergence.tick();
  }

  runtimeOf(appId: string): AppRuntime {
    let r = this.runtime.get(appId);
    if (!r) this.runtime.set(appId, (r = newRuntime()));
    return r;
  }

  instancesOf(appId: string): Instance[] {
    return this.instances.ofApp(appId);
  }

  /** The reconciler's current result for the app: how many instances it wants launched now, and whether it is complete. */
  planOf(app: App): ReconcileResult {
    return this.convergence.planOf(app);
  }

  /** Apply the reconciler to every app now (see Convergence.tick). */
  tick(): void {
    this.convergence.tick();
  }

  /**
   * Marathon's dependency order: an app starts (or scales) only once every app it depends on
   * runs all its instances, healthy. Returns the first dependency still being waited for.
   */
  waitingFor(app: App): string | undefined {
    return this.convergence.waitingFor(app);
  }

  // ---- desired state ------------------------------------------------------------------------

  /** `app` with its 0 service ports assigned (reusing its current version's); 409 on a port another app holds. */
  withServicePorts(app: App): App {
    this.checkRoles([app]);
    return assignServicePorts(app, this.apps.get(app.id), this.servicePorts);
  }

  /** The same for the apps of one request: all assigned, or a 409 before anything is stored. */
  withServicePortsAll(apps: readonly App[]): App[] {
    this.checkRoles(apps);
    return assignServicePortsAll(apps, (id) => this.apps.get(id), this.servicePorts);
  }

  /** Every path that stores an app passes here first: its roles must be this framework's (422 naming the field). */
  private checkRoles(apps: readonly App[]): void {
    const details = apps.flatMap((a) => roleErrors(a, this.roles).map((d) => (apps.length > 1 ? { ...d, path: `${a.id}${d.path}` } : d)));
    if (details.length > 0) throw new DroverError('VALIDATION', 'Object is not valid', { details });
  }

  /** Store a new version of an app (create or update) and start its deployment. */
  async putApp(given: App, options: { force?: boolean; create?: boolean } = {}): Promise<Deployment> {
    try {
      return await this.storeApp(given, options);
    } catch (e) {
      // Marathon's event for a refused change of the group tree (conflict, lock, store failure).
      this.events.publish('group_change_failed', { groupId: groupOf(given.id), version: given.version, reason: e instanceof Error ? e.message : String(e) });
      throw e;
    }
  }

  private async storeApp(given: App, options: { force?: boolean; create?: boolean }): Promise<Deployment> {
    const existing = this.apps.get(given.id);
    if (options.create && existing) throw new DroverError('CONFLICT', `An app with id [${given.id}] already exists.`);
    this.deployments.checkLock([given.id], options.force ?? false);
    const app = this.withServicePorts(given);
    // Held before the write, so a concurrent request cannot be given the same ports; given back
    // (to the version before) if the write fails.
    this.servicePorts.hold(app);
    const action = !existing ? 'StartApplication' : existing.versionInfo.lastConfigChangeAt !== app.versionInfo.lastConfigChangeAt ? 'RestartApplication' : 'ScaleApplication';
    const deployment = this.deployments.create([app.id], app.version, action, existing ? [{ appId: app.id, app: existing }] : []);
    // The definition, its entry in the version history and the deployment that carries it out go
    // in one transaction (a restart resumes the deployment). Policy: the store first, memory
    // after; a failed write throws (503) and changes nothing.
    try {
      await this.store.txn({
        success: [
          { type: 'put', key: `${PREFIX}/apps${app.id}`, value: JSON.stringify(app) },
          { type: 'put', key: `${PREFIX}/versions${app.id}/@${app.version}`, value: JSON.stringify(app) },
          { type: 'put', key: `${DEPLOYMENTS}${deployment.id}`, value: JSON.stringify(deployment) },
        ],
      });
    } catch (e) {
      const now = this.apps.get(app.id);
      if (now) this.servicePorts.hold(now);
      else this.servicePorts.release(app.id);
      throw e;
    }
    this.apps.set(app.id, app);
    const runtime = this.runtimeOf(app.id);
    if (!existing || existing.versionInfo.lastConfigChangeAt !== app.versionInfo.lastConfigChangeAt) {
      // A new configuration gets a fresh start: backoff and the crash-loop stop are reset.
      Object.assign(runtime, { consecutiveFailures: 0, delayUntil: 0, stopped: undefined });
    }
    this.deployments.activate(deployment, options.force ?? false);
    this.events.publish('group_change_success', { groupId: groupOf(app.id), version: app.version });
    this.events.publish('deployment_info', { plan: this.deployments.plan(deployment), currentStep: this.deployments.step(deployment) });
    this.tick();
    return deployment;
  }

  /** Stored versions of an app, oldest first (ISO timestamps sort in time order). */
  async versions(appId: string): Promise<App[]> {
    // '@' cannot appear in an app id, so /web's versions never include /web/x's.
    const result = await this.store.range(`${PREFIX}/versions${appId}/@`);
    return result.kvs.map((kv) => JSON.parse(kv.value) as App);
  }

  /** Every stored version of every app under `group` ('/' = all). */
  async versionsUnder(group: string): Promise<App[]> {
    const result = await this.store.range(`${PREFIX}/versions${group === '/' ? '/' : `${group}/`}`);
    return result.kvs.map((kv) => JSON.parse(kv.value) as App);
  }

  /**
   * DELETE /v2/deployments/{id}: without force, roll the affected apps back to their previous
   * definitions (a new deployment; a new app is removed); with force, just stop tracking it.
   */
  async cancelDeployment(id: string, force: boolean): Promise<Deployment | undefined> {
    const d = this.deployments.get(id);
    if (!d) throw new DroverError('NOT_FOUND', `DeploymentPlan ${id} does not exist`);
    this.deployments.cancel(id);
    if (force) return undefined;
    let rollback: Deployment | undefined;
    for (const podId of d.pods ?? []) {
      // As for apps: the pod as it was before, as a new deployment; a new pod is removed.
      const before = this.pods.previousOf(d, podId);
      const version = new Date(this.now()).toISOString();
      if (before === undefined) {
        if (this.pods.pods.has(podId)) rollback = await this.pods.remove(podId, { force: true });
      } else rollback = (await this.pods.put({ ...before, version, versionInfo: { lastConfigChangeAt: version, lastScalingAt: version } }, { force: true })).deployment;
    }
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
    const version = new Date(this.now()).toISOString();
    const deployment = this.deployments.create([appId], version, 'StopApplication', previous ? [{ appId, app: previous }] : []);
    // Policy: the store first; a failed write throws (503), and nothing is stopped or forgotten.
    await this.store.txn({
      success: [
        { type: 'delete', key: `${PREFIX}/apps${appId}` },
        { type: 'deletePrefix', prefix: `${PREFIX}/versions${appId}/@` },
        { type: 'put', key: `${DEPLOYMENTS}${deployment.id}`, value: JSON.stringify(deployment) },
      ],
    });
    this.apps.delete(appId);
    // Its reservations and volumes go too (Marathon deletes a resident app's data with it).
    await this.residentSlots.appDeleted(appId);
    this.servicePorts.release(appId);
    this.runtime.delete(appId);
    this.convergence.forget(appId);
    this.deployments.activate(deployment, force);
    this.events.publish('group_change_success', { groupId: groupOf(appId), version });
    if (previous) this.stopping.set(appId, previous);
    this.convergence.stopReleased();
    this.events.publish('app_terminated_event', { appId });
    this.tick();
    return deployment;
  }

  /** Kill tasks; with `scale`, also lower their apps' instance counts (one deployment per app: the last is returned). */
  async killTasks(taskIds: string[], scale: boolean, wipe = false, force = true): Promise<{ killed: Instance[]; deployment?: Deployment }> {
    const found = taskIds.map((t) => this.instances.get(t)).filter((i): i is Instance => i !== undefined);
    const byApp = new Map<string, number>();
    for (const i of found) byApp.set(i.appId, (byApp.get(i.appId) ?? 0) + 1);
    // Marathon refuses a scale of a locked app (409) unless forced, before anything is killed.
    if (scale) this.deployments.checkLock([...byApp.keys()], force);
    // wipe=true: a resident instance's reservation and volume are released (stateful.ts).
    if (wipe) await this.residentSlots.wipe(found.map((i) => i.taskId));
    // Killed before the scale is stored: putApp's tick would otherwise see too many live
    // instances and kill as many again by age (then relaunch them), twice the kills asked for.
    for (const i of found) this.convergence.kill(i);
    let deployment: Deployment | undefined;
    if (scale) {
      for (const [appId, n] of byApp) {
        const app = this.apps.get(appId);
        if (!app) continue;
        const version = new Date(this.now()).toISOString();
        deployment = await this.putApp({ ...app, instances: Math.max(0, app.instances - n), version, versionInfo: { ...app.versionInfo, lastScalingAt: version } }, { force: true });
      }
    }
    return deployment === undefined ? { killed: found } : { killed: found, deployment };
  }

  /** A deployment ended: its stored copy goes, and Marathon's events say how it ended. */
  private deploymentEnded(d: Deployment, how: DeploymentEnd): void {
    // Not awaited (the reconciler ends deployments synchronously). If the delete is lost, the
    // deployment is restored at the next start and finished at once when its apps converged.
    this.store.delete(`${DEPLOYMENTS}${d.id}`).catch((e: unknown) => this.log.warn({ deploymentId: d.id, err: e }, 'deployment-unstore-failed'));
    const plan = this.deployments.plan(d);
    const currentStep = this.deployments.step(d);
    if (how === 'finished') {
      this.events.publish('deployment_step_success', { plan, currentStep });
      return;
    }
    this.events.publish('deployment_step_failure', { plan, currentStep });
    this.events.publish('deployment_failed', { id: d.id, plan, reason: 'cancelled' });
  }

  resetDelay(appId: string): void {
    const r = this.runtimeOf(appId);
    Object.assign(r, { consecutiveFailures: 0, delayUntil: 0, stopped: undefined });
    this.tick();
  }
}
