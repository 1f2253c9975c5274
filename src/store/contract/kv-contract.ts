/** Contract: keys, metadata, revisions, ranges, compare-and-set and transactions. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Compare } from '../store.ts';
import { rejectsWith, unique, withStore, type OpenStore } from './support.ts';

export function kvContract(open: OpenStore): void {
  describe('keys and revisions', () => {
    test('put, get and delete keep etcd-style metadata', () =>
      withStore(open, async (store) => {
        const key = `${unique('kv')}a`;
        const r1 = await store.put(key, 'one');
        assert.deepEqual(await store.get(key), { key, value: 'one', createRevision: r1.revision, modRevision: r1.revision, version: 1 });
        const r2 = await store.put(key, 'two');
        assert.ok(r2.revision > r1.revision);
        assert.deepEqual(await store.get(key), { key, value: 'two', createRevision: r1.revision, modRevision: r2.revision, version: 2 });
        const d = await store.delete(key);
        assert.equal(d.deleted, true);
        assert.ok(d.revision > r2.revision);
        assert.equal(await store.get(key), undefined);
        // Deleting nothing writes nothing: no new revision.
        assert.deepEqual(await store.delete(key), { revision: d.revision, deleted: false });
        // A re-created key starts a new life: new createRevision, version 1.
        const r3 = await store.put(key, 'three');
        assert.deepEqual(await store.get(key), { key, value: 'three', createRevision: r3.revision, modRevision: r3.revision, version: 1 });
      }));

    test('revisions increase strictly and revision() reports the latest', () =>
      withStore(open, async (store) => {
        const base = unique('rev');
        const revisions: number[] = [];
        for (let i = 0; i < 20; i++) revisions.push((await store.put(`${base}${i % 3}`, String(i))).revision);
        for (let i = 1; i < revisions.length; i++) assert.ok((revisions[i] as number) > (revisions[i - 1] as number));
        assert.equal(await store.revision(), revisions.at(-1));
      }));

    test('range returns the keys under a prefix in byte order, and honours limit', () =>
      withStore(open, async (store) => {
        const base = unique('range');
        // Byte (UTF-8) order: 'B' 0x42 < 'a' 0x61 < 'b' < 'é' C3A9 < U+FFFD EFBFBD < U+1F600 F09F…
        // (JavaScript's default string order would put the emoji before U+FFFD.)
        const inside = ['B', 'a', 'a/x', 'b', 'é', '\uFFFD', '\u{1F600}'];
        for (const k of [...inside].reverse()) await store.put(base + k, `v-${k}`);
        await store.put(base.slice(0, -1), 'outside'); // the prefix minus its slash
        const last = await store.put(`${base.slice(0, -1)}x`, 'outside');

        const all = await store.range(base);
        assert.deepEqual(
          all.kvs.map((kv) => kv.key.slice(base.length)),
          inside,
        );
        assert.deepEqual(
          all.kvs.map((kv) => kv.value),
          inside.map((k) => `v-${k}`),
        );
        assert.equal(all.more, false);
        assert.ok(all.revision >= last.revision);

        const three = await store.range(base, { limit: 3 });
        assert.deepEqual(
          three.kvs.map((kv) => kv.key.slice(base.length)),
          ['B', 'a', 'a/x'],
        );
        assert.equal(three.more, true);
        assert.equal((await store.range(base, { limit: inside.length })).more, false);

        assert.deepEqual(
          (await store.range(`${base}a`)).kvs.map((kv) => kv.key.slice(base.length)),
          ['a', 'a/x'],
        );
        assert.deepEqual((await store.range(`${base}zzz`)).kvs, []);
        const everything = new Set((await store.range('')).kvs.map((kv) => kv.key));
        for (const k of inside) assert.ok(everything.has(base + k), `range('') includes ${k}`);
      }));
  });

  describe('compare-and-set and transactions', () => {
    test('of two concurrent CAS on the same version exactly one wins', () =>
      withStore(open, async (store) => {
        const key = `${unique('cas')}k`;
        await store.put(key, 'v0');
        const cas = (value: string) => store.txn({ compare: [{ key, target: 'version', op: '=', value: 1 }], success: [{ type: 'put', key, value }] });
        const [a, b] = await Promise.all([cas('A'), cas('B')]);
        assert.equal(Number(a.succeeded) + Number(b.succeeded), 1);
        const kv = await store.get(key);
        assert.equal(kv?.value, a.succeeded ? 'A' : 'B');
        assert.equal(kv?.version, 2);

        // Ten racing "create if absent": exactly one creates.
        const fresh = `${unique('cas')}new`;
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.txn({ compare: [{ key: fresh, target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key: fresh, value: String(i) }] })),
        );
        assert.equal(results.filter((r) => r.succeeded).length, 1);
      }));

    test('a transaction writes all its keys at one revision, or none', () =>
      withStore(open, async (store) => {
        const base = unique('txn');
        const keys = Array.from({ length: 20 }, (_, i) => `${base}k${String(i).padStart(2, '0')}`);
        const result = await store.txn({ success: keys.map((key) => ({ type: 'put', key, value: 'x' })) });
        assert.equal(result.succeeded, true);
        const { kvs } = await store.range(base);
        assert.equal(kvs.length, 20);
        assert.ok(
          kvs.every((kv) => kv.modRevision === result.revision),
          'one revision for the whole transaction',
        );

        // One bad put (unknown lease) fails the whole transaction: nothing is written.
        const partial = store.txn({
          success: [
            { type: 'put', key: `${base}fresh`, value: 'x' },
            { type: 'put', key: `${base}leased`, value: 'x', lease: '12345' },
          ],
        });
        await rejectsWith(partial, 'STORE_LEASE_NOT_FOUND');
        assert.equal(await store.get(`${base}fresh`), undefined);

        // deletePrefix removes exactly the keys under the prefix, at one revision.
        await store.put(`${base}other`, 'kept');
        const wipe = await store.txn({ success: [{ type: 'deletePrefix', prefix: `${base}k` }] });
        assert.deepEqual(
          (await store.range(base)).kvs.map((kv) => kv.key),
          [`${base}other`],
        );
        assert.equal((await store.revision()) >= wipe.revision, true);
      }));

    test('a failed compare applies the failure branch instead', () =>
      withStore(open, async (store) => {
        const base = unique('txnfail');
        await store.put(`${base}a`, 'real');
        await store.put(`${base}b`, 'doomed');
        const before = await store.revision();
        const result = await store.txn({
          compare: [{ key: `${base}a`, target: 'value', op: '=', value: 'imagined' }],
          success: [{ type: 'put', key: `${base}won`, value: 'x' }],
          failure: [
            { type: 'put', key: `${base}lost`, value: 'x' },
            { type: 'delete', key: `${base}b` },
          ],
        });
        assert.equal(result.succeeded, false);
        assert.ok(result.revision > before);
        assert.equal(await store.get(`${base}won`), undefined);
        assert.equal((await store.get(`${base}lost`))?.modRevision, result.revision);
        assert.equal(await store.get(`${base}b`), undefined);

        // No failure branch: nothing written, revision unchanged.
        const idle = await store.txn({ compare: [{ key: `${base}a`, target: 'version', op: '>', value: 5 }], success: [] });
        assert.deepEqual(idle, { succeeded: false, revision: result.revision });
      }));

    test('compares work on every target; a missing key compares as 0 and has no value', () =>
      withStore(open, async (store) => {
        const key = `${unique('cmp')}k`;
        const missing = `${key}-missing`;
        const { revision: r } = await store.put(key, 'm');
        const cases: Array<[Compare, boolean]> = [
          [{ key, target: 'value', op: '=', value: 'm' }, true],
          [{ key, target: 'value', op: '!=', value: 'm' }, false],
          [{ key, target: 'value', op: '>', value: 'a' }, true],
          [{ key, target: 'value', op: '<', value: 'a' }, false],
          [{ key, target: 'version', op: '=', value: 1 }, true],
          [{ key, target: 'createRevision', op: '=', value: r }, true],
          [{ key, target: 'modRevision', op: '<', value: r + 1 }, true],
          [{ key, target: 'modRevision', op: '>', value: r }, false],
          [{ key: missing, target: 'version', op: '=', value: 0 }, true],
          [{ key: missing, target: 'createRevision', op: '=', value: 0 }, true],
          [{ key: missing, target: 'modRevision', op: '>', value: 0 }, false],
          // etcd: comparing the value of a missing key always fails, even with '!='.
          [{ key: missing, target: 'value', op: '!=', value: 'x' }, false],
        ];
        for (const [compare, expected] of cases) {
          const { succeeded } = await store.txn({ compare: [compare], success: [] });
          assert.equal(succeeded, expected, JSON.stringify(compare));
        }
      }));
  });
}
