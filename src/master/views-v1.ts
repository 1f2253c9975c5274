/**
 * Mesos v1 operator API shapes of the master's model (`task_id: {value}`, resources as v1 JSON,
 * times as `{nanoseconds}`), and the operator events built from them.
 */
import type { TaskStatus } from '../protocol/mesos/scheduler.ts';
import type { AgentRecord, FrameworkRecord, KeptStatus, TaskRecord } from './model.ts';
import { allocatedResourcesJson } from './views.ts';

const nanos = (ms: number) => ({ nanoseconds: Math.round(ms * 1e6) });

export function v1Task(task: TaskRecord): Record<string, unknown> {
  return {
    name: task.info.name,
    task_id: { value: task.id },
    framework_id: { value: task.frameworkId },
    agent_id: { value: task.agentId },
    state: task.state,
    resources: allocatedResourcesJson(task.resources, task.role),
    statuses: task.statuses.map((s) => v1Status(task, s)),
    ...(task.statuses.length > 0 ? { status_update_state: task.state, ...(task.statusUuid === undefined ? {} : { status_update_uuid: task.statusUuid }) } : {}),
    ...(task.info.labels ? { labels: task.info.labels } : {}),
    ...(task.info.container ? { container: task.info.container } : {}),
    // Mesos' v1 Task carries it: port names, protocols and labels (VIP_n) for discovery and VIPs.
    ...(task.info.discovery ? { discovery: task.info.discovery } : {}),
  };
}

/** A kept status as the v1 TaskStatus it was (older statuses' uuids are not kept). */
export function v1Status(task: Pick<TaskRecord, 'id' | 'agentId'>, kept: KeptStatus): TaskStatus {
  return { task_id: { value: task.id }, agent_id: { value: task.agentId }, ...kept };
}

export function v1Agent(agent: AgentRecord): Record<string, unknown> {
  return {
    agent_info: { ...agent.info, id: { value: agent.id } },
    active: agent.status === 'active',
    version: '1.11.0',
    pid: `slave(1)@${agent.hostname}:${agent.port}`,
    registered_time: nanos(agent.registeredAt),
    ...(agent.reregisteredAt === undefined ? {} : { reregistered_time: nanos(agent.reregisteredAt) }),
    total_resources: agent.total.toJSON(),
    allocated_resources: agent.used.toJSON(),
    offered_resources: agent.offered.toJSON(),
    deactivated: agent.maintenance?.deactivated === true,
    ...(agent.maintenance?.drain ? { drain_info: agent.maintenance.drain } : {}),
  };
}

export function v1Framework(framework: FrameworkRecord): Record<string, unknown> {
  const connected = framework.stream?.isOpen === true;
  return {
    framework_info: framework.info,
    active: connected,
    connected,
    recovered: false,
    registered_time: nanos(framework.registeredAt),
    ...(framework.reregisteredAt === undefined ? {} : { reregistered_time: nanos(framework.reregisteredAt) }),
    ...(framework.unregisteredAt === undefined || connected ? {} : { unregistered_time: nanos(framework.unregisteredAt) }),
  };
}

/** Operator events, built where the master changes state. */
export const operatorEvents = {
  taskAdded: (task: TaskRecord) => ({ type: 'TASK_ADDED', task_added: { task: v1Task(task) } }),
  taskUpdated: (task: TaskRecord, status: TaskStatus) => ({
    type: 'TASK_UPDATED',
    task_updated: { framework_id: { value: task.frameworkId }, status, state: task.state },
  }),
  agentAdded: (agent: AgentRecord) => ({ type: 'AGENT_ADDED', agent_added: { agent: v1Agent(agent) } }),
  agentRemoved: (agent: AgentRecord) => ({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: agent.id } } }),
  frameworkAdded: (f: FrameworkRecord) => ({ type: 'FRAMEWORK_ADDED', framework_added: { framework: v1Framework(f) } }),
  frameworkUpdated: (f: FrameworkRecord) => ({ type: 'FRAMEWORK_UPDATED', framework_updated: { framework: v1Framework(f) } }),
  frameworkRemoved: (f: FrameworkRecord) => ({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: f.info } }),
};
