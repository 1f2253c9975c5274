import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Backoff, backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  test('jitter takes away at most its fraction of the delay', () => {
    const policy = { initialMs: 1000, maxMs: 8000, jitter: 0.5 };
    assert.equal(
      backoffDelay(policy, 2, () => 0),
      2000,
    );
    assert.equal(
      backoffDelay(policy, 2, () => 0.999999),
      1000,
    );
  });

  test('full jitter reaches down to zero', () => {
    assert.equal(
      backoffDelay({ initialMs: 1000, maxMs: 8000, jitter: 1 }, 4, () => 0.9999999),
      0,
    );
    assert.equal(
      backoffDelay({ initialMs: 1000, maxMs: 8000, jitter: 1 }, 4, () => 0),
      8000,
    );
  });

  test('a jittered delay stays within [(1 - jitter) × base, base] for any random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (initialMs, attempt, jitter, r) => {
          const policy = { initialMs, maxMs: 60_000, jitter };
          const base = backoffDelay({ initialMs, maxMs: 60_000 }, attempt);
          const d = backoffDelay(policy, attempt, () => r);
          assert.ok(d <= base && d >= Math.floor((1 - jitter) * base), `${d} outside [${(1 - jitter) * base}, ${base}]`);
        },
      ),
    );
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

describe('Backoff', () => {
  test('counts attempts, grows to the cap and starts over after reset()', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 500 }, () => 0);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 500, 500]);
    assert.equal(b.attempts, 5);
    b.reset();
    assert.equal(b.attempts, 0);
    assert.equal(b.next(), 100);
  });

  test('uses the injected random source for jitter', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 1 }, () => 0.25);
    assert.equal(b.next(), 750);
  });
});
