/**
 * What a pod instance takes from an offer: its host ports, its executor's and containers'
 * resources (podFit), or a resident instance's reserved ones (slotFit), and why an offer is short
 * (shortfall). Pure; pods.ts places instances with it.
 */
import { Resources } from '../../resources/index.ts';
import { inOfferRoles } from '../../placement/index.ts';
import type { Pod, PodContainer } from './pod-schema.ts';
import { type PodSlot, reservedScalars, volumeResources } from './pod-slots.ts';

/** What one pod instance takes from an offer (podFit). */
export interface PodFit {
  ports: Record<string, number>;
  executor: Resources;
  tasks: Resources[];
  /** All of it. */
  taken: Resources;
  /** The resources as they go in LAUNCH_GROUP when not the above's (a slot's reserved ones). */
  json?: { executor: unknown[]; tasks: unknown[][] };
}

/**
 * Whether one instance fits `resources`: its host ports, and what the executor and each
 * container take, in the offer's own roles (the master accepts only resources it offered).
 */
export function podFit(pod: Pod, resources: Resources): PodFit | undefined {
  let cpus = pod.executorResources.cpus;
  let mem = pod.executorResources.mem;
  let disk = pod.executorResources.disk;
  for (const ct of pod.containers) {
    cpus += ct.resources.cpus;
    mem += ct.resources.mem;
    disk += ct.resources.disk;
  }
  if (resources.cpus() + 1e-9 < cpus || resources.mem() + 1e-9 < mem || resources.disk() + 1e-9 < disk) return undefined;
  const picked = pickPorts(pod, resources);
  if (picked === undefined) return undefined;
  const ports = picked.ports;
  let left = resources;
  const share = (text: string): Resources | undefined => {
    const needed = Resources.parse(text);
    const mine = inOfferRoles(left, needed);
    // All of it, from what is left (inOfferRoles takes what there is).
    if (!mine.flatten().contains(needed) || !left.contains(mine)) return undefined;
    left = left.subtract(mine);
    return mine;
  };
  const executor = share(`cpus:${round(pod.executorResources.cpus)};mem:${round(pod.executorResources.mem)};disk:${round(pod.executorResources.disk)}`);
  if (executor === undefined) return undefined;
  const tasks: Resources[] = [];
  for (const ct of pod.containers) {
    const own = ct.endpoints.flatMap((e) => (ports[e.name] === undefined ? [] : [ports[e.name]!]));
    const mine = share(
      `cpus:${round(ct.resources.cpus)};mem:${round(ct.resources.mem)}${ct.resources.disk > 0 ? `;disk:${round(ct.resources.disk)}` : ''}${own.length > 0 ? `;ports:[${own.map((p) => `${p}-${p}`).join(',')}]` : ''}`,
    );
    if (mine === undefined) return undefined;
    tasks.push(mine);
  }
  return { ports, executor, tasks, taken: resources.subtract(left) };
}

/** The pod's host ports from these resources (fixed ones, then any for hostPort 0), or undefined. */
export function pickPorts(pod: Pod, resources: Resources): { ports: Record<string, number>; resources: Resources } | undefined {
  const free = resources.ports();
  const ports: Record<string, number> = {};
  const taken: number[] = [];
  const endpoints = pod.containers.flatMap((ct) => ct.endpoints);
  for (const e of endpoints) {
    if (e.hostPort === undefined || e.hostPort === 0) continue;
    if (!free.contains(e.hostPort)) return undefined;
    ports[e.name] = e.hostPort;
    taken.push(e.hostPort);
  }
  for (const e of endpoints.filter((x) => x.hostPort === 0)) {
    let port: number | undefined;
    for (const p of free.values()) {
      if (!taken.includes(p)) {
        port = p;
        break;
      }
    }
    if (port === undefined) return undefined;
    ports[e.name] = port;
    taken.push(port);
  }
  return { ports, resources: taken.length === 0 ? Resources.EMPTY : Resources.parse(`ports:[${taken.map((p) => `${p}-${p}`).join(',')}]`) };
}

/** What a slot's instance launches with: its reserved amounts and volumes, and unreserved host ports. */
export function slotFit(pod: Pod, slot: PodSlot, frameworkId: string, ports: Record<string, number>): PodFit {
  return {
    ports,
    executor: Resources.EMPTY,
    tasks: [],
    taken: Resources.EMPTY,
    json: {
      executor: [...reservedScalars(slot, frameworkId, slot.executor), ...volumeResources(slot, frameworkId)],
      tasks: pod.containers.map((ct) => {
        const amounts = slot.containers.find((c) => c.name === ct.name)!;
        const own = ct.endpoints.flatMap((e) => (ports[e.name] === undefined ? [] : [ports[e.name]!]));
        return [...reservedScalars(slot, frameworkId, amounts), ...(own.length === 0 ? [] : Resources.parse(`ports:[${own.map((p) => `${p}-${p}`).join(',')}]`).toJSON())];
      }),
    },
  };
}

/** Why one instance of the pod does not fit these resources, as a reason and Marathon's NoOfferMatchReason. */
export function shortfall(pod: Pod, resources: Resources): [string, string] {
  const sum = (pick: (r: PodContainer['resources']) => number, executor: number): number => pod.containers.reduce((n, ct) => n + pick(ct.resources), executor);
  const need = { cpus: sum((r) => r.cpus, pod.executorResources.cpus), mem: sum((r) => r.mem, pod.executorResources.mem), disk: sum((r) => r.disk, pod.executorResources.disk) };
  if (resources.cpus() + 1e-9 < need.cpus) return [`insufficient cpus: the pod needs ${round(need.cpus)}, the offer has ${round(resources.cpus())}`, 'InsufficientCpus'];
  if (resources.mem() + 1e-9 < need.mem) return [`insufficient mem: the pod needs ${round(need.mem)}, the offer has ${round(resources.mem())}`, 'InsufficientMemory'];
  if (resources.disk() + 1e-9 < need.disk) return [`insufficient disk: the pod needs ${round(need.disk)}, the offer has ${round(resources.disk())}`, 'InsufficientDisk'];
  return ["insufficient ports: the offer lacks the pod's host ports", 'InsufficientPorts'];
}

export function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
