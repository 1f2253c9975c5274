import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../clock/clock.ts';
import { RECONCILE_ALL_MS, RECONCILE_RETRY_MS, ReconciliationRounds } from './reconciliation.ts';
import type { Instance } from './reconcile.ts';

function rounds(clock: ManualClock): { r: ReconciliationRounds; explicit: string[][]; implicitAt: number[] } {
  const instances = new Map<string, Instance>([['a.1', { taskId: 'a.1', agentId: 'S0' } as Instance]]);
  const explicit: string[][] = [];
  const implicitAt: number[] = [];
  const r = new ReconciliationRounds(
    instances,
    (tasks) => explicit.push([...tasks].map((t) => t.task_id.value)),
    clock,
    () => implicitAt.push(clock.now()),
  );
  return { r, explicit, implicitAt };
}

test('implicit reconciliation: a full round later than each subscription, never at it; again with each periodic full round', () => {
  const clock = new ManualClock(1000);
  const { r, explicit, implicitAt } = rounds(clock);
  r.start();
  clock.advance(5000);
  r.round(true); // a (re)subscription: every instance, explicitly, at once
  assert.deepEqual(explicit, [['a.1']]);
  assert.deepEqual(implicitAt, []);
  clock.advance(RECONCILE_RETRY_MS - 5000); // the next round comes 10 s after the subscription: too soon
  assert.deepEqual(implicitAt, []);
  clock.advance(RECONCILE_RETRY_MS); // 25 s after it
  assert.deepEqual(implicitAt, [1000 + 2 * RECONCILE_RETRY_MS]);
  clock.advance(RECONCILE_RETRY_MS * 3);
  assert.equal(implicitAt.length, 1, 'once per full round, not every round');
  clock.advance(RECONCILE_ALL_MS);
  assert.equal(implicitAt.length, 2, 'the periodic full round brings another');
  r.stop();
});

test('subscriptions in quick succession (leader changes): the implicit one waits for the last', () => {
  const clock = new ManualClock(0);
  const { r, implicitAt } = rounds(clock);
  r.start();
  for (let k = 0; k < 5; k++) {
    clock.advance(4000);
    r.round(true);
  }
  // Each subscription postpones it: it goes at least a round after the last one (at 20 s).
  clock.advance(RECONCILE_RETRY_MS * 3);
  assert.equal(implicitAt.length, 1);
  assert.ok(implicitAt[0]! - 20_000 >= RECONCILE_RETRY_MS, `sent ${implicitAt[0]! - 20_000} ms after the last subscription`);
  r.stop();
});
