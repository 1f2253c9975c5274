import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatusUpdate } from '../../protocol/mesos/agent-link.ts';
import type { TaskState } from '../../protocol/mesos/enums.ts';
import { ManualClock } from '../../clock/clock.ts';
import { silentLogger } from '../../log/index.ts';
import { StatusUpdateManager } from './status-update-manager.ts';

function update(taskId: string, state: TaskState, uuid: string): AgentStatusUpdate {
  return { framework_id: { value: 'F' }, status: { task_id: { value: taskId }, state, uuid } };
}

function harness(accept = true) {
  const clock = new ManualClock(1_000_000);
  const sent: AgentStatusUpdate[][] = [];
  const persisted = new Map<string, string[]>();
  const writes: Array<{ taskId: string; uuids: string[]; durable: boolean }> = [];
  const drained: string[] = [];
  const manager = new StatusUpdateManager({
    send: async (updates) => {
      sent.push(updates);
      return accept;
    },
    persist: async (_fw, taskId, updates, durable) => {
      persisted.set(
        taskId,
        updates.map((u) => u.status.uuid!),
      );
      writes.push({ taskId, uuids: updates.map((u) => u.status.uuid!), durable });
    },
    onDrained: (_fw, taskId) => drained.push(taskId),
    backoff: { initialMs: 30, maxMs: 60 },
    clock,
    logger: silentLogger(),
  });
  /** Moves the manual clock by `ms`, then lets the flush it started (an async send) finish. */
  const step = async (ms = 0): Promise<void> => {
    clock.advance(ms);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { manager, sent, persisted, writes, drained, step };
}

const uuids = (batch: AgentStatusUpdate[] | undefined): string[] => (batch ?? []).map((u) => u.status.uuid!);

describe('StatusUpdateManager', () => {
  test('nothing is sent before resume (registration); then due updates go out in one batch', async () => {
    const { manager, sent, persisted, step } = harness();
    await manager.add(update('a', 'TASK_STARTING', 'a1'));
    await manager.add(update('b', 'TASK_STARTING', 'b1'));
    await manager.add(update('a', 'TASK_RUNNING', 'a2'));
    assert.deepEqual(persisted.get('a'), ['a1', 'a2'], 'checkpointed before sending');
    await step(60_000);
    assert.equal(sent.length, 0);
    manager.resume();
    await step();
    assert.equal(sent.length, 1);
    assert.deepEqual(uuids(sent[0]), ['a1', 'b1'], "one batch, and a2 waits for a1's acknowledgement");
    manager.close();
  });

  test('only terminal updates are fsynced; an acknowledgement releases the next update at once and its removal is not fsynced', async () => {
    const { manager, sent, writes, step } = harness();
    manager.resume();
    await manager.add(update('a', 'TASK_STARTING', 'a1'));
    await manager.add(update('a', 'TASK_RUNNING', 'a2'));
    await manager.add(update('a', 'TASK_FINISHED', 'a3'));
    assert.deepEqual(
      writes.map((w) => w.durable),
      [false, false, true],
      'a machine crash ends the task: only how it ended must survive one',
    );
    await step();
    // The terminal a3 goes along at once (update-queue.ts: a framework waiting for the end should
    // not wait out a1's retries); a2 waits for a1's acknowledgement.
    assert.deepEqual(sent.map(uuids), [['a1', 'a3']]);
    await manager.acknowledge('F', 'a', 'a1');
    // At once: no time passes, so nothing is sent again for its backoff (30 ms).
    await step();
    assert.deepEqual(sent.map(uuids), [['a1', 'a3'], ['a2']], 'a2 sent after the acknowledgement');
    assert.deepEqual(writes.at(-1), { taskId: 'a', uuids: ['a2', 'a3'], durable: false });
    manager.close();
  });

  test('retries until acknowledged; the acknowledgement releases the next update and drains the queue', async () => {
    const { manager, sent, persisted, drained, step } = harness();
    manager.resume();
    await manager.add(update('a', 'TASK_STARTING', 'a1'));
    await manager.add(update('a', 'TASK_RUNNING', 'a2'));
    await step();
    assert.deepEqual(sent.map(uuids), [['a1']]);
    assert.equal(manager.unacknowledged(), 2);
    await step(29);
    assert.equal(sent.length, 1, 'the backoff (30 ms) has not passed');
    await step(1);
    assert.deepEqual(sent.map(uuids), [['a1'], ['a1']], 'a retry of a1, and a2 waits for its acknowledgement');
    assert.equal(await manager.acknowledge('F', 'a', 'a1'), true);
    assert.equal(await manager.acknowledge('F', 'a', 'a1'), false, 'a duplicate acknowledgement is ignored');
    await step();
    assert.deepEqual(
      sent.at(-1)?.map((u) => u.status.uuid),
      ['a2'],
    );
    assert.deepEqual(persisted.get('a'), ['a2']);
    assert.equal(manager.unacknowledged(), 1);
    await manager.acknowledge('F', 'a', 'a2');
    assert.deepEqual(persisted.get('a'), []);
    assert.deepEqual(drained, ['a']);
    assert.equal(manager.unacknowledged(), 0);
    const count = sent.length;
    await step(10 * 60_000);
    assert.equal(sent.length, count, 'nothing left to retry');
    manager.close();
  });

  test('recovered queues are re-sent after resume; transient updates are not checkpointed', async () => {
    const { manager, sent, persisted, step } = harness(false);
    manager.recover('F', 'r', [update('r', 'TASK_RUNNING', 'r1')]);
    await manager.add(update('ghost', 'TASK_LOST', 'g1'), { transient: true });
    assert.equal(persisted.has('ghost'), false);
    manager.resume();
    await step();
    assert.deepEqual(sent.map(uuids), [['r1', 'g1']]);
    manager.pause();
    await step(10 * 60_000);
    assert.equal(sent.length, 1, 'nothing is sent while disconnected (the master refused the first batch, so both are due again)');
    manager.close();
  });
});
