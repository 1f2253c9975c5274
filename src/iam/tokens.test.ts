import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import { TokenSigner } from './tokens.ts';

test('a verified token is kept, yet expires on time; a tampered or foreign one is refused after the genuine one was kept', async () => {
  let now = Date.parse('2026-12-07T12:00:00Z');
  const store = createMemoryStore();
  try {
    const signer = await TokenSigner.open(store, () => now);
    const token = await signer.issue({ uid: 'agent-1', agent_id: 'a1' }, 60);
    const claims = await signer.verify(token);
    assert.deepEqual({ ...claims }, { uid: 'agent-1', agent_id: 'a1', exp: Math.floor(now / 1000) + 60 });
    // The second answer comes from what was kept: the same claims.
    assert.equal(await signer.verify(token), claims);

    // A changed signature or payload is not the kept token.
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'AB' : 'AA'}`;
    assert.equal(await signer.verify(`${header}.${payload}.${flipped}`), undefined);
    const otherPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), uid: 'bootstrap-admin' })).toString('base64url');
    assert.equal(await signer.verify(`${header}.${otherPayload}.${signature}`), undefined);
    // Another cluster's signer does not know this cluster's tokens.
    const foreign = await TokenSigner.open(createMemoryStore(), () => now);
    assert.equal(await foreign.verify(token), undefined);

    // Expiry is read on every call: one second before, valid; at `exp`, refused (jose's rule), and it stays refused.
    now += 59_000;
    assert.equal(await signer.verify(token), claims);
    now += 1_000;
    assert.equal(await signer.verify(token), undefined);
    now -= 30_000;
    // Dropped once expired: a clock set back makes jose check it again, which accepts it as before.
    assert.deepEqual(await signer.verify(token), claims);
  } finally {
    await store.close();
  }
});
