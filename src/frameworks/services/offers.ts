/**
 * Offers and placement: a batch of offers → instances placed on them (placement with reasons,
 * kept per app for /v2/queue) → stored → launched. Batches are placed one after another: a
 * batch's plans assume no other batch is placing.
 */
import type { Clock } from '../../clock/clock.ts';
import { Resources } from '../../resources/index.ts';
import type { OfferJson, OutgoingCall } from '../sdk/scheduler.ts';
import { type App, taskId as makeTaskId } from './app.ts';
import type { InstanceTable } from './instance-table.ts';
import { place, roleFit, type Spot } from './placement.ts';
import { isLive, type Instance, type ReconcileResult } from './reconcile.ts';
import { recordRejection, type AppRuntime } from './runtime.ts';
import { buildTaskInfo } from './task-builder.ts';
import { isResident, placeResident, type ResidentContext, type ResidentPlan } from './stateful.ts';
import type { TimeOrderedUuids } from './time-uuid.ts';

/** Launches placed from one OFFERS event before the framework yields a turn. */
const LAUNCHES_PER_TURN = 1000;
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

/** What placing offers needs of the rest of the framework. */
export interface OfferContext {
  readonly apps: ReadonlyMap<string, App>;
  readonly instances: InstanceTable;
  readonly uuids: TimeOrderedUuids;
  /** The role of apps that name none (the framework's first role). */
  readonly defaultRole: string;
  runtimeOf(appId: string): AppRuntime;
  planOf(app: App): ReconcileResult;
  launchAllowed(app: App): boolean;
  kill(instance: Instance): void;
  changed(instance: Instance): void;
  /** Stores new instances; resolves with those stored (instance-writer.ts). */
  storeNew(instances: readonly Instance[]): Promise<Instance[]>;
  /** Sends a call; resolves false when the master did not take it. */
  call(call: OutgoingCall): Promise<boolean>;
  /** Reconcile these instances now (an ACCEPT the master refused). */
  askNow(taskIds: string[]): void;
  /** False once the framework stopped or the subscription these offers came on was replaced. */
  current(subscription: unknown): boolean;
  /** Resident apps (persistent volumes) are placed by stateful.ts. */
  readonly resident?: ResidentContext;
}

interface Accept {
  offerId: OfferJson['id'];
  taskInfos: Array<{ taskId: string; info: Record<string, unknown> }>;
}

export class OfferPlacement {
  /** The OFFERS batches being placed, in order. */
  private placing: Promise<void> = Promise.resolve();

  constructor(
    private readonly context: OfferContext,
    private readonly clock: Clock,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Offers one batch after another, but status updates are not held behind them: a batch of
   * 1,000 agents yields turns, and updates queued that long had their acknowledgements late
   * enough for agents to resend them.
   */
  offer(offers: OfferJson[], subscription: unknown): void {
    this.placing = this.placing.then(() => this.handleOffers(offers, subscription)).catch(this.onError);
  }

  private async handleOffers(offers: OfferJson[], subscription: unknown): Promise<void> {
    const c = this.context;
    // One plan per app per batch of offers, not per offer: within a batch the reconciler's
    // launch count only drops by what the batch itself launches, and its kills are applied once.
    // (Per offer it was O(offers × every instance) per cycle: docs/architecture/006-scale.md.)
    const plans: Array<{ app: App; want: number; spots: Spot[] }> = [];
    const residentPlans: ResidentPlan[] = [];
    for (const app of [...c.apps.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const plan = c.planOf(app);
      // The launch count assumes this round's kills happen: apply them together.
      for (const k of plan.kill) {
        const victim = c.instances.get(k.taskId);
        if (victim) c.kill(victim);
      }
      if (plan.launch === 0 || !c.launchAllowed(app)) continue;
      if (isResident(app)) {
        residentPlans.push({ app, want: plan.launch });
        continue;
      }
      // Spots matter only to constraints; without any, placement never reads them.
      plans.push({ app, want: plan.launch, spots: app.constraints.length > 0 ? c.instances.ofApp(app.id).filter(isLive) : [] });
    }
    const at = new Date(this.clock.now()).toISOString();
    // Backpressure: launches not yet RUNNING count against the budget, so the launch rate follows
    // what the master and agents confirm instead of piling up updates and acks in their queues.
    let inFlight = 0;
    for (const i of c.instances.values()) if (i.state === 'TASK_STAGING' || i.state === 'TASK_STARTING') inFlight++;
    let budget = Math.max(0, Math.min(MAX_LAUNCHES_PER_OFFERS, MAX_LAUNCHES_IN_FLIGHT - inFlight));
    let placed = 0;
    // Launches wait for their instances to be stored (see storeThenAccept).
    const fresh: Instance[] = [];
    const accepts: Accept[] = [];
    for (const offer of offers) {
      if (budget === 0) {
        // Launched enough for this batch: the rest go back at once, offered again next cycle.
        void c.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
        continue;
      }
      if (placed >= LAUNCHES_PER_TURN) {
        // Let the accepts of this much go out (and agents start on them) before placing more: one
        // OFFERS event of 1,000 agents placed 50,000 tasks in one turn, and the master, then the
        // agents, then the master again each waited for the whole batch.
        placed = 0;
        await this.storeThenAccept(fresh.splice(0), accepts.splice(0));
        await new Promise((resolve) => setImmediate(resolve));
        if (!c.current(subscription)) return;
        // An app deleted or changed meanwhile gets nothing more from this batch.
        for (const plan of plans) if (c.apps.get(plan.app.id) !== plan.app) plan.want = 0;
      }
      const offerRole = offer.allocation_info?.role ?? '*';
      const attributes = Object.fromEntries((offer.attributes ?? []).map((a) => attributeEntry(a)));
      // Resident apps first: an offer they use (reserve, launch on a reservation, release) is theirs alone.
      if (c.resident !== undefined && (residentPlans.length > 0 || c.resident.slots.all().length > 0)) {
        if (await placeResident(c.resident, offer, residentPlans, attributes, at)) continue;
      }
      const resources = Resources.fromJSON(offer.resources);
      let remaining = resources;
      const taskInfos: Accept['taskInfos'] = [];
      for (const plan of plans) {
        const app = plan.app;
        if (plan.want === 0 || budget === 0) continue;
        const runtime = c.runtimeOf(app.id);
        const fit = roleFit(app, c.defaultRole, offerRole, remaining);
        if (fit.refusal !== undefined) {
          recordRejection(runtime, { agentId: offer.agent_id.value, hostname: offer.hostname, reason: fit.refusal, code: 'UnfulfilledRole', at });
          continue;
        }
        const usable = fit.usable;
        // An offer already used up by earlier apps: say why without running placement (at
        // 1,000 apps × 10,000 offers a cycle, placement's parsing was the whole cycle).
        const short = usable.cpus() < app.cpus ? `insufficient cpus: ${usable.cpus()} < ${app.cpus}` : usable.mem() < app.mem ? `insufficient mem: ${usable.mem()} < ${app.mem}` : undefined;
        const result =
          short === undefined
            ? place(app, { agentId: offer.agent_id.value, hostname: offer.hostname, attributes, resources: usable }, plan.spots, Math.min(plan.want, budget))
            : { launches: [], reason: short, remaining: usable };
        if (result.reason) recordRejection(runtime, { agentId: offer.agent_id.value, hostname: offer.hostname, reason: result.reason, code: rejectionCode(result.reason), at });
        else runtime.rejections.delete(offer.agent_id.value);
        // What the app could not use (other roles' resources) stays for the apps after it.
        remaining = usable === remaining ? result.remaining : remaining.subtract(usable).add(result.remaining);
        for (const launch of result.launches) {
          const id = makeTaskId(app.id, c.uuids.next());
          taskInfos.push({ taskId: id, info: buildTaskInfo(app, id, offer.agent_id.value, offer.hostname, launch.ports, launch.resources) });
          const instance: Instance = {
            taskId: id,
            appId: app.id,
            agentId: offer.agent_id.value,
            hostname: offer.hostname,
            attributes,
            configVersion: app.versionInfo.lastConfigChangeAt,
            version: app.version,
            state: 'TASK_STAGING',
            ports: launch.ports,
            host: offer.hostname,
            stagedAt: at,
            startedAt: undefined,
          };
          c.instances.set(id, instance);
          c.changed(instance);
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
        void c.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 5 } } });
      }
    }
    await this.storeThenAccept(fresh, accepts);
  }

  /**
   * Stores the new instances, then launches them — as Marathon stores an instance before its
   * launch. A launch sent before its instance was stored could be lost with a leader that stopped
   * in between: the next leader, not knowing the instance, launched another, and the first ran
   * on unowned (the SIGSTOP test in test/ha.test.ts caught 10 running for 5 wanted). One write
   * per batch of offers (in transactions of MAX_TXN_OPS), so the rate is kept.
   *
   * Policy (README "Store failures"): only stored instances are launched. An instance whose write
   * failed is withdrawn — forgotten, to be placed again on a later offer — and an offer left with
   * nothing to launch is declined. An ACCEPT the master refuses leaves stored instances it may
   * not have launched: they are reconciled at once, and the master's TASK_GONE has them replaced.
   */
  private async storeThenAccept(fresh: Instance[], accepts: Accept[]): Promise<void> {
    const c = this.context;
    if (accepts.length === 0) return;
    const stored = await c.storeNew(fresh);
    if (stored.length < fresh.length) {
      const kept = new Set(stored.map((i) => i.taskId));
      for (const instance of fresh) {
        if (kept.has(instance.taskId)) continue;
        c.instances.delete(instance.taskId);
        c.changed(instance);
      }
      for (const accept of accepts) accept.taskInfos = accept.taskInfos.filter((t) => kept.has(t.taskId));
    }
    for (const { offerId, taskInfos } of accepts) {
      if (taskInfos.length === 0) {
        void c.call({ type: 'DECLINE', decline: { offer_ids: [offerId], filters: { refuse_seconds: 1 } } });
        continue;
      }
      const launch = { type: 'LAUNCH', launch: { task_infos: taskInfos.map((t) => t.info) as never } } as const;
      void c.call({ type: 'ACCEPT', accept: { offer_ids: [offerId], operations: [launch], filters: { refuse_seconds: 1 } } }).then((taken) => {
        if (!taken) c.askNow(taskInfos.map((t) => t.taskId));
      });
    }
  }
}

/** Marathon's NoOfferMatchReason for a placement refusal (its /v2/queue summaries count these). */
function rejectionCode(reason: string): string {
  if (reason.startsWith('insufficient cpus')) return 'InsufficientCpus';
  if (reason.startsWith('insufficient mem')) return 'InsufficientMemory';
  if (reason.startsWith('insufficient disk')) return 'InsufficientDisk';
  if (reason.startsWith('insufficient ports') || reason.startsWith('required ports')) return 'InsufficientPorts';
  return 'UnfulfilledConstraint';
}

function attributeEntry(a: unknown): [string, string] {
  const attr = a as { name: string; text?: { value: string }; scalar?: { value: number } };
  return [attr.name, attr.text?.value ?? String(attr.scalar?.value ?? '')];
}
