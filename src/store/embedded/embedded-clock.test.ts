/**
 * The embedded engine's timing (lease expiry sweeps, keep-alive renewals) runs on the injected
 * Clock: a lease test jumps past the TTL instead of sleeping through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../clock/clock.ts';
import { createMemoryStore } from '../memory/memory-store.ts';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a lease without keep-alive expires when the clock passes its TTL, and its keys go with it', async () => {
  const clock = new ManualClock(1_000_000);
  const store = createMemoryStore({ clock });
  try {
    const lease = await store.grantLease(5, { keepAlive: false });
    let lost = false;
    lease.onLost(() => (lost = true));
    await store.put('/k', 'v', { lease: lease.id });
    clock.advance(4_900);
    await settle();
    assert.equal((await store.get('/k'))?.value, 'v', 'alive before its TTL');
    clock.advance(200);
    await settle();
    assert.equal(await store.get('/k'), undefined, 'deleted by the sweep after its TTL');
    assert.equal(lost, true);
  } finally {
    await store.close();
  }
});

test('a kept-alive lease outlives many TTLs of clock time', async () => {
  const clock = new ManualClock(1_000_000);
  const store = createMemoryStore({ clock });
  try {
    const lease = await store.grantLease(3, { keepAlive: true });
    await store.put('/k', 'v', { lease: lease.id });
    for (let i = 0; i < 20; i++) clock.advance(500); // 10 s, renewed every 1 s
    await settle();
    assert.equal((await store.get('/k'))?.value, 'v');
  } finally {
    await store.close();
  }
});
