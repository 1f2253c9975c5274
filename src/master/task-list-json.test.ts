import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import { keptStatus, keptTaskInfo, type TaskRecord } from './model.ts';
import { BLOCK, TaskListCache, TaskListJson } from './task-list-json.ts';
import { taskToJson } from './views.ts';
import { EncodedArray, JoinedArray, serializeWithEncoded } from '../protocol/encoded-items.ts';

type State = 'TASK_STAGING' | 'TASK_RUNNING' | 'TASK_KILLED';
const status = (id: string, state: State, timestamp: number) =>
  keptStatus({ task_id: { value: id }, state, timestamp, source: 'SOURCE_EXECUTOR', ...(state === 'TASK_RUNNING' ? { healthy: true } : {}) });
const shared = Resources.parse('cpus:0.5;mem:64;ports:[31000-31001]');

function record(i: number): TaskRecord {
  const id = `t${i}`;
  return {
    id,
    frameworkId: 'fw',
    agentId: `a${i % 3}`,
    info: keptTaskInfo({ name: `web "é" ${i}`, task_id: { value: id }, agent_id: { value: 'a' }, resources: [], labels: { labels: [{ key: 'k', value: 'v' }] } }),
    resources: shared,
    role: '*',
    state: 'TASK_STAGING',
    statuses: [status(id, 'TASK_STAGING', i)],
    statusUuid: undefined,
    directory: undefined,
    createdAt: i,
  };
}

const text = (a: EncodedArray): string => serializeWithEncoded(a).toString('utf8');
const fresh = (tasks: TaskRecord[]): string => JSON.stringify(tasks.map(taskToJson));

test('a list is the JSON of its tasks, in either order, and is not made again while nothing changed', () => {
  for (const n of [0, 1, BLOCK, BLOCK * 2 + 7]) {
    const tasks = Array.from({ length: n }, (_, i) => record(i));
    const list = new TaskListJson();
    assert.equal(text(list.of(tasks)), fresh(tasks), `${n} tasks`);
    const made = list.made;
    assert.equal(text(list.of(tasks)), fresh(tasks));
    assert.equal(list.made, made, `${n} tasks: read again, nothing re-made`);
    const reversed = new TaskListJson();
    assert.equal(text(reversed.of(tasks, true)), fresh([...tasks].reverse()), `${n} tasks, newest first`);
    assert.deepEqual(list.of(tasks).toJSON(), JSON.parse(fresh(tasks)), 'toJSON: the same JSON');
  }
});

test('each way the master changes a task re-makes its block, and only its block (never a stale body)', () => {
  const tasks = Array.from({ length: BLOCK * 3 }, (_, i) => record(i));
  const list = new TaskListJson();
  list.of(tasks);
  const t = tasks[BLOCK + 5]!;
  const changes: Array<[string, () => void]> = [
    // master.ts applyStatus: the state, and a new statuses array
    [
      'a status',
      () => {
        t.state = 'TASK_RUNNING';
        t.statuses = t.statuses.slice(-15).concat([status(t.id, 'TASK_RUNNING', 1e6)]);
      },
    ],
    // agent-calls.ts: the sandbox the agent reports
    ['the sandbox', () => (t.directory = '/var/lib/drover/sandbox/x')],
    ['the agent', () => (t.agentId = 'elsewhere')],
    ['the resources', () => (t.resources = Resources.parse('cpus:1;mem:64'))],
    ['the info', () => (t.info = keptTaskInfo({ name: 'renamed', task_id: { value: t.id }, agent_id: { value: 'a' }, resources: [] }))],
    ['the role', () => (t.role = 'prod')],
    // the same id, a new record (re-registration): another record at that place
    ['the record', () => (tasks[BLOCK + 5] = { ...record(BLOCK + 5), state: 'TASK_RUNNING' })],
  ];
  for (const [what, change] of changes) {
    const made = list.made;
    change();
    assert.equal(text(list.of(tasks)), fresh(tasks), `${what}: equals the uncached JSON`);
    assert.equal(list.made, made + 1, `${what}: one block re-made`);
  }
});

test('a task added at the end re-makes one block, newest first too; a task removed is gone from the list', () => {
  const tasks = Array.from({ length: BLOCK * 2 + 3 }, (_, i) => record(i));
  const newestFirst = new TaskListJson();
  newestFirst.of(tasks, true);
  let made = newestFirst.made;
  tasks.push(record(9999));
  assert.equal(text(newestFirst.of(tasks, true)), fresh([...tasks].reverse()));
  assert.equal(newestFirst.made, made + 1);
  made = newestFirst.made;
  const [removed] = tasks.splice(10, 1);
  assert.equal(text(newestFirst.of(tasks, true)), fresh([...tasks].reverse()));
  assert.ok(!text(newestFirst.of(tasks, true)).includes(`"id":"${removed!.id}"`));
  assert.ok(newestFirst.made > made);
});

test('lists are kept by name; a joined array of kept and plain parts is JSON.stringify of them all', () => {
  const cache = new TaskListCache();
  const tasks = Array.from({ length: 5 }, (_, i) => record(i));
  const kept = cache.of('fw\u0000tasks', tasks);
  const made = cache.made;
  cache.of('fw\u0000tasks', tasks);
  assert.equal(cache.made, made);
  cache.of('fw\u0000tasks', tasks, true);
  assert.ok(cache.made > made, 'the other order is another list');
  const stored = [{ id: 'old', state: 'TASK_FINISHED' }];
  const payload = { tasks: new JoinedArray([kept, stored]), empty: new JoinedArray([new EncodedArray([]), []]), n: 1 };
  const plain = { tasks: [...tasks.map(taskToJson), ...stored], empty: [], n: 1 };
  assert.equal(serializeWithEncoded(payload).toString('utf8'), JSON.stringify(plain));
  assert.equal(JSON.stringify(payload), JSON.stringify(plain));
  assert.equal(serializeWithEncoded(new JoinedArray([stored, new EncodedArray([]), kept])).toString('utf8'), JSON.stringify([...stored, ...tasks.map(taskToJson)]));
});
