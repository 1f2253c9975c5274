/**
 * The master's in-memory view. The registry part (agents' infos, frameworks' infos) is persisted
 * in the store; tasks are rebuilt from agents' re-registration after a master restart, as in Mesos.
 */
import type { Resources } from '../resources/index.ts';
import type { AgentInfo, AttributeJson } from '../protocol/mesos/agent-link.ts';
import { canonicalEnum, type TaskState, type TaskStatusReason, type TaskStatusSource } from '../protocol/mesos/enums.ts';
import type { FrameworkInfo, TaskInfo, TaskStatus } from '../protocol/mesos/scheduler.ts';
import type { EventSink } from './stream.ts';
import type { TimerHandle } from '../clock/clock.ts';
import { sharedJson } from './interner.ts';
import type { AgentMaintenance } from './maintenance.ts';
import type { ReservedEntry } from './reservations.ts';

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
  /** Silent past the heartbeat limit, but held back from being marked unreachable (removal limits) since then. */
  removalHeldSince?: number;
  /**
   * When the agent was last known alive. For an agent that echoes the master's HEARTBEAT events
   * (`echoesHeartbeats`), as of the newest event it proves to have read: its calls alone do not
   * count, since they still arrive when the master's events no longer reach it.
   */
  lastSeen: number;
  /** It echoes HEARTBEAT events in its HEARTBEAT calls (agent-calls.ts `callingAgent`). */
  echoesHeartbeats?: boolean;
  /** modRevision of the agent's registry record: what its registry marker is checked against (stale-store.ts). */
  registryRevision?: number;
  stream?: EventSink;
  streamId?: string;
  /**
   * The address the agent's registration came from (its socket's remote address): the only
   * place the master reaches the agent at (the files relay), whatever hostname it claims.
   */
  address?: string;
  /** It proved its id with a certificate of the cluster CA (or got one at this registration): relays to it use mTLS. */
  certified?: boolean;
  /** The issuer (a CA's subject) of the certificate it presented or was given last: who still holds an old CA's (018-ca-rotation.md). */
  certificateIssuer?: string;
  /** Dynamic reservations and persistent volumes on it (reservations.ts); `total` has them applied. */
  reservations?: ReservedEntry[];
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
  failoverTimer?: TimerHandle;
}

/**
 * What the master keeps of a TaskInfo once the task is launched: what its views, DNS and kills
 * read. The command (with its environment), executor, health check and data went to the agent
 * and are not kept: at a million tasks they were most of the master's memory
 * (docs/architecture/006-scale.md). Mesos' master keeps a `Task`, not the `TaskInfo`, for the
 * same reason. The task's id, agent and resources are on the record itself; the rest is shared
 * between tasks with equal values (an app's tasks have the same labels, discovery, container).
 */
export type KeptTaskInfo = Pick<TaskInfo, 'name' | 'container' | 'kill_policy' | 'labels' | 'discovery' | 'health_check'>;

export function keptTaskInfo(info: TaskInfo): KeptTaskInfo {
  const kept: KeptTaskInfo = { name: sharedJson(info.name) };
  if (info.container !== undefined) kept.container = sharedJson(info.container);
  if (info.kill_policy !== undefined) kept.kill_policy = sharedJson(info.kill_policy);
  if (info.labels !== undefined) kept.labels = sharedJson(info.labels);
  if (info.discovery !== undefined) kept.discovery = sharedJson(info.discovery);
  // DNS publishes a task with a health check only once it is healthy (src/discovery).
  if (info.health_check !== undefined) kept.health_check = sharedJson(info.health_check);
  return kept;
}

/**
 * One status a task went through, as the master keeps it: no `task_id`/`agent_id` objects (the
 * record has both), enum strings shared. The views rebuild the v1 TaskStatus from it (`v1Status`).
 */
export interface KeptStatus {
  state: TaskState;
  timestamp?: number;
  source?: TaskStatusSource;
  reason?: TaskStatusReason;
  message?: string;
  healthy?: boolean;
  labels?: TaskStatus['labels'];
  container_status?: TaskStatus['container_status'];
}

export function keptStatus(status: TaskStatus): KeptStatus {
  const kept: KeptStatus = { state: canonicalEnum(status.state), timestamp: status.timestamp, source: canonicalEnum(status.source) };
  if (status.reason !== undefined) kept.reason = canonicalEnum(status.reason);
  if (status.message !== undefined) kept.message = status.message;
  if (status.healthy !== undefined) kept.healthy = status.healthy;
  if (status.labels !== undefined) kept.labels = status.labels;
  if (status.container_status !== undefined) kept.container_status = status.container_status;
  return kept;
}

export interface TaskRecord {
  id: string;
  frameworkId: string;
  agentId: string;
  /** keptTaskInfo() of the launched TaskInfo. */
  info: KeptTaskInfo;
  /** Shared between tasks with equal resources (interner.ts): never mutate. */
  resources: Resources;
  role: string;
  state: TaskState;
  /** Every status the task went through (the latest last), kept compact. */
  statuses: KeptStatus[];
  /** The latest status' uuid (the v1 view's `status_update_uuid`). */
  statusUuid: string | undefined;
  /** Sandbox on the agent, as the agent reported it. */
  directory: string | undefined;
  /** The secret paths its TaskInfo references (env and volumes): all an agent may resolve for it. */
  secretPaths?: readonly string[];
  /** The dynamically reserved resources and volumes its TaskInfo names (reservations.ts). */
  reserved?: readonly ReservedEntry[];
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
