/**
 * Job runs on a lost agent, against the scripted master and a manual clock: a task lost with its
 * agent (TASK_LOST for this framework, which is not partition-aware; TASK_UNREACHABLE, TASK_GONE)
 * fails the run or retries it under its restart policy — once — and when the old task comes back
 * it is killed, so a run never runs twice.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../store/open.ts';
import { ManualClock, startJobs, type Harness } from './jobs-harness.ts';

const T0 = Date.parse('2026-03-01T00:00:30Z');
const run = (cmd = 'sleep 60', extra: Record<string, unknown> = {}) => ({ cmd, cpus: 0.1, mem: 32, ...extra });

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const store = await openStore('memory:');
  const h = await startJobs(store, new ManualClock(T0));
  try {
    await fn(h);
  } finally {
    await h.jobs.stop();
    await store.close();
  }
}

describe('job runs on a lost agent', () => {
  for (const lost of ['TASK_LOST', 'TASK_UNREACHABLE', 'TASK_GONE'] as const) {
    test(`ON_FAILURE: ${lost} retries the run once; the old task, back, is killed; the retry finishes it`, () =>
      withHarness(async (h) => {
        await h.add({ id: 'batch', run: run('sleep 60', { restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 600 } }) });
        const r = await h.jobs.runNow('batch');
        const [first] = await h.launch();
        await h.report(first!, 'TASK_RUNNING');
        assert.equal(h.jobs.run('batch', r.id).status, 'ACTIVE');
        await h.report(first!, lost, 'Agent host-1 is unreachable');
        assert.equal(h.jobs.run('batch', r.id).status, 'INITIAL', 'retried, not left waiting for the agent');
        const [second] = await h.launch();
        assert.equal(second, `batch_${r.id}.2`);
        await h.report(second!, 'TASK_RUNNING');
        // The agent comes back with the first task still running: it goes, the retry stays.
        await h.report(first!, 'TASK_RUNNING');
        assert.deepEqual(h.master.killed(), [first]);
        assert.equal(h.jobs.run('batch', r.id).tasks.find((t) => t.id === first)!.status, lost, 'the record of the lost task stays');
        assert.equal(h.jobs.run('batch', r.id).status, 'ACTIVE');
        await h.report(first!, 'TASK_KILLED');
        await h.report(second!, 'TASK_FINISHED');
        assert.equal(h.jobs.run('batch', r.id).status, 'SUCCESS');
        assert.equal(h.jobs.run('batch', r.id).tasks.length, 2, 'exactly one retry');
        assert.deepEqual(await h.launch(), [], 'nothing more');
      }));
  }

  test('NEVER: a lost task fails the run (naming why); the old task, back, is killed', () =>
    withHarness(async (h) => {
      await h.add({ id: 'once', run: run() });
      const r = await h.jobs.runNow('once');
      const [task] = await h.launch();
      await h.report(task!, 'TASK_RUNNING');
      await h.report(task!, 'TASK_LOST', 'Agent host-1 is unreachable');
      assert.equal(h.jobs.run('once', r.id).status, 'FAILED');
      assert.match(h.jobs.run('once', r.id).reason ?? '', /TASK_LOST: Agent host-1 is unreachable/);
      await h.report(task!, 'TASK_RUNNING');
      assert.deepEqual(h.master.killed(), [task]);
      assert.deepEqual(await h.launch(), [], 'no second run');
    }));

  test('past activeDeadlineSeconds a lost task fails the run for good', () =>
    withHarness(async (h) => {
      await h.add({ id: 'deadline', run: run('sleep 60', { restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 60 } }) });
      const r = await h.jobs.runNow('deadline');
      const [task] = await h.launch();
      await h.report(task!, 'TASK_RUNNING');
      h.clock.advance(61_000);
      await h.report(task!, 'TASK_LOST');
      assert.equal(h.jobs.run('deadline', r.id).status, 'FAILED');
    }));
});
