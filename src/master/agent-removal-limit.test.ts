import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../clock/clock.ts';
import { decideRemovals, EMPTY_HISTORY, parseRemovalRate, type RemovalHistory, type RemovalPolicy } from './agent-removal-limit.ts';

const WINDOW = 75_000;
const MIN = 60_000;

test('without a rate, a single dead agent among ten is marked at once', () => {
  const d = decideRemovals({ guardFraction: 0.4, windowMs: WINDOW }, EMPTY_HISTORY, 0, ['a1'], 10);
  assert.deepEqual(d.mark, ['a1']);
  assert.deepEqual(d.held, []);
});

test('the guard holds a partition of 6 of 10 agents: 4 marked in the window, the rest held until it slides', () => {
  const clock = new ManualClock(1_000_000);
  const policy: RemovalPolicy = { guardFraction: 0.4, windowMs: WINDOW };
  const silent = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
  // 10 reachable agents at the window's start: 40% of 10 = 4 may be marked within it.
  const first = decideRemovals(policy, EMPTY_HISTORY, clock.now(), silent, 10);
  assert.deepEqual(first.mark, ['a1', 'a2', 'a3', 'a4']);
  assert.deepEqual(first.held, ['a5', 'a6']);
  assert.equal(first.reason, 'mass-unreachable');
  assert.equal(first.retryAt, clock.now() + WINDOW);
  assert.equal(first.windowCap, 4);

  // Half a window later: still 4 marked within the window (reachable now 6, base 6 + 4 = 10).
  clock.advance(WINDOW / 2);
  const again = decideRemovals(policy, first.history, clock.now(), ['a5', 'a6'], 6);
  assert.deepEqual(again.mark, []);
  assert.deepEqual(again.held, ['a5', 'a6']);
  assert.equal(again.markedInWindow, 4);

  // The window slid past the four markings: base is 6 reachable, cap max(1, 2.4) = 2.
  clock.advance(WINDOW / 2);
  const later = decideRemovals(policy, again.history, clock.now(), ['a5', 'a6'], 6);
  assert.deepEqual(later.mark, ['a5', 'a6']);
});

test('a cluster of two keeps one agent marked per window; one of one is always marked', () => {
  const policy: RemovalPolicy = { guardFraction: 0.4, windowMs: WINDOW };
  const two = decideRemovals(policy, EMPTY_HISTORY, 0, ['a1', 'a2'], 2);
  assert.deepEqual([two.mark, two.held], [['a1'], ['a2']]);
  assert.deepEqual(decideRemovals(policy, EMPTY_HISTORY, 0, ['a1'], 1).mark, ['a1']);
});

test('a guard fraction of 1 turns the guard off', () => {
  const d = decideRemovals({ guardFraction: 1, windowMs: WINDOW }, EMPTY_HISTORY, 0, ['a1', 'a2', 'a3'], 3);
  assert.deepEqual(d.mark, ['a1', 'a2', 'a3']);
});

test('rate 1/20mins (Mesos --agent_removal_rate_limit): the first at once, then one every 20 minutes', () => {
  const clock = new ManualClock(0);
  const policy: RemovalPolicy = { rate: { agents: 1, perMs: 20 * MIN }, guardFraction: 1, windowMs: WINDOW };
  let history: RemovalHistory = EMPTY_HISTORY;
  const marked: Array<[number, string]> = [];
  let silent = ['a1', 'a2', 'a3'];
  for (let minute = 0; minute <= 45; minute++) {
    const d = decideRemovals(policy, history, clock.now(), silent, 10);
    if (d.held.length > 0) assert.equal(d.reason, 'rate-limit');
    history = d.history;
    for (const id of d.mark) marked.push([minute, id]);
    silent = d.held;
    clock.advance(MIN);
  }
  assert.deepEqual(marked, [
    [0, 'a1'],
    [20, 'a2'],
    [40, 'a3'],
  ]);
});

test('rate 2/10mins spaces markings 5 minutes apart', () => {
  const policy: RemovalPolicy = { rate: { agents: 2, perMs: 10 * MIN }, guardFraction: 1, windowMs: WINDOW };
  const first = decideRemovals(policy, EMPTY_HISTORY, 0, ['a1', 'a2'], 10);
  assert.deepEqual([first.mark, first.held, first.retryAt], [['a1'], ['a2'], 5 * MIN]);
  assert.deepEqual(decideRemovals(policy, first.history, 5 * MIN - 1, ['a2'], 9).mark, []);
  assert.deepEqual(decideRemovals(policy, first.history, 5 * MIN, ['a2'], 9).mark, ['a2']);
});

test('property: within any one window never more than max(1, fraction × reachable at its start) markings', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 30 }), (agents, steps) => {
      const policy: RemovalPolicy = { guardFraction: 0.4, windowMs: WINDOW };
      let history = EMPTY_HISTORY;
      let reachable = agents;
      let now = 0;
      const marks: number[] = [];
      let next = 0;
      for (const [dt, newlySilent] of steps) {
        now += dt;
        const silent = Array.from({ length: Math.min(reachable, newlySilent) }, () => `a${next++}`);
        const d = decideRemovals(policy, history, now, silent, reachable);
        history = d.history;
        reachable -= d.mark.length;
        for (const _ of d.mark) marks.push(now);
      }
      // No fleet-wide loss beyond the cap within any window starting at a marking.
      for (const start of marks) {
        const inWindow = marks.filter((t) => t >= start && t - start < WINDOW).length;
        assert.ok(inWindow <= Math.max(1, Math.floor(0.4 * agents)), `${inWindow} markings within one window of ${agents} agents`);
      }
    }),
  );
});

test('parses Mesos rates and refuses anything else', () => {
  const parse = (s: string) => ({ '20mins': 20 * MIN, '1hrs': 60 * MIN, '0secs': 0 })[s];
  assert.deepEqual(parseRemovalRate('1/20mins', parse), { agents: 1, perMs: 20 * MIN });
  assert.deepEqual(parseRemovalRate('5/1hrs', parse), { agents: 5, perMs: 60 * MIN });
  for (const bad of ['', '1', '0/20mins', '1/0secs', '1/forever', 'x/20mins', '1/20mins/2']) assert.equal(parseRemovalRate(bad, parse), undefined, bad);
});
