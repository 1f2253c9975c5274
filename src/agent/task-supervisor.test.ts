import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskInfo } from '../protocol/mesos/scheduler.ts';
import { launchProblem } from './task-supervisor.ts';

const task = (extra: Partial<TaskInfo>): TaskInfo => ({ name: 't', task_id: { value: 't' }, agent_id: { value: 'S' }, resources: [], ...extra });

describe('launchProblem', () => {
  test('a command task is fine', () => {
    assert.equal(launchProblem(task({ command: { value: 'true' } })), undefined);
    assert.equal(launchProblem(task({ command: { value: 'true' }, container: { type: 'MESOS' } })), undefined);
  });

  test('no command, a custom executor or an image cannot run here, and say why', () => {
    assert.equal(launchProblem(task({}))?.state, 'TASK_ERROR');
    assert.equal(launchProblem(task({ command: { value: '' } }))?.reason, 'REASON_TASK_INVALID');
    assert.match(launchProblem(task({ executor: { executor_id: { value: 'e' } } }))?.message ?? '', /executors/);
    assert.equal(launchProblem(task({ command: { value: 'x' }, container: { type: 'DOCKER', docker: { image: 'nginx' } } }))?.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
  });

  test('an invalid health check is a TASK_ERROR naming the field; a valid one is fine', () => {
    const bad = launchProblem(task({ command: { value: 'x' }, health_check: { type: 'TCP', tcp: { port: 0 } } }));
    assert.equal(bad?.state, 'TASK_ERROR');
    assert.equal(bad?.reason, 'REASON_TASK_INVALID');
    assert.match(bad?.message ?? '', /^Invalid health check: tcp\.port/);
    assert.equal(launchProblem(task({ command: { value: 'x' }, health_check: { type: 'TCP', tcp: { port: 80 } } })), undefined);
  });
});
