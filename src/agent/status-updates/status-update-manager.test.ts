import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatusUpdate } from '../../protocol/mesos/agent-link.ts';
import type { TaskState } from '../../protocol/mesos/enums.ts';
import { silentLogger } from '../../log/index.ts';
import { StatusUpdateManager } from './status-update-manager.ts';

function update(taskId: string, state: TaskState, uuid: string): AgentStatusUpdate {
  return { framework_id: { value: 'F' }, status: { task_id: { value: taskId }, state, uuid } };
}

function harness(accept = true) {
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
      persisted.set(taskId, updates.map((u) => u.status.uuid!));
      writes.push({ taskId, uuids: updates.map((u) => u.status.uuid!), durable });
    },
    onDrained: (_fw, taskId) => drained.push(taskId),
    backoff: { initialMs: 30, maxMs: 60 },
    clock: { now: () => Date.now() },
    logger: silentLogger(),
  });
  return { manager, sent, persisted, writes, drained };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const uuids = (batch: AgentStatusUpdate[] | undefined): string[] => (batch ?? []).map((u) => u.status.uuid!);

describe('StatusUpdateManager', () => {
  test('nothing is sent before resume (registration); then due updates go out in one batch', async () => {
    const { manager, sent, persisted } = harness();
    await manager.add(update('a', 'TASK_STARTING', 'a1'));
    await manager.add(update('b', 'TASK_STARTING', 'b1'));
    await manager.add(update('a', 'TASK_RUNNING', 'a2'));
    assert.deepEqual(persisted.get('a'), ['a1', 'a2'], 'checkpointed before sending');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(sent.length, 0);
    manager.resume();
    await until(() => sent.length >= 1, 'a batch');
    assert.deepEqual(uuids(sent[0]), ['a1', 'b1'], "one batch, and a2 waits for a1's acknowledgement");
    manager.close();
  });

  test('only terminal updates are fsynced; an acknowledgement releases the next update at once and its removal is not fsynced', async () => {
    const { manager, sent, writes } = harness();
    manager.resume();
    await manager.add(update('a', 'TASK_STARTING', 'a1'));
    await manager.add(update('a', 'TASK_RUNNING', 'a2'));
    await manager.add(update('a', 'TASK_FINISHED', 'a3'));
    assert.deepEqual(writes.map((w) => w.durable), [false, false, true], 'a machine crash ends the task: only how it ended must survive one');
    await until(() => sent.length >= 1, 'a1 sent');
    await manager.acknowledge('F', 'a', 'a1');
    await until(() => sent.some((b) => uuids(b).includes('a2')), 'a2 sent after the acknowledgement');
    assert.deepEqual(writes.at(-1), { taskId: 'a', uuids: ['a2', 'a3'], durable: false });
    manager.close();
  });

  test('retries until acknowledged; the acknowledgement releases the next update and drains the queue', async () => {
    const { manager, sent, persisted, drained } = harness();
    manager.resume();
    await manager.add(update('a', 'TASK_STARTING', 'a1'));
    await manager.add(update('a', 'TASK_RUNNING', 'a2'));
    await until(() => sent.filter((b) => uuids(b).includes('a1')).length >= 2, 'a retry of a1');
    assert.ok(!sent.some((b) => uuids(b).includes('a2')));
    assert.equal(await manager.acknowledge('F', 'a', 'a1'), true);
    assert.equal(await manager.acknowledge('F', 'a', 'a1'), false, 'a duplicate acknowledgement is ignored');
    await until(() => sent.some((b) => uuids(b).includes('a2')), 'a2 sent');
    assert.deepEqual(persisted.get('a'), ['a2']);
    await manager.acknowledge('F', 'a', 'a2');
    assert.deepEqual(persisted.get('a'), []);
    assert.deepEqual(drained, ['a']);
    const count = sent.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(sent.length, count, 'nothing left to retry');
    manager.close();
  });

  test('recovered queues are re-sent after resume; transient updates are not checkpointed', async () => {
    const { manager, sent, persisted } = harness(false);
    manager.recover('F', 'r', [update('r', 'TASK_RUNNING', 'r1')]);
    await manager.add(update('ghost', 'TASK_LOST', 'g1'), { transient: true });
    assert.equal(persisted.has('ghost'), false);
    manager.resume();
    await until(() => sent.length >= 1, 'a batch');
    assert.deepEqual(uuids(sent[0]), ['r1', 'g1']);
    manager.pause();
    const count = sent.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sent.length, count, 'nothing is sent while disconnected');
    manager.close();
  });
});
