/**
 * The engine over a backing whose commits become durable later (SQLite's group fsync): nothing
 * is acknowledged, published or read back before it is durable, watch order holds, and a watch
 * registered between a commit and its fsync gets that commit once. The backing is the real
 * memory backing with a gate in front of its durability, so the test decides when "fsync" returns.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDroverError } from '../../errors/errors.ts';
import { recorder } from '../contract/support.ts';
import { MemoryBacking } from '../memory/memory-backing.ts';
import { EmbeddedStore } from './embedded-store.ts';

/** A memory backing whose commits are durable only when the test calls `sync()` (or `fail()`). */
function gatedStore() {
  const backing = new MemoryBacking();
  let waiting: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  let dirty = false;
  const atomically = backing.atomically.bind(backing);
  backing.atomically = <T>(fn: () => T): T => {
    const result = atomically(fn);
    dirty = true;
    return result;
  };
  Object.assign(backing, {
    whenDurable: () => (dirty ? new Promise<void>((resolve, reject) => waiting.push({ resolve, reject })) : Promise.resolve()),
  });
  const store = new EmbeddedStore('gated', backing, { sweepIntervalMs: 0 });
  const settle = (how: (w: { resolve: () => void; reject: (e: unknown) => void }) => void): void => {
    const now = waiting;
    waiting = [];
    dirty = false;
    now.forEach(how);
  };
  return {
    store,
    sync: () => settle((w) => w.resolve()),
    fail: (error: Error) => settle((w) => w.reject(error)),
    pending: () => waiting.length,
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('embedded engine over a deferred-durability backing', () => {
  test('a write is acknowledged, watched and read back only once durable', async () => {
    const { store, sync, pending } = gatedStore();
    const watcher = recorder();
    await store.watch('', watcher);
    let acknowledged = false;
    const put = store.put('k', 'v').then((r) => ((acknowledged = true), r));
    let read: string | undefined = 'not yet';
    void store.get('k').then((kv) => (read = kv?.value));
    await tick();
    assert.equal(acknowledged, false, 'acknowledged before it was durable');
    assert.equal(watcher.events().length, 0, 'published before it was durable');
    assert.equal(read, 'not yet', 'read back before it was durable');
    assert.equal(pending(), 2);
    sync();
    assert.equal((await put).revision, 2);
    await tick();
    assert.deepEqual(
      watcher.events().map((e) => `${e.type} ${e.kv.key}@${e.revision}`),
      ['put k@2'],
    );
    assert.equal(read, 'v');
    await store.close();
  });

  test('commits sharing one fsync are published in revision order', async () => {
    const { store, sync } = gatedStore();
    const watcher = recorder();
    await store.watch('', watcher);
    const puts = [store.put('a', '1'), store.put('b', '2'), store.delete('a')];
    await tick();
    sync();
    await Promise.all(puts);
    await tick();
    assert.deepEqual(
      watcher.events().map((e) => `${e.type} ${e.kv.key}@${e.revision}`),
      ['put a@2', 'put b@3', 'delete a@4'],
    );
    await store.close();
  });

  test('a watch registered between a commit and its fsync gets the commit once, live', async () => {
    const { store, sync } = gatedStore();
    const first = store.put('a', '1');
    await tick();
    sync();
    await first; // revision 2: durable and published
    const put = store.put('b', '2');
    await tick(); // revision 3: committed, not yet durable, not published
    const late = recorder(1);
    await store.watch('', late); // replays history up to what was published
    sync();
    await put;
    await tick();
    assert.deepEqual(
      late.events().map((e) => `${e.type} ${e.kv.key}@${e.revision}`),
      ['put a@2', 'put b@3'],
    );
    await store.close();
  });

  test('a failed fsync fails the waiting writes and ends every watch', async () => {
    const { store, fail } = gatedStore();
    const watcher = recorder();
    await store.watch('', watcher);
    const put = store.put('k', 'v');
    await tick();
    fail(new Error('EIO'));
    await assert.rejects(put, /EIO/);
    await tick();
    assert.equal(watcher.events().length, 0);
    assert.match(String(watcher.errors[0]), /EIO/);
    assert.ok(!isDroverError(watcher.errors[0], 'STORE_CLOSED'));
    await store.close();
  });
});
