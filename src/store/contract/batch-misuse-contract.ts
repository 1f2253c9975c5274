/** Contract: group commit through batchWriter, and misuse / use-after-close errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Op, Store, WatchOptions } from '../store.ts';
import { recorder, rejectsWith, throwsWith, unique, waitFor, withStore, type OpenStore } from './support.ts';

export function batchContract(open: OpenStore): void {
  describe('batch writer', () => {
    test('commits many concurrent puts in few transactions', () =>
      withStore(open, async (store) => {
        const base = unique('batch');
        const writer = store.batchWriter();
        const n = 500;
        const before = await store.revision();
        await Promise.all(Array.from({ length: n }, (_, i) => writer.put(`${base}${String(i).padStart(3, '0')}`, `v${i}`)));
        const after = await store.revision();
        // 500 puts in batches of ≤ 100: about 5 revisions, not 500.
        assert.ok(after - before <= n / 10, `${after - before} revisions for ${n} puts`);
        const { kvs } = await store.range(base);
        assert.equal(kvs.length, n);
        assert.ok(kvs.every((kv, i) => kv.value === `v${i}`));
        await writer.close();
      }));

    test('writes to one key keep call order, each with its own event', () =>
      withStore(open, async (store) => {
        const base = unique('batch-order');
        const rec = recorder();
        await store.watch(base, rec);
        const writer = store.batchWriter();
        await Promise.all([writer.put(`${base}k`, '1'), writer.put(`${base}k`, '2'), writer.delete(`${base}k`), writer.put(`${base}k`, '3'), writer.put(`${base}j`, 'x'), writer.delete(`${base}j`)]);
        assert.equal((await store.get(`${base}k`))?.value, '3');
        assert.equal(await store.get(`${base}j`), undefined);
        await waitFor(() => rec.events().length >= 6, 'six events');
        const kEvents = rec.events().filter((e) => e.kv.key === `${base}k`);
        assert.deepEqual(
          kEvents.map((e) => `${e.type}:${e.kv.value}`),
          ['put:1', 'put:2', 'delete:', 'put:3'],
        );
        await writer.close();
      }));

    test('flush writes what is queued; a closed writer refuses writes; bad input fails alone', () =>
      withStore(open, async (store) => {
        const base = unique('batch-flush');
        const writer = store.batchWriter({ maxDelayMs: 60_000 });
        const queued = writer.put(`${base}a`, '1');
        const bad = rejectsWith(writer.put('', '1'), 'STORE_MISUSE'); // rejected at once, not batched
        await writer.flush();
        await queued;
        await bad;
        assert.equal((await store.get(`${base}a`))?.value, '1');
        await writer.close();
        await rejectsWith(writer.put(`${base}b`, '1'), 'STORE_CLOSED');
        throwsWith(() => store.batchWriter({ maxBatch: 0 }), 'STORE_MISUSE');
        throwsWith(() => store.batchWriter({ maxBatch: 1000 }), 'STORE_MISUSE');
      }));
  });
}

export function misuseContract(open: OpenStore): void {
  describe('misuse', () => {
    test('malformed calls fail with STORE_MISUSE and change nothing', () =>
      withStore(open, async (store) => {
        const key = `${unique('misuse')}k`;
        const onEvents = (): void => undefined;
        const revision = await store.revision();
        const bad = (value: unknown) => value as never;
        const puts = (n: number): Op[] => Array.from({ length: n }, (_, i) => ({ type: 'put', key: `${key}${i}`, value: 'x' }));
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['empty key put', () => store.put('', 'v')],
          ['non-string key', () => store.put(bad(7), 'v')],
          ['non-string value', () => store.put(key, bad(5))],
          ['empty key get', () => store.get('')],
          ['empty key delete', () => store.delete('')],
          ['non-string prefix', () => store.range(bad(undefined))],
          ['limit 0', () => store.range(key, { limit: 0 })],
          ['fractional limit', () => store.range(key, { limit: 1.5 })],
          ['empty lease id', () => store.put(key, 'v', { lease: '' })],
          ['ttl 0', () => store.grantLease(0)],
          ['negative ttl', () => store.grantLease(-1)],
          ['fractional ttl', () => store.grantLease(1.5)],
          ['NaN ttl', () => store.grantLease(Number.NaN)],
          ['negative fromRevision', () => store.watch(key, { fromRevision: -1, onEvents })],
          ['fractional fromRevision', () => store.watch(key, { fromRevision: 1.5, onEvents })],
          ['watch without onEvents', () => store.watch(key, bad({}) as WatchOptions)],
          ['negative compact', () => store.compact(-1)],
          ['fractional compact', () => store.compact(2.5)],
          ['future compact', () => store.compact(revision + 1_000_000)],
          ['129 ops', () => store.txn({ success: puts(129) })],
          ['duplicate put', () => store.txn({ success: [...puts(1), ...puts(1)] })],
          ['put and delete one key', () => store.txn({ success: [...puts(1), { type: 'delete', key: `${key}0` }] })],
          ['put under deletePrefix', () => store.txn({ success: [...puts(1), { type: 'deletePrefix', prefix: key }] })],
          ['unknown op', () => store.txn({ success: [bad({ type: 'upsert', key })] })],
          ['bad compare target', () => store.txn({ compare: [bad({ key, target: 'lease', op: '=', value: 0 })], success: [] })],
          ['value compare with number', () => store.txn({ compare: [{ key, target: 'value', op: '=', value: 1 }], success: [] })],
          ['version compare with string', () => store.txn({ compare: [{ key, target: 'version', op: '=', value: '1' }], success: [] })],
          ['empty election', () => store.campaign('', 'me', { ttlSeconds: 1 })],
          ['election with a slash', () => store.campaign('a/b', 'me', { ttlSeconds: 1 })],
          ['observe election with a slash', () => store.observe('a/b', () => undefined)],
          ['campaign ttl 0', () => store.campaign('e', 'me', { ttlSeconds: 0 })],
          ['non-string candidate', () => store.campaign('e', bad(1), { ttlSeconds: 1 })],
          ['observe without listener', () => store.observe('e', bad(undefined))],
        ];
        for (const [what, call] of calls) await rejectsWith(call(), 'STORE_MISUSE', `${what}:`);
        assert.equal(await store.revision(), revision, 'no misuse changed anything');
        assert.deepEqual((await store.range(key)).kvs, []);
        // 128 ops is the limit, not over it.
        assert.equal((await store.txn({ success: puts(128) })).succeeded, true);
      }));

    test('calls after close fail with STORE_CLOSED', async () => {
      const store: Store = await open();
      const key = `${unique('closed')}k`;
      const lease = await store.grantLease(1, { keepAlive: false });
      await store.close();
      await store.close(); // idempotent
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => store.get(key)],
        ['put', () => store.put(key, 'v')],
        ['delete', () => store.delete(key)],
        ['range', () => store.range(key)],
        ['txn', () => store.txn({ success: [] })],
        ['revision', () => store.revision()],
        ['compact', () => store.compact(1)],
        ['watch', () => store.watch(key, recorder())],
        ['grantLease', () => store.grantLease(1)],
        ['campaign', () => store.campaign('e', 'me', { ttlSeconds: 1 })],
        ['observe', () => store.observe('e', () => undefined)],
        ['keepAliveOnce', () => lease.keepAliveOnce()],
        ['revoke', () => lease.revoke()],
      ];
      for (const [what, call] of calls) await rejectsWith(call(), 'STORE_CLOSED', `${what}:`);
      throwsWith(() => store.batchWriter(), 'STORE_CLOSED');
    });
  });
}
