import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../log/index.ts';
import type { TaskInfo, TaskStatus } from '../protocol/mesos/scheduler.ts';
import { Resources } from '../resources/index.ts';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import { sharedJson, sharedResources } from './interner.ts';
import { Master } from './master.ts';
import { keptStatus, keptTaskInfo, type TaskRecord } from './model.ts';
import { taskToJson } from './views.ts';
import { operatorEvents, v1Task } from './views-v1.ts';

const info = (id: string, port: number): TaskInfo => ({
  name: 'web',
  task_id: { value: id },
  agent_id: { value: 'A1' },
  resources: Resources.parse(`cpus:0.1;mem:128;ports:[${port}-${port}]`).toJSON(),
  command: { value: 'sleep 3600', environment: { variables: [{ name: 'PORT', value: String(port) }] } },
  labels: { labels: [{ key: 'team', value: 'a' }] },
  discovery: { visibility: 'FRAMEWORK', name: 'web', ports: { ports: [{ number: port, protocol: 'tcp' }] } },
});

// A status as it arrives from an agent: parsed from JSON, so every string is a fresh copy.
const fromAgent = (id: string, state: string, extra: Partial<TaskStatus> = {}): TaskStatus =>
  JSON.parse(JSON.stringify({ task_id: { value: id }, agent_id: { value: 'A1' }, state, source: 'SOURCE_EXECUTOR', timestamp: 1700000000.5, uuid: `u-${state}`, ...extra })) as TaskStatus;

function record(master: Master, id: string, port: number): TaskRecord {
  const launched = info(id, port);
  const task: TaskRecord = {
    id,
    frameworkId: 'F1',
    agentId: 'A1',
    info: keptTaskInfo(launched),
    resources: sharedResources(Resources.fromJSON(launched.resources)),
    role: '*',
    state: 'TASK_STAGING',
    statuses: [],
    statusUuid: undefined,
    directory: undefined,
    createdAt: 0,
  };
  master.tasks.set(task);
  return task;
}

test('the views show the same fields from the compact statuses as from whole TaskStatuses', () => {
  const master = new Master({ store: createMemoryStore(), logger: silentLogger(), hostname: 'test', port: 5050 });
  const task = record(master, 't1', 31000);
  master.applyStatus(task, fromAgent('t1', 'TASK_STARTING'));
  master.applyStatus(task, fromAgent('t1', 'TASK_RUNNING', { healthy: true, message: 'up' }));

  // /master/state and /master/tasks: state, timestamp, and message/reason/healthy when present.
  const legacy = taskToJson(task);
  assert.deepEqual(legacy['statuses'], [
    { state: 'TASK_STARTING', timestamp: 1700000000.5 },
    { state: 'TASK_RUNNING', timestamp: 1700000000.5, message: 'up', healthy: true },
  ]);
  assert.deepEqual(legacy['labels'], [{ key: 'team', value: 'a' }]);
  assert.deepEqual(legacy['discovery'], { visibility: 'FRAMEWORK', name: 'web', ports: { ports: [{ number: 31000, protocol: 'tcp' }] } });
  assert.equal(legacy['state'], 'TASK_RUNNING');

  // v1 GET_TASKS: whole TaskStatuses again (ids rebuilt from the record), the latest uuid.
  const v1 = v1Task(task);
  assert.deepEqual(v1['statuses'], [
    { task_id: { value: 't1' }, agent_id: { value: 'A1' }, state: 'TASK_STARTING', source: 'SOURCE_EXECUTOR', timestamp: 1700000000.5 },
    { task_id: { value: 't1' }, agent_id: { value: 'A1' }, state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', timestamp: 1700000000.5, message: 'up', healthy: true },
  ]);
  assert.equal(v1['status_update_state'], 'TASK_RUNNING');
  assert.equal(v1['status_update_uuid'], 'u-TASK_RUNNING');

  // TASK_UPDATED carries the status as it came, uuid included.
  const event = operatorEvents.taskUpdated(task, fromAgent('t1', 'TASK_RUNNING'));
  assert.equal((event.task_updated.status as TaskStatus).uuid, 'u-TASK_RUNNING');
});

test("kept statuses and task state use the module's enum strings, not the parsed copies", () => {
  const master = new Master({ store: createMemoryStore(), logger: silentLogger(), hostname: 'test', port: 5050 });
  const a = record(master, 'a', 31000);
  const b = record(master, 'b', 31001);
  master.applyStatus(a, fromAgent('a', 'TASK_RUNNING'));
  master.applyStatus(b, fromAgent('b', 'TASK_RUNNING'));
  // Equal strings are always ===; what is checked is that only the kept fields remain.
  assert.deepEqual(Object.keys(a.statuses[0]!).sort(), ['source', 'state', 'timestamp']);
  assert.deepEqual(keptStatus(fromAgent('a', 'TASK_FAILED', { reason: 'REASON_COMMAND_EXECUTOR_FAILED' })), {
    state: 'TASK_FAILED',
    timestamp: 1700000000.5,
    source: 'SOURCE_EXECUTOR',
    reason: 'REASON_COMMAND_EXECUTOR_FAILED',
  });
});

test('tasks with equal resources, labels and discovery share one instance of each', () => {
  const master = new Master({ store: createMemoryStore(), logger: silentLogger(), hostname: 'test', port: 5050 });
  const a = record(master, 'a', 31000);
  const b = record(master, 'b', 31000); // same port on another agent: the same bag
  const c = record(master, 'c', 31001);
  assert.equal(a.resources, b.resources);
  assert.notEqual(a.resources, c.resources);
  assert.equal(a.info.labels, c.info.labels);
  assert.equal(a.info.discovery, b.info.discovery);
  // Discovery differing in the port shares its name and everything else it can.
  assert.notEqual(a.info.discovery, c.info.discovery);
  assert.equal(a.info.discovery!.name, c.info.discovery!.name);
  // The command and environment are not kept at all.
  assert.deepEqual(Object.keys(a.info).sort(), ['discovery', 'labels', 'name']);
  assert.deepEqual(sharedJson({ x: [1, 'y'] }), { x: [1, 'y'] });
});

test('the task table finds, lists and removes tasks by framework and id', () => {
  const master = new Master({ store: createMemoryStore(), logger: silentLogger(), hostname: 'test', port: 5050 });
  const a = record(master, 'a', 31000);
  record(master, 'b', 31001);
  assert.equal(master.tasks.size, 2);
  assert.equal(master.findTask('F1', 'a'), a);
  assert.equal(master.findTask('F2', 'a'), undefined);
  assert.deepEqual(
    master.tasks
      .ofFramework('F1')
      .map((t) => t.id)
      .sort(),
    ['a', 'b'],
  );
  // A terminal status removes the task from every index.
  master.applyStatus(a, fromAgent('a', 'TASK_FAILED'));
  assert.equal(master.tasks.size, 1);
  assert.equal(master.findTask('F1', 'a'), undefined);
  assert.deepEqual(
    master.tasks.onAgent('A1').map((t) => t.id),
    ['b'],
  );
  assert.deepEqual(
    [...master.tasks].map((t) => t.id),
    ['b'],
  );
});
