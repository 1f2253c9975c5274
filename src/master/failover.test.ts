import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../clock/clock.ts';
import { silentLogger } from '../log/index.ts';
import { Resources } from '../resources/index.ts';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import type { Store } from '../store/store.ts';
import { Master } from './master.ts';
import { Registry } from './registry.ts';
import { subscribe } from './scheduler-calls.ts';
import { QueueSink } from './stream.ts';

const GRACE = 10_000;

/** A store as a previous master left it: one framework registered, with this failover timeout. */
async function storeWithFramework(failoverTimeout: number): Promise<Store> {
  const store = createMemoryStore();
  const registry = new Registry(store, silentLogger());
  await registry.putFramework('F1', { user: 'root', name: 'fw', failover_timeout: failoverTimeout, id: { value: 'F1' } }, 0);
  return store;
}

async function restartedMaster(store: Store, clock: ManualClock): Promise<Master> {
  const master = new Master({ store, logger: silentLogger(), hostname: 'test', port: 5050, clock, frameworkReregistrationGraceMs: GRACE });
  await master.start();
  return master;
}

test('a recovered framework with failover_timeout 0 is not torn down before the master serves and its grace ends', async () => {
  const clock = new ManualClock(1_000_000);
  const master = await restartedMaster(await storeWithFramework(0), clock);
  try {
    // Recovery can take long (a slow store, a long election): no failover timer counts meanwhile.
    clock.advance(60_000);
    assert.ok(master.frameworks.has('F1'));
    master.serve();
    clock.advance(GRACE - 1);
    assert.ok(master.frameworks.has('F1'), 'still inside the grace');
    // The grace ends; a failover timeout of 0 then fires at once.
    clock.advance(1);
    assert.equal(master.frameworks.has('F1'), false);
    assert.ok(master.removedFrameworks.has('F1'));
  } finally {
    await master.stop();
  }
});

test('after the grace a recovered framework still has its whole failover timeout', async () => {
  const clock = new ManualClock(0);
  const master = await restartedMaster(await storeWithFramework(30), clock);
  try {
    master.serve();
    clock.advance(GRACE);
    assert.equal(master.frameworks.get('F1')?.failoverDeadline, GRACE + 30_000);
    clock.advance(29_999);
    assert.ok(master.frameworks.has('F1'));
    clock.advance(1);
    assert.equal(master.frameworks.has('F1'), false);
  } finally {
    await master.stop();
  }
});

test('a framework that re-subscribes within the grace is never torn down', async () => {
  const clock = new ManualClock(0);
  const master = await restartedMaster(await storeWithFramework(0), clock);
  const events: unknown[] = [];
  const sink = new QueueSink(
    (e) => events.push(e),
    () => undefined,
  );
  try {
    master.serve();
    clock.advance(GRACE - 1_000);
    await subscribe(master, { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'fw', failover_timeout: 0, id: { value: 'F1' } } } }, sink);
    assert.equal((events[0] as { type: string }).type, 'SUBSCRIBED');
    clock.advance(10 * GRACE);
    assert.ok(master.frameworks.has('F1'));
    assert.equal(master.frameworks.get('F1')?.failoverTimer, undefined);
    assert.equal(clock.pending, 0, 'no timer left to tear it down');
  } finally {
    sink.close();
    await master.stop();
  }
});

test('a framework that connects and disconnects after the grace gets its failover timeout at once', async () => {
  const clock = new ManualClock(0);
  const master = await restartedMaster(createMemoryStore(), clock);
  const sink = new QueueSink(
    () => undefined,
    () => undefined,
  );
  try {
    master.serve();
    clock.advance(GRACE);
    await subscribe(master, { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'fw', failover_timeout: 5 } } }, sink);
    const [framework] = [...master.frameworks.values()];
    sink.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(framework!.failoverDeadline, GRACE + 5_000);
    clock.advance(5_000);
    assert.equal(master.frameworks.size, 0);
  } finally {
    await master.stop();
  }
});

test('a torn-down framework is kept in completed_frameworks with its killed tasks, bounded', async () => {
  const clock = new ManualClock(0);
  const master = new Master({ store: createMemoryStore(), logger: silentLogger(), hostname: 'test', port: 5050, clock, maxCompletedFrameworks: 2, completedTasksPerFramework: 1 });
  await master.start();
  const sinks: QueueSink[] = [];
  try {
    for (const name of ['one', 'two', 'three']) {
      const sink = new QueueSink(
        () => undefined,
        () => undefined,
      );
      sinks.push(sink);
      await subscribe(master, { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name, id: { value: name } } } }, sink);
      const framework = master.frameworks.get(name)!;
      for (const id of ['t1', 't2']) {
        master.tasks.set({
          id,
          frameworkId: name,
          agentId: 'A1',
          info: { name: id },
          resources: Resources.EMPTY,
          role: '*',
          state: 'TASK_RUNNING',
          statuses: [],
          statusUuid: undefined,
          directory: undefined,
          createdAt: 0,
        });
      }
      clock.advance(1000);
      master.removeFramework(framework, 'teardown');
    }
    // Newest first, at most 2; each with its newest completed task only (the bound is 1).
    assert.deepEqual(
      master.completedFrameworks.list().map((c) => c.framework.id),
      ['three', 'two'],
    );
    const three = master.completedFrameworks.get('three')!;
    assert.deepEqual(
      three.tasks.map((t) => [t.id, t.state]),
      [['t2', 'TASK_KILLED']],
    );
    assert.equal(three.removedAt, 3000);
    assert.equal(master.completedTasks.has('three'), false, 'its tasks moved with it');
  } finally {
    for (const sink of sinks) sink.close();
    await master.stop();
  }
});

test('health checks mark at most 40% of the agents unreachable per window and log the rest as held', async () => {
  const clock = new ManualClock(0);
  const lines: Array<Record<string, unknown>> = [];
  const logger = silentLogger();
  const warn = logger.warn.bind(logger);
  logger.warn = ((obj: Record<string, unknown>, msg: string) => {
    lines.push({ ...obj, msg });
    warn(obj, msg);
  }) as typeof logger.warn;
  const master = new Master({ store: createMemoryStore(), logger, hostname: 'test', port: 5050, clock, agentHeartbeatIntervalMs: 1000, agentMaxMissedHeartbeats: 5 });
  await master.start();
  try {
    for (let i = 0; i < 5; i++) {
      const id = `A${i}`;
      master.agents.set(id, {
        id,
        info: { hostname: id, port: 5051, resources: [] },
        hostname: id,
        port: 5051,
        total: Resources.EMPTY,
        attributes: [],
        used: Resources.EMPTY,
        offered: Resources.EMPTY,
        status: 'active',
        registeredAt: 0,
        lastSeen: 0,
      });
    }
    // Three of five go silent at once (a partition); two keep heartbeating.
    clock.advance(5001);
    master.agents.get('A3')!.lastSeen = clock.now();
    master.agents.get('A4')!.lastSeen = clock.now();
    master.checkAgents();
    // 40% of 5 = 2 marked; the third is held, with a clear log line.
    const statuses = () => [...master.agents.values()].map((a) => a.status);
    assert.deepEqual(statuses(), ['unreachable', 'unreachable', 'active', 'active', 'active']);
    assert.equal(master.agents.get('A2')!.removalHeldSince, 5001);
    const held = lines.find((l) => l['msg'] === 'agent-removal-held');
    assert.equal(held?.['held'], 1);
    assert.equal(held?.['reason'], 'mass-unreachable');
    assert.equal(held?.['windowCap'], 2);
    // Checking again within the window changes nothing and logs nothing new.
    clock.advance(1000);
    master.checkAgents();
    assert.equal(lines.filter((l) => l['msg'] === 'agent-removal-held').length, 1);
    assert.equal(master.agents.get('A2')!.status, 'active');
    // Once the window slid past the first markings, the held agent is marked.
    clock.advance(4000);
    master.checkAgents();
    assert.equal(master.agents.get('A2')!.status, 'unreachable');
    assert.equal(master.agents.get('A2')!.removalHeldSince, undefined);
  } finally {
    await master.stop();
  }
});
