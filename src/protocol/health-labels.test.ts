import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthLabels, readHealthLabels } from './health-labels.ts';

test('a health record survives the trip through TaskStatus labels', () => {
  const record = { consecutiveFailures: 3, firstSuccessMs: 1_700_000_000_000, lastSuccessMs: 1_700_000_010_000, lastFailureMs: 1_700_000_040_123, lastFailureCause: 'status 503' };
  assert.deepEqual(readHealthLabels(healthLabels(record)), record);
  assert.deepEqual(readHealthLabels(healthLabels({ consecutiveFailures: 0 })), { consecutiveFailures: 0 });
});

test('labels without a record, or with bad values, read as no record or without the bad field', () => {
  assert.equal(readHealthLabels(undefined), undefined);
  assert.equal(readHealthLabels({ labels: [{ key: 'other', value: 'x' }] }), undefined);
  assert.equal(readHealthLabels({ labels: [{ key: 'drover.health.consecutive_failures', value: '-1' }] }), undefined);
  assert.equal(readHealthLabels({ labels: [{ key: 'drover.health.consecutive_failures', value: '1'.repeat(12) }] }), undefined);
  const read = readHealthLabels({
    labels: [
      { key: 'drover.health.consecutive_failures', value: '2' },
      { key: 'drover.health.last_failure', value: 'not a time' },
      { key: 'drover.health.last_success', value: `2024-01-01T00:00:00.000Z${' '.repeat(100)}` },
      { key: 'drover.health.last_failure_cause', value: 'x'.repeat(5000) },
    ],
  });
  assert.equal(read?.consecutiveFailures, 2);
  assert.equal(read?.lastFailureMs, undefined);
  assert.equal(read?.lastSuccessMs, undefined);
  assert.equal(read?.lastFailureCause?.length, 1024);
});
