import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, STATUS_UPDATE_BACKOFF } from './backoff.ts';

describe('backoffDelay', () => {
  test("Mesos' status update schedule: 10 s doubling, capped at 10 min", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => backoffDelay(STATUS_UPDATE_BACKOFF, n));
    assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000, 600_000]);
  });

  test('jitter takes away at most its fraction of the delay', () => {
    const policy = { initialMs: 1000, maxMs: 8000, jitter: 0.5 };
    assert.equal(backoffDelay(policy, 2, () => 0), 2000);
    assert.equal(backoffDelay(policy, 2, () => 0.999999), 1000);
  });

  test('never negative, never above the cap, monotone in the attempt without jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 10_000 }), (initialMs, maxMs, attempt) => {
        const policy = { initialMs, maxMs };
        const d = backoffDelay(policy, attempt);
        assert.ok(d >= 0 && d <= Math.max(maxMs, 0));
        assert.ok(backoffDelay(policy, attempt + 1) >= d);
      }),
    );
  });

  test('attempts below 1 count as the first', () => {
    assert.equal(backoffDelay({ initialMs: 5, maxMs: 100 }, 0), 5);
  });
});
