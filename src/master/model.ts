/**
 * The master's in-memory view. The registry part (agents' infos, frameworks' infos) is persisted
 * in the store; tasks are rebuilt from agents' re-registration after a master restart, as in Mesos.
 */
import type { Resources } from '../resources/index.ts';
import type { AgentInfo, AttributeJson } from '../protocol/mesos/agent-link.ts';
import type { TaskState } from '../protocol/mesos/enums.ts';
import type { FrameworkInfo, TaskInfo, TaskStatus } from '../protocol/mesos/scheduler.ts';
import type { EventSink } from './stream.ts';
import type { AgentMaintenance } from './maintenance.ts';

export interface AgentRecord {
  id: string;
  info: AgentInfo;
  hostname: string;
  port: number;
  total: Resources;
  attributes: AttributeJson[];
  /** Resources of non-terminal tasks. */
  used: Resources;
  /** Resources out in offers. */
  offered: Resources;
  status: 'active' | 'unreachable' | 'recovering';
  /** Set while deactivated or draining (operator maintenance): no offers. */
  maintenance?: AgentMaintenance;
  registeredAt: number;
  reregisteredAt?: number;
  unreachableAt?: number;
  lastSeen: number;
  stream?: EventSink;
  streamId?: string;
}

export interface FrameworkRecord {
  id: string;
  info: FrameworkInfo;
  roles: string[];
  partitionAware: boolean;
  killingState: boolean;
  failoverTimeoutMs: number;
  suppressedRoles: Set<string>;
  /** agentId → until (ms): refusal filters from DECLINE/ACCEPT `refuse_seconds`. */
  refusals: Map<string, number>;
  registeredAt: number;
  reregisteredAt?: number;
  unregisteredAt?: number;
  stream?: EventSink;
  streamId?: string;
  /** Set while disconnected: when the framework will be torn down. */
  failoverDeadline?: number;
  failoverTimer?: NodeJS.Timeout;
}

/**
 * What the master keeps of a TaskInfo once the task is launched: what its views, DNS, kills and
 * reconciliation read. The command (with its environment), executor, health check and data went
 * to the agent and are not kept: at a million tasks they were most of the master's memory
 * (docs/architecture/006-scale.md). Mesos' master keeps a `Task`, not the `TaskInfo`, for the same reason.
 */
export function keptTaskInfo(info: TaskInfo): TaskInfo {
  const kept: TaskInfo = { name: info.name, task_id: info.task_id, agent_id: info.agent_id, resources: info.resources };
  if (info.container !== undefined) kept.container = info.container;
  if (info.kill_policy !== undefined) kept.kill_policy = info.kill_policy;
  if (info.labels !== undefined) kept.labels = info.labels;
  if (info.discovery !== undefined) kept.discovery = info.discovery;
  return kept;
}

export interface TaskRecord {
  id: string;
  frameworkId: string;
  agentId: string;
  /** keptTaskInfo() of the launched TaskInfo. */
  info: TaskInfo;
  resources: Resources;
  role: string;
  state: TaskState;
  /** Every status the task went through (the latest last); uuids kept for acknowledgements. */
  statuses: TaskStatus[];
  /** Sandbox on the agent, as the agent reported it. */
  directory?: string;
  createdAt: number;
}

export interface OfferRecord {
  id: string;
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resources;
  createdAt: number;
}
