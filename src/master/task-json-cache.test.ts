import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import { keptStatus, keptTaskInfo, type TaskRecord } from './model.ts';
import { TaskJsonCache } from './task-json-cache.ts';
import { taskToJson } from './views.ts';
import { serializeWithEncoded } from '../protocol/encoded-items.ts';

const status = (state: 'TASK_STAGING' | 'TASK_RUNNING' | 'TASK_KILLED', timestamp: number) =>
  keptStatus({ task_id: { value: 't1' }, state, timestamp, source: 'SOURCE_EXECUTOR', ...(state === 'TASK_RUNNING' ? { healthy: true } : {}) });

function record(): TaskRecord {
  return {
    id: 't1',
    frameworkId: 'fw',
    agentId: 'a1',
    info: keptTaskInfo({ name: 'web "é"', task_id: { value: 't1' }, agent_id: { value: 'a1' }, resources: [], labels: { labels: [{ key: 'k', value: 'v' }] } }),
    resources: Resources.parse('cpus:0.5;mem:64;ports:[31000-31001]'),
    role: '*',
    state: 'TASK_STAGING',
    statuses: [status('TASK_STAGING', 1)],
    statusUuid: undefined,
    directory: undefined,
    createdAt: 1,
  };
}

const fresh = (task: TaskRecord): string => JSON.stringify(taskToJson(task));

test("a task's item is its taskToJson, kept while the record is unchanged", () => {
  const cache = new TaskJsonCache();
  const task = record();
  const item = cache.item(task);
  assert.equal(item.text, fresh(task));
  assert.equal(cache.item(task), item, 'unchanged: the same bytes, not made again');
  assert.deepEqual(item.toJSON(), JSON.parse(fresh(task)));
});

test('each way the master changes a record makes its item again (never a stale body)', () => {
  const cache = new TaskJsonCache();
  const task = record();
  const changes: Array<[string, () => void]> = [
    // master.ts applyStatus: state, and a new statuses array
    [
      'a status',
      () => {
        task.state = 'TASK_RUNNING';
        task.statuses = task.statuses.slice(-15).concat([status('TASK_RUNNING', 2)]);
      },
    ],
    // agent-calls.ts: the sandbox the agent reports
    ['the sandbox', () => (task.directory = '/var/lib/drover/sandbox/t1')],
    // re-registration on another agent id (records are replaced, but the cache must not depend on it)
    ['the agent', () => (task.agentId = 'a2')],
    ['the resources', () => (task.resources = Resources.parse('cpus:1;mem:64'))],
    ['the info', () => (task.info = keptTaskInfo({ name: 'renamed', task_id: { value: 't1' }, agent_id: { value: 'a2' }, resources: [] }))],
    ['the role', () => (task.role = 'prod')],
    [
      'an end',
      () => {
        task.state = 'TASK_KILLED';
        task.statuses = task.statuses.concat([status('TASK_KILLED', 3)]);
      },
    ],
  ];
  let before = cache.item(task);
  for (const [what, change] of changes) {
    change();
    const after = cache.item(task);
    assert.notEqual(after, before, `${what}: made again`);
    assert.equal(after.text, fresh(task), `${what}: equals the uncached JSON`);
    before = after;
  }
});

test('a list of items serialises as JSON.stringify of the uncached objects', () => {
  const cache = new TaskJsonCache();
  const tasks = [record(), { ...record(), id: 't2', directory: '/d' }, { ...record(), id: 't3', state: 'TASK_RUNNING' as const }];
  const payload = { frameworks: [{ id: 'fw', tasks: tasks.map((t) => cache.item(t)), completed_tasks: [] }], other: [1, 'x'] };
  const plain = { frameworks: [{ id: 'fw', tasks: tasks.map(taskToJson), completed_tasks: [] }], other: [1, 'x'] };
  assert.equal(serializeWithEncoded(payload).toString('utf8'), JSON.stringify(plain));
  // Anything that does not know the type gets the same JSON through toJSON.
  assert.equal(JSON.stringify(payload), JSON.stringify(plain));
});
