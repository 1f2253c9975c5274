import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startEtcd } from '../../../devkit/etcd.ts';
import { storeContract } from '../contract.ts';
import { recorder, rejectsWith, unique, waitFor } from '../contract/support.ts';
import { openStore } from '../open.ts';

// One real etcd for the whole file; every contract test works under its own key prefix.
const etcd = await startEtcd();
after(() => etcd.stop());

storeContract('etcd', () => openStore(etcd.storeUrl));

describe('etcd store specifics', () => {
  test('stores opened on one cluster see each other’s writes and elections', async () => {
    const [a, b] = [await openStore(etcd.storeUrl), await openStore(etcd.storeUrl)];
    const { revision } = await a.put('/specifics/shared', 'from-a');
    assert.equal((await b.get('/specifics/shared'))?.modRevision, revision);
    await a.campaign('specifics', 'a', { ttlSeconds: 1 });
    const seen: Array<string | undefined> = [];
    const observer = await b.observe('specifics', (o) => void seen.push(o.leader));
    assert.deepEqual(seen, ['a']);
    await a.close(); // stops renewing: the candidacy expires with its lease
    const next = await b.campaign('specifics', 'b', { ttlSeconds: 1 });
    assert.equal(next.candidate, 'b');
    await next.resign();
    await observer.cancel();
    await b.close();
  });

  test('a watch resumes across an etcd crash without losing or repeating events', async () => {
    const store = await openStore(etcd.storeUrl);
    const base = unique('restart');
    const first = await store.put(`${base}a`, '1');
    await store.put(`${base}b`, '1');
    const replaying = recorder(first.revision); // from history
    const live = recorder(); // from now
    await store.watch(base, replaying);
    await store.watch(base, live);
    const c = await store.put(`${base}c`, '1');
    await waitFor(() => replaying.events().length === 3 && live.events().length === 1, 'events before the crash');

    await etcd.restart();
    // The client reconnects on its own; writes retry until etcd answers again.
    let d: { revision: number } | undefined;
    await waitFor(async () => (d = await store.put(`${base}d`, '1').catch(() => undefined)) !== undefined, 'etcd back', 10_000);
    // A marker after d: a watch delivers in revision order, so once both have it, any repeated or
    // lost event would already be in their lists.
    const e = await store.put(`${base}e`, '1');
    const revisions = (r: ReturnType<typeof recorder>) => r.events().map((ev) => ev.revision);
    await waitFor(() => revisions(replaying).includes(e.revision) && revisions(live).includes(e.revision), 'the marker after the crash', 10_000);
    assert.deepEqual(revisions(live), [c.revision, d?.revision, e.revision]);
    assert.deepEqual(revisions(replaying), [first.revision, first.revision + 1, c.revision, d?.revision, e.revision]);
    assert.deepEqual([...replaying.errors, ...live.errors], []);
    await store.close();
  });

  test('a leader cut off from etcd learns it lost within about one TTL', async () => {
    const store = await openStore(etcd.storeUrl);
    const leader = await store.campaign(unique('partition').replaceAll('/', '.'), 'me', { ttlSeconds: 1 });
    let lostAt = 0;
    leader.onLost(() => (lostAt = Date.now()));
    process.kill(etcd.pid, 'SIGSTOP'); // etcd stops answering, as in a network partition
    const frozenAt = Date.now();
    try {
      await waitFor(() => lostAt > 0, 'leadership loss', 3000);
    } finally {
      process.kill(etcd.pid, 'SIGCONT');
    }
    // etcd3 alone would take 2 × TTL (2 s); a successor can lead after 1 × TTL.
    assert.ok(lostAt - frozenAt < 1900, `lost after ${lostAt - frozenAt} ms`);
    await leader.resign();
    await store.close();
  });

  test('an unreachable cluster fails with STORE_UNAVAILABLE', async () => {
    await rejectsWith(openStore('etcd://127.0.0.1:1'), 'STORE_UNAVAILABLE');
  });
});
