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

export interface TaskRecord {
  id: string;
  frameworkId: string;
  agentId: string;
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
