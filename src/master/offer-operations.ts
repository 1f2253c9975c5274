/**
 * RESERVE, UNRESERVE, CREATE and DESTROY, with Mesos' validation (src/master/validation.cpp's
 * messages, near enough), applied to a working copy of one agent's state: the resources at hand
 * (an ACCEPT's offers, or the agent's free part for the operator calls), its ledger
 * (reservations.ts) and the ledger's part no live task uses. Each call either changes the copy
 * or returns why not and changes nothing, so operations apply in order, and a LAUNCH after a
 * RESERVE in the same ACCEPT uses what was just reserved, as in Mesos.
 *
 * `commit` then makes the copy the agent's: the allocator's bag, the store (so reservations
 * survive a master restart or failover), and the agent's own checkpoint (CHECKPOINT_RESOURCES).
 */
import type { Resources } from '../resources/index.ts';
import type { ResourceJson } from '../protocol/mesos/scheduler.ts';
import type { Master } from './master.ts';
import type { AgentRecord } from './model.ts';
import { addEntries, entryOf, freeEntries, ledgerToJson, subtractEntries, sumOf, unreservedOf, type ReservedEntry } from './reservations.ts';

export type ReservationOperation = 'RESERVE' | 'UNRESERVE' | 'CREATE' | 'DESTROY';

/**
 * Why an operation was refused. A string is a bad request (Mesos' 400); a `Conflict` is a valid
 * request the agent's state cannot satisfy now (the resources are not available, a volume is in
 * use: Mesos' 409 for the operator calls).
 */
export class Conflict {
  constructor(readonly message: string) {}
  toString(): string {
    return this.message;
  }
}

export type Refusal = string | Conflict;

function conflict(message: string): Conflict {
  return new Conflict(message);
}

export function refusalMessage(r: Refusal): string {
  return typeof r === 'string' ? r : r.message;
}

export interface AgentWorkingState {
  /** The resources the operations may use (offers, or the agent's free part). */
  pool: Resources;
  total: Resources;
  ledger: ReservedEntry[];
  /** Ledger entries no live task uses and nothing in this call has used yet. */
  free: ReservedEntry[];
  changed: boolean;
}

/** Who asks: a framework (its roles, the offers' allocation role) or an operator. */
export interface Actor {
  kind: 'framework' | 'operator';
  /** The framework's principal, or the HTTP-authenticated one (undefined: unauthenticated). */
  principal?: string;
  roles?: readonly string[];
  allocationRole?: string;
}

export function workingState(master: Master, agent: AgentRecord, pool: Resources): AgentWorkingState {
  const ledger = agent.reservations ?? [];
  const free = freeEntries(
    ledger,
    master.tasks.onAgent(agent.id).map((t) => t.reserved ?? []),
  );
  return { pool, total: agent.total, ledger, free, changed: false };
}

/** Applies one operation to `state`, or returns why it cannot be applied (nothing changed then). */
export function applyOperation(state: AgentWorkingState, type: ReservationOperation, resources: readonly ResourceJson[], actor: Actor): Refusal | undefined {
  if (resources.length === 0) return `${type} names no resources`;
  const entries: ReservedEntry[] = [];
  for (const [i, json] of resources.entries()) {
    const e = entryOf(json, i);
    if (typeof e === 'string') return e;
    if (e === undefined)
      return `resources[${i}]: ${type === 'RESERVE' || type === 'UNRESERVE' ? 'is not dynamically reserved (it needs `reservations` or `role` with `reservation`)' : 'is not a persistent volume on dynamically reserved disk'}`;
    const roleProblem = roleRefusal(type, e.role, actor);
    if (roleProblem !== undefined) return `resources[${i}]: ${roleProblem}`;
    entries.push(e);
  }
  switch (type) {
    case 'RESERVE':
      return reserve(state, entries, actor);
    case 'UNRESERVE':
      return unreserve(state, entries);
    case 'CREATE':
      return create(state, entries, actor);
    case 'DESTROY':
      return destroy(state, entries);
  }
}

function roleRefusal(type: ReservationOperation, role: string, actor: Actor): Refusal | undefined {
  if (actor.kind !== 'framework') return undefined;
  if (!(actor.roles ?? []).includes(role)) return `${type} for role '${role}', which the framework is not subscribed to`;
  if (actor.allocationRole !== undefined && actor.allocationRole !== role) return `${type} for role '${role}' on resources offered to role '${actor.allocationRole}'`;
  return undefined;
}

function reserve(state: AgentWorkingState, entries: ReservedEntry[], actor: Actor): Refusal | undefined {
  for (const e of entries) {
    if (e.volume !== undefined) return 'a persistent volume cannot be reserved: RESERVE the disk, then CREATE the volume';
    if (actor.principal !== undefined && e.principal !== actor.principal) {
      return `A reserve operation was attempted by principal '${actor.principal}', which does not match the reservation's principal '${e.principal ?? ''}'`;
    }
  }
  const reserved = sumOf(entries);
  const unreserved = unreservedOf(reserved);
  if (!state.pool.contains(unreserved)) return conflict(`Invalid RESERVE: ${unreserved.format()} is not available among the unreserved resources (${state.pool.format() || 'nothing'})`);
  state.pool = state.pool.subtract(unreserved).add(reserved);
  state.total = state.total.subtract(unreserved).add(reserved);
  state.ledger = addEntries(state.ledger, entries);
  state.free = addEntries(state.free, entries);
  state.changed = true;
  return undefined;
}

function unreserve(state: AgentWorkingState, entries: ReservedEntry[]): Refusal | undefined {
  if (entries.some((e) => e.volume !== undefined)) return 'a persistent volume cannot be unreserved: DESTROY it first';
  const free = subtractEntries(state.free, entries);
  if ('missing' in free) {
    const m = free.missing;
    if (!('missing' in subtractEntries(state.ledger, [m]))) return conflict(`Invalid UNRESERVE: ${m.value.format()} is in use by a task`);
    const volumes = state.ledger.filter((x) => x.volume !== undefined && baseOf(x).key === m.key);
    if (volumes.length > 0) {
      return conflict(
        `Invalid UNRESERVE: ${m.value.format()} is more than is free of that reservation: it holds persistent volume(s) ${volumes.map((v) => `'${v.volume!.id}'`).join(', ')}; DESTROY them first`,
      );
    }
    return conflict(`Invalid UNRESERVE: ${m.value.format()} is not reserved with that principal and labels on this agent (or is in use by a task)`);
  }
  const reserved = sumOf(entries);
  if (!state.pool.contains(reserved)) return conflict(`Invalid UNRESERVE: ${reserved.format()} is not among the resources at hand (${state.pool.format() || 'nothing'})`);
  const ledger = subtractEntries(state.ledger, entries);
  if ('missing' in ledger) return conflict(`Invalid UNRESERVE: ${ledger.missing.value.format()} is not reserved`);
  const unreserved = unreservedOf(reserved);
  state.pool = state.pool.subtract(reserved).add(unreserved);
  state.total = state.total.subtract(reserved).add(unreserved);
  state.ledger = ledger;
  state.free = free;
  state.changed = true;
  return undefined;
}

/** The reservation a volume is carved from: the same entry without the volume. */
function baseOf(volume: ReservedEntry): ReservedEntry {
  const { volume: _volume, ...rest } = volume;
  return { ...rest, key: JSON.stringify([volume.name, volume.role, volume.principal ?? null, volume.labels?.labels ?? null, null]) };
}

function create(state: AgentWorkingState, entries: ReservedEntry[], actor: Actor): Refusal | undefined {
  const ids = new Set<string>();
  for (const e of entries) {
    const v = e.volume;
    if (v === undefined) return 'CREATE needs disk.persistence';
    if (actor.principal !== undefined && v.principal !== undefined && v.principal !== actor.principal) {
      return `A create operation was attempted by principal '${actor.principal}', which does not match the persistence principal '${v.principal}'`;
    }
    const id = `${e.role}\u0000${v.id}`;
    if (ids.has(id)) return `Persistent volume ID '${v.id}' appears twice in one CREATE`;
    ids.add(id);
    if (state.ledger.some((x) => x.volume?.id === v.id && x.role === e.role)) return conflict(`Persistent volume ID '${v.id}' is already in use for role '${e.role}' on this agent`);
  }
  const bases = entries.map(baseOf);
  const free = subtractEntries(state.free, bases);
  if ('missing' in free) return conflict(`Invalid CREATE: ${free.missing.value.format()} is not available as reserved disk with that principal and labels (reserve it first)`);
  if (!state.pool.contains(sumOf(bases))) return conflict(`Invalid CREATE: ${sumOf(bases).format()} is not among the resources at hand (${state.pool.format() || 'nothing'})`);
  const ledger = subtractEntries(state.ledger, bases);
  if ('missing' in ledger) return conflict(`Invalid CREATE: ${ledger.missing.value.format()} is not reserved`);
  state.ledger = addEntries(ledger, entries);
  state.free = addEntries(free, entries);
  state.changed = true;
  return undefined;
}

function destroy(state: AgentWorkingState, entries: ReservedEntry[]): Refusal | undefined {
  const found: ReservedEntry[] = [];
  for (const e of entries) {
    const v = e.volume;
    if (v === undefined) return 'DESTROY needs disk.persistence';
    const known = state.ledger.find((x) => x.volume?.id === v.id && x.role === e.role);
    if (known === undefined) return conflict(`Persistent volume '${v.id}' of role '${e.role}' does not exist on this agent`);
    if (!state.free.some((x) => x.key === known.key) || found.includes(known)) return conflict(`Persistent volume '${v.id}' is in use by a task`);
    found.push(known);
  }
  if (!state.pool.contains(sumOf(found))) return conflict(`Invalid DESTROY: the volumes are not among the resources at hand (${state.pool.format() || 'nothing'})`);
  const ledger = subtractEntries(state.ledger, found);
  const free = subtractEntries(state.free, found);
  if ('missing' in ledger || 'missing' in free) return conflict('Invalid DESTROY: the volume is in use');
  const bases = found.map(baseOf);
  state.ledger = addEntries(ledger, bases);
  state.free = addEntries(free, bases);
  state.changed = true;
  return undefined;
}

/**
 * A task's reserved resources and volumes against what is free: takes them from `state.free`,
 * or says which is not available.
 */
export function takeReserved(state: AgentWorkingState, reserved: readonly ReservedEntry[]): string | undefined {
  if (reserved.length === 0) return undefined;
  const free = subtractEntries(state.free, reserved);
  if ('missing' in free) {
    const m = free.missing;
    if (m.volume !== undefined) {
      const exists = state.ledger.some((x) => x.key === m.key);
      return exists ? `Persistent volume '${m.volume.id}' is in use by another task` : `Persistent volume '${m.volume.id}' does not exist on this agent (with that reservation)`;
    }
    return `Task uses reserved resources ${m.value.format()} that are not available with that reservation (principal, labels)`;
  }
  state.free = free;
  return undefined;
}

/**
 * The working copy becomes the agent's: its bag, the store, and the agent's checkpoint. Resolves
 * once the store has it (operator calls answer after that; an ACCEPT does not wait).
 */
export function commit(master: Master, agent: AgentRecord, state: AgentWorkingState): Promise<void> {
  agent.total = state.total;
  agent.reservations = state.ledger;
  const resources = ledgerToJson(state.ledger);
  master.sendToAgent(agent.id, { type: 'CHECKPOINT_RESOURCES', checkpoint_resources: { resources } });
  master.log.info({ agentId: agent.id, reserved: sumOf(state.ledger).format(), volumes: state.ledger.filter((e) => e.volume !== undefined).map((e) => e.volume!.id) }, 'reservations-changed');
  return master.registry.putReservations(agent.id, resources);
}
