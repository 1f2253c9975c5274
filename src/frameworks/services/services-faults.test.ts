/**
 * The services framework when machines fail, against the scripted master and a manual clock:
 * unreachable instances replaced per unreachableStrategy, forgotten when expunged, the surplus
 * killed when they come back; and losses caused by the machine kept out of the crash loop.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceEvent } from './events.ts';
import { startServices, type ServicesHarness } from './services-harness.ts';

const web = { id: '/web', cmd: 'sleep 100', cpus: 0.5, mem: 64, instances: 2 };
const agent1 = { agentId: 'agent-1' };
const agent2 = { agentId: 'agent-2' };

/** One instance on each agent, both running. */
async function twoRunning(h: ServicesHarness, body: Record<string, unknown>): Promise<[string, string]> {
  await h.put({ ...web, ...body });
  const [a] = await h.launch({ ...agent1, resources: 'cpus:0.5;mem:64;ports:[31000-31010]' });
  const [b] = await h.launch({ ...agent2, resources: 'cpus:0.5;mem:64;ports:[31000-31010]' });
  await h.report(a!, 'TASK_RUNNING', agent1);
  await h.report(b!, 'TASK_RUNNING', agent2);
  return [a!, b!];
}

const states = (h: ServicesHarness): string[] =>
  h.services
    .instancesOf('/web')
    .map((i) => i.state)
    .sort();

describe('unreachable instances', () => {
  test('inactiveAfterSeconds 5: replaced after 5 s (not before); back beside its replacement, the replacement is killed', async () => {
    const h = await startServices();
    const events: ServiceEvent[] = [];
    h.services.events.subscribe((e) => events.push(e));
    const [lost, kept] = await twoRunning(h, { unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 60 } });
    await h.report(lost, 'TASK_UNREACHABLE', { ...agent1, reason: 'REASON_AGENT_DISCONNECTED', source: 'SOURCE_MASTER' });
    assert.equal(h.services.instances.get(lost)!.unreachableSince, new Date(h.clock.now()).toISOString());
    await h.advance(4000);
    assert.deepEqual(await h.launch(agent2), [], 'unreachable for 4 s: it keeps its slot');
    await h.advance(1000); // the next refresh finds it inactive
    const [replacement] = await h.launch(agent2);
    assert.ok(replacement, 'replaced once inactive');
    assert.ok(events.some((e) => e.eventType === 'instance_changed_event' && e['instanceId'] === lost && e['condition'] === 'UnreachableInactive'));
    await h.report(replacement, 'TASK_RUNNING', agent2);
    assert.equal(h.services.runtimeOf('/web').consecutiveFailures, 0, 'unreachable is no failure');
    // The agent comes back: its task is RUNNING again (the master says so on re-registration).
    await h.report(lost, 'TASK_RUNNING', { ...agent1, reason: 'REASON_AGENT_REREGISTERED', source: 'SOURCE_MASTER' });
    assert.equal(h.services.instances.get(lost)!.unreachableSince, undefined);
    assert.deepEqual(h.master.killed(), [replacement], 'the youngest (the replacement) goes; exactly 2 stay');
    await h.report(replacement, 'TASK_KILLED', agent2);
    assert.deepEqual(
      h.services
        .instancesOf('/web')
        .map((i) => i.taskId)
        .sort(),
      [lost, kept].sort(),
    );
    assert.deepEqual(await h.launch(agent2), [], 'nothing more wanted');
    await h.stop();
  });

  test('expungeAfterSeconds: forgotten (and unstored); killed if it comes back', async () => {
    const h = await startServices();
    const [lost] = await twoRunning(h, { unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 60 } });
    await h.report(lost, 'TASK_UNREACHABLE', agent1);
    await h.advance(1000);
    const [replacement] = await h.launch(agent2);
    await h.report(replacement!, 'TASK_RUNNING', agent2);
    await h.advance(59_000);
    assert.equal(h.services.instances.has(lost), false, 'expunged');
    await h.advance(100); // the write window
    assert.equal((await h.stored()).includes(lost), false);
    await h.report(lost, 'TASK_RUNNING', agent1);
    assert.ok(h.master.killed().includes(lost), 'a task we forgot is killed when it returns');
    assert.equal(h.master.killed().includes(replacement!), false);
    await h.stop();
  });

  test('Marathon defaults (0/0): replaced at once, the old one forgotten', async () => {
    const h = await startServices();
    const [lost] = await twoRunning(h, {});
    await h.report(lost, 'TASK_UNREACHABLE', agent1);
    assert.equal(h.services.instances.has(lost), false);
    assert.equal((await h.launch(agent2)).length, 1);
    await h.stop();
  });

  test('TASK_LOST (a master that is not partition-aware) is treated as unreachable', async () => {
    const h = await startServices();
    const [lost] = await twoRunning(h, { unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 } });
    await h.report(lost, 'TASK_LOST', agent1);
    assert.equal(h.services.instances.get(lost)!.state, 'TASK_UNREACHABLE');
    assert.deepEqual(states(h), ['TASK_RUNNING', 'TASK_UNREACHABLE']);
    await h.stop();
  });

  test('"disabled": no replacement however long it is away', async () => {
    const h = await startServices();
    const [lost] = await twoRunning(h, { unreachableStrategy: 'disabled' });
    await h.report(lost, 'TASK_UNREACHABLE', agent1);
    await h.advance(3_600_000);
    assert.deepEqual(await h.launch(agent2), []);
    assert.deepEqual(states(h), ['TASK_RUNNING', 'TASK_UNREACHABLE']);
    await h.stop();
  });

  test('scaled down while unreachable: the unreachable one goes first, and is forgotten', async () => {
    const h = await startServices();
    const [lost, kept] = await twoRunning(h, { unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 } });
    await h.report(lost, 'TASK_UNREACHABLE', agent1);
    await h.put({ ...web, instances: 1, unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 } });
    assert.deepEqual(
      h.services.instancesOf('/web').map((i) => i.taskId),
      [kept],
    );
    assert.deepEqual(h.master.killed(), [lost], 'a KILL is sent all the same');
    await h.stop();
  });
});

describe('kills that go unanswered', () => {
  test('a KILL lost on its way is sent again every 10 s (kill_retry_timeout) until the task ends', async () => {
    const h = await startServices();
    const [a] = await twoRunning(h, {});
    await h.put({ ...web, instances: 1 });
    const victim = h.master.killed()[0];
    assert.ok(victim === a || victim !== undefined, 'the scale-down kills one');
    assert.equal(h.master.killed().length, 1);
    await h.advance(9000);
    assert.equal(h.master.killed().length, 1, 'not again before 10 s');
    await h.advance(1000);
    assert.deepEqual(h.master.killed(), [victim, victim], 'sent again once 10 s passed unanswered');
    await h.advance(10_000);
    assert.equal(h.master.killed().length, 3);
    await h.report(victim!, 'TASK_KILLED', victim === a ? agent1 : agent2);
    await h.advance(30_000);
    assert.equal(h.master.killed().length, 3, 'ended: never again');
    await h.stop();
  });

  test('killSelection OLDEST_FIRST: back beside its replacement, the returned (older) instance goes', async () => {
    const h = await startServices();
    const [lost] = await twoRunning(h, { killSelection: 'OLDEST_FIRST', unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 60 } });
    await h.report(lost, 'TASK_UNREACHABLE', { ...agent1, reason: 'REASON_AGENT_DISCONNECTED', source: 'SOURCE_MASTER' });
    await h.advance(5000);
    const [replacement] = await h.launch(agent2);
    assert.ok(replacement);
    await h.report(replacement, 'TASK_RUNNING', agent2);
    await h.report(lost, 'TASK_RUNNING', { ...agent1, reason: 'REASON_AGENT_REREGISTERED', source: 'SOURCE_MASTER' });
    assert.deepEqual(h.master.killed(), [lost], 'the oldest (the one that came back) goes');
    await h.stop();
  });
});

describe('crash accounting: losses caused by the machine', () => {
  const young = { ...web, instances: 10, backoffSeconds: 1, backoffFactor: 2, maxConsecutiveFailures: 10 };
  const big = { resources: 'cpus:16;mem:4096;disk:1000;ports:[31000-32000]' };

  for (const [what, state, fields] of [
    ['the agent died and restarted (TASK_FAILED, REASON_EXECUTOR_TERMINATED from the agent)', 'TASK_FAILED', { reason: 'REASON_EXECUTOR_TERMINATED', source: 'SOURCE_AGENT' }],
    ['the agent restarted before the task started (REASON_AGENT_RESTARTED)', 'TASK_FAILED', { reason: 'REASON_AGENT_RESTARTED', source: 'SOURCE_AGENT' }],
    ['its agent re-registered without it (TASK_GONE)', 'TASK_GONE', { reason: 'REASON_AGENT_REREGISTERED', source: 'SOURCE_MASTER' }],
    ['preempted (REASON_CONTAINER_PREEMPTED)', 'TASK_FAILED', { reason: 'REASON_CONTAINER_PREEMPTED', source: 'SOURCE_AGENT' }],
    ['dropped (TASK_DROPPED)', 'TASK_DROPPED', { reason: 'REASON_INVALID_OFFERS', source: 'SOURCE_MASTER' }],
    ['gone by operator (TASK_GONE_BY_OPERATOR)', 'TASK_GONE_BY_OPERATOR', { reason: 'REASON_AGENT_REMOVED_BY_OPERATOR', source: 'SOURCE_MASTER' }],
  ] as const) {
    test(`10 young tasks lost because ${what}: no backoff, no crash-loop stop, all relaunched at once`, async () => {
      const h = await startServices();
      await h.put(young);
      const ids = await h.launch(big);
      assert.equal(ids.length, 10);
      for (const id of ids) await h.report(id, 'TASK_RUNNING');
      await h.advance(2000); // 2 s old: a failure now would count
      for (const id of ids) await h.report(id, state, { ...fields, message: 'lost with the machine' });
      const r = h.services.runtimeOf('/web');
      assert.equal(r.consecutiveFailures, 0);
      assert.equal(r.stopped, undefined);
      assert.ok(r.delayUntil <= h.clock.now(), 'no delay');
      assert.equal((await h.launch(big)).length, 10, 'relaunched at full speed');
      await h.stop();
    });
  }

  test("the task's own failures still count: 10 young TASK_FAILED from the executor stop the app", async () => {
    const h = await startServices();
    await h.put({ ...young, backoffSeconds: 0 });
    const ids = await h.launch(big);
    for (const id of ids) await h.report(id, 'TASK_FAILED', { source: 'SOURCE_EXECUTOR', message: 'exit 1' });
    assert.match(h.services.runtimeOf('/web').stopped ?? '', /after 10 consecutive failures/);
    await h.stop();
  });
});
