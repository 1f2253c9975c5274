import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskState } from '../../protocol/mesos/enums.ts';
import { dueUpdates, nextDueAt, sendable, type QueuedUpdate } from './update-queue.ts';

function queued(taskId: string, state: TaskState, dueAtMs = 0, persisted = true): QueuedUpdate {
  return { update: { framework_id: { value: 'F' }, status: { task_id: { value: taskId }, state, uuid: `${taskId}-${state}` } }, persisted, attempts: 0, dueAtMs };
}

const states = (list: QueuedUpdate[]): string[] => list.map((q) => `${q.update.status.task_id.value}:${q.update.status.state}`);

describe('sendable', () => {
  test('only the head of a queue is in flight...', () => {
    assert.deepEqual(states(sendable([queued('t', 'TASK_STARTING'), queued('t', 'TASK_RUNNING')])), ['t:TASK_STARTING']);
  });

  test('...except a terminal update, which is never held back', () => {
    const queue = [queued('t', 'TASK_STARTING'), queued('t', 'TASK_RUNNING'), queued('t', 'TASK_FAILED')];
    assert.deepEqual(states(sendable(queue)), ['t:TASK_STARTING', 't:TASK_FAILED']);
  });

  test('an empty queue sends nothing', () => {
    assert.deepEqual(sendable([]), []);
  });
});

describe('dueUpdates', () => {
  test('gathers the due heads of every queue into one batch', () => {
    const queues = [
      [queued('a', 'TASK_RUNNING', 0), queued('a', 'TASK_FINISHED', 500)],
      [queued('b', 'TASK_STARTING', 100)],
      [queued('c', 'TASK_STARTING', 2000)],
      [queued('d', 'TASK_STARTING', 0, false)],
    ];
    // At 1000: a's head (due 0) and terminal (due 500), b (due 100); c is waiting out its backoff,
    // d is not on disk yet.
    assert.deepEqual(states(dueUpdates(queues, 1000)), ['a:TASK_RUNNING', 'a:TASK_FINISHED', 'b:TASK_STARTING']);
    assert.deepEqual(states(dueUpdates(queues, 1000, 2)), ['a:TASK_RUNNING', 'a:TASK_FINISHED']);
    assert.equal(nextDueAt(queues), 0);
    assert.equal(nextDueAt([[queued('c', 'TASK_STARTING', 2000)], [queued('d', 'TASK_STARTING', 0, false)]]), 2000);
    assert.equal(nextDueAt([]), undefined);
  });
});
