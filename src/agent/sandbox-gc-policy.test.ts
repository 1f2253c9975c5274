import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planSandboxGc, type SandboxEntry } from './sandbox-gc-policy.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const GB = 1024 ** 3;
const now = 100 * WEEK;

function box(path: string, ageMs: number, bytes = GB, active = false): SandboxEntry {
  return { path, finishedAt: now - ageMs, bytes, active };
}

const policy = { gcDelayMs: WEEK, diskHeadroom: 0.1 };

describe('planSandboxGc', () => {
  test('an empty disk keeps finished sandboxes for the whole delay', () => {
    const plan = planSandboxGc([box('a', WEEK + 1), box('b', 6 * DAY)], { totalBytes: 100 * GB, usedBytes: 0 }, now, policy);
    // usage 0: max age = week × (1 − 0.1 − 0) = 0.9 week = 6.3 days, so 'b' (6 days) stays.
    assert.deepEqual(
      plan.remove.map((r) => r.path),
      ['a'],
    );
    assert.equal(plan.maxAgeMs, 0.9 * WEEK);
    assert.equal(plan.nextDueAt, now - 6 * DAY + 0.9 * WEEK);
  });

  test('the fuller the disk, the younger the sandboxes that go', () => {
    const boxes = [box('old', 3 * DAY, 0), box('young', 1 * DAY, 0)];
    // usage 0.5: max age = week × 0.4 = 2.8 days: only 'old'.
    assert.deepEqual(
      planSandboxGc(boxes, { totalBytes: 100, usedBytes: 50 }, now, policy).remove.map((r) => r.path),
      ['old'],
    );
    // usage 0.8: max age = week × 0.1 = 16.8 hours: both.
    assert.deepEqual(
      planSandboxGc(boxes, { totalBytes: 100, usedBytes: 80 }, now, policy).remove.map((r) => r.path),
      ['old', 'young'],
    );
  });

  test('never a running sandbox, however old or full the disk', () => {
    const plan = planSandboxGc([box('running', 10 * WEEK, GB, true)], { totalBytes: 10 * GB, usedBytes: 10 * GB }, now, policy);
    assert.deepEqual(plan.remove, []);
    assert.equal(plan.nextDueAt, undefined);
  });

  test('never before the minimum age, so logs stay readable right after a task ends', () => {
    // A full disk gives max age 0, floored to the 5 minute default.
    const plan = planSandboxGc([box('just-ended', 60_000), box('older', 10 * 60_000)], { totalBytes: 10 * GB, usedBytes: 10 * GB }, now, policy);
    assert.deepEqual(
      plan.remove.map((r) => r.path),
      ['older'],
    );
    assert.equal(plan.maxAgeMs, 5 * 60_000);
  });

  test('over the headroom every finished sandbox past the floor goes, oldest first', () => {
    // 100 GB disk, 95 used: max(0, 1 − 0.1 − 0.95) = 0, so the age limit is the 1 h floor.
    const boxes = [box('a', 2 * HOUR, 3 * GB), box('b', 3 * HOUR, 3 * GB), box('c', 4 * HOUR, 3 * GB), box('d', 30 * 60_000)];
    const plan = planSandboxGc(boxes, { totalBytes: 100 * GB, usedBytes: 95 * GB }, now, { ...policy, minAgeMs: HOUR });
    assert.deepEqual(
      plan.remove.map((r) => r.path),
      ['c', 'b', 'a'],
    );
    assert.equal(plan.freedBytes, 9 * GB);
    // 'd' (30 min old) reaches the floor in 30 min.
    assert.equal(plan.nextDueAt, now + 30 * 60_000);
  });
});
