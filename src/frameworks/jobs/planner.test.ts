/**
 * The pure core: ticks with deadlines and concurrency, the dependency graph, run transitions,
 * history retention. No store, no sockets, no sleeps: time is a number.
 */
import { test, describe } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { DroverError } from '../../errors/errors.ts';
import { emptyHistory, recordFinished, recordSkipped } from './history.ts';
import { nextTick, parseJob, type Job, type Schedule } from './job.ts';
import { MAX_SKIP_RECORDS, dependencyErrors, decideChild, planTicks, type Outcome } from './planner.ts';
import { TRANSITIONS, cycleRunId, transition, type Run } from './run.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
const nextTickOf = (s: Schedule, after: number): number | undefined => nextTick(s, after, T0);
const minutely = (extra: Partial<Schedule> = {}): Schedule => ({ id: 's', cron: '* * * * *', timezone: 'UTC', startingDeadlineSeconds: 900, concurrencyPolicy: 'ALLOW', enabled: true, ...extra });

describe('planTicks', () => {
  test('nothing is due before the first tick; each tick once, then the cursor moves past it', () => {
    assert.deepEqual(planTicks(minutely(), T0, T0, T0 + 59_999, undefined), { decisions: [], cursor: T0 });
    const plan = planTicks(minutely(), T0, T0, T0 + 2 * MIN + 5_000, undefined);
    assert.deepEqual(plan.decisions, [
      { tick: T0 + MIN, action: 'launch' },
      { tick: T0 + 2 * MIN, action: 'launch' },
    ]);
    assert.equal(plan.cursor, T0 + 2 * MIN);
    // Planning again from the new cursor at the same time decides nothing twice.
    assert.deepEqual(planTicks(minutely(), plan.cursor, T0, T0 + 2 * MIN + 5_000, undefined).decisions, []);
  });

  test('ALLOW overlaps: every tick launches even while a run is active', () => {
    const plan = planTicks(minutely(), T0, T0, T0 + 3 * MIN, 'run-1');
    assert.deepEqual(
      plan.decisions.map((d) => d.action),
      ['launch', 'launch', 'launch'],
    );
  });

  test('FORBID skips a tick while a run is active, naming it — including runs this plan launches', () => {
    const busy = planTicks(minutely({ concurrencyPolicy: 'FORBID' }), T0, T0, T0 + MIN, 'run-1');
    assert.deepEqual(busy.decisions, [{ tick: T0 + MIN, action: 'skip', reason: 'concurrencyPolicy FORBID: run run-1 is still active' }]);
    const idle = planTicks(minutely({ concurrencyPolicy: 'FORBID' }), T0, T0, T0 + 3 * MIN, undefined);
    assert.deepEqual(
      idle.decisions.map((d) => d.action),
      ['launch', 'skip', 'skip'],
    );
  });

  test('ticks older than startingDeadlineSeconds are skipped with the reason; recent ones still run', () => {
    // Down from T0 to T0 + 20 min with a 5-minute deadline: ticks 1..14 are missed (> 300 s old),
    // ticks 15..20 are within the deadline and run.
    const plan = planTicks(minutely({ startingDeadlineSeconds: 300 }), T0, T0, T0 + 20 * MIN, undefined);
    const skipped = plan.decisions.filter((d) => d.action === 'skip');
    const launched = plan.decisions.filter((d) => d.action === 'launch');
    assert.equal(skipped.length, 14);
    assert.equal(launched.length, 6);
    assert.equal(launched[0]!.tick, T0 + 15 * MIN);
    assert.match((skipped[0] as { reason: string }).reason, /^missed: tick 2026-01-01T00:01:00.000Z was 1140 s ago, beyond startingDeadlineSeconds 300/);
    assert.equal(plan.cursor, T0 + 20 * MIN);
  });

  test('a long outage is summarised: one record stands for the oldest missed ticks', () => {
    const plan = planTicks(minutely({ startingDeadlineSeconds: 60 }), T0, T0, T0 + 24 * 60 * MIN, undefined);
    const skips = plan.decisions.filter((d): d is Extract<typeof d, { action: 'skip' }> => d.action === 'skip');
    assert.equal(skips.length, MAX_SKIP_RECORDS);
    // 1440 ticks; the last two (60 s old and now) are within the deadline and run; 1438 missed =
    // one summary of 1339 + 99 single ones.
    assert.equal(
      skips.reduce((n, s) => n + (s.count ?? 1), 0),
      1438,
    );
    assert.match(skips[0]!.reason, /^missed: 1339 ticks from 2026-01-01T00:01:00.000Z to/);
    assert.deepEqual(
      plan.decisions.filter((d) => d.action === 'launch').map((d) => d.tick),
      [T0 + 1439 * MIN, T0 + 1440 * MIN],
    );
  });

  test('a disabled schedule decides nothing and just moves its cursor', () => {
    assert.deepEqual(planTicks(minutely({ enabled: false }), T0, T0, T0 + 10 * MIN, undefined), { decisions: [], cursor: T0 + 10 * MIN });
  });
});

const job = (id: string, parents: string[] = []): Job => parseJob({ id, run: { cmd: 'true' }, dependencies: parents.map((p) => ({ id: p })) }, T0);

describe('dependencies', () => {
  const jobs = new Map([
    ['a', job('a')],
    ['b', job('b', ['a'])],
    ['c', job('c', ['b'])],
  ]);

  test('unknown parents, self-dependency and cycles are refused with the path', () => {
    assert.deepEqual(dependencyErrors(jobs, job('d', ['nope'])), [{ path: '/dependencies/0/id', errors: ["unknown parent job 'nope'"] }]);
    assert.deepEqual(dependencyErrors(jobs, job('d', ['d'])), [{ path: '/dependencies/0/id', errors: ['a job cannot depend on itself'] }]);
    // a now depending on c closes a → c → b → a.
    assert.deepEqual(dependencyErrors(jobs, job('a', ['c'])), [{ path: '/dependencies', errors: ['dependency cycle: a → c → b → a'] }]);
    assert.deepEqual(dependencyErrors(jobs, job('d', ['a', 'c'])), []);
  });

  test('a child runs once all parents succeeded in the same cycle, and is skipped naming a failed one', () => {
    const child = job('d', ['a', 'c']);
    const outcomes =
      (m: Record<string, Outcome>) =>
      (id: string): Outcome =>
        m[id] ?? { state: 'PENDING' };
    assert.deepEqual(decideChild(child, 'c1', outcomes({ a: { state: 'SUCCESS', runId: 'r1' } })), { action: 'wait' });
    assert.deepEqual(decideChild(child, 'c1', outcomes({ a: { state: 'SUCCESS', runId: 'r1' }, c: { state: 'SUCCESS', runId: 'r2' } })), { action: 'launch' });
    assert.deepEqual(decideChild(child, 'c1', outcomes({ c: { state: 'FAILED', runId: 'r2' } })), { action: 'skip', reason: "parent 'c' failed in cycle c1 (run r2)" });
    assert.deepEqual(decideChild(child, 'c1', outcomes({ a: { state: 'SKIPPED', reason: 'why' }, c: { state: 'SUCCESS', runId: 'r2' } })), {
      action: 'skip',
      reason: "parent 'a' was skipped in cycle c1: why",
    });
  });
});

describe('runs and history', () => {
  const run = (id: string, status: Run['status'], at: number): Run => ({
    id,
    jobId: 'j',
    status,
    createdAt: at,
    completedAt: at + 1,
    trigger: 'manual',
    cycle: id,
    tasks: [{ id: `j_${id}.1`, status: 'TASK_FINISHED', agentId: 'a', hostname: 'h', startedAt: at }],
  });

  test('the transition table is explicit; a finished run does not come back, except FAILED → SUCCESS by hand', () => {
    const r = run('r', 'INITIAL', T0);
    assert.deepEqual(transition(r, 'STARTING', T0), { before: 'INITIAL', after: 'STARTING' });
    assert.deepEqual(transition(r, 'ACTIVE', T0), { before: 'STARTING', after: 'ACTIVE' });
    assert.deepEqual(transition(r, 'INITIAL', T0), { before: 'ACTIVE', after: 'INITIAL' }, 'a retry');
    transition(r, 'STARTING', T0);
    transition(r, 'FAILED', T0 + 5);
    assert.equal(r.completedAt, T0 + 5);
    assert.throws(
      () => transition(r, 'ACTIVE', T0),
      (e: unknown) => e instanceof DroverError && e.status === 409,
    );
    transition(r, 'SUCCESS', T0 + 6);
    assert.deepEqual(TRANSITIONS.SUCCESS, []);
  });

  test('run ids of a cycle are deterministic (one id per (job, tick)) and look like Metronome’s', () => {
    assert.equal(cycleRunId('j', '2026-01-01T00:01:00.000Z', T0 + MIN), cycleRunId('j', '2026-01-01T00:01:00.000Z', T0 + MIN));
    assert.notEqual(cycleRunId('j', 'a', T0), cycleRunId('k', 'a', T0));
    assert.match(cycleRunId('j', 'a', T0), /^20260101000000[A-Za-z0-9]{5}$/);
  });

  test('history keeps the last N of each kind with task ids and counts all; dropped ids are reported', () => {
    let h = emptyHistory();
    const dropped: string[] = [];
    for (let i = 0; i < 5; i++) {
      const change = recordFinished(h, run(`s${i}`, 'SUCCESS', T0 + i), 3);
      h = change.history;
      dropped.push(...change.dropped);
    }
    h = recordFinished(h, run('f0', 'FAILED', T0 + 10), 3).history;
    assert.equal(h.successCount, 5);
    assert.equal(h.failureCount, 1);
    assert.deepEqual(
      h.successfulFinishedRuns.map((r) => r.id),
      ['s4', 's3', 's2'],
    );
    assert.deepEqual(h.successfulFinishedRuns[0]!.tasks, ['j_s4.1']);
    assert.deepEqual(dropped, ['s0', 's1']);
    assert.equal(h.lastSuccessAt, T0 + 5);
    assert.equal(h.lastFailureAt, T0 + 11);
    // Marked successful by hand: it moves from failures to successes.
    const fixed = recordFinished(h, run('f0', 'SUCCESS', T0 + 10), 3).history;
    assert.deepEqual([fixed.failureCount, fixed.successCount, fixed.failedFinishedRuns.length], [0, 6, 0]);
    const skipped = recordSkipped(h, { cycle: 'c', skippedAt: T0, reason: 'r', count: 7 }, 3);
    assert.equal(skipped.skippedCount, 7);
  });
});

describe('planTicks, property: every tick decided exactly once, whatever the tick times', () => {
  test('any sequence of evaluation times covers every tick once, in order, with no duplicates', () => {
    const crons = ['* * * * *', '*/7 * * * *', '0 * * * *', '30 2 * * *', '0 0 L * *'];
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York'];
    fc.assert(
      fc.property(
        fc.constantFrom(...crons),
        fc.constantFrom(...zones),
        fc.constantFrom<'ALLOW' | 'FORBID'>('ALLOW', 'FORBID'),
        fc.array(fc.integer({ min: 1, max: 6 * 60 }), { minLength: 1, maxLength: 8 }),
        (cron, timezone, concurrencyPolicy, gapsMinutes) => {
          const schedule = minutely({ cron, timezone, concurrencyPolicy, startingDeadlineSeconds: 600 });
          let cursor = T0;
          let now = T0;
          const decided: number[] = [];
          for (const gap of gapsMinutes) {
            now += gap * MIN - 17_000; // off the minute, so evaluation times never line up with ticks
            const plan = planTicks(schedule, cursor, T0, now, undefined);
            assert.ok(plan.cursor >= cursor && plan.cursor <= now, 'the cursor moves forward, never past now');
            for (const d of plan.decisions) decided.push(d.tick);
            cursor = plan.cursor;
          }
          // Every tick in (T0, cursor], in order, exactly once (a summary record counts once here,
          // so compare only when no summary was needed).
          const expected: number[] = [];
          for (let t = T0; ; ) {
            const next = nextTickOf(schedule, t);
            if (next === undefined || next > cursor) break;
            expected.push(next);
            t = next;
          }
          const unique = new Set(decided);
          assert.equal(unique.size, decided.length, 'no tick decided twice');
          if (decided.length === expected.length) assert.deepEqual(decided, expected);
          else assert.ok(decided.every((t) => expected.includes(t)) && decided.length < expected.length, 'only summaries shorten the list');
        },
      ),
      { numRuns: 60 },
    );
  });
});
