import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_USER_NAMESPACE_RANGE, parseUserNamespaceRange } from './user-namespace.ts';

test('HOSTID:SIZE maps uids and gids alike', () => {
  assert.deepEqual(parseUserNamespaceRange(DEFAULT_USER_NAMESPACE_RANGE), { hostUid: 1_000_000, hostGid: 1_000_000, size: 65_536 });
  assert.deepEqual(parseUserNamespaceRange(' 165536:65536 '), { hostUid: 165_536, hostGid: 165_536, size: 65_536 });
});

test('a bad range is a message, never a mapping', () => {
  for (const bad of ['', '1000000', '1000000:', 'a:b', '-1:10', '1e6:65536', '0:65536', '10:0', '4294967290:65536', '99999999999:1']) {
    assert.equal(typeof parseUserNamespaceRange(bad), 'string', bad);
  }
});
