import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseApp, type App } from './app.ts';
import { reconcile, isHealthy, type Instance } from './reconcile.ts';

const NOW = new Date('2026-11-22T00:00:00Z');
const T = NOW.getTime() + 1_000_000;

function app(overrides: Record<string, unknown> = {}): App {
  return parseApp({ id: '/web', cmd: 'serve', instances: 3, ...overrides }, NOW);
}

let counter = 0;
function instance(a: App, state: Instance['state'], config = a.versionInfo.lastConfigChangeAt, healthy?: boolean): Instance {
  counter++;
  return {
    taskId: `t${counter}`,
    appId: a.id,
    agentId: 'a1',
    hostname: 'h1',
    attributes: {},
    configVersion: config,
    version: config,
    state,
    ports: [],
    host: 'h1',
    stagedAt: new Date(NOW.getTime() + counter).toISOString(),
    ...(healthy === undefined ? {} : { healthy }),
  };
}

describe('services reconciler', () => {
  test('a new app launches its instances', () => {
    assert.deepEqual(reconcile(app(), [], 0, T), { launch: 3, kill: [], complete: false, inactive: [], expunge: [] });
  });

  test('pending launches are not launched twice', () => {
    assert.equal(reconcile(app(), [], 2, T).launch, 1);
  });

  test('scale down kills the youngest first by default, the oldest when asked', () => {
    const a = app({ instances: 1 });
    const [i1, i2, i3] = [instance(a, 'TASK_RUNNING'), instance(a, 'TASK_RUNNING'), instance(a, 'TASK_RUNNING')];
    assert.deepEqual(
      reconcile(a, [i1!, i2!, i3!], 0, T).kill.map((k) => k.taskId),
      [i3!.taskId, i2!.taskId],
    );
    const oldest = { ...a, killSelection: 'OLDEST_FIRST' as const };
    assert.deepEqual(
      reconcile(oldest, [i1!, i2!, i3!], 0, T).kill.map((k) => k.taskId),
      [i1!.taskId, i2!.taskId],
    );
  });

  test('a finished or failed service task is replaced (a service always runs)', () => {
    const a = app({ instances: 2 });
    const result = reconcile(a, [instance(a, 'TASK_RUNNING'), instance(a, 'TASK_FINISHED')], 0, T);
    assert.equal(result.launch, 1);
  });

  test('the default upgrade (1.0, 1.0) starts all new instances before killing any old one', () => {
    const before = app({ instances: 2 });
    const olds = [instance(before, 'TASK_RUNNING'), instance(before, 'TASK_RUNNING')];
    const after = { ...before, versionInfo: { ...before.versionInfo, lastConfigChangeAt: 'v2' } };
    // Step 1: 2 new launched (room: 2 + 2 over-capacity), no old killed (2 healthy needed).
    assert.deepEqual(reconcile(after, olds, 0, T), { launch: 2, kill: [], complete: false, inactive: [], expunge: [] });
    // Step 2: new ones running → both old ones may go.
    const news = [instance(after, 'TASK_RUNNING', 'v2'), instance(after, 'TASK_RUNNING', 'v2')];
    const step2 = reconcile(after, [...olds, ...news], 0, T);
    assert.deepEqual(
      step2.kill.map((k) => k.why),
      ['replaced', 'replaced'],
    );
    assert.equal(step2.launch, 0);
  });

  test('(0, 0) kills the old instances first, then launches', () => {
    const before = app({ instances: 2, upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 } });
    const after = { ...before, versionInfo: { ...before.versionInfo, lastConfigChangeAt: 'v2' } };
    const result = reconcile(after, [instance(before, 'TASK_RUNNING'), instance(before, 'TASK_RUNNING')], 0, T);
    assert.equal(result.kill.length, 2);
    assert.equal(result.launch, 2, 'room is freed by the kills');
  });

  test('health-gated: an unhealthy new instance does not let the old one go', () => {
    const before = app({ instances: 1, healthChecks: [{ protocol: 'MESOS_HTTP', path: '/' }] });
    const after = { ...before, versionInfo: { ...before.versionInfo, lastConfigChangeAt: 'v2' } };
    const old = instance(before, 'TASK_RUNNING', undefined, true);
    const fresh = instance(after, 'TASK_RUNNING', 'v2', false);
    assert.deepEqual(reconcile(after, [old, fresh], 0, T).kill, []);
    assert.deepEqual(
      reconcile(after, [old, { ...fresh, healthy: true }], 0, T).kill.map((k) => k.taskId),
      [old.taskId],
    );
  });

  test('property: a rollout never drops below minimumHealthCapacity nor exceeds maximumOverCapacity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (n, minHealth, maxOver) => {
        const before = app({ instances: n, upgradeStrategy: { minimumHealthCapacity: minHealth, maximumOverCapacity: maxOver } });
        const after = { ...before, versionInfo: { ...before.versionInfo, lastConfigChangeAt: 'v2' } };
        let fleet: Instance[] = Array.from({ length: n }, () => instance(before, 'TASK_RUNNING'));
        const maxLive = n + Math.floor(n * maxOver);
        // With no over-capacity at all, progress needs one old instance to go first.
        const minHealthy = Math.ceil(n * minHealth) - (maxLive === n ? 1 : 0);
        for (let round = 0; round < 50; round++) {
          const r = reconcile(after, fleet, 0, T);
          const killed = new Set(r.kill.map((k) => k.taskId));
          fleet = fleet.filter((i) => !killed.has(i.taskId));
          // Kills happen before launches become healthy: check the low point here.
          assert.ok(fleet.filter((i) => isHealthy(after, i)).length >= Math.min(minHealthy, n), 'healthy floor');
          fleet.push(...Array.from({ length: r.launch }, () => instance(after, 'TASK_RUNNING', 'v2')));
          assert.ok(fleet.length <= maxLive, `live ${fleet.length} ≤ ${maxLive}`);
          if (r.complete) return;
        }
        assert.fail('the rollout did not complete');
      }),
      { numRuns: 300 },
    );
  });
});
