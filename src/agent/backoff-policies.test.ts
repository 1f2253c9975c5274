import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../clock/backoff.ts';
import { RECONNECT_BACKOFF, STATUS_UPDATE_BACKOFF } from './backoff-policies.ts';

test("Mesos' status update schedule: 10 s doubling, capped at 10 min", () => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => backoffDelay(STATUS_UPDATE_BACKOFF, n));
  assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000, 600_000]);
});

test('agents reconnecting after one failover spread out instead of retrying in lock step', () => {
  // 1000 agents on their third attempt: base 1000 ms, equal jitter puts each in [500, 1000].
  let seed = 42;
  const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const delays = Array.from({ length: 1000 }, () => backoffDelay(RECONNECT_BACKOFF, 3, random));
  assert.ok(delays.every((d) => d >= 500 && d <= 1000));
  assert.ok(new Set(delays).size > 300, `only ${new Set(delays).size} distinct delays`);
});
