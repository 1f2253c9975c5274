/**
 * The jobs framework's store-write failure policy (README "Store failures"): nothing launched
 * that is not stored, no update acknowledged whose effect is not stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStore } from '../../store/memory/memory-store.ts';
import { FailingStore } from '../sdk/failing-store.ts';
import { ManualClock, startJobs } from './jobs-harness.ts';
import { keys } from './job-store.ts';

const T0 = Date.parse('2026-03-01T00:00:30Z');
const body = { id: 'once', run: { cmd: 'true', cpus: 0.1, mem: 32, disk: 0 } };
const runWrites = (ops: readonly { type: string; key?: string }[]): boolean => ops.some((o) => o.key?.startsWith('/drover/jobs/') && o.key.includes('/runs/'));

async function harness() {
  const store = new FailingStore(createMemoryStore());
  const h = await startJobs(store.store, new ManualClock(T0));
  return { h, store };
}

test('the run write before a launch fails: not launched, the offer declined, launched on a later one', async () => {
  const { h, store } = await harness();
  await h.add(body);
  const run = await h.jobs.runNow('once');
  store.fail({ match: runWrites });
  assert.deepEqual(await h.launch(), []);
  assert.equal(h.master.callsOf('DECLINE').length, 1);
  assert.equal(run.status, 'INITIAL');
  assert.deepEqual(run.tasks, [], 'back to what was stored');
  store.heal();
  const launched = await h.launch();
  assert.equal(launched.length, 1);
  const stored = JSON.parse((await store.store.get(keys.run('once', run.id)))!.value) as { tasks: Array<{ id: string }> };
  assert.deepEqual(
    stored.tasks.map((t) => t.id),
    launched,
  );
  await h.jobs.stop();
});

test('an update whose write fails is not acknowledged and leaves the run as stored; the resend is applied', async () => {
  const { h, store } = await harness();
  await h.add(body);
  const run = await h.jobs.runNow('once');
  const [task] = await h.launch();
  store.fail({ match: runWrites });
  h.master.update(task!, 'TASK_RUNNING', { uuid: 'u-1' });
  await h.settle();
  assert.equal(h.master.callsOf('ACKNOWLEDGE').length, 0);
  assert.equal(run.status, 'STARTING');
  assert.equal(run.tasks[0]!.status, 'TASK_STAGING');
  // The finish fails too: the run stays as stored, unacknowledged.
  h.master.update(task!, 'TASK_FINISHED', { uuid: 'u-2' });
  await h.settle();
  assert.equal(run.status, 'STARTING');
  assert.equal(h.jobs.history('once').successCount, 0);
  store.heal();
  // The agent resends what was not acknowledged.
  h.master.update(task!, 'TASK_FINISHED', { uuid: 'u-2' });
  await h.settle();
  assert.equal(run.status, 'SUCCESS');
  assert.deepEqual(
    h.master.callsOf('ACKNOWLEDGE').map((c) => c.acknowledge?.uuid),
    ['u-2'],
  );
  assert.equal(h.jobs.history('once').successCount, 1);
  await h.jobs.stop();
});

test('a job write that fails throws and changes nothing; a failed stop leaves the run running', async () => {
  const { h, store } = await harness();
  store.fail();
  await assert.rejects(h.add(body), /store write failed/);
  assert.equal(h.jobs.jobs.size, 0);
  store.heal();
  await h.add(body);
  const run = await h.jobs.runNow('once');
  await h.launch();
  store.fail();
  await assert.rejects(h.jobs.stopRun('once', run.id));
  assert.equal(run.stopRequested, undefined);
  assert.deepEqual(h.master.killed(), [], 'nothing killed');
  store.heal();
  await h.jobs.stopRun('once', run.id);
  assert.equal(h.master.killed().length, 1);
  await h.jobs.stop();
});
