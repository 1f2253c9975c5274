/**
 * Who ended a task: the task itself (it exited, crashed, was OOM-killed, could not start), or the
 * machine under it (the agent restarted or was removed, the agent or master lost it, it was
 * preempted or killed for maintenance). Pure, from Mesos' TaskStatus `state`, `reason` and
 * `source` (include/mesos/v1/mesos.proto). Only the task's own failures count toward an app's
 * backoff and crash-loop stop: ten young tasks on an agent that died are not ten crashes.
 */
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';

export type LossCause = 'task' | 'machine';

/**
 * States that in Mesos always mean the machine, never the task: it was dropped before it started,
 * its agent is gone (removed, rebooted into a new id, marked gone by an operator), or unreachable.
 */
const MACHINE_STATES: ReadonlySet<string> = new Set(['TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_LOST', 'TASK_UNREACHABLE']);

/** Reasons that name the agent, the master or the operator, whatever the state. */
const MACHINE_REASONS: ReadonlySet<string> = new Set([
  'REASON_AGENT_DISCONNECTED',
  'REASON_AGENT_REMOVED',
  'REASON_AGENT_REMOVED_BY_OPERATOR',
  'REASON_AGENT_REREGISTERED',
  'REASON_AGENT_RESTARTED',
  'REASON_AGENT_UNKNOWN',
  'REASON_MASTER_DISCONNECTED',
  'REASON_CONTAINER_PREEMPTED',
  'REASON_TASK_KILLED_DURING_LAUNCH',
  'REASON_INVALID_OFFERS',
  'REASON_RESOURCES_UNKNOWN',
  'REASON_EXECUTOR_REREGISTRATION_TIMEOUT',
  'REASON_FRAMEWORK_REMOVED',
  // Not in Mesos' enum (a reboot is TASK_GONE there), accepted should an agent send it.
  'REASON_AGENT_REBOOTED',
]);

export function lossCause(status: Pick<TaskStatus, 'state' | 'reason' | 'source'>): LossCause {
  if (MACHINE_STATES.has(status.state)) return 'machine';
  const reason = status.reason as string | undefined;
  if (reason !== undefined && MACHINE_REASONS.has(reason)) return 'machine';
  // The agent's claim that the task's process ended while nobody watched it and left no exit
  // status (src/agent/task-status.ts terminalFields): the agent died, and took the task with it.
  // From the executor (the task's own process) the same reason would be the task's.
  if (reason === 'REASON_EXECUTOR_TERMINATED' && status.source === 'SOURCE_AGENT') return 'machine';
  return 'task';
}
