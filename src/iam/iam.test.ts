import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import { Iam } from './iam.ts';

test('a restarted master (Iam.open again on the same store) keeps its key, bootstrap secrets, users and grants', async () => {
  const store = createMemoryStore();
  try {
    const first = await Iam.open(store);
    const admin = first.bootstrap.adminToken!;
    const agent = first.bootstrap.agentToken!;
    await first.directory.putAccount({ uid: 'alice', kind: 'user', description: '' });
    await first.directory.grant('dcos:service:marathon:marathon:services:/dev', 'users', 'alice', 'read');
    const token = await first.tokens.issue({ uid: 'alice' });

    const second = await Iam.open(store);
    // Generated once: a second start knows only the digests.
    assert.equal(second.bootstrap.adminToken, undefined);
    assert.deepEqual(await second.authenticate(admin), { kind: 'admin', uid: 'bootstrap-admin' });
    assert.deepEqual(await second.authenticate(agent), { kind: 'agent-bootstrap', uid: 'agent-bootstrap' });
    const alice = await second.authenticate(token);
    assert.deepEqual(alice, { kind: 'account', uid: 'alice' });
    assert.equal(second.authorize(alice!, [{ rid: 'dcos:service:marathon:marathon:services:/dev/x', action: 'read' }]).allowed, true);
    assert.equal(second.authorize(alice!, [{ rid: 'dcos:service:marathon:marathon:services:/prod', action: 'read' }]).allowed, false);

    // A given secret replaces the stored one: the old one stops working.
    const third = await Iam.open(store, { adminToken: 'drover-admin.operator-chosen' });
    assert.equal(await third.authenticate(admin), undefined);
    assert.deepEqual(await third.authenticate('drover-admin.operator-chosen'), { kind: 'admin', uid: 'bootstrap-admin' });
  } finally {
    await store.close();
  }
});
