/**
 * The jobs framework shell against a real store (SQLite in a temp dir, or memory), a scripted
 * master and an injected clock: runs and retries, FORBID vs ALLOW, exactly-once ticks across a
 * restart, dependency cycles, history retention, stop and delete.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverError } from '../../errors/errors.ts';
import { openStore } from '../../store/open.ts';
import type { Store } from '../../store/store.ts';
import { keys } from './job-store.ts';
import { ManualClock, startJobs, type Harness } from './jobs-harness.ts';

const T0 = Date.parse('2026-03-01T00:00:30Z');
const MIN = 60_000;
const run = (cmd = 'true', extra: Record<string, unknown> = {}) => ({ cmd, cpus: 0.1, mem: 32, ...extra });

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-jobs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withHarness(fn: (h: Harness, store: Store) => Promise<void>, historyCount?: number): Promise<void> {
  const store = await openStore('memory:');
  const h = await startJobs(store, new ManualClock(T0), historyCount);
  try {
    await fn(h, store);
  } finally {
    await h.jobs.stop();
    await store.close();
  }
}

describe('runs', () => {
  test('run now → launched on an offer → SUCCESS; a task that exits 0 is never restarted', () =>
    withHarness(async (h) => {
      await h.add({ id: 'once', run: run('true', { restart: { policy: 'ON_FAILURE' } }) });
      const r = await h.jobs.runNow('once');
      assert.equal(r.status, 'INITIAL');
      assert.ok(
        h.master.calls.some((c) => c.type === 'REVIVE'),
        'asks for offers while a run waits',
      );
      const [task] = await h.launch();
      assert.equal(task, `once_${r.id}.1`);
      assert.equal(h.jobs.run('once', r.id).status, 'STARTING');
      await h.report(task!, 'TASK_RUNNING');
      assert.equal(h.jobs.run('once', r.id).status, 'ACTIVE');
      await h.report(task!, 'TASK_FINISHED');
      assert.equal(h.jobs.run('once', r.id).status, 'SUCCESS');
      assert.deepEqual(await h.launch(), [], 'nothing is relaunched');
      const history = h.jobs.history('once');
      assert.equal(history.successCount, 1);
      assert.deepEqual(history.successfulFinishedRuns[0]!.tasks, [task]);
    }));

  test('ON_FAILURE retries a failed task in the same run; NEVER fails the run', () =>
    withHarness(async (h) => {
      await h.add({ id: 'retry', run: run('false', { restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 600 } }) });
      await h.add({ id: 'never', run: run('false') });
      const a = await h.jobs.runNow('retry');
      const b = await h.jobs.runNow('never');
      const first = await h.launch();
      assert.equal(first.length, 2);
      for (const t of first) await h.report(t, 'TASK_FAILED', 'exit 1');
      assert.equal(h.jobs.run('never', b.id).status, 'FAILED');
      assert.match(h.jobs.run('never', b.id).reason ?? '', /TASK_FAILED: exit 1/);
      assert.equal(h.jobs.run('retry', a.id).status, 'INITIAL');
      const second = await h.launch();
      assert.deepEqual(second, [`retry_${a.id}.2`]);
      await h.report(second[0]!, 'TASK_FINISHED');
      assert.equal(h.jobs.run('retry', a.id).status, 'SUCCESS');
      assert.equal(h.jobs.run('retry', a.id).tasks.length, 2);
      // Past activeDeadlineSeconds, a failure is final.
      const c = await h.jobs.runNow('retry');
      const [t] = await h.launch();
      h.clock.advance(601_000);
      await h.report(t!, 'TASK_FAILED');
      assert.equal(h.jobs.run('retry', c.id).status, 'FAILED');
    }));

  test('stop kills the task and ends the run FAILED without a retry; stop before launch fails it at once', () =>
    withHarness(async (h) => {
      await h.add({ id: 'long', run: run('sleep 100', { restart: { policy: 'ON_FAILURE' } }) });
      const r = await h.jobs.runNow('long');
      const [task] = await h.launch();
      await h.report(task!, 'TASK_RUNNING');
      await h.jobs.stopRun('long', r.id);
      assert.deepEqual(h.master.killed(), [task]);
      await h.report(task!, 'TASK_KILLED');
      assert.equal(h.jobs.run('long', r.id).status, 'FAILED');
      assert.match(h.jobs.run('long', r.id).reason ?? '', /^stopped by request/);
      assert.deepEqual(await h.launch(), []);
      const waiting = await h.jobs.runNow('long');
      await h.jobs.stopRun('long', waiting.id);
      assert.equal(h.jobs.run('long', waiting.id).status, 'FAILED');
    }));

  test('delete: 409 with active runs, 409 while a job depends on it; stopCurrentJobRuns kills and deletes', () =>
    withHarness(async (h, store) => {
      await h.add({ id: 'parent', run: run() });
      await h.add({ id: 'child', run: run(), dependencies: [{ id: 'parent' }] });
      await assert.rejects(h.jobs.deleteJob('parent', true), (e: unknown) => e instanceof DroverError && e.status === 409 && /dependency of 'child'/.test(e.message));
      await h.jobs.deleteJob('child', false);
      await h.jobs.runNow('parent');
      const [task] = await h.launch();
      await assert.rejects(
        h.jobs.deleteJob('parent', false),
        (e: unknown) => e instanceof DroverError && e.status === 409 && e.message === 'There are active job runs. Override with stopCurrentJobRuns=true',
      );
      assert.ok(h.jobs.jobs.has('parent'), 'a refused delete changes nothing');
      await h.jobs.deleteJob('parent', true);
      assert.deepEqual(h.master.killed(), [task]);
      assert.equal((await store.range('/drover/jobs/runs/parent/')).kvs.length, 0);
      assert.throws(() => h.jobs.job('parent'), /Job 'parent' does not exist/);
    }));

  test("a late update of a deleted job's task is killed once; the master's TASK_LOST answer to that KILL is not killed again", () =>
    withHarness(async (h) => {
      // Before: TASK_LOST of an unknown task got a KILL, and the master answers a KILL of a task it
      // does not know with TASK_LOST — a KILL → TASK_LOST → KILL loop that never yielded in process
      // (seen in the soak scenario: a job deleted with stopCurrentJobRuns while its task started).
      await h.add({ id: 'gone', run: run() });
      await h.jobs.runNow('gone');
      const [task] = await h.launch();
      assert.ok(h.jobs.launcher.rejections.has('gone'), 'offers seen for the job are kept for /v1/queue');
      await h.jobs.deleteJob('gone', true);
      assert.deepEqual(h.master.killed(), [task], 'stopCurrentJobRuns kills the task');
      assert.equal(h.jobs.launcher.rejections.has('gone'), false, 'a deleted job leaves nothing in memory');
      await h.report(task!, 'TASK_RUNNING'); // on its way before the kill landed
      assert.deepEqual(h.master.killed(), [task, task]);
      h.master.update(task!, 'TASK_LOST', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER', message: 'Attempted to kill an unknown task' });
      await h.settle();
      await h.report(task!, 'TASK_UNKNOWN');
      await h.report(task!, 'TASK_UNREACHABLE');
      assert.deepEqual(h.master.killed(), [task, task], 'no KILL in reply to updates that do not say the task runs');
    }));

  test('a run that waits longer than maxLaunchDelay fails with the reason offers were refused', () =>
    withHarness(async (h) => {
      await h.add({ id: 'big', run: run('true', { cpus: 8, maxLaunchDelay: 60 }) });
      const r = await h.jobs.runNow('big');
      assert.deepEqual(await h.launch('cpus:1;mem:1024'), []);
      h.clock.advance(61_000);
      await h.jobs.tick();
      assert.equal(h.jobs.run('big', r.id).status, 'FAILED');
      assert.equal(h.jobs.run('big', r.id).reason, 'not launched within maxLaunchDelay 60 s: insufficient cpus: 1 < 8');
    }));

  test('history keeps the last N finished runs; older run records leave the store', () =>
    withHarness(async (h, store) => {
      await h.add({ id: 'often', run: run() });
      for (let i = 0; i < 5; i++) {
        await h.jobs.runNow('often');
        const [t] = await h.launch();
        await h.report(t!, 'TASK_FINISHED');
        h.clock.advance(1000);
      }
      const history = h.jobs.history('often');
      assert.equal(history.successCount, 5);
      assert.equal(history.successfulFinishedRuns.length, 3);
      assert.equal((await store.range(keys.runs('often'))).kvs.length, 3);
      assert.equal((await store.range(keys.claims('often'))).kvs.length, 3, 'claims leave with their runs');
    }, 3));
});

describe('schedules', () => {
  test('FORBID skips a tick while its run is active (naming it); ALLOW overlaps', () =>
    withHarness(async (h) => {
      await h.add({ id: 'forbid', run: run(), schedules: [{ id: 'm', cron: '* * * * *', concurrencyPolicy: 'FORBID' }] });
      await h.add({ id: 'allow', run: run(), schedules: [{ id: 'm', cron: '* * * * *', concurrencyPolicy: 'ALLOW' }] });
      h.clock.advance(MIN);
      await h.jobs.tick();
      const firstTasks = await h.launch();
      assert.equal(firstTasks.length, 2);
      for (const t of firstTasks) await h.report(t, 'TASK_RUNNING');
      h.clock.advance(MIN);
      await h.jobs.tick();
      assert.equal(h.jobs.activeRuns('allow').length, 2, 'ALLOW: a second run next to the first');
      assert.equal(h.jobs.activeRuns('forbid').length, 1, 'FORBID: still one');
      const skipped = h.jobs.history('forbid').skippedRuns;
      assert.equal(skipped.length, 1);
      assert.equal(skipped[0]!.reason, `concurrencyPolicy FORBID: run ${h.jobs.activeRuns('forbid')[0]!.id} is still active`);
      assert.equal(skipped[0]!.scheduledAt, T0 - 30_000 + 2 * MIN);
      // Once the run ends, the next tick launches again.
      await h.report(firstTasks.find((t) => t.startsWith('forbid'))!, 'TASK_FINISHED');
      h.clock.advance(MIN);
      await h.jobs.tick();
      assert.equal(h.jobs.activeRuns('forbid').length, 1);
      assert.equal(h.jobs.activeRuns('forbid')[0]!.status, 'INITIAL');
    }));

  test('a week of an hourly schedule in Europe/Berlin, fast-forwarded: one run per tick', () =>
    withHarness(async (h) => {
      await h.add({ id: 'hourly', run: run('true', { maxLaunchDelay: 1_000_000 }), schedules: [{ id: 'h', cron: '15 * * * *', timezone: 'Europe/Berlin' }] });
      for (let i = 0; i < 7 * 24 * 4; i++) {
        h.clock.advance(15 * MIN);
        await h.jobs.tick();
      }
      const runs = h.jobs.runsOf('hourly');
      assert.equal(runs.length, 7 * 24);
      assert.equal(new Set(runs.map((r) => r.scheduledAt)).size, runs.length);
      assert.ok(runs.every((r) => new Date(r.scheduledAt!).getUTCMinutes() === 15));
    }));

  test('a long gap is decided in bounded transactions: every tick once, missed ones summarised', () =>
    withHarness(async (h, store) => {
      await h.add({ id: 'busy', run: run('true', { maxLaunchDelay: 1_000_000 }), schedules: [{ id: 'm', cron: '* * * * *', startingDeadlineSeconds: 3600 }] });
      // Three hours at once: minutes 1..120 are over an hour old (skipped), 121..180 run.
      h.clock.advance(180 * MIN);
      await h.jobs.tick();
      const ticks = h.jobs
        .runsOf('busy')
        .map((r) => Math.round((r.scheduledAt! - (T0 - 30_000)) / MIN))
        .sort((a, b) => a - b);
      assert.deepEqual(
        ticks,
        Array.from({ length: 60 }, (_, i) => 121 + i),
      );
      const history = h.jobs.history('busy');
      assert.equal(history.skippedCount, 120);
      assert.equal(history.skippedRuns.length, 10, 'the history keeps the last 10 skip records');
      assert.equal(h.jobs.cursorOf('busy', 'm')!.cursor, T0 - 30_000 + 180 * MIN);
      // Claims of skip records that left the history are gone too: 60 runs + 10 skips.
      assert.equal((await store.range(keys.claims('busy'))).kvs.length, 70);
    }));

  test('exactly once across a restart: no duplicate, no silent gap; a stale instance cannot decide again', async () => {
    const path = join(dir, 'restart.db');
    const clock = new ManualClock(T0);
    const store1 = await openStore(`sqlite:${path}`);
    const first = await startJobs(store1, clock);
    await first.add({ id: 'tick', run: run(), schedules: [{ id: 'm', cron: '* * * * *', startingDeadlineSeconds: 120 }] });
    clock.advance(2 * MIN);
    await first.jobs.tick();
    assert.equal(first.jobs.runsOf('tick').length, 2);
    // The master goes away for 10 minutes. Its successor opens the same store.
    await first.jobs.stop();
    await store1.close();
    clock.advance(10 * MIN);
    const store2 = await openStore(`sqlite:${path}`);
    const second = await startJobs(store2, clock);
    // Now is 00:12:30. On start it decided every tick since its predecessor's last: minutes 3..12.
    // Minutes 3..10 are more than 120 s old (00:10 is 150 s) → skipped with the reason; 11 and 12 run.
    const runs = second.jobs.runsOf('tick');
    const ticks = runs.map((r) => (r.scheduledAt! - (T0 - 30_000)) / MIN).sort((a, b) => a - b);
    assert.deepEqual(ticks, [1, 2, 11, 12]);
    const skipped = second.jobs
      .history('tick')
      .skippedRuns.map((s) => (s.scheduledAt! - (T0 - 30_000)) / MIN)
      .sort((a, b) => a - b);
    assert.deepEqual(skipped, [3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(second.jobs.history('tick').skippedRuns.every((s) => /^missed: .* beyond startingDeadlineSeconds 120/.test(s.reason)));
    // Every tick 1..12 has exactly one decision in the store.
    const claims = (await store2.range(keys.claims('tick'))).kvs;
    assert.equal(claims.length, 12);
    // Ticking again changes nothing.
    await second.jobs.tick();
    assert.equal(second.jobs.runsOf('tick').length, 4);
    await second.jobs.stop();
    await store2.close();

    // A stale instance (an old master that has not noticed it was replaced) with its own old
    // view: its tick finds the cursor moved (compare-and-set fails), reloads, and launches nothing twice.
    // Two instances on one store (SQLite allows one process per file): the stale one starts with
    // the view of minute 2 (forced below), the fresh one at minute 13.
    const store3 = await openStore(`sqlite:${path}`);
    const stale = await startJobs(store3, new ManualClock(T0 + 2 * MIN));
    const fresh = await startJobs(store3, new ManualClock(T0 + 13 * MIN));
    assert.equal(fresh.jobs.runsOf('tick').length, 5, 'minute 13 ran');
    stale.clock.set(T0 + 13 * MIN);
    (stale.jobs.cursors as Map<string, unknown>).set(`tick\u0000m`, { cursor: T0 - 30_000 + 2 * MIN, storedAt: T0 });
    await stale.jobs.tick();
    const all = (await store3.range(keys.runs('tick'))).kvs.map((kv) => JSON.parse(kv.value) as { scheduledAt: number });
    assert.equal(new Set(all.map((r) => r.scheduledAt)).size, all.length, 'no tick has two runs');
    assert.equal(all.length, 5);
    assert.equal(stale.jobs.runsOf('tick').length, 4, 'the stale instance launched nothing');
    for (const h of [stale, fresh]) await h.jobs.stop();
    await store3.close();
  });
});

describe('restart', () => {
  test('a run recorded but not launched is launched after a restart; a launched one is reconciled and finishes', async () => {
    const path = join(dir, 'recover.db');
    const clock = new ManualClock(T0);
    const store1 = await openStore(`sqlite:${path}`);
    const first = await startJobs(store1, clock);
    await first.add({ id: 'work', run: run() });
    const launched = await first.jobs.runNow('work');
    const [task] = await first.launch();
    const waiting = await first.jobs.runNow('work');
    await first.jobs.stop();
    await store1.close();

    const store2 = await openStore(`sqlite:${path}`);
    const second = await startJobs(store2, clock);
    try {
      // The launched run's task id was stored before the launch: the new instance asks about it.
      const reconcile = second.master.calls.find((c) => c.type === 'RECONCILE');
      assert.deepEqual(
        reconcile?.reconcile?.tasks?.map((t) => t.task_id.value),
        [task],
      );
      assert.ok(
        second.master.calls.some((c) => c.type === 'REVIVE'),
        'the waiting run asks for offers',
      );
      const [next] = await second.launch();
      assert.equal(next, `work_${waiting.id}.1`);
      await second.report(task!, 'TASK_FINISHED');
      await second.report(next!, 'TASK_FINISHED');
      assert.equal(second.jobs.run('work', launched.id).status, 'SUCCESS');
      assert.equal(second.jobs.run('work', waiting.id).status, 'SUCCESS');
      assert.equal(second.jobs.history('work').successCount, 2);
    } finally {
      await second.jobs.stop();
      await store2.close();
    }
  });
});

describe('schedules across DST, fast-forwarded', () => {
  test('02:30 daily in Europe/Berlin over the spring change: one run per day, the gap day at 03:00', () =>
    withHarness(async (h) => {
      h.clock.set(Date.parse('2026-03-27T12:00:00Z'));
      await h.add({ id: 'nightly', run: run('true', { maxLaunchDelay: 1_000_000 }), schedules: [{ id: 'n', cron: '30 2 * * *', timezone: 'Europe/Berlin' }] });
      for (let i = 0; i < 4 * 24 * 4; i++) {
        h.clock.advance(15 * MIN);
        await h.jobs.tick();
      }
      const ticks = h.jobs
        .runsOf('nightly')
        .map((r) => new Date(r.scheduledAt!).toISOString())
        .sort();
      assert.deepEqual(ticks, ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
    }));

  test('01:30 daily in America/New_York over the fall change: once on the day 01:30 happens twice', () =>
    withHarness(async (h) => {
      h.clock.set(Date.parse('2026-10-31T12:00:00Z'));
      await h.add({ id: 'nightly', run: run('true', { maxLaunchDelay: 1_000_000 }), schedules: [{ id: 'n', cron: '30 1 * * *', timezone: 'America/New_York' }] });
      for (let i = 0; i < 3 * 24 * 4; i++) {
        h.clock.advance(15 * MIN);
        await h.jobs.tick();
      }
      const ticks = h.jobs
        .runsOf('nightly')
        .map((r) => new Date(r.scheduledAt!).toISOString())
        .sort();
      assert.deepEqual(ticks, ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z', '2026-11-03T06:30:00.000Z']);
    }));
});

describe('dependencies', () => {
  const chain = async (h: Harness): Promise<void> => {
    await h.add({ id: 'extract', run: run(), schedules: [{ id: 'hourly', cron: '0 * * * *' }] });
    await h.add({ id: 'transform', run: run(), dependencies: [{ id: 'extract' }] });
    await h.add({ id: 'load', run: run(), dependencies: [{ id: 'transform' }] });
  };
  const finish = async (h: Harness, jobId: string, state: 'TASK_FINISHED' | 'TASK_FAILED'): Promise<string> => {
    const [task] = await h.launch();
    assert.ok(task?.startsWith(`${jobId}_`), `${jobId} launched, got ${String(task)}`);
    await h.report(task!, state);
    return task!;
  };

  test('3 levels, the middle job fails: the last one is skipped naming it; marking it successful releases it', () =>
    withHarness(async (h) => {
      await chain(h);
      h.clock.advance(60 * MIN);
      await h.jobs.tick();
      await finish(h, 'extract', 'TASK_FINISHED');
      const transform = h.jobs.runsOf('transform')[0]!;
      assert.equal(transform.cycle, h.jobs.runsOf('extract')[0]!.cycle, 'the child runs in its parent’s cycle');
      await finish(h, 'transform', 'TASK_FAILED');
      assert.equal(h.jobs.runsOf('load').length, 0);
      const skip = h.jobs.history('load').skippedRuns[0]!;
      assert.equal(skip.reason, `parent 'transform' failed in cycle ${transform.cycle} (run ${transform.id})`);
      // Chronos' job/success: the failed run counts as a success, and its dependents run.
      await h.jobs.markSuccess('transform', transform.id);
      assert.equal(h.jobs.history('transform').successCount, 1);
      assert.equal(h.jobs.history('transform').failureCount, 0);
      const [load] = h.jobs.runsOf('load');
      assert.equal(load?.cycle, transform.cycle);
      await finish(h, 'load', 'TASK_FINISHED');
      // Next cycle: the root fails → both levels below are skipped, each naming its parent.
      h.clock.advance(60 * MIN);
      await h.jobs.tick();
      await finish(h, 'extract', 'TASK_FAILED');
      assert.match(h.jobs.history('transform').skippedRuns[0]!.reason, /^parent 'extract' failed in cycle /);
      assert.match(h.jobs.history('load').skippedRuns[0]!.reason, /^parent 'transform' was skipped in cycle .*: parent 'extract' failed/);
      assert.equal(h.jobs.runsOf('load').length, 1);
    }));

  test('a child with two parents never runs on a mix of cycles', () =>
    withHarness(async (h) => {
      await h.add({ id: 'root', run: run(), schedules: [{ id: 'hourly', cron: '0 * * * *' }] });
      await h.add({ id: 'left', run: run(), dependencies: [{ id: 'root' }] });
      await h.add({ id: 'right', run: run(), dependencies: [{ id: 'root' }] });
      await h.add({ id: 'join', run: run(), dependencies: [{ id: 'left' }, { id: 'right' }] });
      const cycle = async (leftOk: boolean, rightOk: boolean): Promise<void> => {
        h.clock.advance(60 * MIN);
        await h.jobs.tick();
        await finish(h, 'root', 'TASK_FINISHED');
        const tasks = await h.launch();
        assert.equal(tasks.length, 2);
        for (const t of tasks) await h.report(t, (t.startsWith('left') ? leftOk : rightOk) ? 'TASK_FINISHED' : 'TASK_FAILED');
      };
      await cycle(true, false);
      await cycle(false, true);
      // left succeeded in cycle 1 and right in cycle 2: join must not run.
      assert.equal(h.jobs.runsOf('join').length, 0);
      assert.equal(h.jobs.history('join').skippedRuns.length, 2);
      await cycle(true, true);
      assert.equal(h.jobs.runsOf('join').length, 1);
    }));

  test('unknown parents and cycles are refused', () =>
    withHarness(async (h) => {
      await assert.rejects(
        h.add({ id: 'orphan', run: run(), dependencies: [{ id: 'ghost' }] }),
        (e: unknown) => e instanceof DroverError && e.status === 422 && e.details[0]!.errors[0] === "unknown parent job 'ghost'",
      );
      await h.add({ id: 'a', run: run() });
      await h.add({ id: 'b', run: run(), dependencies: [{ id: 'a' }] });
      const { parseJob } = await import('./job.ts');
      await assert.rejects(
        h.jobs.putJob(parseJob({ id: 'a', run: run(), dependencies: [{ id: 'b' }] }, T0), false),
        (e: unknown) => e instanceof DroverError && e.status === 422 && /dependency cycle: a → b → a/.test(e.details[0]!.errors[0]!),
      );
    }));
});
