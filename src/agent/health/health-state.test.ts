import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HealthCheckSpec } from './health-check-spec.ts';
import { initialHealth, nextProbeDelay, recordResult, type HealthReport, type HealthState, type ProbeResult } from './health-state.ts';

const spec: HealthCheckSpec = {
  probe: { type: 'HTTP', port: 8080, path: '/health', scheme: 'http', statuses: [] },
  delayMs: 15_000,
  intervalMs: 10_000,
  timeoutMs: 20_000,
  consecutiveFailures: 3,
  gracePeriodMs: 10_000,
};

const ok: ProbeResult = { ok: true, durationMs: 5 };
const fail: ProbeResult = { ok: false, message: 'connection refused', durationMs: 1 };

/** Feeds results at the given times (ms since checking started) and collects the reports. */
function run(results: Array<[number, ProbeResult]>, s: HealthCheckSpec = spec): { state: HealthState; reports: Array<[number, HealthReport]> } {
  let state = initialHealth(0);
  const reports: Array<[number, HealthReport]> = [];
  for (const [at, result] of results) {
    const step = recordResult(s, state, result, at);
    state = step.state;
    if (step.report !== undefined) reports.push([at, step.report]);
  }
  return { state, reports };
}

describe('health state machine', () => {
  test('the first success is reported at once, further successes are not', () => {
    const { reports, state } = run([
      [1_000, ok],
      [11_000, ok],
      [21_000, ok],
    ]);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]![1].healthy, true);
    assert.match(reports[0]![1].message, /HTTP health check on port 8080\/health passed/);
    assert.equal(state.healthy, true);
  });

  test('failures inside the grace period do not count, until the first success', () => {
    // Grace is 10 s: failures at 1 s, 5 s, 9 s are ignored; the ones at 11 s, 12 s, 13 s count.
    const { reports, state } = run([
      [1_000, fail],
      [5_000, fail],
      [9_000, fail],
      [11_000, fail],
      [12_000, fail],
    ]);
    assert.deepEqual(reports, []);
    assert.equal(state.consecutiveFailures, 2);
    const third = recordResult(spec, state, fail, 13_000);
    assert.equal(third.report?.healthy, false);
    assert.match(third.report?.message ?? '', /failed 3 times in a row: connection refused/);
  });

  test('after a success inside the grace period, failures count at once', () => {
    const { reports } = run([
      [1_000, ok],
      [2_000, fail],
      [3_000, fail],
      [4_000, fail],
    ]);
    assert.deepEqual(
      reports.map(([at, r]) => [at, r.healthy]),
      [
        [1_000, true],
        [4_000, false],
      ],
    );
  });

  test('N consecutive failures flip to unhealthy; a success in between resets the count', () => {
    const { reports } = run([
      [20_000, ok],
      [30_000, fail],
      [40_000, fail],
      [50_000, ok], // count back to 0, still healthy: no report
      [60_000, fail],
      [70_000, fail],
      [80_000, fail], // third in a row
      [90_000, fail], // already unhealthy: no report
      [100_000, ok], // flips back
    ]);
    assert.deepEqual(
      reports.map(([at, r]) => [at, r.healthy]),
      [
        [20_000, true],
        [80_000, false],
        [100_000, true],
      ],
    );
  });

  test('a task that never passes is reported unhealthy once the grace period is over', () => {
    const { reports } = run(
      [
        [0, fail],
        [1_000, fail],
        [2_000, fail],
      ],
      { ...spec, gracePeriodMs: 0, consecutiveFailures: 1 },
    );
    assert.deepEqual(
      reports.map(([at, r]) => [at, r.healthy]),
      [[0, false]],
    );
  });

  test('an answer after the timeout is a failure', () => {
    const late: ProbeResult = { ok: true, durationMs: 25_000 };
    const { reports } = run(
      [
        [0, late],
        [30_000, ok],
      ],
      { ...spec, gracePeriodMs: 0, consecutiveFailures: 1 },
    );
    assert.deepEqual(
      reports.map(([, r]) => r.healthy),
      [false, true],
    );
    assert.match(reports[0]![1].message, /past the 20000 ms timeout/);
  });

  test('the first probe waits the delay, later ones the interval', () => {
    assert.equal(nextProbeDelay(spec, 0), 15_000);
    assert.equal(nextProbeDelay(spec, 1), 10_000);
  });

  test('each report carries Marathon’s Health record: first and last success, last failure and its cause, the count', () => {
    const { reports, state } = run([
      [20_000, ok],
      [30_000, ok],
      [40_000, fail],
      [50_000, fail],
      [60_000, fail],
    ]);
    assert.deepEqual(reports[0]![1].record, { consecutiveFailures: 0, firstSuccessMs: 20_000, lastSuccessMs: 20_000 });
    assert.deepEqual(reports[1]![1].record, { consecutiveFailures: 3, firstSuccessMs: 20_000, lastSuccessMs: 30_000, lastFailureMs: 60_000, lastFailureCause: 'connection refused' });
    // Back to healthy: the count is cleared, the last failure kept.
    const back = recordResult(spec, state, ok, 70_000);
    assert.deepEqual(back.report?.record, { consecutiveFailures: 0, firstSuccessMs: 20_000, lastSuccessMs: 70_000, lastFailureMs: 60_000, lastFailureCause: 'connection refused' });
  });

  test('failures inside the grace period leave the record alone (Marathon ignores them)', () => {
    const { state } = run([
      [1_000, fail],
      [2_000, fail],
    ]);
    assert.equal(state.lastFailureMs, undefined);
    assert.equal(state.consecutiveFailures, 0);
  });
});
