/**
 * Persistent volumes in pods (Marathon's `volumes: [{name, persistent: {size}}]`), as resident
 * apps have them (stateful.ts): each instance of such a pod keeps a *slot* — resources reserved
 * for the pod's role on one agent (the executor's and each container's, labelled
 * `marathon_framework_id` and `marathon_task_id` = the slot id) and one persistent volume per
 * persistent pod volume. The first launch RESERVEs, CREATEs the volumes and LAUNCH_GROUPs in one
 * ACCEPT; every later launch of the slot (after a crash, a kill, a scale-down and up, an agent
 * restart) waits for an offer of that agent carrying the slot's reservation and runs there.
 *
 * The volumes are in the executor's resources, as Mesos' default executor has them: the agent
 * mounts each at `<executor sandbox>/volumes/<name>` (container_path), where the pod's ephemeral
 * volumes are too, and each container's volumeMounts reach it the same way (SANDBOX_PATH PARENT).
 *
 * Slots are kept in the store, one key each (`/drover/services/pod-slots/<id>`), and released
 * (DESTROY + UNRESERVE at the next offer of their agent) when their pod is deleted.
 */
import { randomUUID } from 'node:crypto';
import type { OfferJson } from '../sdk/scheduler.ts';
import type { Pod } from './pod-schema.ts';

export const POD_SLOTS = '/drover/services/pod-slots/';

export interface Amounts {
  cpus: number;
  mem: number;
  disk: number;
}

export interface PodSlot {
  id: string;
  podId: string;
  agentId: string;
  hostname: string;
  role: string;
  /** What is reserved for the executor and for each container (by name), as first reserved. */
  executor: Amounts;
  containers: Array<{ name: string } & Amounts>;
  volumes: Array<{ name: string; size: number; persistenceId: string }>;
  /** The instance last launched on it. */
  instanceId?: string;
  /**
   * `wipe=true` on its instance's kill: released (DESTROY + UNRESERVE) at its agent's next offer
   * once the instance ended; it no longer counts as one of the pod's slots, so the replacement
   * reserves a new one (a new, empty volume), as Marathon does for a wiped resident instance.
   */
  wipe?: boolean;
}

/** An offered resource, in the JSON the master sends. */
export interface OfferedResource {
  name: string;
  type?: string;
  scalar?: { value: number };
  ranges?: unknown;
  role?: string;
  reservation?: { labels?: { labels: Array<{ key: string; value?: string }> } };
  reservations?: Array<{ role?: string; labels?: { labels: Array<{ key: string; value?: string }> } }>;
  disk?: { persistence?: { id: string }; volume?: unknown };
  allocation_info?: unknown;
}

export const isResidentPod = (pod: Pick<Pod, 'volumes'>): boolean => pod.volumes.some((v) => v.persistent !== undefined);

/** The slot a reserved resource belongs to (its `marathon_task_id` label). */
export function slotIdOf(r: OfferedResource): string | undefined {
  const labels = r.reservations?.at(-1)?.labels?.labels ?? r.reservation?.labels?.labels ?? [];
  return labels.find((l) => l.key === 'marathon_task_id')?.value;
}

export function isUnreserved(r: OfferedResource): boolean {
  return (r.role ?? '*') === '*' && (r.reservations === undefined || r.reservations.length === 0);
}

/** An offered resource as an operation names it (no allocation_info). */
export function strip(r: OfferedResource): OfferedResource {
  const { allocation_info: _a, ...rest } = r;
  return rest;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** A new slot for the pod on the offer's agent (amounts from the pod's current definition). */
export function newSlot(pod: Pod, offer: OfferJson, role: string): PodSlot {
  const id = randomUUID();
  const base = pod.id.split('/').filter(Boolean).join('_').slice(0, 120);
  return {
    id,
    podId: pod.id,
    agentId: offer.agent_id.value,
    hostname: offer.hostname,
    role,
    executor: { cpus: round(pod.executorResources.cpus), mem: round(pod.executorResources.mem), disk: round(pod.executorResources.disk) },
    containers: pod.containers.map((ct) => ({ name: ct.name, cpus: round(ct.resources.cpus), mem: round(ct.resources.mem), disk: round(ct.resources.disk) })),
    volumes: pod.volumes.flatMap((v) => (v.persistent === undefined ? [] : [{ name: v.name, size: v.persistent.size, persistenceId: `${base}.${v.name}.${randomUUID()}` }])),
  };
}

/** The slot's reservation (Mesos' refined form). */
function reservationOf(slot: PodSlot, frameworkId: string): Record<string, unknown> {
  return {
    type: 'DYNAMIC',
    role: slot.role,
    labels: {
      labels: [
        { key: 'marathon_framework_id', value: frameworkId },
        { key: 'marathon_task_id', value: slot.id },
      ],
    },
  };
}

/** Reserved scalars of these amounts (a zero amount is left out). */
export function reservedScalars(slot: PodSlot, frameworkId: string, a: Amounts): OfferedResource[] {
  const reservation = reservationOf(slot, frameworkId);
  return (['cpus', 'mem', 'disk'] as const).filter((name) => a[name] > 0).map((name) => ({ name, type: 'SCALAR', scalar: { value: a[name] }, reservations: [reservation] }));
}

/** The slot's volumes as disk resources: mounted at `<executor sandbox>/volumes/<name>`. */
export function volumeResources(slot: PodSlot, frameworkId: string): OfferedResource[] {
  const reservation = reservationOf(slot, frameworkId);
  return slot.volumes.map((v) => ({
    name: 'disk',
    type: 'SCALAR',
    scalar: { value: v.size },
    reservations: [reservation],
    disk: { persistence: { id: v.persistenceId }, volume: { container_path: `volumes/${v.name}`, mode: 'RW' } },
  }));
}

/** RESERVE and CREATE for a new slot. */
export function reserveOperations(slot: PodSlot, frameworkId: string): unknown[] {
  const total = slot.containers.reduce((t, c) => ({ cpus: t.cpus + c.cpus, mem: t.mem + c.mem, disk: t.disk + c.disk }), { ...slot.executor });
  const volumeDisk = slot.volumes.reduce((n, v) => n + v.size, 0);
  return [
    { type: 'RESERVE', reserve: { resources: reservedScalars(slot, frameworkId, { cpus: round(total.cpus), mem: round(total.mem), disk: round(total.disk + volumeDisk) }) } },
    { type: 'CREATE', create: { volumes: volumeResources(slot, frameworkId) } },
  ];
}

/** DESTROY the slot's volumes and UNRESERVE all of it, from what an offer carries of it. */
export function releaseOperations(mine: readonly OfferedResource[]): unknown[] {
  const volumes = mine.filter((r) => r.disk?.persistence !== undefined).map(strip);
  const plain = mine.filter((r) => r.disk?.persistence === undefined).map(strip);
  const ops: unknown[] = [];
  if (volumes.length > 0) ops.push({ type: 'DESTROY', destroy: { volumes } });
  const unreserve = [...plain, ...volumes.map((v) => ({ ...v, disk: undefined }))].map(strip);
  if (unreserve.length > 0) ops.push({ type: 'UNRESERVE', unreserve: { resources: unreserve } });
  return ops;
}
