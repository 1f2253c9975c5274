/**
 * The reconciler and unreachable instances (Marathon's unreachableStrategy): when a replacement
 * is launched, when the old instance is forgotten, and that exactly `instances` stay once an
 * unreachable instance comes back beside its replacement.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseApp, type App } from './app.ts';
import { holdsSlot, reachability, reconcile, type Instance } from './reconcile.ts';

const NOW = new Date('2026-11-22T00:00:00Z');
const T0 = NOW.getTime();

function app(overrides: Record<string, unknown> = {}): App {
  return parseApp({ id: '/web', cmd: 'serve', instances: 2, ...overrides }, NOW);
}

let counter = 0;
function instance(a: App, state: Instance['state'], fields: Partial<Instance> = {}): Instance {
  counter++;
  return {
    taskId: `t${counter}`,
    appId: a.id,
    agentId: 'a1',
    hostname: 'h1',
    attributes: {},
    configVersion: a.versionInfo.lastConfigChangeAt,
    version: a.version,
    state,
    ports: [],
    host: 'h1',
    stagedAt: new Date(T0 + counter).toISOString(),
    ...fields,
  };
}

const unreachableAt = (a: App, at: number): Instance => instance(a, 'TASK_UNREACHABLE', { unreachableSince: new Date(at).toISOString() });

describe('reconciler: unreachable instances', () => {
  test('Marathon defaults (0/0): an unreachable instance is replaced and forgotten at once', () => {
    const a = app();
    assert.deepEqual(a.unreachableStrategy, { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 });
    const gone = unreachableAt(a, T0);
    const r = reconcile(a, [instance(a, 'TASK_RUNNING'), gone], 0, T0);
    assert.equal(r.launch, 1);
    assert.deepEqual(r.expunge, [gone.taskId]);
  });

  test('inactiveAfterSeconds: the slot is kept until then, a replacement launched after; expunged after expungeAfterSeconds', () => {
    const a = app({ unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 60 } });
    const running = instance(a, 'TASK_RUNNING');
    const gone = unreachableAt(a, T0);
    // 4.999 s away: still holds its slot (it may come back any moment): nothing launched.
    assert.deepEqual(reconcile(a, [running, gone], 0, T0 + 4999), { launch: 0, kill: [], complete: false, inactive: [], expunge: [] });
    // 5 s away: inactive, its slot goes to a replacement; it is not killed (it cannot be reached).
    assert.deepEqual(reconcile(a, [running, gone], 0, T0 + 5000), { launch: 1, kill: [], complete: false, inactive: [gone.taskId], expunge: [] });
    // With its replacement running the app is complete, the inactive one still remembered.
    const replacement = instance(a, 'TASK_RUNNING');
    const r = reconcile(a, [running, gone, replacement], 0, T0 + 30_000);
    assert.equal(r.complete, true);
    assert.equal(r.launch, 0);
    assert.deepEqual(r.inactive, [gone.taskId]);
    // 60 s away: expunged (forgotten by the shell, killed if it ever returns).
    assert.deepEqual(reconcile(a, [running, gone, replacement], 0, T0 + 60_000).expunge, [gone.taskId]);
  });

  test('"disabled" (stateful apps): never replaced, never expunged', () => {
    const a = app({ unreachableStrategy: 'disabled' });
    const gone = unreachableAt(a, T0);
    const r = reconcile(a, [instance(a, 'TASK_RUNNING'), gone], 0, T0 + 7 * 86_400_000);
    assert.deepEqual(r, { launch: 0, kill: [], complete: false, inactive: [], expunge: [] });
    assert.equal(reachability(a, gone, T0 + 7 * 86_400_000), 'unreachable');
  });

  test('back beside its replacement: the surplus goes by killSelection (the replacement, YOUNGEST_FIRST)', () => {
    const a = app({ unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 600 } });
    const other = instance(a, 'TASK_RUNNING');
    const returned = instance(a, 'TASK_RUNNING'); // staged before the replacement, RUNNING again
    const replacement = instance(a, 'TASK_RUNNING');
    assert.deepEqual(reconcile(a, [other, returned, replacement], 0, T0).kill, [{ taskId: replacement.taskId, why: 'scale-down' }]);
    const oldestFirst = { ...a, killSelection: 'OLDEST_FIRST' as const };
    assert.deepEqual(
      reconcile(oldestFirst, [other, returned, replacement], 0, T0).kill.map((k) => k.taskId),
      [other.taskId],
    );
    // A replacement not yet running goes before any running instance, whatever the selection.
    const staging = instance(a, 'TASK_STAGING');
    assert.deepEqual(
      reconcile(oldestFirst, [other, returned, staging], 0, T0).kill.map((k) => k.taskId),
      [staging.taskId],
    );
  });

  test('a scale-down kills an unreachable instance first', () => {
    const a = app({ instances: 1, unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 } });
    const running = instance(a, 'TASK_RUNNING');
    const gone = unreachableAt(a, T0);
    assert.deepEqual(
      reconcile(a, [gone, running], 0, T0 + 1000).kill.map((k) => k.taskId),
      [gone.taskId],
    );
  });

  test('an unreachable instance of an older configuration does not block a rollout', () => {
    const before = app({ unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 } });
    const after = { ...before, versionInfo: { ...before.versionInfo, lastConfigChangeAt: 'v2' } };
    const gone = unreachableAt(before, T0);
    const r = reconcile(after, [instance(before, 'TASK_RUNNING'), gone], 0, T0 + 1000);
    assert.ok(
      r.kill.some((k) => k.taskId === gone.taskId && k.why === 'replaced'),
      'unhealthy old instances may always go',
    );
  });
});

/**
 * A model of the shell around the reconciler: agents go unreachable and come back, time passes,
 * and each round the reconciler's result is applied as the shell does — kills (an unreachable
 * instance is forgotten: it cannot be reached, and is killed if it returns), expunged instances
 * forgotten, launches placed on a reachable agent and running at once.
 */
describe('reconciler: unreachable instances, property', () => {
  const AGENTS = ['a0', 'a1', 'a2'];
  const step = fc.oneof(
    fc.record({ kind: fc.constant('partition' as const), agent: fc.constantFrom(...AGENTS) }),
    fc.record({ kind: fc.constant('heal' as const), agent: fc.constantFrom(...AGENTS) }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 4000 }) }),
  );

  test('never more than instances × (1 + maximumOverCapacity) holding a slot; after healing exactly `instances`, each running once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 20 }),
        fc.constantFrom('YOUNGEST_FIRST' as const, 'OLDEST_FIRST' as const),
        fc.array(step, { maxLength: 40 }),
        (n, maxOver, inactiveAfter, extra, killSelection, steps) => {
          const a = {
            ...app({
              instances: n,
              upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: maxOver },
              unreachableStrategy: { inactiveAfterSeconds: inactiveAfter, expungeAfterSeconds: inactiveAfter + extra },
            }),
            killSelection,
          };
          const maxLive = n + Math.floor(n * maxOver);
          let now = T0;
          let launched = 0;
          const down = new Set<string>();
          // What the framework knows, and what runs on the machines (task id → agent).
          let known: Instance[] = [];
          const running = new Map<string, string>();
          const round = (): void => {
            const r = reconcile(a, known, 0, now);
            const forget = new Set([...r.expunge, ...r.kill.map((k) => k.taskId)]);
            for (const id of forget) {
              const i = known.find((x) => x.taskId === id)!;
              // A reachable instance is killed now; an unreachable one when it comes back.
              if (i.state !== 'TASK_UNREACHABLE') running.delete(id);
            }
            known = known.filter((i) => !forget.has(i.taskId));
            const up = AGENTS.filter((x) => !down.has(x));
            for (let k = 0; k < r.launch && up.length > 0; k++) {
              const i = instance(a, 'TASK_RUNNING', { agentId: up[launched++ % up.length]!, stagedAt: new Date(now).toISOString() + String(launched).padStart(6, '0') });
              known.push(i);
              running.set(i.taskId, i.agentId);
            }
            const slots = known.filter((i) => holdsSlot(a, i, now)).length;
            assert.ok(slots <= maxLive, `${slots} holding a slot > ${maxLive}`);
            assert.ok(known.filter((i) => i.state === 'TASK_RUNNING').length <= maxLive, 'running and reachable');
          };
          round();
          for (const s of steps) {
            if (s.kind === 'partition' && !down.has(s.agent)) {
              down.add(s.agent);
              for (const i of known) if (i.agentId === s.agent) Object.assign(i, { state: 'TASK_UNREACHABLE', unreachableSince: new Date(now).toISOString() });
            } else if (s.kind === 'heal' && down.delete(s.agent)) {
              for (const [id, agent] of running) {
                if (agent !== s.agent) continue;
                const i = known.find((x) => x.taskId === id);
                // Forgotten meanwhile: unknown to the framework when it reports, so killed.
                if (i === undefined) running.delete(id);
                else Object.assign(i, { state: 'TASK_RUNNING', unreachableSince: undefined });
              }
            } else if (s.kind === 'wait') {
              now += s.ms;
            }
            round();
          }
          // Heal everything; a few rounds later exactly `instances` run, each known once.
          for (const agent of [...down]) {
            down.delete(agent);
            for (const [id, at] of running) {
              if (at !== agent) continue;
              const i = known.find((x) => x.taskId === id);
              if (i === undefined) running.delete(id);
              else Object.assign(i, { state: 'TASK_RUNNING', unreachableSince: undefined });
            }
          }
          for (let k = 0; k < 3; k++) round();
          assert.equal(known.length, n, 'exactly `instances` kept');
          assert.equal(running.size, n, 'exactly `instances` run: no duplicate left');
          assert.deepEqual([...running.keys()].sort(), known.map((i) => i.taskId).sort());
        },
      ),
      { numRuns: 500 },
    );
  });
});
