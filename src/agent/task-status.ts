/**
 * The status updates the agent produces, as pure functions: what a task's state and message are
 * for each thing that can happen to it. Wording follows the Mesos command executor, since
 * framework authors grep their logs for it.
 */
import { randomBytes } from 'node:crypto';
import type { AgentStatusUpdate } from '../protocol/mesos/agent-link.ts';
import type { TaskState, TaskStatusReason, TaskStatusSource } from '../protocol/mesos/enums.ts';
import type { TaskStatus } from '../protocol/mesos/scheduler.ts';
import type { ExitStatus } from './containerizer/containerizer.ts';
import { describeExit } from './containerizer/exit-status.ts';

export interface StatusFields {
  state: TaskState;
  source: TaskStatusSource;
  message?: string;
  reason?: TaskStatusReason;
  containerId?: string;
  /** A health check's verdict (REASON_TASK_HEALTH_CHECK_STATUS_UPDATED updates). */
  healthy?: boolean;
  /** TaskStatus.labels (a health update's record: src/protocol/health-labels.ts). */
  labels?: TaskStatus['labels'];
  /** ContainerStatus.network_infos (TASK_RUNNING of a task on CNI networks); needs containerId. */
  networkInfos?: unknown[];
}

export interface StatusContext {
  frameworkId: string;
  taskId: string;
  agentId: string;
  /** Milliseconds since the epoch. */
  nowMs: number;
  /** 16 random bytes; injectable so tests can replay. */
  uuid?: Uint8Array;
  /** The task's sandbox, so the master's task history can point at its logs. */
  directory?: string;
}

export function statusUpdate(ctx: StatusContext, fields: StatusFields): AgentStatusUpdate {
  const status: TaskStatus = {
    task_id: { value: ctx.taskId },
    state: fields.state,
    source: fields.source,
    agent_id: { value: ctx.agentId },
    // Mesos timestamps are seconds as a double.
    timestamp: ctx.nowMs / 1000,
    uuid: Buffer.from(ctx.uuid ?? randomBytes(16)).toString('base64'),
  };
  if (fields.message !== undefined) status.message = fields.message;
  if (fields.reason !== undefined) status.reason = fields.reason;
  if (fields.healthy !== undefined) status.healthy = fields.healthy;
  if (fields.labels !== undefined) status.labels = fields.labels;
  if (fields.containerId !== undefined) {
    status.container_status = { container_id: { value: fields.containerId }, ...(fields.networkInfos === undefined ? {} : { network_infos: fields.networkInfos }) };
  }
  const update: AgentStatusUpdate = { framework_id: { value: ctx.frameworkId }, status };
  if (ctx.directory !== undefined) update.directory = ctx.directory;
  return update;
}

/**
 * How a task that ended is reported:
 * - the agent killed it (KILL, SHUTDOWN_FRAMEWORK): TASK_KILLED, whatever the exit code;
 * - exit 0: TASK_FINISHED; any other exit or a signal: TASK_FAILED, the code or signal in the
 *   message;
 * - the containerizer reports a limit hit (OOM kill): TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY,
 *   from SOURCE_AGENT as in Mesos;
 * - ended while no agent watched and left no exit record: TASK_FAILED, reason
 *   REASON_EXECUTOR_TERMINATED (the agent, not the task, is the source of that claim).
 */
export function terminalFields(exit: ExitStatus, killed: boolean, containerId?: string): StatusFields {
  const known = exit.exitCode !== undefined || exit.signal !== undefined;
  const base = containerId === undefined ? {} : { containerId };
  if (killed) return { ...base, state: 'TASK_KILLED', source: 'SOURCE_EXECUTOR', message: known ? describeExit(exit) : 'Task killed' };
  if (exit.limitation === 'memory') {
    return {
      ...base,
      state: 'TASK_FAILED',
      source: 'SOURCE_AGENT',
      reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
      message: `Memory limit exceeded (the task was OOM-killed); ${known ? describeExit(exit) : 'Command terminated'}`,
    };
  }
  if (!known) return { ...base, state: 'TASK_FAILED', source: 'SOURCE_AGENT', reason: 'REASON_EXECUTOR_TERMINATED', message: describeExit(exit) };
  if (exit.exitCode === 0) return { ...base, state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', message: describeExit(exit) };
  return { ...base, state: 'TASK_FAILED', source: 'SOURCE_EXECUTOR', message: describeExit(exit) };
}
