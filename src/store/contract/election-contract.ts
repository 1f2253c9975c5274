/** Contract: leader election (campaign, observe, fencing, resign, abort). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { electionPrefix } from '../election.ts';
import type { Leadership, Store } from '../store.ts';
import { rejectsWith, sleep, unique, waitFor, withStore, type OpenStore } from './support.ts';

/** Starts `names.length` campaigns at once and records the leaderships in the order won. */
function campaigners(store: Store, election: string, names: string[]): { won: Leadership[]; all: Promise<unknown> } {
  const won: Leadership[] = [];
  const all = Promise.allSettled(names.map((name) => store.campaign(election, name, { ttlSeconds: 2 }).then((l) => void won.push(l))));
  return { won, all };
}

function electionName(what: string): string {
  return unique(what).replaceAll('/', '.');
}

export function electionContract(open: OpenStore): void {
  describe('leader election', () => {
    test('exactly one of three concurrent campaigners leads, and observe reports it', () =>
      withStore(open, async (store) => {
        const election = electionName('one-leader');
        const seen: Array<string | undefined> = [];
        const observer = await store.observe(election, (o) => void seen.push(o.leader));
        assert.deepEqual(seen, [undefined], 'observe reports at once: nobody leads yet');

        const { won } = campaigners(store, election, ['a', 'b', 'c']);
        await waitFor(() => won.length > 0, 'a leader');
        // Nothing may happen here, so there is no condition to wait for: the time a second (wrong)
        // winner would need to show up.
        await sleep(300);
        assert.equal(won.length, 1);
        const leader = won[0] as Leadership;
        assert.ok(['a', 'b', 'c'].includes(leader.candidate));
        assert.equal(leader.election, election);
        assert.ok(leader.key.startsWith(electionPrefix(election)));
        assert.deepEqual(leader.guard(), { key: leader.key, target: 'createRevision', op: '=', value: leader.revision });
        await waitFor(() => seen.at(-1) === leader.candidate, 'observe to report the leader');
        assert.deepEqual((await store.get(leader.key))?.createRevision, leader.revision);

        await observer.cancel();
        // Hand over twice to drain the campaign, and leave nothing behind.
        await leader.resign();
        await waitFor(() => won.length === 2, 'second leader');
        await won[1]?.resign();
        await waitFor(() => won.length === 3, 'third leader');
        await won[2]?.resign();
        assert.deepEqual((await store.range(electionPrefix(election))).kvs, []);
      }));

    test('when the leader’s lease ends the next in line takes over', () =>
      withStore(open, async (store) => {
        const election = electionName('takeover');
        const seen: Array<string | undefined> = [];
        const observer = await store.observe(election, (o) => void seen.push(o.leader));
        const { won } = campaigners(store, election, ['a', 'b', 'c']);
        await waitFor(() => won.length === 1, 'a leader');
        const first = won[0] as Leadership;
        let firstLost = false;
        first.onLost(() => (firstLost = true));

        await first.lease.revoke(); // as if the leader's process died and its lease expired
        await waitFor(() => won.length === 2, 'the next leader');
        const second = won[1] as Leadership;
        await waitFor(() => firstLost, 'the old leader to learn it lost');
        assert.notEqual(second.key, first.key);
        // Next in line: the older of the two remaining candidacies.
        const remaining = (await store.range(electionPrefix(election))).kvs;
        assert.equal(remaining.length, 2);
        assert.equal(Math.min(...remaining.map((kv) => kv.createRevision)), second.revision);
        assert.ok(second.revision > first.revision);
        await waitFor(() => seen.at(-1) === second.candidate, 'observe to report the new leader');

        await second.resign();
        await waitFor(() => won.length === 3, 'the last leader');
        const third = won[2] as Leadership;
        assert.ok(third.revision > second.revision);
        await waitFor(() => seen.at(-1) === third.candidate, 'observe to report the last leader');
        await third.resign();
        await waitFor(() => seen.at(-1) === undefined, 'observe to report no leader');
        await observer.cancel();
      }));

    test('a deposed leader’s fenced writes fail while the new leader’s succeed', () =>
      withStore(open, async (store) => {
        const election = electionName('fencing');
        const data = `${unique('fenced-data')}k`;
        const a = await store.campaign(election, 'a', { ttlSeconds: 2 });
        const bWon = store.campaign(election, 'b', { ttlSeconds: 2 });
        assert.equal((await a.write([{ type: 'put', key: data, value: 'from-a' }])).succeeded, true);

        // Depose `a` behind its back: its candidacy key vanishes as if its lease had expired.
        await store.delete(a.key);
        const b = await bWon;
        // The store itself refuses a's guard, whether or not `a` has noticed yet.
        const stale = await store.txn({ compare: [a.guard()], success: [{ type: 'put', key: data, value: 'stale' }] });
        assert.equal(stale.succeeded, false);
        await rejectsWith(a.write([{ type: 'put', key: data, value: 'from-a-again' }]), 'STORE_FENCED');

        const ok = await b.write([{ type: 'put', key: data, value: 'from-b' }]);
        assert.equal(ok.succeeded, true);
        assert.equal((await store.get(data))?.value, 'from-b');
        // The leader's own failing compare is not fencing: it just reports failure.
        const mine = await b.write([{ type: 'put', key: data, value: 'x' }], [{ key: data, target: 'value', op: '=', value: 'nope' }]);
        assert.equal(mine.succeeded, false);
        assert.equal((await store.get(data))?.value, 'from-b');

        await a.resign(); // resigning after losing is harmless
        await b.resign();
        await rejectsWith(b.write([{ type: 'put', key: data, value: 'after-resign' }]), 'STORE_FENCED');
      }));

    test('resign hands leadership over and is idempotent', () =>
      withStore(open, async (store) => {
        const election = electionName('resign');
        const a = await store.campaign(election, 'a', { ttlSeconds: 2 });
        let aLost = false;
        a.onLost(() => (aLost = true));
        let bLeads = false;
        const bWon = store.campaign(election, 'b', { ttlSeconds: 2 }).then((l) => ((bLeads = true), l));
        await sleep(100); // that b does not win during this time is the point: nothing to wait for
        assert.equal(bLeads, false, 'b waits while a leads');
        await a.resign();
        await a.resign();
        const b = await bWon;
        assert.equal(aLost, true);
        assert.equal(await store.get(a.key), undefined);
        let lateListener = false;
        a.onLost(() => (lateListener = true)); // registered after the loss: still called
        await waitFor(() => lateListener, 'a late onLost listener');
        await b.resign();
      }));

    test('an aborted campaign withdraws its candidacy', () =>
      withStore(open, async (store) => {
        const election = electionName('abort');
        const prefix = electionPrefix(election);
        const a = await store.campaign(election, 'a', { ttlSeconds: 2 });
        const controller = new AbortController();
        const b = store.campaign(election, 'b', { ttlSeconds: 2, signal: controller.signal });
        await waitFor(async () => (await store.range(prefix)).kvs.length === 2, 'b’s candidacy');
        controller.abort();
        await assert.rejects(b);
        await waitFor(async () => (await store.range(prefix)).kvs.length === 1, 'b’s candidacy to go');
        const already = new AbortController();
        already.abort();
        await assert.rejects(store.campaign(election, 'c', { ttlSeconds: 2, signal: already.signal }));
        await a.resign();
      }));
  });
}
