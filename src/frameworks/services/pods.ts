import type { Clock } from '../../clock/clock.ts';
import { DroverError } from '../../errors/errors.ts';
import type { Logger } from '../../log/index.ts';
import { isTerminalState } from '../../protocol/mesos/enums.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { Resources } from '../../resources/index.ts';
import type { Store } from '../../store/store.ts';
import type { ReconcileTask } from '../sdk/driver.ts';
import type { OfferJson, OutgoingCall } from '../sdk/scheduler.ts';
import type { Deployment, Deployments } from './deployments.ts';
import type { ServiceEvents } from './events.ts';
import { lossCause } from './loss-cause.ts';
import { launchGroupOperation, networkAddresses } from './pod-task-group.ts';
import { pickPorts, podFit, shortfall, slotFit } from './pod-offer-fit.ts';
import { type Pod, podConfigEqual } from './pod-schema.ts';
import { roleFit } from './placement.ts';
import { unreachablePhase } from './reconcile.ts';
import { recordRejection, type Rejection } from './runtime.ts';
import { healthyWhereChecked, instanceIdOf, isPodTaskId, live, newInstanceId, type PodInstance, type PodTask, running, strategyOf, unreachable } from './pod-instance.ts';
import { isResidentPod, isUnreserved, newSlot, type OfferedResource, POD_SLOTS, type PodSlot, releaseOperations, reserveOperations, slotIdOf } from './pod-slots.ts';

const PREFIX = '/drover/services';
const PODS = `${PREFIX}/pods`;
const POD_VERSIONS = `${PREFIX}/pod-versions`;
export const POD_INSTANCES = `${PREFIX}/pod-instances/`;
const TERMINATIONS_KEPT = 10;

export { instanceIdOf, isPodTaskId };
export type { PodInstance, PodTask };

interface Termination {
  instanceID: string;
  startedAt?: string;
  terminatedAt: string;
  message?: string;
  containers: Array<{ containerId: string; lastKnownState: string; termination?: { message?: string } }>;
}

interface PodRuntime {
  failures: number;
  delayUntil: number;
  /** Why recent offers were not used, per agent (for /v2/queue). */
  rejections: Map<string, Rejection>;
  terminations: Termination[];
  statusSince: string;
}

export interface PodContext {
  store: Store;
  events: ServiceEvents;
  /** The framework's deployments (shared with apps: one `/v2/deployments`). */
  deployments: Deployments;
  clock: Clock;
  logger: Logger;
  call(call: OutgoingCall): Promise<boolean>;
  acknowledge(status: TaskStatus): void;
  reconcile(tasks: Iterable<ReconcileTask>): void;
  /** Decide about offers again (the pods' demand changed). */
  demandChanged(): void;
  /** Whether the framework is subscribed and running. */
  active(): boolean;
  /** The role of pods that name none (the framework's first role). */
  defaultRole?: string;
}

export class PodManager {
  readonly pods = new Map<string, Pod>();
  readonly instances = new Map<string, PodInstance>();
  /** Reservations and volumes of pods with persistent volumes, by slot id (pod-slots.ts). */
  readonly slots = new Map<string, PodSlot>();
  private readonly runtimes = new Map<string, PodRuntime>();
  private retry: ReturnType<Clock['setTimeout']> | undefined;
  /** The next unreachableStrategy deadline (an instance turning inactive or expunged). */
  private unreachableTimer: ReturnType<Clock['setTimeout']> | undefined;

  constructor(private readonly c: PodContext) {}

  async load(): Promise<void> {
    const [pods, instances, slots] = await Promise.all([this.c.store.range(`${PODS}/`), this.c.store.range(POD_INSTANCES), this.c.store.range(POD_SLOTS)]);
    for (const kv of slots.kvs) {
      const slot = JSON.parse(kv.value) as PodSlot;
      this.slots.set(slot.id, slot);
    }
    for (const kv of pods.kvs) {
      const pod = JSON.parse(kv.value) as Pod;
      this.pods.set(pod.id, pod);
    }
    for (const kv of instances.kvs) {
      const instance = JSON.parse(kv.value) as PodInstance;
      this.instances.set(instance.id, instance);
    }
  }

  private now(): string {
    return new Date(this.c.clock.now()).toISOString();
  }

  runtimeOf(podId: string): PodRuntime {
    let r = this.runtimes.get(podId);
    if (!r) this.runtimes.set(podId, (r = { failures: 0, delayUntil: 0, rejections: new Map(), terminations: [], statusSince: this.now() }));
    return r;
  }

  instancesOf(podId: string): PodInstance[] {
    return [...this.instances.values()].filter((i) => i.podId === podId);
  }

  // ---- desired state ------------------------------------------------------------------------

  /**
   * Create or update a pod; answers whether it existed, and the deployment that carries the change
   * (StartPod, ScalePod or RestartPod; converge() finishes it). A pod in a deployment is locked
   * (409) unless `force`, which cancels that deployment.
   */
  async put(pod: Pod, options: { create?: boolean; force?: boolean } = {}): Promise<{ pod: Pod; created: boolean; deployment: Deployment }> {
    const existing = this.pods.get(pod.id);
    if (options.create && existing) throw new DroverError('CONFLICT', `Pod ${pod.id} already exists.`);
    this.c.deployments.checkPodLock(pod.id, options.force ?? false);
    // A scale keeps the configuration version: its instances are not replaced.
    const stored: Pod = existing && podConfigEqual(existing, pod) ? { ...pod, versionInfo: { lastConfigChangeAt: existing.versionInfo.lastConfigChangeAt, lastScalingAt: pod.version } } : pod;
    await this.c.store.txn({
      success: [
        { type: 'put', key: `${PODS}${stored.id}`, value: JSON.stringify(stored) },
        { type: 'put', key: `${POD_VERSIONS}${stored.id}/@${stored.version}`, value: JSON.stringify(stored) },
      ],
    });
    this.pods.set(stored.id, stored);
    const runtime = this.runtimeOf(stored.id);
    if (!existing || existing.versionInfo.lastConfigChangeAt !== stored.versionInfo.lastConfigChangeAt) Object.assign(runtime, { failures: 0, delayUntil: 0 });
    runtime.statusSince = this.now();
    this.c.events.publish(existing ? 'pod_updated_event' : 'pod_created_event', { podId: stored.id, version: stored.version });
    const action = !existing ? 'StartPod' : existing.versionInfo.lastConfigChangeAt === stored.versionInfo.lastConfigChangeAt ? 'ScalePod' : 'RestartPod';
    const deployment = this.startDeployment(stored.id, stored.version, action, options.force ?? false, existing);
    this.converge();
    return { pod: stored, created: !existing, deployment };
  }

  private startDeployment(podId: string, version: string, action: 'StartPod' | 'ScalePod' | 'RestartPod' | 'StopPod', force: boolean, previous: Pod | undefined): Deployment {
    const d = this.c.deployments.startPod(podId, version, action, force, previous);
    this.c.events.publish('deployment_info', { plan: this.c.deployments.plan(d), currentStep: this.c.deployments.step(d) });
    return d;
  }

  /**
   * A pod's deployment is done when what it asked for holds: for a stop, no live instance is
   * left; otherwise exactly `scaling.instances` instances of the current configuration run (all
   * their containers, healthy where checked) and none of an older one lives.
   */
  private finishDeployments(): void {
    for (const d of this.c.deployments.list()) {
      const podId = d.pods?.[0];
      if (podId === undefined) continue;
      const pod = this.pods.get(podId);
      const instances = this.instancesOf(podId).filter(live);
      const done =
        d.action === 'StopPod'
          ? pod === undefined && instances.length === 0
          : pod !== undefined &&
            instances.length === pod.scaling.instances &&
            instances.every((i) => i.killing !== true && i.configVersion === pod.versionInfo.lastConfigChangeAt && running(i) && healthyWhereChecked(pod, i));
      if (!done || !this.c.deployments.finish(d.id)) continue;
      this.c.events.publish('deployment_success', { id: d.id, plan: this.c.deployments.plan(d) });
      this.c.logger.info({ podId, deploymentId: d.id, action: d.action }, 'pod-deployment-finished');
    }
  }

  /** The pod's definition before the deployment `d` (undefined: it did not exist). */
  previousOf(d: Deployment, podId: string): Pod | undefined {
    return d.previousPods?.find((p) => p.podId === podId)?.pod as Pod | undefined;
  }

  async remove(podId: string, options: { force?: boolean } = {}): Promise<Deployment> {
    const existing = this.pods.get(podId);
    if (!existing) throw new DroverError('NOT_FOUND', `Pod '${podId}' does not exist`);
    this.c.deployments.checkPodLock(podId, options.force ?? false);
    await this.c.store.txn({
      success: [
        { type: 'delete', key: `${PODS}${podId}` },
        { type: 'deletePrefix', prefix: `${POD_VERSIONS}${podId}/@` },
      ],
    });
    this.pods.delete(podId);
    this.c.events.publish('pod_deleted_event', { podId });
    const deployment = this.startDeployment(podId, this.now(), 'StopPod', options.force ?? false, existing);
    this.converge();
    return deployment;
  }

  async versions(podId: string): Promise<Pod[]> {
    const result = await this.c.store.range(`${POD_VERSIONS}${podId}/@`);
    return result.kvs.map((kv) => JSON.parse(kv.value) as Pod);
  }

  /** Kill these instances of the pod (they are replaced, as Marathon does). */
  /**
   * Kill these instances of the pod; with `wipe`, their reservations and persistent volumes go
   * too (pod-slots.ts `wipe`), stored before any kill is sent so a restarted framework still
   * releases them.
   */
  async killInstances(podId: string, ids: readonly string[], wipe = false): Promise<PodInstance[]> {
    const found = ids.map((id) => this.instances.get(id)).filter((i): i is PodInstance => i !== undefined && i.podId === podId);
    const wiped = wipe ? [...this.slots.values()].filter((s) => s.podId === podId && s.wipe !== true && found.some((i) => i.slotId === s.id)) : [];
    if (wiped.length > 0) {
      await this.c.store.txn({ success: wiped.map((slot) => ({ type: 'put' as const, key: `${POD_SLOTS}${slot.id}`, value: JSON.stringify({ ...slot, wipe: true }) })) });
      for (const slot of wiped) slot.wipe = true;
      for (const slot of wiped) this.c.logger.info({ podId, slotId: slot.id, agentId: slot.agentId }, 'pod-slot-wiped');
    }
    for (const i of found) this.kill(i);
    return found;
  }

  // ---- convergence ----------------------------------------------------------------------------

  /** Launches each pod wants now (0 while backing off). */
  private plan(pod: Pod): { launch: number; kill: PodInstance[] } {
    const desired = pod.scaling.instances;
    const now = this.c.clock.now();
    // An unreachable instance past inactiveAfterSeconds no longer counts: it is replaced.
    const alive = this.instancesOf(pod.id).filter((i) => live(i) && i.killing !== true && (!unreachable(i) || unreachablePhase(strategyOf(pod), i.unreachableSince, now) === 'unreachable'));
    const current = alive.filter((i) => i.configVersion === pod.versionInfo.lastConfigChangeAt);
    const old = alive.filter((i) => i.configVersion !== pod.versionInfo.lastConfigChangeAt);
    const kill: PodInstance[] = [];
    const byAge = (a: PodInstance, b: PodInstance): number => a.stagedAt.localeCompare(b.stagedAt);
    if (current.length > desired) {
      // Unreachable ones first (they serve nothing), then by killSelection, as for apps.
      const youngestFirst = pod.scheduling.killSelection !== 'OLDEST_FIRST';
      const sorted = [...current].sort((a, b) => Number(unreachable(b)) - Number(unreachable(a)) || (youngestFirst ? byAge(b, a) : byAge(a, b)));
      kill.push(...sorted.slice(0, current.length - desired));
    }
    // A resident pod has as many slots as instances: an old instance must end before its slot runs
    // a new one (Marathon requires such an upgrade strategy of resident run specs).
    const upgrade = isResidentPod(pod) ? { minimumHealthCapacity: 0, maximumOverCapacity: 0 } : pod.scheduling.upgrade;
    const minHealthy = Math.ceil(desired * upgrade.minimumHealthCapacity);
    const currentRunning = current.filter(running).length;
    const keepOld = Math.max(0, Math.min(old.length, minHealthy - currentRunning));
    kill.push(...[...old].sort(byAge).slice(0, old.length - keepOld));
    const maxTotal = desired + Math.floor(desired * upgrade.maximumOverCapacity);
    const afterKills = alive.length - kill.length;
    let launch = Math.max(0, Math.min(desired - current.length, maxTotal - afterKills));
    if (launch > 0 && this.runtimeOf(pod.id).delayUntil > this.c.clock.now()) launch = 0;
    return { launch, kill };
  }

  /** Kills what must go (deleted pods, scale-downs, replaced versions) and reports the demand. */
  converge(): void {
    if (!this.c.active()) return;
    this.expireUnreachable();
    for (const i of this.instances.values()) {
      if (!this.pods.has(i.podId) && live(i) && i.killing !== true) this.kill(i);
    }
    for (const pod of this.pods.values()) for (const i of this.plan(pod).kill) this.kill(i);
    this.finishDeployments();
    this.c.demandChanged();
  }

  /** Launches wanted now, over all pods (for the revive decision). */
  wanted(): number {
    let n = 0;
    for (const pod of this.pods.values()) n += this.plan(pod).launch;
    // Slots of deleted pods, and wiped ones, are released at their agent's next offer.
    for (const slot of this.slots.values()) if (!this.pods.has(slot.podId) || slot.wipe === true) n++;
    if (n === 0) this.scheduleRetry();
    return n;
  }

  /** A pod backing off wants offers again when its delay is over. */
  private scheduleRetry(): void {
    const next = Math.min(...[...this.pods.keys()].map((id) => this.runtimeOf(id).delayUntil).filter((t) => t > this.c.clock.now()));
    if (!Number.isFinite(next) || this.retry !== undefined) return;
    this.retry = this.c.clock.setTimeout(
      () => {
        this.retry = undefined;
        this.c.demandChanged();
      },
      next - this.c.clock.now() + 10,
    );
    this.retry.unref?.();
  }

  stop(): void {
    this.c.clock.clearTimeout(this.retry);
    this.c.clock.clearTimeout(this.unreachableTimer);
  }

  /**
   * unreachableStrategy: an instance unreachable past `expungeAfterSeconds` is forgotten (its
   * tasks, should they come back, are unknown and killed — handle()); one past
   * `inactiveAfterSeconds` is replaced (plan()). Wakes itself at the next deadline.
   */
  private expireUnreachable(): void {
    const now = this.c.clock.now();
    let next = Infinity;
    for (const i of [...this.instances.values()]) {
      if (!unreachable(i) || i.killing === true) continue;
      const strategy = strategyOf(this.pods.get(i.podId));
      const phase = unreachablePhase(strategy, i.unreachableSince, now);
      if (phase === 'expunged') {
        this.instances.delete(i.id);
        void this.c.store.delete(`${POD_INSTANCES}${i.id}`).catch((err: unknown) => this.c.logger.error({ err, instanceId: i.id }, 'pod-instance-delete-failed'));
        this.c.logger.warn({ podId: i.podId, instanceId: i.id, unreachableSince: i.unreachableSince }, 'pod-instance-expunged');
        continue;
      }
      if (strategy === 'disabled') continue;
      const since = i.unreachableSince === undefined ? now : Date.parse(i.unreachableSince);
      for (const s of [strategy.inactiveAfterSeconds, strategy.expungeAfterSeconds]) if (since + s * 1000 > now) next = Math.min(next, since + s * 1000);
    }
    if (!Number.isFinite(next) || this.unreachableTimer !== undefined) return;
    this.unreachableTimer = this.c.clock.setTimeout(
      () => {
        this.unreachableTimer = undefined;
        this.converge();
      },
      next - now + 10,
    );
    this.unreachableTimer.unref?.();
  }

  private kill(i: PodInstance): void {
    i.killing = true;
    void this.persist(i);
    for (const t of i.tasks) {
      if (isTerminalState(t.state)) continue;
      void this.c.call({ type: 'KILL', kill: { task_id: { value: t.taskId }, agent_id: { value: i.agentId } } });
    }
    this.c.logger.info({ podId: i.podId, instanceId: i.id }, 'pod-instance-killing');
  }

  private async persist(i: PodInstance): Promise<void> {
    await this.c.store.put(`${POD_INSTANCES}${i.id}`, JSON.stringify(i)).catch((err: unknown) => this.c.logger.error({ err, instanceId: i.id }, 'pod-instance-write-failed'));
  }

  // ---- offers ---------------------------------------------------------------------------------

  /**
   * Places the pods' wanted instances on the offers (synchronously: the instances exist in
   * memory at once), stores them, then ACCEPTs with LAUNCH_GROUP. Returns the offers not used.
   */
  offer(offers: OfferJson[]): OfferJson[] {
    const plans = [...this.pods.values()].map((pod) => ({ pod, want: this.plan(pod).launch })).filter((p) => p.want > 0);
    if (plans.length === 0 && [...this.slots.values()].every((s) => this.pods.has(s.podId) && s.wipe !== true)) return offers;
    const rest: OfferJson[] = [];
    const launches: Array<{ offer: OfferJson; instances: PodInstance[]; ops: unknown[]; slots?: { put: PodSlot[]; del: string[] } }> = [];
    const defaultRole = this.c.defaultRole ?? '*';
    const residentPlans = plans.filter((p) => isResidentPod(p.pod));
    for (const offer of offers) {
      // Reservations and volumes first: an offer used for them is used for nothing else.
      const resident = this.residentOffer(offer, residentPlans, defaultRole);
      if (resident !== undefined) {
        launches.push(resident);
        continue;
      }
      const offerRole = offer.allocation_info?.role ?? '*';
      let remaining = Resources.fromJSON(offer.resources);
      const instances: PodInstance[] = [];
      const ops: unknown[] = [];
      for (const plan of plans) {
        if (plan.want === 0 || isResidentPod(plan.pod)) continue;
        // A task runs in its offer's role: only offers of the pod's role, and of those only the
        // resources of its accepted roles, as for apps (placement.ts roleFit).
        const accepted = plan.pod.scheduling.placement?.acceptedResourceRoles;
        const roles = roleFit(
          { ...(plan.pod.role === undefined ? {} : { role: plan.pod.role }), ...(accepted === undefined ? {} : { acceptedResourceRoles: accepted }) },
          defaultRole,
          offerRole,
          remaining,
        );
        const reject = (reason: string, code: string): void => recordRejection(this.runtimeOf(plan.pod.id), { agentId: offer.agent_id.value, hostname: offer.hostname, reason, code, at: this.now() });
        if (roles.refusal !== undefined) {
          reject(roles.refusal, 'UnfulfilledRole');
          continue;
        }
        let usable = roles.usable;
        let placed = false;
        while (plan.want > 0) {
          const fit = podFit(plan.pod, usable);
          if (fit === undefined) {
            if (!placed) reject(...shortfall(plan.pod, usable));
            break;
          }
          placed = true;
          this.runtimeOf(plan.pod.id).rejections.delete(offer.agent_id.value);
          usable = usable.subtract(fit.taken);
          remaining = remaining.subtract(fit.taken);
          const instance = this.newInstance(plan.pod, offer, fit.ports, offerRole);
          instances.push(instance);
          ops.push(launchGroupOperation(plan.pod, instance.id, offer.agent_id, fit));
          plan.want--;
        }
      }
      if (instances.length === 0) rest.push(offer);
      else launches.push({ offer, instances, ops });
    }
    for (const l of launches) void this.storeThenAccept(l.offer, l.instances, l.ops, l.slots);
    return rest;
  }

  /**
   * One offer for pods with persistent volumes (pod-slots.ts): releases the slots of deleted pods,
   * relaunches free slots of this agent on their reservations, and makes new slots while a pod
   * has fewer than its instances. Undefined: nothing to do with this offer.
   */
  private residentOffer(
    offer: OfferJson,
    plans: Array<{ pod: Pod; want: number }>,
    defaultRole: string,
  ): { offer: OfferJson; instances: PodInstance[]; ops: unknown[]; slots: { put: PodSlot[]; del: string[] } } | undefined {
    const agentId = offer.agent_id.value;
    const frameworkId = offer.framework_id.value;
    const offerRole = offer.allocation_info?.role ?? '*';
    const items = offer.resources as OfferedResource[];
    const bySlot = new Map<string, OfferedResource[]>();
    for (const r of items) {
      const id = slotIdOf(r);
      if (id !== undefined) bySlot.set(id, [...(bySlot.get(id) ?? []), r]);
    }
    let unreserved = Resources.fromJSON(items.filter(isUnreserved) as never);
    const ops: unknown[] = [];
    const instances: PodInstance[] = [];
    const put: PodSlot[] = [];
    const del: string[] = [];
    const reject = (pod: Pod, reason: string, code: string): void => recordRejection(this.runtimeOf(pod.id), { agentId, hostname: offer.hostname, reason, code, at: this.now() });
    const launch = (plan: { pod: Pod; want: number }, slot: PodSlot, ports: Record<string, number>): void => {
      const instance = this.newInstance(plan.pod, offer, ports, slot.role);
      instance.slotId = slot.id;
      slot.instanceId = instance.id;
      put.push(slot);
      instances.push(instance);
      ops.push(launchGroupOperation(plan.pod, instance.id, offer.agent_id, slotFit(plan.pod, slot, frameworkId, ports)));
      plan.want--;
    };

    // This agent's slots: released (their pod is gone), forgotten (their reservation is), or relaunched.
    for (const slot of [...this.slots.values()].filter((s) => s.agentId === agentId)) {
      const last = slot.instanceId === undefined ? undefined : this.instances.get(slot.instanceId);
      if (last !== undefined && live(last)) continue;
      const mine = bySlot.get(slot.id);
      if (mine === undefined) {
        // An offer to the slot's role carries all of its free reservations: not there, it is gone.
        if (offerRole === slot.role) {
          this.c.logger.warn({ podId: slot.podId, slotId: slot.id, agentId }, 'pod-reservation-missing');
          this.slots.delete(slot.id);
          del.push(slot.id);
        }
        continue;
      }
      if (!this.pods.has(slot.podId) || slot.wipe === true) {
        ops.push(...releaseOperations(mine));
        this.slots.delete(slot.id);
        del.push(slot.id);
        this.c.logger.info({ podId: slot.podId, slotId: slot.id, agentId }, 'pod-slot-released');
        continue;
      }
      const plan = plans.find((p) => p.pod.id === slot.podId);
      if (plan === undefined || plan.want === 0) continue;
      if (!plan.pod.containers.every((ct) => slot.containers.some((c) => c.name === ct.name))) {
        reject(plan.pod, 'its reservation was made for other containers', 'NoCorrespondingReservationFound');
        continue;
      }
      const ports = pickPorts(plan.pod, unreserved);
      if (ports === undefined) {
        reject(plan.pod, "insufficient ports: the offer lacks the pod's host ports", 'InsufficientPorts');
        continue;
      }
      unreserved = unreserved.subtract(ports.resources);
      launch(plan, slot, ports.ports);
    }

    // New slots while a pod has fewer than its instances.
    for (const plan of plans) {
      const pod = plan.pod;
      const role = pod.role ?? defaultRole;
      const volumeDisk = pod.volumes.reduce((n, v) => n + (v.persistent?.size ?? 0), 0);
      while (plan.want > 0 && [...this.slots.values()].filter((s) => s.podId === pod.id && s.wipe !== true).length < pod.scaling.instances) {
        if (role === '*') {
          reject(pod, "persistent volumes need a reservation role: the pod's role is '*' (start the master with --mesos-role, or give the pod a role)", 'NoCorrespondingReservationFound');
          break;
        }
        if (offerRole !== role) {
          reject(pod, `offer is for role '${offerRole}', the pod's role is '${role}'`, 'UnfulfilledRole');
          break;
        }
        if (unreserved.disk() + 1e-9 < volumeDisk) {
          reject(pod, `insufficient disk for the persistent volumes: ${unreserved.disk()} < ${volumeDisk}`, 'InsufficientDisk');
          break;
        }
        const usable = unreserved.subtract(Resources.parse(`disk:${volumeDisk}`));
        const fit = podFit(pod, usable);
        if (fit === undefined) {
          reject(pod, ...shortfall(pod, usable));
          break;
        }
        unreserved = usable.subtract(fit.taken);
        const slot = newSlot(pod, offer, role);
        this.slots.set(slot.id, slot);
        ops.push(...reserveOperations(slot, frameworkId));
        launch(plan, slot, fit.ports);
        this.c.logger.info({ podId: pod.id, slotId: slot.id, agentId }, 'pod-slot-reserving');
      }
      if (plan.want > 0) {
        const elsewhere = [...this.slots.values()].filter((s) => s.podId === pod.id && s.agentId !== agentId && s.wipe !== true);
        if (elsewhere.length > 0)
          reject(pod, `waiting for its reserved resources and persistent volumes on ${[...new Set(elsewhere.map((s) => s.hostname))].join(', ')}`, 'NoCorrespondingReservationFound');
      }
    }
    if (ops.length === 0) {
      if (del.length > 0) void this.c.store.txn({ success: del.map((id) => ({ type: 'delete' as const, key: `${POD_SLOTS}${id}` })) }).catch(() => undefined);
      return undefined;
    }
    return { offer, instances, ops, slots: { put, del } };
  }

  private newInstance(pod: Pod, offer: OfferJson, ports: Record<string, number>, role: string): PodInstance {
    const id = newInstanceId(pod.id);
    const at = this.now();
    const instance: PodInstance = {
      id,
      podId: pod.id,
      version: pod.version,
      configVersion: pod.versionInfo.lastConfigChangeAt,
      agentId: offer.agent_id.value,
      hostname: offer.hostname,
      ports,
      role,
      tasks: pod.containers.map((ct) => ({ taskId: `${id}.${ct.name}`, container: ct.name, state: 'TASK_STAGING', since: at })),
      stagedAt: at,
    };
    this.instances.set(id, instance);
    return instance;
  }

  /** As for apps (offers.ts): only stored instances launch; one that failed to store is forgotten. */
  private async storeThenAccept(offer: OfferJson, instances: PodInstance[], ops: unknown[], slots: { put: PodSlot[]; del: string[] } = { put: [], del: [] }): Promise<void> {
    try {
      await this.c.store.txn({
        success: [
          ...instances.map((i) => ({ type: 'put' as const, key: `${POD_INSTANCES}${i.id}`, value: JSON.stringify(i) })),
          // A slot is stored before its RESERVE goes: a restarted framework knows its reservation.
          ...slots.put.map((slot) => ({ type: 'put' as const, key: `${POD_SLOTS}${slot.id}`, value: JSON.stringify(slot) })),
          ...slots.del.map((id) => ({ type: 'delete' as const, key: `${POD_SLOTS}${id}` })),
        ],
      });
    } catch (err) {
      this.c.logger.error({ err }, 'pod-instances-store-failed');
      for (const i of instances) this.instances.delete(i.id);
      // New slots were never reserved; relaunched ones stay (their reservation is there).
      for (const slot of slots.put) if (ops.some((o) => (o as { type?: string }).type === 'RESERVE' && JSON.stringify(o).includes(slot.id))) this.slots.delete(slot.id);
      void this.c.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
      return;
    }
    for (const i of instances)
      this.c.events.publish('instance_changed_event', { instanceId: i.id, condition: 'Created', runSpecId: i.podId, agentId: i.agentId, host: i.hostname, runSpecVersion: i.version });
    this.c.logger.info({ agentId: offer.agent_id.value, instances: instances.map((i) => i.id) }, 'pod-instances-launching');
    const taken = await this.c.call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: ops as never, filters: { refuse_seconds: 1 } } });
    if (!taken) this.c.reconcile(instances.flatMap((i) => i.tasks.map((t) => ({ task_id: { value: t.taskId }, agent_id: { value: i.agentId } }))));
  }

  // ---- status updates -------------------------------------------------------------------------

  /** True if the update is a pod task's (handled and acknowledged here). */
  handle(status: TaskStatus): boolean {
    const taskId = status.task_id.value;
    if (!isPodTaskId(taskId)) return false;
    const instance = this.instances.get(instanceIdOf(taskId));
    const task = instance?.tasks.find((t) => t.taskId === taskId);
    if (instance === undefined || task === undefined) {
      // Not ours (any more): a live one is killed, as Marathon kills unknown tasks.
      if (!isTerminalState(status.state)) void this.c.call({ type: 'KILL', kill: { task_id: status.task_id, ...(status.agent_id ? { agent_id: status.agent_id } : {}) } });
      this.c.acknowledge(status);
      return true;
    }
    const wasRunning = running(instance);
    if (task.state !== status.state || status.healthy !== task.healthy) {
      if (isTerminalState(task.state) && !isTerminalState(status.state)) {
        this.c.acknowledge(status);
        return true;
      }
      task.state = status.state;
      task.since = this.now();
      if (isTerminalState(status.state) && lossCause(status) === 'machine') task.machineLoss = true;
      if (status.message !== undefined) task.message = status.message;
      if (status.healthy !== undefined) task.healthy = status.healthy;
      if (status.state === 'TASK_RUNNING' && instance.startedAt === undefined) instance.startedAt = this.now();
      const addresses = networkAddresses(status);
      if (addresses !== undefined) instance.networks = addresses;
      this.c.events.publish('status_update_event', {
        slaveId: instance.agentId,
        taskId,
        taskStatus: status.state,
        message: status.message ?? '',
        appId: instance.podId,
        host: instance.hostname,
        ports: Object.values(instance.ports),
        version: instance.version,
      });
    }
    if (!live(instance)) {
      void this.ended(instance).then(() => this.c.acknowledge(status));
      return true;
    }
    if (unreachable(instance)) instance.unreachableSince ??= this.now();
    else delete instance.unreachableSince;
    // At once, not after the write below: whoever sees the pod running sees its deployment done.
    this.finishDeployments();
    if (running(instance) !== wasRunning) {
      this.runtimeOf(instance.podId).statusSince = this.now();
      if (running(instance)) this.runtimeOf(instance.podId).failures = 0;
      this.c.events.publish('instance_changed_event', {
        instanceId: instance.id,
        condition: running(instance) ? 'Running' : 'Staging',
        runSpecId: instance.podId,
        agentId: instance.agentId,
        host: instance.hostname,
        runSpecVersion: instance.version,
      });
    }
    void this.persist(instance).then(() => {
      this.c.acknowledge(status);
      this.converge();
    });
    return true;
  }

  /** Every task of the instance ended: forget it, remember why, and replace it if still wanted. */
  private async ended(instance: PodInstance): Promise<void> {
    this.instances.delete(instance.id);
    this.finishDeployments();
    await this.c.store.delete(`${POD_INSTANCES}${instance.id}`).catch((err: unknown) => this.c.logger.error({ err, instanceId: instance.id }, 'pod-instance-delete-failed'));
    const runtime = this.runtimeOf(instance.podId);
    // A task lost with its machine is no crash (loss-cause.ts): no backoff for it, as for apps.
    const failed = instance.killing !== true && instance.tasks.some((t) => t.state !== 'TASK_FINISHED' && t.state !== 'TASK_KILLED' && t.machineLoss !== true);
    const pod = this.pods.get(instance.podId);
    if (failed && pod) {
      runtime.failures++;
      const b = pod.scheduling.backoff;
      const delayS = Math.min(b.maxLaunchDelay, b.backoff * b.backoffFactor ** (runtime.failures - 1));
      runtime.delayUntil = this.c.clock.now() + delayS * 1000;
    }
    runtime.terminations.unshift({
      instanceID: instance.id,
      ...(instance.startedAt === undefined ? {} : { startedAt: instance.startedAt }),
      terminatedAt: this.now(),
      ...(failed ? { message: instance.tasks.find((t) => t.state === 'TASK_FAILED')?.message ?? 'failed' } : {}),
      containers: instance.tasks.map((t) => ({ containerId: t.taskId, lastKnownState: t.state, ...(t.message === undefined ? {} : { termination: { message: t.message } }) })),
    });
    runtime.terminations.length = Math.min(runtime.terminations.length, TERMINATIONS_KEPT);
    runtime.statusSince = this.now();
    this.c.events.publish('instance_changed_event', {
      instanceId: instance.id,
      condition: failed ? 'Failed' : 'Killed',
      runSpecId: instance.podId,
      agentId: instance.agentId,
      host: instance.hostname,
      runSpecVersion: instance.version,
    });
    this.c.logger.info({ podId: instance.podId, instanceId: instance.id, failed }, 'pod-instance-ended');
    this.converge();
  }

  /** After a (re)subscription: ask the master about every pod task we know. */
  reconcileAll(): void {
    const tasks: ReconcileTask[] = [];
    for (const i of this.instances.values()) for (const t of i.tasks) tasks.push({ task_id: { value: t.taskId }, agent_id: { value: i.agentId } });
    if (tasks.length > 0) this.c.reconcile(tasks);
    this.converge();
  }

  // ---- views ----------------------------------------------------------------------------------

  /**
   * What /v2/queue says of the pod: how many instances wait to launch (those missing from
   * `scaling.instances` of its current configuration, or more while a rolling replace places them),
   * or undefined when none does.
   */
  queued(pod: Pod): { count: number; runtime: PodRuntime } | undefined {
    const now = this.c.clock.now();
    const current = this.instancesOf(pod.id).filter(
      (i) =>
        live(i) && i.killing !== true && i.configVersion === pod.versionInfo.lastConfigChangeAt && (!unreachable(i) || unreachablePhase(strategyOf(pod), i.unreachableSince, now) === 'unreachable'),
    );
    const count = Math.max(0, pod.scaling.instances - current.length);
    return count === 0 ? undefined : { count, runtime: this.runtimeOf(pod.id) };
  }

  /** Marathon's PodStatus (types/podStatus.raml). */
  status(pod: Pod): Record<string, unknown> {
    const instances = this.instancesOf(pod.id);
    const stable = instances.filter((i) => running(i) && i.killing !== true && i.configVersion === pod.versionInfo.lastConfigChangeAt).length;
    const runtime = this.runtimeOf(pod.id);
    const now = this.now();
    return {
      id: pod.id,
      spec: pod,
      status: stable >= pod.scaling.instances && instances.length === stable ? 'STABLE' : 'DEGRADED',
      statusSince: runtime.statusSince,
      instances: instances.map((i) => this.instanceStatus(i)),
      terminationHistory: runtime.terminations,
      lastUpdated: now,
      lastChanged: runtime.statusSince,
    };
  }

  instanceStatus(i: PodInstance): Record<string, unknown> {
    const pod = this.pods.get(i.podId);
    const state = i.killing === true || !live(i) ? 'TERMINAL' : running(i) ? 'STABLE' : i.tasks.some((t) => t.state === 'TASK_STAGING') ? 'STAGING' : 'DEGRADED';
    return {
      id: i.id,
      status: state,
      statusSince: i.startedAt ?? i.stagedAt,
      agentHostname: i.hostname,
      agentId: i.agentId,
      networks: i.networks ?? [],
      containers: i.tasks.map((t) => {
        const ct = pod?.containers.find((c) => c.name === t.container);
        return {
          name: t.container,
          status: t.state,
          statusSince: t.since,
          containerId: t.taskId,
          ...(t.message === undefined ? {} : { message: t.message }),
          endpoints: (ct?.endpoints ?? []).map((e) => ({
            name: e.name,
            ...(i.ports[e.name] === undefined ? {} : { allocatedHostPort: i.ports[e.name] }),
            ...(t.healthy === undefined ? {} : { healthy: t.healthy }),
          })),
          ...(ct === undefined ? {} : { resources: ct.resources }),
          lastUpdated: t.since,
          lastChanged: t.since,
        };
      }),
      specReference: `/v2/pods${i.podId}::versions/${i.version}`,
      lastUpdated: i.startedAt ?? i.stagedAt,
      lastChanged: i.startedAt ?? i.stagedAt,
      role: i.role ?? '*',
    };
  }
}
