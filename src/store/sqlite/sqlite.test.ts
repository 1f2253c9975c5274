import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isDroverError } from '../../errors/errors.ts';
import { storeContract } from '../contract.ts';
import { recorder, rejectsWith, waitFor } from '../contract/support.ts';
import { openStore } from '../open.ts';
import { openSqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-test-'));
let files = 0;
const fresh = (): string => join(dir, `store-${files++}.db`);

after(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite', () => openStore(`sqlite:${fresh()}`));

describe('SQLite store specifics', () => {
  test('data, revisions and watch history survive close and reopen', async () => {
    const path = fresh();
    const first = openSqliteStore(path);
    const r1 = await first.put('a', '1');
    const r2 = await first.txn({
      success: [
        { type: 'put', key: 'b', value: '2' },
        { type: 'delete', key: 'a' },
      ],
    });
    await first.compact(r1.revision);
    await first.close();

    const second = openSqliteStore(path);
    assert.equal(await second.revision(), r2.revision);
    assert.equal(await second.get('a'), undefined);
    assert.deepEqual(await second.get('b'), { key: 'b', value: '2', createRevision: r2.revision, modRevision: r2.revision, version: 1 });
    // Revisions continue from where they were; they never restart.
    const r3 = await second.put('b', '3');
    assert.equal(r3.revision, r2.revision + 1);
    // History from before the restart is still watchable, and the compaction point persisted.
    const replay = recorder(r1.revision);
    await second.watch('', replay);
    await waitFor(() => replay.events().length >= 4, 'replayed history');
    assert.deepEqual(
      replay.events().map((e) => `${e.type} ${e.kv.key}@${e.revision}`),
      [`put a@${r1.revision}`, `put b@${r2.revision}`, `delete a@${r2.revision}`, `put b@${r3.revision}`],
    );
    const stale = recorder(r1.revision - 1);
    await second.watch('', stale);
    await waitFor(() => stale.errors.length > 0, 'compaction error');
    assert.ok(isDroverError(stale.errors[0], 'STORE_COMPACTED'));
    await second.close();
  });

  test('a lease outlives a reopen only until its TTL runs out', async () => {
    const path = fresh();
    const first = openSqliteStore(path);
    const lease = await first.grantLease(1);
    await first.put('leased', 'x', { lease: lease.id });
    await first.close(); // nobody renews it any more
    const second = openSqliteStore(path);
    assert.equal((await second.get('leased'))?.lease, lease.id);
    await waitFor(async () => (await second.get('leased')) === undefined, 'the expiry sweep', 4000);
    await second.close();
  });

  test('automatic compaction bounds the event log', async () => {
    const store = openSqliteStore(fresh(), { historyRevisions: 10 });
    const first = await store.put('k', '0');
    for (let i = 1; i < 30; i++) await store.put('k', String(i));
    const rec = recorder(first.revision);
    await store.watch('', rec);
    await waitFor(() => rec.errors.length > 0, 'compaction error');
    assert.ok(isDroverError(rec.errors[0], 'STORE_COMPACTED'));
    // The last 10 revisions are still there.
    const current = await store.revision();
    const recent = recorder(current - 9);
    await store.watch('', recent);
    await waitFor(() => recent.events().length === 10, 'recent history');
    await store.close();
  });

  test('a second process cannot open the same file', async () => {
    const path = fresh();
    const store = openSqliteStore(path);
    await store.put('k', 'v');
    const { spawnSync } = await import('node:child_process');
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `
      import('${new URL('./sqlite-store.ts', import.meta.url).href}').then((m) => {
        try { m.openSqliteStore(${JSON.stringify(path)}); console.log('opened'); }
        catch (e) { console.log(e.code); }
      });`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(child.stdout.trim(), 'DROVER_ERR_STORE_UNAVAILABLE', child.stderr);
    await store.close();
  });

  test('an unusable path fails with STORE_UNAVAILABLE', async () => {
    await rejectsWith(openStore('sqlite:/nonexistent-dir/x/y.db'), 'STORE_UNAVAILABLE');
  });
});
