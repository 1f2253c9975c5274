import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStaleStore, staleStoreVerdict } from './stale-store.ts';

const marker = { cluster_id: 'c1', revision: 40 };

test('an agent without a marker (new, or from before markers) is never checked', () => {
  assert.deepEqual(staleStoreVerdict(undefined, 'c1', undefined), { stale: false });
  assert.deepEqual(staleStoreVerdict(undefined, 'other', 3), { stale: false });
});

test('a healthy store: the record is at the reported revision or later', () => {
  // Agent restart: the same record it was registered with.
  assert.deepEqual(staleStoreVerdict(marker, 'c1', 40), { stale: false });
  // Registered again since (a later write of the record), e.g. before a leader change.
  assert.deepEqual(staleStoreVerdict(marker, 'c1', 57), { stale: false });
});

test('another cluster id: the store was replaced or is new', () => {
  const verdict = staleStoreVerdict(marker, 'c2', undefined);
  assert.deepEqual(verdict, { stale: true, reason: 'other-cluster', reportedClusterId: 'c1', storeClusterId: 'c2', reportedRevision: 40 });
  assert.match(describeStaleStore('A1', verdict as Exclude<typeof verdict, { stale: false }>), /cluster c1 .* belongs to cluster c2/);
});

test('the record missing or older than reported: the store is older than the registration', () => {
  assert.deepEqual(staleStoreVerdict(marker, 'c1', undefined), { stale: true, reason: 'record-missing', reportedRevision: 40 });
  const older = staleStoreVerdict(marker, 'c1', 39);
  assert.deepEqual(older, { stale: true, reason: 'record-older', reportedRevision: 40, recordRevision: 39 });
  const text = describeStaleStore('A1', older as Exclude<typeof older, { stale: false }>);
  assert.match(text, /revision 40,.* only at revision 39/);
  assert.match(text, /--accept-stale-store/);
});
