/**
 * Dynamic reservations and persistent volumes, as the master keeps them (Mesos' "checkpointed
 * resources"): per agent a ledger of entries, each a resource reserved for a role by a principal
 * (with labels), or a persistent volume carved out of such reserved disk. Pure functions only;
 * offer-operations.ts validates and applies RESERVE/UNRESERVE/CREATE/DESTROY with them.
 *
 * Vocabulary:
 * - An entry's `key` is its identity: name, role, principal, labels and (for a volume) its
 *   persistence id. Entries with equal keys add up (reserving twice adds, as in Mesos); a volume
 *   never merges with plain reserved disk because its key has the persistence id.
 * - The agent's `total` (a `Resources` bag keyed by name and role) counts reserved resources under
 *   their role, volume disk included: what a volume holds is reserved disk of its role. The
 *   ledger says which part of that role's disk is which volume and which labels a reservation
 *   carries — what the allocator's bag cannot.
 * - A task that uses reserved resources names them in its TaskInfo with their reservation (and
 *   volume); those are its `reserved` entries. `free = ledger − live tasks' reserved entries`:
 *   a volume in use is absent from free, so it is in no offer and cannot be destroyed.
 *
 * Both JSON forms are read: the pre-refinement `role` + `reservation: {principal, labels}` and the
 * refined `reservations: [{type: DYNAMIC, role, principal, labels}]` (one level; refinement of a
 * reservation by a sub-role is not supported). Both are written in offers.
 */
import { DEFAULT_ROLE, Resources, type ResourceJSON } from '../resources/index.ts';
import type { ResourceJson } from '../protocol/mesos/scheduler.ts';

export interface LabelsJson {
  labels: Array<{ key: string; value?: string }>;
}

export interface VolumeInfo {
  id: string;
  /** The principal that created the volume (`disk.persistence.principal`). */
  principal?: string;
  containerPath: string;
  mode: 'RW' | 'RO';
}

export interface ReservedEntry {
  readonly key: string;
  readonly name: string;
  readonly role: string;
  readonly principal?: string;
  readonly labels?: LabelsJson;
  readonly volume?: VolumeInfo;
  /** One (name, role) resource. */
  readonly value: Resources;
}

/** Longest persistence id, principal and container path accepted (they become paths and keys). */
export const MAX_ID = 256;
const MAX_CONTAINER_PATH = 1024;
const PLAIN_ID = /^[A-Za-z0-9_.@+=-]+$/;

/** What a resource's JSON says about its reservation; `undefined` when it is unreserved or statically reserved. */
export function dynamicReservation(json: ResourceJson): { role: string; principal?: string; labels?: LabelsJson } | string | undefined {
  const stack = json.reservations;
  if (stack !== undefined && stack.length > 0) {
    if (stack.length > 1) return 'reservation refinement (more than one entry in `reservations`) is not supported';
    const r = stack[0]!;
    if (r.type !== undefined && r.type !== 'DYNAMIC') return r.type === 'STATIC' ? undefined : `reservation type '${r.type}' is not supported`;
    if (r.role === undefined || r.role === '' || r.role === DEFAULT_ROLE) return "a dynamic reservation needs a role other than '*'";
    if (json.role !== undefined && json.role !== r.role) return `'role' ${json.role} differs from the reservation's role ${r.role}`;
    return { role: r.role, ...(r.principal === undefined ? {} : { principal: r.principal }), ...(r.labels === undefined ? {} : { labels: r.labels }) };
  }
  if (json.reservation !== undefined) {
    const role = json.role ?? DEFAULT_ROLE;
    if (role === DEFAULT_ROLE) return "a dynamic reservation needs a role other than '*'";
    const r = json.reservation;
    return { role, ...(r.principal === undefined ? {} : { principal: r.principal }), ...(r.labels === undefined ? {} : { labels: r.labels }) };
  }
  return undefined;
}

/** Why a persistence id or principal cannot be used (it names a directory on the agent). */
export function idProblem(what: string, id: string): string | undefined {
  if (id === '' || id.length > MAX_ID) return `${what} must be 1 to ${MAX_ID} characters`;
  if (!PLAIN_ID.test(id) || id === '.' || id === '..') return `${what} '${id}' may contain only letters, digits and _.@+=-`;
  return undefined;
}

/** Mesos: a persistent volume's container path is relative, and stays inside the sandbox. */
export function containerPathProblem(path: string): string | undefined {
  if (path === '' || path.length > MAX_CONTAINER_PATH) return `container_path must be 1 to ${MAX_CONTAINER_PATH} characters`;
  if (path.startsWith('/')) return `container_path '${path}' must be relative (to the sandbox)`;
  if (path.includes('\0')) return 'container_path contains a NUL character';
  if (path.split('/').some((s) => s === '..' || s === '.')) return `container_path '${path}' may not contain '.' or '..'`;
  return undefined;
}

/**
 * The entry a resource JSON stands for, or why it is not a valid dynamically reserved resource
 * (or volume). `undefined`: the resource is not dynamically reserved.
 */
export function entryOf(json: ResourceJson, index: number): ReservedEntry | string | undefined {
  const reservation = dynamicReservation(json);
  if (typeof reservation === 'string') return `resources[${index}]: ${reservation}`;
  if (reservation === undefined) {
    if (json.disk?.persistence !== undefined) return `resources[${index}]: a persistent volume needs dynamically reserved disk`;
    return undefined;
  }
  let value: Resources;
  try {
    // The bag reads `role` only: give it the reservation's, whichever form carried it.
    value = Resources.fromJSON([{ name: json.name, type: json.type, scalar: json.scalar, ranges: json.ranges, set: json.set, role: reservation.role }]);
  } catch (e) {
    return (e as Error).message.replace(/^resources\[0\]/, `resources[${index}]`);
  }
  if (value.isEmpty) return `resources[${index}]: the resource is empty`;
  let volume: VolumeInfo | undefined;
  const persistence = json.disk?.persistence;
  if (persistence !== undefined) {
    if (json.name !== 'disk') return `resources[${index}]: only disk can be a persistent volume`;
    const idReason = idProblem('disk.persistence.id', persistence.id);
    if (idReason !== undefined) return `resources[${index}]: ${idReason}`;
    const path = json.disk?.volume?.container_path;
    if (path === undefined) return `resources[${index}]: a persistent volume needs disk.volume.container_path`;
    const pathReason = containerPathProblem(path);
    if (pathReason !== undefined) return `resources[${index}]: ${pathReason}`;
    volume = { id: persistence.id, containerPath: path, mode: json.disk?.volume?.mode ?? 'RW', ...(persistence.principal === undefined ? {} : { principal: persistence.principal }) };
  } else if (json.disk?.volume !== undefined) {
    return `resources[${index}]: disk.volume without disk.persistence is not supported`;
  }
  return {
    key: keyOf(json.name, reservation.role, reservation.principal, reservation.labels, volume?.id),
    name: json.name,
    role: reservation.role,
    ...(reservation.principal === undefined ? {} : { principal: reservation.principal }),
    ...(reservation.labels === undefined ? {} : { labels: reservation.labels }),
    ...(volume === undefined ? {} : { volume }),
    value,
  };
}

/** `{reserved}` for a TaskRecord whose TaskInfo names reserved resources, else `{}`. */
export function reservedOf(list: readonly ResourceJson[] | undefined): { reserved?: ReservedEntry[] } {
  const reserved = reservedEntries(list);
  return reserved.length === 0 ? {} : { reserved };
}

/** The dynamically reserved entries among a list of resources (invalid ones are skipped). */
export function reservedEntries(list: readonly ResourceJson[] | undefined): ReservedEntry[] {
  const out: ReservedEntry[] = [];
  (list ?? []).forEach((json, i) => {
    const e = entryOf(json, i);
    if (typeof e === 'object') out.push(e);
  });
  return out;
}

function keyOf(name: string, role: string, principal: string | undefined, labels: LabelsJson | undefined, volumeId: string | undefined): string {
  return JSON.stringify([name, role, principal ?? null, labels?.labels ?? null, volumeId ?? null]);
}

/** The same entry with another value. */
function withValue(e: ReservedEntry, value: Resources): ReservedEntry {
  return { ...e, value };
}

/** `ledger + entries`, equal keys merged. */
export function addEntries(ledger: readonly ReservedEntry[], entries: readonly ReservedEntry[]): ReservedEntry[] {
  const out = ledger.slice();
  for (const e of entries) {
    const i = out.findIndex((x) => x.key === e.key);
    if (i < 0) out.push(e);
    else out[i] = withValue(out[i]!, out[i]!.value.add(e.value));
  }
  return out;
}

/** `ledger − entries`, or the first entry `ledger` does not contain. */
export function subtractEntries(ledger: readonly ReservedEntry[], entries: readonly ReservedEntry[]): ReservedEntry[] | { missing: ReservedEntry } {
  const out = ledger.slice();
  for (const e of entries) {
    const i = out.findIndex((x) => x.key === e.key);
    if (i < 0 || !out[i]!.value.contains(e.value)) return { missing: e };
    const left = out[i]!.value.subtract(e.value);
    if (left.isEmpty) out.splice(i, 1);
    else out[i] = withValue(out[i]!, left);
  }
  return out;
}

/** The ledger less what live tasks use (entries a task names that the ledger lacks are ignored). */
export function freeEntries(ledger: readonly ReservedEntry[], usedByTasks: Iterable<readonly ReservedEntry[]>): ReservedEntry[] {
  let out = ledger.slice();
  for (const used of usedByTasks) {
    for (const e of used) {
      const i = out.findIndex((x) => x.key === e.key);
      if (i < 0) continue;
      const value = out[i]!.value;
      const left = value.contains(e.value) ? value.subtract(e.value) : Resources.EMPTY;
      out = left.isEmpty ? out.filter((_, j) => j !== i) : out.map((x, j) => (j === i ? withValue(x, left) : x));
    }
  }
  return out;
}

/** The sum of the entries' values (a bag with their roles). */
export function sumOf(entries: readonly ReservedEntry[]): Resources {
  return entries.reduce((sum, e) => sum.add(e.value), Resources.EMPTY);
}

/** The same resources unreserved: `cpus(eng):2` → `cpus:2`. */
export function unreservedOf(r: Resources): Resources {
  return Resources.of([...r].map((x) => ({ name: x.name, value: x.value })));
}

/**
 * What an agent has with its ledger applied to what it declares: the reserved part moves from
 * `*` to its role. Entries that no longer fit (the agent now declares less) are left out and named.
 */
export function applyLedger(declared: Resources, ledger: readonly ReservedEntry[]): { total: Resources; applied: ReservedEntry[]; dropped: ReservedEntry[] } {
  let total = declared;
  const applied: ReservedEntry[] = [];
  const dropped: ReservedEntry[] = [];
  for (const e of ledger) {
    const plain = unreservedOf(e.value);
    if (!total.contains(plain)) {
      dropped.push(e);
      continue;
    }
    total = total.subtract(plain).add(e.value);
    applied.push(e);
  }
  return { total, applied, dropped };
}

/** Mesos' JSON of an entry, in both forms (`role` + `reservation`, and `reservations`). */
export function entryToJson(e: ReservedEntry, value: Resources = e.value): ResourceJson[] {
  const reservation = { ...(e.principal === undefined ? {} : { principal: e.principal }), ...(e.labels === undefined ? {} : { labels: e.labels }) };
  return value.toJSON().map((r: ResourceJSON) => ({
    ...r,
    role: e.role,
    reservation,
    reservations: [{ type: 'DYNAMIC' as const, role: e.role, ...reservation }],
    ...(e.volume === undefined
      ? {}
      : {
          disk: {
            persistence: { id: e.volume.id, ...(e.volume.principal === undefined ? {} : { principal: e.volume.principal }) },
            volume: { container_path: e.volume.containerPath, mode: e.volume.mode },
          },
        }),
  }));
}

/** The ledger as the JSON list that is stored and checkpointed on the agent. */
export function ledgerToJson(ledger: readonly ReservedEntry[]): ResourceJson[] {
  return ledger.flatMap((e) => entryToJson(e));
}

export function ledgerFromJson(list: readonly ResourceJson[]): ReservedEntry[] {
  return addEntries([], reservedEntries(list));
}

/**
 * The resources of an offer to `role` as Mesos JSON: the unreserved and statically reserved part
 * from the bag, the dynamically reserved part from `free` (split by reservation, with each
 * volume on its own). Whatever of the role's part the free entries do not explain (a static
 * reservation) is listed plainly.
 */
export function offerResourcesJson(offered: Resources, role: string, free: readonly ReservedEntry[]): ResourceJson[] {
  const mine = free.filter((e) => e.role === role);
  const out: ResourceJson[] = [];
  let rest = offered;
  for (const e of mine) {
    // An entry is listed only as far as the offer has it (it should have all of it).
    const part = rest.contains(e.value) ? e.value : Resources.EMPTY;
    if (part.isEmpty) continue;
    rest = rest.subtract(part);
    out.push(...entryToJson(e, part));
  }
  return [...rest.toJSON(), ...out];
}

/** An agent's total from what it declared and the ledger the store kept for it (master start). */
export function recoveredTotal(declared: Resources, stored: readonly ResourceJson[] | undefined): { total: Resources; ledger: ReservedEntry[] } {
  if (stored === undefined || stored.length === 0) return { total: declared, ledger: [] };
  const { total, applied } = applyLedger(declared, ledgerFromJson(stored));
  return { total, ledger: applied };
}

/**
 * An offer's resources as JSON when the agent has reservations of the offer's role (offer-json.ts),
 * else `undefined`: each reservation and volume no live task uses is its own item.
 */
export function reservedOfferJson(
  ledger: readonly ReservedEntry[] | undefined,
  liveTasks: Iterable<{ reserved?: readonly ReservedEntry[] }>,
  resources: Resources,
  role: string,
): ResourceJson[] | undefined {
  if (ledger === undefined || !ledger.some((e) => e.role === role)) return undefined;
  const used: Array<readonly ReservedEntry[]> = [];
  for (const t of liveTasks) if (t.reserved !== undefined) used.push(t.reserved);
  return offerResourcesJson(resources, role, freeEntries(ledger, used));
}
