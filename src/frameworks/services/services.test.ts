/**
 * The services framework shell against a scripted master, the memory store (failing on demand)
 * and a manual clock: launches, updates, kills, backoff, revives, reconciliation rounds, and the
 * store-failure policy (README "Store failures").
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRevive, MIN_REVIVE_INTERVAL_MS, REVIVE_REPEAT_MS } from './revive.ts';
import { RECONCILE_ALL_MS, RECONCILE_RETRY_MS } from './reconciliation.ts';
import { startServices } from './services-harness.ts';

const web = { id: '/web', cmd: 'sleep 100', cpus: 0.5, mem: 64, instances: 2 };
const reconciled = (call: { reconcile?: { tasks?: Array<{ task_id: { value: string } }> } }): string[] => (call.reconcile?.tasks ?? []).map((t) => t.task_id.value);

describe('launching', () => {
  test('a new app asks for offers, launches on one, and its instances are stored before the ACCEPT', async () => {
    const h = await startServices();
    await h.put(web);
    assert.equal(h.master.callsOf('REVIVE').length, 1, 'subscribed suppressed: one REVIVE for the new demand');
    let storedAtAccept: string[] = [];
    h.master.onCall = (call) => {
      if (call.type === 'ACCEPT') void h.stored().then((ids) => (storedAtAccept = ids));
    };
    const launched = await h.launch();
    assert.equal(launched.length, 2);
    assert.deepEqual(storedAtAccept.sort(), [...launched].sort(), 'every launched instance was in the store when its ACCEPT went out');
    assert.deepEqual(
      h.services.instancesOf('/web').map((i) => i.state),
      ['TASK_STAGING', 'TASK_STAGING'],
    );
    // Nothing more wanted: the next offer is declined, and offers are suppressed.
    assert.deepEqual(await h.launch(), []);
    assert.equal(h.master.callsOf('DECLINE').length, 1);
    await h.advance(1000); // the next tick sees no demand
    assert.equal(h.master.callsOf('SUPPRESS').length, 1);
    await h.stop();
  });

  test('status updates become instance states, are acknowledged, and reach the store', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    const [id] = await h.launch();
    await h.report(id!, 'TASK_RUNNING', { uuid: 'u-1' });
    const instance = h.services.instances.get(id!)!;
    assert.equal(instance.state, 'TASK_RUNNING');
    assert.equal(instance.startedAt, new Date(h.clock.now()).toISOString());
    assert.deepEqual(
      h.master.callsOf('ACKNOWLEDGE').map((c) => c.acknowledge?.uuid),
      ['u-1'],
    );
    await h.advance(100); // the write window
    const kv = await h.store.store.get(`/drover/services/instances/${id}`);
    assert.match(kv!.value, /TASK_RUNNING/);
    await h.stop();
  });

  test('kill: KILL sent, TASK_KILLING until TASK_KILLED, then gone and replaced without backoff', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    const [id] = await h.launch();
    await h.report(id!, 'TASK_RUNNING');
    await h.services.killTasks([id!], false);
    assert.deepEqual(h.master.killed(), [id]);
    assert.equal(h.services.instances.get(id!)!.state, 'TASK_KILLING');
    await h.report(id!, 'TASK_RUNNING', { healthy: true }); // a health update already on its way
    assert.equal(h.services.instances.get(id!)!.state, 'TASK_KILLING');
    await h.report(id!, 'TASK_KILLED');
    assert.equal(h.services.instances.has(id!), false);
    assert.equal(h.services.runtimeOf('/web').consecutiveFailures, 0, 'a kill we asked for is not a failure');
    assert.equal((await h.launch()).length, 1, 'replaced at once');
    await h.stop();
  });
});

describe('drain before the KILL', () => {
  test('a kill decision publishes drover_instance_draining_event at once; the KILL goes DROVER_DRAIN_SECONDS later, and a delete cuts the drain short', async () => {
    const h = await startServices();
    const events: Array<{ eventType: string; taskId?: unknown; drainSeconds?: unknown }> = [];
    h.services.events.subscribe((e) => events.push(e));
    await h.put({ ...web, instances: 2, labels: { DROVER_DRAIN_SECONDS: '2.5' } });
    const [first, second] = await h.launch();
    await h.report(first!, 'TASK_RUNNING');
    await h.report(second!, 'TASK_RUNNING');
    await h.services.killTasks([first!], false);
    const draining = events.filter((e) => e.eventType === 'drover_instance_draining_event');
    assert.deepEqual(
      draining.map((e) => [e.taskId, e.drainSeconds]),
      [[first, 2.5]],
    );
    assert.equal(h.services.instances.get(first!)!.state, 'TASK_KILLING', 'out of the RUNNING instances from the decision on');
    assert.deepEqual(h.master.killed(), [], 'no KILL during the drain');
    await h.advance(2400);
    assert.deepEqual(h.master.killed(), []);
    await h.advance(100);
    assert.deepEqual(h.master.killed(), [first], 'the KILL once the drain is over');
    // No second KILL from the retry sweep right after (it counts from the KILL, not the decision).
    await h.advance(5000);
    assert.deepEqual(h.master.killed(), [first]);
    // A staged instance is not drained (it takes no traffic); a deleted app's drains end at once.
    await h.put({ ...web, instances: 2, labels: { DROVER_DRAIN_SECONDS: '300' } });
    await h.services.killTasks([second!], false);
    assert.deepEqual(h.master.killed(), [first]);
    await h.services.deleteApp('/web', true);
    await h.settle();
    assert.deepEqual(h.master.killed(), [first, second], 'the delete sent the KILL without waiting 300 s');
    await h.stop();
  });

  test('without the label (or with a bad one) the framework default applies: 0 = the KILL at once, still after the event', async () => {
    const h = await startServices();
    const order: string[] = [];
    h.services.events.subscribe((e) => {
      if (e.eventType === 'drover_instance_draining_event') order.push('event');
    });
    h.master.onCall = (call) => {
      if (call.type === 'KILL') order.push('KILL');
    };
    await h.put({ ...web, instances: 1, labels: { DROVER_DRAIN_SECONDS: '1e9' } });
    const [id] = await h.launch();
    await h.report(id!, 'TASK_RUNNING');
    await h.services.killTasks([id!], false);
    assert.deepEqual(order, ['event', 'KILL']);
    await h.stop();
  });
});

describe('unknown tasks', () => {
  test("a task no instance knows is killed once; the master's TASK_UNKNOWN answer to that KILL is not killed again", async () => {
    // Before: every update of an unknown task that was not terminal got a KILL, and the master
    // answers a KILL of a task it does not know with TASK_UNKNOWN — KILL → TASK_UNKNOWN → KILL …,
    // a loop that held drover dev's event loop (in process it never yields) during app churn.
    const h = await startServices();
    const stray = 'web.00000000-0000-0000-0000-000000000000';
    await h.report(stray, 'TASK_RUNNING'); // e.g. a late update of a deleted app's task
    assert.deepEqual(h.master.killed(), [stray]);
    await h.report(stray, 'TASK_UNKNOWN', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER', message: 'Attempted to kill an unknown task' });
    await h.report(stray, 'TASK_UNREACHABLE');
    await h.report(stray, 'TASK_KILLING');
    assert.deepEqual(h.master.killed(), [stray], 'no KILL in reply to updates that do not say the task runs');
    await h.report(stray, 'TASK_RUNNING'); // should it come back running after all, it is killed then
    assert.deepEqual(h.master.killed(), [stray, stray]);
    await h.stop();
  });
});

describe('crash loops', () => {
  test('backoff doubles per failure, and relaunching stops after maxConsecutiveFailures', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1, backoffSeconds: 1, backoffFactor: 2, maxLaunchDelaySeconds: 60, maxConsecutiveFailures: 3 });
    const [first] = await h.launch();
    await h.report(first!, 'TASK_FAILED', { message: 'exit 1' });
    const r = h.services.runtimeOf('/web');
    assert.equal(r.consecutiveFailures, 1);
    assert.equal(r.delayUntil, h.clock.now() + 1000);
    assert.deepEqual(await h.launch(), [], 'not within the backoff');
    await h.advance(1000);
    const [second] = await h.launch();
    assert.ok(second);
    await h.report(second, 'TASK_FAILED');
    assert.equal(r.delayUntil, h.clock.now() + 2000, '1 s × 2^1');
    await h.advance(2000);
    const [third] = await h.launch();
    await h.report(third!, 'TASK_FAILED', { message: 'exit 1' });
    assert.match(r.stopped ?? '', /stopped relaunching after 3 consecutive failures/);
    await h.advance(60_000);
    assert.deepEqual(await h.launch(), [], 'stopped: no launch however long we wait');
    h.services.resetDelay('/web');
    await h.settle();
    assert.equal((await h.launch()).length, 1, 'DELETE /v2/queue/{id}/delay resumes it');
    await h.stop();
  });

  test('a run that lasted HEALTHY_RUN_MS resets the count', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1, backoffSeconds: 1, backoffFactor: 2 });
    const [first] = await h.launch();
    await h.report(first!, 'TASK_FAILED');
    await h.advance(1000);
    const [second] = await h.launch();
    await h.report(second!, 'TASK_RUNNING');
    await h.advance(10_000);
    await h.report(second!, 'TASK_FAILED');
    assert.equal(h.services.runtimeOf('/web').consecutiveFailures, 1);
    await h.stop();
  });
});

describe('revive decisions', () => {
  test('at most one REVIVE per interval; the demand in between is revived by the timer', async () => {
    const h = await startServices();
    await h.put(web);
    assert.equal(h.master.callsOf('REVIVE').length, 1);
    await h.put({ ...web, id: '/api' }); // new demand 1 ms later
    await h.put({ ...web, id: '/db' });
    assert.equal(h.master.callsOf('REVIVE').length, 1, 'within the interval: no second REVIVE');
    await h.advance(MIN_REVIVE_INTERVAL_MS);
    assert.equal(h.master.callsOf('REVIVE').length, 2, 'one more when the interval is over');
    await h.advance(REVIVE_REPEAT_MS - MIN_REVIVE_INTERVAL_MS);
    assert.equal(h.master.callsOf('REVIVE').length, 2, 'no new demand: no more, within REVIVE_REPEAT_MS');
    // Still waiting and no offer came: the REVIVE may have been lost — once more.
    await h.advance(MIN_REVIVE_INTERVAL_MS);
    assert.equal(h.master.callsOf('REVIVE').length, 3, 'launches waiting and no offers for REVIVE_REPEAT_MS: revived again');
    await h.stop();
  });

  test('decideRevive: pure cases', () => {
    const base = { suppressed: false, wantedBefore: 2, lastReviveAt: 0, waiting: false, lastOffersAt: 0 };
    assert.deepEqual(decideRevive({ ...base, suppressed: true }, 1, 10), { action: 'revive' }, 'suppressed with demand: at once');
    assert.deepEqual(decideRevive(base, 3, 10), { action: 'wait', ms: MIN_REVIVE_INTERVAL_MS - 10 });
    assert.deepEqual(decideRevive({ ...base, waiting: true }, 3, 10), { action: 'none' }, 'one timer');
    assert.deepEqual(decideRevive(base, 3, MIN_REVIVE_INTERVAL_MS), { action: 'revive' });
    assert.deepEqual(decideRevive(base, 2, REVIVE_REPEAT_MS - 1), { action: 'none' }, 'same demand: the filters are not the problem');
    assert.deepEqual(decideRevive(base, 2, REVIVE_REPEAT_MS), { action: 'revive' }, 'same demand, no offers since the last REVIVE: it may have been lost');
    assert.deepEqual(decideRevive({ ...base, lastOffersAt: 4000 }, 2, REVIVE_REPEAT_MS), { action: 'none' }, 'offers are coming: not suppressed');
    assert.deepEqual(decideRevive(base, 0, 5000), { action: 'suppress' });
  });
});

describe('reconciliation rounds', () => {
  test('all at subscription; the unanswered every RECONCILE_RETRY_MS; all again every RECONCILE_ALL_MS', async () => {
    const h = await startServices();
    await h.put(web);
    const [a, b] = await h.launch();
    await h.report(a!, 'TASK_RUNNING');
    await h.report(b!, 'TASK_RUNNING');
    const rounds = () => h.master.callsOf('RECONCILE').map(reconciled);
    assert.deepEqual(rounds(), [], 'the subscription asked about every instance it knew: none yet');
    // Restart on the same store: the new incarnation asks about both.
    await h.stop();
    const h2 = await startServices({ clock: h.clock, store: h.store.store });
    assert.deepEqual(
      h2.master
        .callsOf('RECONCILE')
        .map(reconciled)
        .map((ids) => ids.sort()),
      [[a, b].sort()],
    );
    // Explicit rounds name tasks; an implicit one (every task the master knows of ours) names none.
    const explicit = () =>
      h2.master
        .callsOf('RECONCILE')
        .map(reconciled)
        .filter((ids) => ids.length > 0);
    const implicit = () => h2.master.callsOf('RECONCILE').filter((c) => reconciled(c).length === 0).length;
    assert.equal(implicit(), 0, 'no implicit reconciliation at the subscription: agents are still re-registering');
    await h2.report(a!, 'TASK_RUNNING'); // b stays unanswered (its agent has not re-registered)
    await h2.advance(RECONCILE_RETRY_MS);
    assert.deepEqual(explicit().at(-1), [b], 'only the unanswered one');
    assert.equal(implicit(), 1, 'a round after the subscription: the implicit one');
    await h2.report(b!, 'TASK_RUNNING');
    await h2.advance(RECONCILE_RETRY_MS);
    assert.equal(explicit().length, 2, 'all answered: no call');
    assert.equal(implicit(), 1);
    await h2.advance(RECONCILE_ALL_MS);
    assert.deepEqual(explicit().at(-1)?.sort(), [a, b].sort(), 'a full round');
    await h2.advance(RECONCILE_RETRY_MS);
    assert.equal(implicit(), 2, 'and an implicit one a round after it');
    await h2.stop();
  });

  test('a stored instance the master does not know (TASK_GONE) is replaced', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    const [a] = await h.launch();
    await h.report(a!, 'TASK_GONE', { message: 'Reconciliation: task is unknown to the master' });
    assert.equal(h.services.instances.has(a!), false);
    await h.advance(1000); // its backoff
    assert.equal((await h.launch()).length, 1);
    await h.stop();
  });

  test('the stream ends: the driver subscribes again with the framework id and reconciles', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    await h.launch();
    h.master.disconnect();
    await h.settle();
    await h.advance(100);
    assert.equal(h.master.subscriptions, 2);
    assert.equal(h.services.frameworkId, 'services-framework');
    assert.equal(h.master.callsOf('RECONCILE').length, 1, 'the new subscription asked about the instance');
    await h.stop();
  });
});

describe('store failures', () => {
  test('the write before a launch fails: nothing launched, the offer declined, placed again later', async () => {
    const h = await startServices();
    await h.put(web);
    h.store.fail({ match: (ops) => ops.some((o) => 'key' in o && o.key.startsWith('/drover/services/instances/')) });
    assert.deepEqual(await h.launch(), []);
    assert.equal(h.master.callsOf('DECLINE').length, 1);
    assert.equal(h.services.instancesOf('/web').length, 0, 'withdrawn');
    h.store.heal();
    await h.advance(100); // the queued deletes of the withdrawn keys land
    assert.deepEqual(await h.stored(), []);
    const launched = await h.launch();
    assert.equal(launched.length, 2);
    assert.deepEqual((await h.stored()).sort(), launched.sort());
    await h.stop();
  });

  test('a write that committed but failed in the client: not launched, and its stored instance deleted', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    h.store.fail({ times: 1, after: true, match: (ops) => ops.some((o) => 'key' in o && o.key.startsWith('/drover/services/instances/')) });
    assert.deepEqual(await h.launch(), []);
    assert.equal((await h.stored()).length, 1, 'the write did land');
    await h.advance(100);
    assert.deepEqual(await h.stored(), [], 'nothing stored that was never launched');
    await h.stop();
  });

  test('some chunks of one batch fail: only stored instances are launched', async () => {
    const h = await startServices();
    await h.put({ ...web, cpus: 0.01, mem: 1, instances: 300 });
    let writes = 0;
    h.store.fail({ match: (ops) => ops.length > 1 && writes++ === 1 }); // the second of three transactions
    const launched = await h.launch({ resources: 'cpus:10;mem:1000;ports:[31000-32000]' });
    h.store.heal();
    assert.equal(launched.length, 300 - 128);
    const stored = new Set(await h.stored());
    assert.ok(
      launched.every((id) => stored.has(id)),
      'every launched instance is stored',
    );
    assert.equal(h.services.instancesOf('/web').length, launched.length, 'the others withdrawn');
    await h.advance(100);
    assert.equal((await h.stored()).length, launched.length);
    await h.stop();
  });

  test('an instance change that fails to write stays queued and is retried with backoff', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    const [id] = await h.launch();
    h.store.fail();
    await h.report(id!, 'TASK_RUNNING', { uuid: 'u-1' });
    await h.advance(100);
    await h.advance(200);
    // Three failed writes: the instance (written, failed, retried after 200 ms) and the delete of
    // the deployment that TASK_RUNNING finished (not retried: a restart finishes it again).
    assert.equal(h.store.failures, 3, 'instance written, failed, retried after 200 ms; deployment unstored once');
    assert.doesNotMatch((await h.store.store.get(`/drover/services/instances/${id}`))!.value, /TASK_RUNNING/, 'the store still has the launch');
    assert.equal(h.services.instances.get(id!)!.state, 'TASK_RUNNING');
    h.store.heal();
    await h.advance(400);
    assert.match((await h.store.store.get(`/drover/services/instances/${id}`))!.value, /TASK_RUNNING/);
    await h.stop();
  });

  test('an ACCEPT the master refuses: its instances are reconciled at once', async () => {
    const h = await startServices();
    await h.put({ ...web, instances: 1 });
    h.master.refuse('ACCEPT');
    const [id] = await h.launch();
    assert.deepEqual(h.master.callsOf('RECONCILE').map(reconciled).at(-1), [id]);
    await h.stop();
  });

  test('an app write that fails throws and changes nothing', async () => {
    const h = await startServices();
    h.store.fail();
    await assert.rejects(h.put(web), /DROVER_ERR_STORE_UNAVAILABLE|store write failed/);
    assert.equal(h.services.apps.size, 0);
    assert.equal(h.services.deployments.list().length, 0);
    h.store.heal();
    await h.put(web);
    h.store.fail();
    await assert.rejects(h.services.deleteApp('/web'));
    assert.ok(h.services.apps.has('/web'));
    h.store.heal();
    await h.stop();
  });
});
