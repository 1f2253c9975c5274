/** Contract: watches (order, grouping, resume, compaction, close) and leases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDroverError } from '../../errors/errors.ts';
import { describeEvents, recorder, rejectsWith, sleep, unique, waitFor, withStore, type OpenStore } from './support.ts';

export function watchContract(open: OpenStore): void {
  describe('watch', () => {
    test('delivers events in revision order, a transaction’s events in one call', () =>
      withStore(open, async (store) => {
        const base = unique('watch');
        const rec = recorder();
        const watch = await store.watch(base, rec);
        // A second watch on the same prefix, left open: it shows when a write after the cancel has
        // been delivered to the watches that are still there.
        const probe = recorder();
        await store.watch(base, probe);
        await store.put(`${base.slice(0, -1)}-outside`, 'not watched');
        const a = await store.put(`${base}a`, '1');
        const t = await store.txn({
          success: [
            { type: 'put', key: `${base}b`, value: '2' },
            { type: 'put', key: `${base}c`, value: '3' },
            { type: 'delete', key: `${base}a` },
          ],
        });
        const d = await store.put(`${base}d`, '4');
        const del = await store.delete(`${base}b`);
        await waitFor(() => rec.events().length >= 6, 'six events');
        assert.deepEqual(describeEvents(rec.events(), base), [
          `put a@${a.revision}`,
          `put b@${t.revision}`,
          `put c@${t.revision}`,
          `delete a@${t.revision}`,
          `put d@${d.revision}`,
          `delete b@${del.revision}`,
        ]);
        const txnCall = rec.calls.find((call) => call.some((e) => e.kv.key === `${base}b` && e.type === 'put'));
        assert.ok(txnCall?.filter((e) => e.revision === t.revision).length === 3, 'the transaction arrived in one call');
        const put = rec.events()[0];
        assert.deepEqual(put?.kv, { key: `${base}a`, value: '1', createRevision: a.revision, modRevision: a.revision, version: 1 });
        const tombstone = rec.events()[3];
        assert.deepEqual(tombstone?.kv, { key: `${base}a`, value: '', createRevision: 0, modRevision: t.revision, version: 0 });
        assert.deepEqual(rec.errors, []);

        await watch.cancel();
        await watch.cancel(); // idempotent
        await store.put(`${base}after-cancel`, 'x');
        await waitFor(() => probe.events().some((e) => e.kv.key === `${base}after-cancel`), 'the write after the cancel to reach the open watch');
        assert.equal(rec.events().length, 6, 'nothing after cancel');
      }));

    test('a watch from a revision replays history, then continues live', () =>
      withStore(open, async (store) => {
        const base = unique('resume');
        await store.put(`${base}x`, '1');
        const r2 = await store.put(`${base}x`, '2');
        const r3 = await store.put(`${base}y`, '1');
        const rec = recorder(r2.revision);
        await store.watch(base, rec);
        const r4 = await store.put(`${base}z`, '1');
        // A marker last: events come in revision order, so a duplicate would show before it.
        const r5 = await store.put(`${base}marker`, '1');
        await waitFor(() => rec.events().some((e) => e.revision === r5.revision), 'replayed and live events up to the marker');
        assert.deepEqual(describeEvents(rec.events(), base), [`put x@${r2.revision}`, `put y@${r3.revision}`, `put z@${r4.revision}`, `put marker@${r5.revision}`]);
        assert.equal(rec.events()[0]?.kv.value, '2');
      }));

    test('a watch from a future revision skips everything before it', () =>
      withStore(open, async (store) => {
        const base = unique('future');
        const from = (await store.revision()) + 3;
        const rec = recorder(from);
        await store.watch(base, rec);
        const written: number[] = [];
        while ((written.at(-1) ?? 0) < from + 1) written.push((await store.put(`${base}k`, String(written.length))).revision);
        // A marker last: events come in revision order, so anything extra would show before it.
        written.push((await store.put(`${base}marker`, '1')).revision);
        const expected = written.filter((r) => r >= from);
        await waitFor(() => rec.events().some((e) => e.revision === written.at(-1)), 'the events from the start revision up to the marker');
        assert.deepEqual(
          rec.events().map((e) => e.revision),
          expected,
        );
      }));

    test('a watch from a compacted revision fails with STORE_COMPACTED', () =>
      withStore(open, async (store) => {
        const base = unique('compact');
        const r1 = await store.put(`${base}k`, '1');
        await store.put(`${base}k`, '2');
        const r3 = await store.put(`${base}k`, '3');
        await store.compact(r3.revision);
        await store.compact(r3.revision - 1); // already compacted: a no-op, not an error

        const stale = recorder(r1.revision);
        await store.watch(base, stale);
        await waitFor(() => stale.errors.length > 0, 'the compaction error');
        assert.ok(isDroverError(stale.errors[0], 'STORE_COMPACTED'), String(stale.errors[0]));
        assert.deepEqual(stale.events(), []);

        // The compacted revision itself is still watchable.
        const fresh = recorder(r3.revision);
        const watch = await store.watch(base, fresh);
        await waitFor(() => fresh.events().length >= 1, 'the event at the compacted revision');
        assert.deepEqual(describeEvents(fresh.events(), base), [`put k@${r3.revision}`]);
        await watch.cancel();
      }));

    test('closing the store ends its watches with STORE_CLOSED', async () => {
      const store = await open();
      const rec = recorder();
      await store.watch(unique('closing'), rec);
      await store.close();
      await waitFor(() => rec.errors.length > 0, 'the close error');
      assert.ok(isDroverError(rec.errors[0], 'STORE_CLOSED'), String(rec.errors[0]));
    });
  });
}

export function leaseContract(open: OpenStore): void {
  describe('leases', () => {
    test('an expired lease deletes its keys, and watchers see the deletes', () =>
      withStore(open, async (store) => {
        const base = unique('expiry');
        const lease = await store.grantLease(1, { keepAlive: false });
        assert.equal(lease.ttlSeconds, 1);
        await store.put(`${base}a`, 'x', { lease: lease.id });
        await store.put(`${base}b`, 'x', { lease: lease.id });
        assert.equal((await store.get(`${base}a`))?.lease, lease.id);
        const rec = recorder();
        await store.watch(base, rec);
        // TTL 1 s; etcd checks expiry every 500 ms, so allow a few seconds.
        await waitFor(() => rec.events().length >= 2, 'the expiry deletes', 5000);
        const [da, db] = rec.events();
        assert.equal(da?.type, 'delete');
        assert.equal(db?.type, 'delete');
        assert.equal(da?.revision, db?.revision, 'all keys of a lease go in one revision');
        assert.equal(await store.get(`${base}a`), undefined);
        await rejectsWith(lease.keepAliveOnce(), 'STORE_LEASE_NOT_FOUND');
        await rejectsWith(store.put(`${base}c`, 'x', { lease: lease.id }), 'STORE_LEASE_NOT_FOUND');
      }));

    test('revoke deletes the keys at once and is idempotent', () =>
      withStore(open, async (store) => {
        const base = unique('revoke');
        const lease = await store.grantLease(10);
        let lost = false;
        lease.onLost(() => (lost = true));
        await store.put(`${base}a`, 'x', { lease: lease.id });
        await store.put(`${base}plain`, 'x');
        await lease.revoke();
        assert.equal(await store.get(`${base}a`), undefined);
        assert.equal((await store.get(`${base}plain`))?.value, 'x');
        await lease.revoke();
        await rejectsWith(lease.keepAliveOnce(), 'STORE_LEASE_NOT_FOUND');
        // Nothing may happen here, so there is no condition to wait for: a short wait gives a
        // wrongly fired onLost (a microtask or a client event) the time to show.
        await sleep(20);
        assert.equal(lost, false, 'revoking your own lease is not losing it');
      }));

    test('keep-alive keeps a lease and its keys beyond the TTL', () =>
      withStore(open, async (store) => {
        const key = `${unique('keepalive')}k`;
        const lease = await store.grantLease(1);
        await store.put(key, 'x', { lease: lease.id });
        // Real time past the 1 s TTL is the point: the contract runs against a real etcd too, whose
        // lease expiry no injected clock can move.
        await sleep(2200);
        assert.equal((await store.get(key))?.value, 'x');
        await lease.keepAliveOnce();
        const manual = await store.grantLease(1, { keepAlive: false });
        await store.put(`${key}2`, 'x', { lease: manual.id });
        for (let i = 0; i < 5; i++) {
          await sleep(400); // 2 s of real time in all, renewed by hand within each TTL (as above)
          await manual.keepAliveOnce();
        }
        assert.equal((await store.get(`${key}2`))?.value, 'x', 'keepAliveOnce renews too');
        await lease.revoke();
        await manual.revoke();
      }));

    test('a put naming an unknown lease fails', () =>
      withStore(open, async (store) => {
        await rejectsWith(store.put(`${unique('nolease')}k`, 'x', { lease: '424242' }), 'STORE_LEASE_NOT_FOUND');
      }));
  });
}
