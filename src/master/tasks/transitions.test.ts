import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TASK_STATES, TERMINAL_TASK_STATES } from '../../protocol/mesos/enums.ts';
import { canTransition, transition } from './transitions.ts';

test('the happy path of a command task', () => {
  // STAGING (master booked it) → STARTING (agent spawning) → RUNNING → FINISHED (exit 0)
  const path = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'] as const;
  for (let i = 1; i < path.length; i++) assert.ok(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} → ${path[i]}`);
});

test('terminal states are final, whatever arrives later', () => {
  for (const before of TERMINAL_TASK_STATES) {
    for (const after of TASK_STATES) {
      const result = transition(before, after);
      assert.equal(result.ok, false, `${before} → ${after}`);
      if (!result.ok) assert.match(result.reason, /terminal/);
    }
  }
});

test('every live state may end in every terminal state', () => {
  for (const before of TASK_STATES.filter((s) => !TERMINAL_TASK_STATES.has(s))) {
    for (const after of TERMINAL_TASK_STATES) assert.ok(canTransition(before, after), `${before} → ${after}`);
  }
});

test('a partitioned task can come back RUNNING, but nothing returns to STAGING', () => {
  assert.ok(canTransition('TASK_UNREACHABLE', 'TASK_RUNNING'));
  assert.ok(canTransition('TASK_LOST', 'TASK_RUNNING'));
  for (const before of TASK_STATES) assert.equal(canTransition(before, 'TASK_STAGING'), false, `${before} → STAGING`);
  const back = transition('TASK_RUNNING', 'TASK_STARTING');
  assert.deepEqual(back, { ok: false, before: 'TASK_RUNNING', after: 'TASK_STARTING', reason: 'a task cannot go from TASK_RUNNING back to TASK_STARTING' });
});

test('a successful transition reports before and after for event emission', () => {
  assert.deepEqual(transition('TASK_RUNNING', 'TASK_KILLING'), { ok: true, before: 'TASK_RUNNING', after: 'TASK_KILLING' });
});
