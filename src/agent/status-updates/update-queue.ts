/**
 * Which status updates go out next (pure). Each task has a queue of updates the master has not
 * acknowledged, oldest first. As in Mesos' status update manager, only the head of a queue is in
 * flight — the next update of a task is sent once the previous one is acknowledged, so a
 * framework sees a task's states in order — except that a terminal update is never held back
 * (agent-link.ts): a framework waiting for FINISHED should not wait out the retry backoff of a
 * lost RUNNING. Updates of all tasks that are due are sent together in one UPDATE call.
 */
import type { AgentStatusUpdate } from '../../protocol/mesos/agent-link.ts';
import { isTerminalState } from '../../protocol/mesos/enums.ts';

export interface QueuedUpdate {
  readonly update: AgentStatusUpdate;
  /** False until the update is on disk: an update is never sent before it is checkpointed. */
  persisted: boolean;
  /** Times it has been sent. */
  attempts: number;
  /** Clock time (ms) from which it may be (re)sent; 0 = as soon as possible. */
  dueAtMs: number;
}

/** The updates of one queue that may be in flight: the head, and any terminal update behind it. */
export function sendable(queue: readonly QueuedUpdate[]): QueuedUpdate[] {
  const head = queue[0];
  if (head === undefined) return [];
  const out = [head];
  for (let i = 1; i < queue.length; i++) {
    const queued = queue[i]!;
    if (isTerminalState(queued.update.status.state)) out.push(queued);
  }
  return out;
}

/** Every update, across queues, that may be sent at `nowMs`, in queue order, at most `limit`. */
export function dueUpdates(queues: Iterable<readonly QueuedUpdate[]>, nowMs: number, limit = Infinity): QueuedUpdate[] {
  const due: QueuedUpdate[] = [];
  for (const queue of queues) {
    for (const queued of sendable(queue)) {
      if (due.length >= limit) return due;
      if (queued.persisted && queued.dueAtMs <= nowMs) due.push(queued);
    }
  }
  return due;
}

/** The earliest time any sendable, persisted update becomes due; undefined if none will. */
export function nextDueAt(queues: Iterable<readonly QueuedUpdate[]>): number | undefined {
  let next: number | undefined;
  for (const queue of queues) {
    for (const queued of sendable(queue)) {
      if (queued.persisted && (next === undefined || queued.dueAtMs < next)) next = queued.dueAtMs;
    }
  }
  return next;
}
