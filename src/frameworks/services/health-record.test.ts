import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthLabels } from '../../protocol/health-labels.ts';
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { nextHealth } from './status-updates.ts';

const status = (healthy: boolean, extra: Partial<TaskStatus> = {}): TaskStatus => ({ task_id: { value: 't' }, state: 'TASK_RUNNING', healthy, timestamp: 1_700_000_000, ...extra });

test('a Drover agent’s record is taken as sent, keeping the first success already known', () => {
  const first = nextHealth(undefined, undefined, status(true, { labels: healthLabels({ consecutiveFailures: 0, firstSuccessMs: 1_000, lastSuccessMs: 1_000 }) }), 0);
  assert.deepEqual(first, { consecutiveFailures: 0, firstSuccess: '1970-01-01T00:00:01.000Z', lastSuccess: '1970-01-01T00:00:01.000Z' });
  // After an agent restart its record starts afresh: the first success stays the one we knew.
  const failed = nextHealth(
    first,
    true,
    status(false, { labels: healthLabels({ consecutiveFailures: 3, firstSuccessMs: 9_000, lastSuccessMs: 9_000, lastFailureMs: 12_000, lastFailureCause: 'status 503' }) }),
    0,
  );
  assert.deepEqual(failed, {
    consecutiveFailures: 3,
    firstSuccess: '1970-01-01T00:00:01.000Z',
    lastSuccess: '1970-01-01T00:00:09.000Z',
    lastFailure: '1970-01-01T00:00:12.000Z',
    lastFailureCause: 'status 503',
  });
});

test('without a record, Marathon’s Health.update on each change of healthy; repeats change nothing', () => {
  const ok = nextHealth(undefined, undefined, status(true), 0);
  assert.deepEqual(ok, { consecutiveFailures: 0, firstSuccess: '2023-11-14T22:13:20.000Z', lastSuccess: '2023-11-14T22:13:20.000Z' });
  assert.equal(nextHealth(ok, true, status(true, { timestamp: 1_700_000_100 }), 0), ok, 'a reconciliation answer repeating healthy');
  const bad = nextHealth(ok, true, status(false, { timestamp: 1_700_000_050, message: 'down' }), 0);
  assert.deepEqual(bad, { ...ok, consecutiveFailures: 1, lastFailure: '2023-11-14T22:14:10.000Z', lastFailureCause: 'down' });
});
