/**
 * JSON views of the master's model, in the shapes Mesos clients expect: offers as in the v1
 * scheduler API, tasks/agents/frameworks as in `/master/state` (the legacy JSON endpoint that
 * Mesos-DNS, the DC/OS UI and many scripts read).
 */
import { Resources } from '../resources/index.ts';
import type { AgentRecord, FrameworkRecord, OfferRecord, TaskRecord } from './model.ts';
import type { AgentRemovalStatus } from './agent-health.ts';
import { ledgerToJson } from './reservations.ts';
import { MESOS_VERSION } from '../protocol/mesos/version.ts';

/** What a Drover agent can do, in Mesos' SlaveInfo.Capability names (`/master/slaves`). */
const AGENT_CAPABILITIES = ['MULTI_ROLE', 'HIERARCHICAL_ROLE', 'AGENT_DRAINING'];

/** Mesos v1 resource JSON with `allocation_info`, as offers carry it. */
export function allocatedResourcesJson(resources: Resources, role: string): unknown[] {
  return resources.toJSON().map((r) => ({ ...r, role: r.role ?? '*', allocation_info: { role } }));
}

export function offerToJson(offer: OfferRecord, agent: AgentRecord): unknown {
  return {
    id: { value: offer.id },
    framework_id: { value: offer.frameworkId },
    agent_id: { value: agent.id },
    hostname: agent.hostname,
    url: { scheme: 'http', address: { hostname: agent.hostname, ip: '127.0.0.1', port: agent.port }, path: '/slave(1)' },
    resources: allocatedResourcesJson(offer.resources, offer.role),
    attributes: agent.attributes,
    allocation_info: { role: offer.role },
  };
}

/**
 * Each bag's legacy JSON, made once: a `Resources` never changes, and `/master/state` writes
 * five per agent and one per task (500 agents, 50,000 tasks in api-scale; issue 21). Frozen, as
 * it is shared by every answer that writes the same bag.
 */
const legacyJson = new WeakMap<Resources, Readonly<Record<string, number | string>>>();

/** Mesos' legacy resource object: `{"cpus":1,"mem":128,"disk":0,"gpus":0,"ports":"[31000-31000]"}`. */
export function legacyResources(resources: Resources): Readonly<Record<string, number | string>> {
  let json = legacyJson.get(resources);
  if (json === undefined) legacyJson.set(resources, (json = Object.freeze(legacyResourcesOf(resources))));
  return json;
}

function legacyResourcesOf(resources: Resources): Record<string, number | string> {
  const out: Record<string, number | string> = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const r of resources) {
    if (r.value.type === 'SCALAR') out[r.name] = Number(out[r.name] ?? 0) + r.value.toNumber();
  }
  for (const name of resources.names()) {
    const value = resources.toArray().find((r) => r.name === name)?.value;
    if (value?.type === 'RANGES') out[name] = resources.ranges(name).format();
    if (value?.type === 'SET') out[name] = resources.set(name).format();
  }
  return out;
}

export function taskToJson(task: TaskRecord): Record<string, unknown> {
  return {
    id: task.id,
    name: task.info.name,
    framework_id: task.frameworkId,
    executor_id: '',
    slave_id: task.agentId,
    agent_id: task.agentId,
    state: task.state,
    resources: legacyResources(task.resources),
    role: task.role,
    statuses: task.statuses.map((s) => ({
      state: s.state,
      timestamp: s.timestamp,
      ...(s.message === undefined ? {} : { message: s.message }),
      ...(s.reason === undefined ? {} : { reason: s.reason }),
      ...(s.healthy === undefined ? {} : { healthy: s.healthy }),
      // Mesos' JSON TaskStatus has it: the container id and its addresses on CNI networks (Mesos-DNS reads them).
      ...(s.container_status === undefined ? {} : { container_status: s.container_status }),
    })),
    ...(task.info.labels ? { labels: task.info.labels.labels } : {}),
    ...(task.info.discovery ? { discovery: task.info.discovery } : {}),
    ...(task.info.container ? { container: task.info.container } : {}),
    ...(task.directory ? { directory: task.directory } : {}),
  };
}

export function agentToJson(agent: AgentRecord): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const a of agent.attributes) {
    attributes[a.name] = a.text?.value ?? a.scalar?.value ?? a.set?.item ?? a.ranges?.range;
  }
  return {
    id: agent.id,
    pid: `slave(1)@${agent.hostname}:${agent.port}`,
    hostname: agent.hostname,
    port: agent.port,
    registered_time: agent.registeredAt / 1000,
    ...(agent.reregisteredAt === undefined ? {} : { reregistered_time: agent.reregisteredAt / 1000 }),
    resources: legacyResources(agent.total),
    used_resources: legacyResources(agent.used),
    offered_resources: legacyResources(agent.offered),
    unreserved_resources: legacyResources(agent.total.filterRole('*')),
    // Mesos: the resources reserved for each role (static and dynamic), by role.
    reserved_resources: Object.fromEntries(
      agent.total
        .roles()
        .filter((role) => role !== '*')
        .map((role) => [role, legacyResources(agent.total.filterRole(role))]),
    ),
    version: MESOS_VERSION,
    capabilities: AGENT_CAPABILITIES,
    // Mesos: dynamically reserved resources and persistent volumes, in Resource JSON.
    ...(agent.reservations === undefined || agent.reservations.length === 0 ? {} : { reserved_resources_full: ledgerToJson(agent.reservations) }),
    attributes,
    active: agent.status === 'active',
    deactivated: agent.maintenance?.deactivated === true,
    ...(agent.maintenance?.drain ? { drain_info: agent.maintenance.drain } : {}),
    drover_status: agent.status,
    ...(agent.removalHeldSince === undefined ? {} : { drover_removal_held_since: agent.removalHeldSince / 1000 }),
  };
}

export interface FrameworkJsonOptions {
  /** A list of the framework's tasks as JSON: `tasks.map(taskToJson)` (the default), or kept encoded (task-list-json.ts). */
  list?: (kind: 'tasks' | 'unreachable_tasks' | 'completed_tasks', tasks: readonly TaskRecord[]) => unknown;
  /** The sum of `tasks`' resources, when the caller has it already. */
  used?: Resources;
}

export function frameworkToJson(
  framework: FrameworkRecord,
  tasks: readonly TaskRecord[],
  completed: readonly TaskRecord[],
  offers: OfferRecord[],
  options: FrameworkJsonOptions = {},
): Record<string, unknown> {
  const list = options.list ?? ((_kind: string, tasks: readonly TaskRecord[]) => tasks.map(taskToJson));
  const used = options.used ?? tasks.reduce((sum, t) => sum.add(t.resources), Resources.EMPTY);
  const offered = offers.reduce((sum, o) => sum.add(o.resources), Resources.EMPTY);
  const connected = framework.stream?.isOpen === true;
  // One pass over the tasks (50,000 in api-scale), and none copied when none is unreachable.
  let reachable: readonly TaskRecord[] = tasks;
  const unreachable: TaskRecord[] = [];
  for (const t of tasks) if (t.state === 'TASK_UNREACHABLE') unreachable.push(t);
  if (unreachable.length > 0) reachable = tasks.filter((t) => t.state !== 'TASK_UNREACHABLE');
  return {
    id: framework.id,
    name: framework.info.name,
    pid: '',
    user: framework.info.user,
    role: framework.roles[0],
    roles: framework.roles,
    principal: framework.info.principal,
    hostname: framework.info.hostname ?? '',
    webui_url: framework.info.webui_url ?? '',
    capabilities: (framework.info.capabilities ?? []).map((c) => c.type),
    failover_timeout: framework.failoverTimeoutMs / 1000,
    checkpoint: framework.info.checkpoint ?? false,
    active: connected,
    connected,
    recovered: false,
    registered_time: framework.registeredAt / 1000,
    ...(framework.reregisteredAt === undefined ? {} : { reregistered_time: framework.reregisteredAt / 1000 }),
    ...(framework.unregisteredAt === undefined || connected ? {} : { unregistered_time: framework.unregisteredAt / 1000 }),
    suppressed_roles: [...framework.suppressedRoles],
    resources: legacyResources(used),
    used_resources: legacyResources(used),
    offered_resources: legacyResources(offered),
    tasks: list('tasks', reachable),
    unreachable_tasks: list('unreachable_tasks', unreachable),
    completed_tasks: list('completed_tasks', completed),
    offers: offers.map((o) => ({ id: o.id, framework_id: o.frameworkId, slave_id: o.agentId, resources: legacyResources(o.resources) })),
    executors: [],
  };
}

/**
 * The removal limits' hold, for operators (`GET /master/agent-removal`, `drover_agent_removal` in
 * `/master/state`): times in seconds since the epoch as the rest of the legacy JSON; `window_cap`
 * null when the guard is off, `rate_limit` in Mesos' flag syntax or null.
 */
export function agentRemovalJson(s: AgentRemovalStatus): Record<string, unknown> {
  return {
    held: s.held,
    unreachable: s.unreachable,
    agents: s.agents,
    reason: s.reason ?? null,
    held_since: s.heldSince === undefined ? null : s.heldSince / 1000,
    retry_at: s.retryAt === undefined ? null : s.retryAt / 1000,
    marked_in_window: s.markedInWindow,
    window_cap: s.windowCap ?? null,
    window_seconds: s.windowMs / 1000,
    guard_fraction: s.guardFraction,
    rate_limit: s.rate === undefined ? null : `${s.rate.agents}/${s.rate.perMs / 1000}secs`,
    held_agents: s.heldAgents.map((a) => ({ id: a.id, hostname: a.hostname, since: a.since / 1000 })),
  };
}
