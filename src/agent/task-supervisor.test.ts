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

  test('no command (and no image), a custom executor or an image that cannot be named cannot run here, and say why', () => {
    assert.equal(launchProblem(task({}))?.state, 'TASK_ERROR');
    assert.equal(launchProblem(task({ command: { value: '' } }))?.reason, 'REASON_TASK_INVALID');
    assert.match(launchProblem(task({ executor: { executor_id: { value: 'e' } } }))?.message ?? '', /executors/);
    // An image may say what to run itself; both of Mesos' forms name one.
    assert.equal(launchProblem(task({ container: { type: 'DOCKER', docker: { image: 'nginx' } } })), undefined);
    assert.equal(launchProblem(task({ container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'nginx' } } } } })), undefined);
    const appc = launchProblem(task({ container: { type: 'MESOS', mesos: { image: { type: 'APPC', appc: { name: 'x' } } } } }));
    assert.equal(appc?.reason, 'REASON_TASK_INVALID');
    assert.match(appc?.message ?? '', /container\.mesos\.image\.type APPC/);
    assert.match(launchProblem(task({ container: { type: 'DOCKER', docker: {} } }))?.message ?? '', /container\.docker\.image/);
  });

  test('an invalid health check is a TASK_ERROR naming the field; a valid one is fine', () => {
    const bad = launchProblem(task({ command: { value: 'x' }, health_check: { type: 'TCP', tcp: { port: 0 } } }));
    assert.equal(bad?.state, 'TASK_ERROR');
    assert.equal(bad?.reason, 'REASON_TASK_INVALID');
    assert.match(bad?.message ?? '', /^Invalid health check: tcp\.port/);
    assert.equal(launchProblem(task({ command: { value: 'x' }, health_check: { type: 'TCP', tcp: { port: 80 } } })), undefined);
  });
});
