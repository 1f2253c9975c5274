import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statusUpdate, terminalFields } from './task-status.ts';

describe('terminalFields', () => {
  test('exit 0 is FINISHED, any other code FAILED with the code in the message', () => {
    assert.deepEqual(terminalFields({ exitCode: 0 }, false), { state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', message: 'Command exited with status 0' });
    assert.deepEqual(terminalFields({ exitCode: 1 }, false), { state: 'TASK_FAILED', source: 'SOURCE_EXECUTOR', message: 'Command exited with status 1' });
  });

  test('a signal the agent did not send is FAILED; anything after a kill is KILLED', () => {
    assert.equal(terminalFields({ signal: 'SIGSEGV' }, false).message, 'Command terminated with signal SIGSEGV');
    assert.equal(terminalFields({ signal: 'SIGSEGV' }, false).state, 'TASK_FAILED');
    assert.equal(terminalFields({ signal: 'SIGTERM' }, true).state, 'TASK_KILLED');
    assert.equal(terminalFields({ exitCode: 0 }, true).state, 'TASK_KILLED');
    assert.equal(terminalFields({}, true).message, 'Task killed');
  });

  test('an unknown end is FAILED by the agent, not the executor', () => {
    const fields = terminalFields({}, false, 'c1');
    assert.equal(fields.state, 'TASK_FAILED');
    assert.equal(fields.source, 'SOURCE_AGENT');
    assert.equal(fields.reason, 'REASON_EXECUTOR_TERMINATED');
    assert.equal(fields.containerId, 'c1');
  });
});

describe('terminalFields with a containerizer limitation', () => {
  test('an OOM kill is FAILED with REASON_CONTAINER_LIMITATION_MEMORY, unless the agent was killing the task', () => {
    const fields = terminalFields({ signal: 'SIGKILL', limitation: 'memory' }, false, 'c1');
    assert.deepEqual(fields, {
      containerId: 'c1',
      state: 'TASK_FAILED',
      source: 'SOURCE_AGENT',
      reason: 'REASON_CONTAINER_LIMITATION_MEMORY',
      message: 'Memory limit exceeded (the task was OOM-killed); Command terminated with signal SIGKILL',
    });
    assert.equal(terminalFields({ limitation: 'memory' }, false).reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
    assert.equal(terminalFields({ signal: 'SIGKILL', limitation: 'memory' }, true).state, 'TASK_KILLED');
  });
});

describe('statusUpdate', () => {
  test('a Mesos TaskStatus: base64 uuid of 16 bytes, seconds timestamp, agent id, no executor id', () => {
    const uuid = new Uint8Array(16).fill(7);
    const update = statusUpdate({ frameworkId: 'F1', taskId: 't1', agentId: 'S1', nowMs: 1_500, uuid, directory: '/sandbox' }, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', containerId: 'c1' });
    assert.deepEqual(update, {
      framework_id: { value: 'F1' },
      directory: '/sandbox',
      status: {
        task_id: { value: 't1' },
        state: 'TASK_RUNNING',
        source: 'SOURCE_EXECUTOR',
        agent_id: { value: 'S1' },
        timestamp: 1.5,
        uuid: Buffer.from(uuid).toString('base64'),
        container_status: { container_id: { value: 'c1' } },
      },
    });
  });

  test('every update gets a fresh uuid', () => {
    const ctx = { frameworkId: 'F1', taskId: 't1', agentId: 'S1', nowMs: 0 };
    const a = statusUpdate(ctx, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR' });
    const b = statusUpdate(ctx, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR' });
    assert.notEqual(a.status.uuid, b.status.uuid);
    assert.equal(Buffer.from(a.status.uuid!, 'base64').length, 16);
  });
});
