import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './clock.ts';
import { every } from './every.ts';

test('calls back once per interval, at the interval times', () => {
  const clock = new ManualClock(1000);
  const at: number[] = [];
  every(clock, 100, () => at.push(clock.now()));
  clock.advance(350);
  assert.deepEqual(at, [1100, 1200, 1300]);
});

test('stop() ends it, also from inside the callback', () => {
  const clock = new ManualClock();
  let calls = 0;
  const r = every(clock, 10, () => {
    if (++calls === 2) r.stop();
  });
  clock.advance(100);
  assert.equal(calls, 2);
  assert.equal(clock.pending, 0);
  r.stop();
});
