/**
 * The one table of allowed task state transitions (Diego BBS style). Every status update the
 * master applies goes through `transition`, which returns `{before, after}` so events can be
 * emitted without re-reading, or a reason the update is refused.
 *
 * Why these edges:
 * - Terminal states are final: a late RUNNING after FINISHED is a stale, reordered update.
 * - LOST and UNREACHABLE are not final: a partitioned agent that re-registers may report the task
 *   RUNNING again (Mesos: "TASK_LOST ... might transition to TASK_RUNNING").
 * - A state may repeat (RUNNING → RUNNING carries health changes).
 * - STAGING is only ever the first state; nothing goes back to it.
 */
import { isTerminalState, type TaskState } from '../../protocol/mesos/enums.ts';

const NON_TERMINAL_TARGETS: Record<TaskState, readonly TaskState[]> = {
  TASK_STAGING: ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_STARTING: ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_RUNNING: ['TASK_RUNNING', 'TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_KILLING: ['TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_LOST: ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_UNREACHABLE: ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_UNKNOWN: ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_LOST', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  TASK_FINISHED: [],
  TASK_FAILED: [],
  TASK_KILLED: [],
  TASK_ERROR: [],
  TASK_DROPPED: [],
  TASK_GONE: [],
  TASK_GONE_BY_OPERATOR: [],
};

export type Transition = { ok: true; before: TaskState; after: TaskState } | { ok: false; before: TaskState; after: TaskState; reason: string };

export function canTransition(before: TaskState, after: TaskState): boolean {
  if (isTerminalState(before)) return false;
  // Any live task may end, in any terminal state.
  if (isTerminalState(after)) return true;
  return NON_TERMINAL_TARGETS[before].includes(after);
}

export function transition(before: TaskState, after: TaskState): Transition {
  if (canTransition(before, after)) return { ok: true, before, after };
  const reason = isTerminalState(before) ? `task is already ${before}, which is terminal` : `a task cannot go from ${before} back to ${after}`;
  return { ok: false, before, after, reason };
}
