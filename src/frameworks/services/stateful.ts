/**
 * Stateful (resident) apps, Marathon's persistent-volumes.md: an app with
 * `container.volumes[].persistent` keeps, per instance, a *slot* — resources reserved for the
 * framework's role on one agent plus a persistent volume there. The first launch of a slot
 * RESERVEs (labelled `marathon_framework_id`, `marathon_task_id` = the slot id), CREATEs the
 * volume and LAUNCHes in one ACCEPT; every later launch of the slot (after a crash, a kill, a
 * scale-down and up) waits for an offer from that agent carrying the slot's reservation and runs
 * on it, so the task finds its data again. While it waits, /v2/queue says so.
 *
 * Slots are released (DESTROY + UNRESERVE) only by `DELETE /v2/apps/{id}/tasks/{task}?wipe=true`
 * or by deleting the app; a wiped instance is replaced by a new slot (a new, empty volume).
 * Slots are kept in the store (`/drover/services/resident/<app id>`), so a restart of the
 * framework or a master failover changes nothing.
 *
 * Reservations need a role: the services framework's (`drover master --mesos-role`, Marathon's
 * --mesos_role). With the default `*` a resident app waits, and /v2/queue says why.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log/index.ts';
import { Resources } from '../../resources/index.ts';
import type { Store } from '../../store/store.ts';
import type { OfferJson, OutgoingCall } from '../sdk/scheduler.ts';
import type { PersistentVolume } from './stateful-schema.ts';
import { type App, taskId as makeTaskId } from './app.ts';
import type { InstanceTable } from './instance-table.ts';
import { place } from './placement.ts';
import { isLive, type Instance } from './reconcile.ts';
import { recordRejection, type AppRuntime } from './runtime.ts';
import { buildTaskInfo } from './task-builder.ts';

/** One instance's place: a reservation and its volumes on one agent. */
export interface ResidentSlot {
  id: string;
  appId: string;
  agentId: string;
  hostname: string;
  volumes: Array<PersistentVolume & { persistenceId: string }>;
  /** The task last launched on it. */
  taskId?: string;
  /** Released at the next offer of its agent (wipe=true, app deleted). */
  wipe?: boolean;
}

const PREFIX = '/drover/services/resident';

export function isResident(app: App): boolean {
  return (app.persistentVolumes?.length ?? 0) > 0;
}

// ---- slots ---------------------------------------------------------------------------------------

/** The slots of every app, kept in memory and in the store (one key per app). */
export class ResidentSlots {
  private readonly byApp = new Map<string, ResidentSlot[]>();

  constructor(private readonly store: Store) {}

  async load(): Promise<void> {
    const result = await this.store.range(`${PREFIX}/`);
    for (const kv of result.kvs) {
      const slots = JSON.parse(kv.value) as ResidentSlot[];
      if (slots.length > 0) this.byApp.set(slots[0]!.appId, slots);
    }
  }

  ofApp(appId: string): readonly ResidentSlot[] {
    return this.byApp.get(appId) ?? [];
  }

  all(): ResidentSlot[] {
    return [...this.byApp.values()].flat();
  }

  add(slot: ResidentSlot): void {
    this.byApp.set(slot.appId, [...this.ofApp(slot.appId), slot]);
  }

  remove(slot: ResidentSlot): void {
    this.byApp.set(
      slot.appId,
      this.ofApp(slot.appId).filter((s) => s !== slot),
    );
  }

  async save(appIds: Iterable<string>): Promise<void> {
    for (const appId of new Set(appIds)) {
      const slots = this.ofApp(appId);
      if (slots.length === 0) {
        this.byApp.delete(appId);
        await this.store.delete(`${PREFIX}${appId}`);
      } else await this.store.put(`${PREFIX}${appId}`, JSON.stringify(slots));
    }
  }

  /** Slots waiting to be released: offers are wanted for them. */
  releasing(): number {
    let n = 0;
    for (const slots of this.byApp.values()) for (const s of slots) if (s.wipe === true) n++;
    return n;
  }

  /** `wipe=true`: the slot of this task is released at its agent's next offer. */
  async wipe(taskIds: readonly string[]): Promise<void> {
    const changed = new Set<string>();
    for (const slot of this.all()) {
      if (slot.taskId === undefined || !taskIds.includes(slot.taskId)) continue;
      slot.wipe = true;
      changed.add(slot.appId);
    }
    await this.save(changed);
  }

  /** The app is gone: all its slots are released. */
  async appDeleted(appId: string): Promise<void> {
    for (const slot of this.ofApp(appId)) slot.wipe = true;
    await this.save([appId]);
  }
}

// ---- offers ------------------------------------------------------------------------------------

interface OfferedResource {
  name: string;
  type: string;
  scalar?: { value: number };
  ranges?: unknown;
  role?: string;
  reservation?: { principal?: string; labels?: { labels: Array<{ key: string; value?: string }> } };
  reservations?: Array<{ role?: string; labels?: { labels: Array<{ key: string; value?: string }> } }>;
  disk?: { persistence?: { id: string } };
  allocation_info?: unknown;
}

function slotIdOf(r: OfferedResource): string | undefined {
  const labels = r.reservations?.at(-1)?.labels?.labels ?? r.reservation?.labels?.labels ?? [];
  return labels.find((l) => l.key === 'marathon_task_id')?.value;
}

function isUnreserved(r: OfferedResource): boolean {
  return (r.role ?? '*') === '*' && (r.reservations === undefined || r.reservations.length === 0);
}

export interface ResidentContext {
  readonly slots: ResidentSlots;
  readonly instances: InstanceTable;
  /** The framework's role: reservations are made for it. */
  readonly role: string;
  nextUuid(): string;
  runtimeOf(appId: string): AppRuntime;
  changed(instance: Instance): void;
  storeNew(instances: readonly Instance[]): Promise<Instance[]>;
  call(call: OutgoingCall): Promise<boolean>;
  log: Logger;
}

export interface ResidentPlan {
  app: App;
  want: number;
}

/**
 * Uses one offer for resident apps: releases wiped slots, relaunches free slots of this agent,
 * makes new slots while an app has fewer than its instances. Returns true when it accepted the
 * offer (nothing else may use it then).
 */
export async function placeResident(c: ResidentContext, offer: OfferJson, plans: ResidentPlan[], attributes: Record<string, string>, at: string): Promise<boolean> {
  const agentId = offer.agent_id.value;
  const items = offer.resources as OfferedResource[];
  const bySlot = new Map<string, OfferedResource[]>();
  for (const r of items) {
    const id = slotIdOf(r);
    if (id !== undefined) bySlot.set(id, [...(bySlot.get(id) ?? []), r]);
  }
  const operations: unknown[] = [];
  const fresh: Instance[] = [];
  const changedApps = new Set<string>();
  const launch = (app: App, slot: ResidentSlot, resources: unknown[], ports: number[]): void => {
    const id = makeTaskId(app.id, c.nextUuid());
    const info = { ...buildTaskInfo(app, id, agentId, offer.hostname, ports, Resources.EMPTY), resources };
    operations.push({ type: 'LAUNCH', launch: { task_infos: [info] } });
    slot.taskId = id;
    changedApps.add(app.id);
    const instance: Instance = {
      taskId: id,
      appId: app.id,
      agentId,
      hostname: offer.hostname,
      attributes,
      configVersion: app.versionInfo.lastConfigChangeAt,
      version: app.version,
      state: 'TASK_STAGING',
      ports,
      host: offer.hostname,
      stagedAt: at,
      startedAt: undefined,
    };
    c.instances.set(id, instance);
    c.changed(instance);
    fresh.push(instance);
  };
  const offeredPorts = Resources.fromJSON(items.filter((r) => isUnreserved(r) && r.name === 'ports'));
  let unreserved = Resources.fromJSON(items.filter((r) => isUnreserved(r)));

  // Slots of this agent: released, forgotten, or relaunched.
  for (const slot of c.slots.all().filter((s) => s.agentId === agentId)) {
    const task = slot.taskId === undefined ? undefined : c.instances.get(slot.taskId);
    if (task !== undefined && isLive(task)) continue;
    const mine = bySlot.get(slot.id);
    if (mine === undefined) {
      // Offers are of whole agents: a free reservation of ours is in every offer of its agent to
      // our role. Not there: it does not exist (its RESERVE was refused, or it was released).
      if ((offer.allocation_info?.role ?? c.role) === c.role) {
        c.log.warn({ appId: slot.appId, slotId: slot.id, agentId }, 'resident-reservation-missing');
        c.slots.remove(slot);
        changedApps.add(slot.appId);
      }
      continue;
    }
    if (slot.wipe === true) {
      const volumes = mine.filter((r) => r.disk?.persistence !== undefined);
      const plain = mine.filter((r) => r.disk?.persistence === undefined);
      if (volumes.length > 0) operations.push({ type: 'DESTROY', destroy: { volumes: volumes.map(strip) } });
      if (plain.length > 0 || volumes.length > 0) operations.push({ type: 'UNRESERVE', unreserve: { resources: [...plain, ...volumes.map((v) => ({ ...strip(v), disk: undefined }))].map(strip) } });
      c.slots.remove(slot);
      changedApps.add(slot.appId);
      c.log.info({ appId: slot.appId, slotId: slot.id, agentId }, 'resident-slot-released');
      continue;
    }
    const plan = plans.find((p) => p.app.id === slot.appId);
    if (plan === undefined || plan.want === 0) continue;
    const app = plan.app;
    const ports = portsFor(app, agentId, offer.hostname, attributes, offeredPorts);
    if (ports === undefined) continue;
    if (unreserved.contains(ports.resources)) unreserved = unreserved.subtract(ports.resources);
    launch(app, slot, [...mine.map(strip), ...ports.resources.toJSON()], ports.ports);
    plan.want--;
  }

  // New slots while an app has fewer than its instances.
  for (const plan of plans) {
    const app = plan.app;
    const runtime = c.runtimeOf(app.id);
    const volumes = app.persistentVolumes ?? [];
    const size = volumes.reduce((s, v) => s + v.size, 0);
    while (plan.want > 0 && c.slots.ofApp(app.id).filter((s) => s.wipe !== true).length < app.instances) {
      if (c.role === '*') {
        recordRejection(runtime, {
          agentId,
          hostname: offer.hostname,
          reason: "persistent volumes need a reservation role: the services framework runs as role '*' (start the master with --mesos-role)",
          at,
        });
        break;
      }
      if (unreserved.disk() < app.disk + size) {
        recordRejection(runtime, { agentId, hostname: offer.hostname, reason: `insufficient disk for the persistent volumes: ${unreserved.disk()} < ${app.disk + size}`, at });
        break;
      }
      const placed = place(app, { agentId, hostname: offer.hostname, attributes, resources: unreserved }, [], 1);
      const chosen = placed.launches[0];
      if (chosen === undefined) {
        recordRejection(runtime, { agentId, hostname: offer.hostname, reason: placed.reason ?? 'does not fit', at });
        break;
      }
      unreserved = placed.remaining.subtract(Resources.parse(`disk:${size}`));
      const slot: ResidentSlot = {
        id: randomUUID(),
        appId: app.id,
        agentId,
        hostname: offer.hostname,
        volumes: volumes.map((v) => ({ ...v, persistenceId: persistenceId(app.id, v.containerPath) })),
      };
      const reservation = {
        type: 'DYNAMIC',
        role: c.role,
        labels: {
          labels: [
            { key: 'marathon_framework_id', value: offer.framework_id.value },
            { key: 'marathon_task_id', value: slot.id },
          ],
        },
      };
      const reserve = (name: string, value: number, extra: Record<string, unknown> = {}) => ({ name, type: 'SCALAR', scalar: { value }, reservations: [reservation], ...extra });
      const scalars = [reserve('cpus', app.cpus), reserve('mem', app.mem), ...(app.disk > 0 ? [reserve('disk', app.disk)] : [])];
      const volumeJson = slot.volumes.map((v) => reserve('disk', v.size, { disk: { persistence: { id: v.persistenceId }, volume: { container_path: v.containerPath, mode: 'RW' } } }));
      operations.push({ type: 'RESERVE', reserve: { resources: [...scalars, reserve('disk', size)] } });
      operations.push({ type: 'CREATE', create: { volumes: volumeJson } });
      c.slots.add(slot);
      const portResources = [...chosen.resources].filter((r) => r.name === 'ports');
      launch(app, slot, [...scalars, ...volumeJson, ...Resources.of(portResources).toJSON()], chosen.ports);
      plan.want--;
    }
    if (plan.want > 0) {
      const waiting = c.slots.ofApp(app.id).filter((s) => s.wipe !== true && s.agentId !== agentId && !(s.taskId !== undefined && isLiveId(c, s.taskId)));
      if (waiting.length > 0)
        recordRejection(runtime, {
          agentId,
          hostname: offer.hostname,
          reason: `waiting for its reserved resources and persistent volumes on ${[...new Set(waiting.map((s) => s.hostname))].join(', ')}`,
          at,
        });
    }
  }

  if (changedApps.size > 0) await c.slots.save(changedApps);
  if (operations.length === 0) return false;
  const stored = await c.storeNew(fresh);
  if (stored.length < fresh.length) {
    // Policy of offers.ts: only stored instances are launched; here the whole offer goes back.
    for (const i of fresh) c.instances.delete(i.taskId);
    void c.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } });
    return true;
  }
  void c.call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: operations as never, filters: { refuse_seconds: 1 } } });
  c.log.info({ agentId, operations: operations.map((o) => (o as { type: string }).type) }, 'resident-offer-accepted');
  return true;
}

function isLiveId(c: ResidentContext, taskId: string): boolean {
  const i = c.instances.get(taskId);
  return i !== undefined && isLive(i);
}

/** An offered resource as an operation names it (no allocation_info). */
function strip(r: OfferedResource): OfferedResource {
  const { allocation_info: _a, ...rest } = r;
  return rest;
}

/** The app's ports on this agent, from the offer's unreserved ports (the reservation holds none). */
function portsFor(app: App, agentId: string, hostname: string, attributes: Record<string, string>, offeredPorts: Resources): { ports: number[]; resources: Resources } | undefined {
  if (app.portDefinitions.length === 0) return { ports: [], resources: Resources.EMPTY };
  const view = offeredPorts.add(Resources.parse(`cpus:${app.cpus};mem:${app.mem}${app.disk > 0 ? `;disk:${app.disk}` : ''}`));
  const placed = place(app, { agentId, hostname, attributes, resources: view }, [], 1);
  const chosen = placed.launches[0];
  if (chosen === undefined) return undefined;
  return { ports: chosen.ports, resources: Resources.of([...chosen.resources].filter((r) => r.name === 'ports')) };
}

/** Marathon's `<app>#<containerPath>#<uuid>`, spelled with characters a persistence id may hold. */
function persistenceId(appId: string, containerPath: string): string {
  const app = appId.split('/').filter(Boolean).join('_').slice(0, 120);
  return `${app}.${containerPath}.${randomUUID()}`;
}
