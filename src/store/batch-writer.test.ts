import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../clock/clock.ts';
import { GroupCommitWriter } from './batch-writer.ts';
import type { Op, Txn, TxnResult } from './store.ts';

/** A txn that records each batch and commits only when told to. */
function fakeStore() {
  const batches: Array<{ ops: Op[]; commit: () => void; fail: (e: Error) => void }> = [];
  return {
    batches,
    keys: (i: number) => batches[i]?.ops.map((op) => (op.type === 'deletePrefix' ? op.prefix : op.key)),
    txn: (txn: Txn) =>
      new Promise<TxnResult>((resolve, reject) => {
        batches.push({ ops: txn.success, commit: () => resolve({ succeeded: true, revision: batches.length }), fail: reject });
      }),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('a full batch goes at once; a partial one after maxDelayMs', async () => {
  const store = fakeStore();
  const clock = new ManualClock();
  const writer = new GroupCommitWriter(store, { maxBatch: 3, maxDelayMs: 300, clock });
  const puts = ['a', 'b', 'c', 'd'].map((k) => writer.put(k, 'v'));
  await tick();
  assert.deepEqual(store.keys(0), ['a', 'b', 'c']); // full: sent without waiting
  store.batches[0]?.commit();
  await tick();
  clock.advance(299);
  await tick();
  assert.equal(store.batches.length, 1, 'd waits for its delay');
  clock.advance(1);
  await tick();
  assert.equal(store.batches.length, 2, 'd goes once maxDelayMs has passed');
  assert.deepEqual(store.keys(1), ['d']);
  store.batches[1]?.commit();
  await Promise.all(puts);
});

test('batches on disjoint keys overlap up to maxInFlight; a busy key waits its turn', async () => {
  const store = fakeStore();
  const writer = new GroupCommitWriter(store, { maxBatch: 2, maxDelayMs: 1, maxInFlight: 2 });
  const done: string[] = [];
  const writes = [
    ['a', '1'],
    ['b', '1'], // batch 0
    ['c', '1'],
    ['d', '1'], // batch 1, in flight beside batch 0
    ['a', '2'],
    ['e', '1'], // must wait: 'a' is in flight in batch 0
  ].map(([k, v]) => writer.put(k as string, v as string).then(() => void done.push(`${k}=${v}`)));
  await tick();
  assert.equal(store.batches.length, 2);
  store.batches[1]?.commit(); // batch 1 finishes first: a=2 still may not go (a=1 in flight)
  await tick();
  assert.equal(store.batches.length, 2);
  store.batches[0]?.commit();
  await tick();
  assert.deepEqual(store.keys(2), ['a', 'e']);
  store.batches[2]?.commit();
  await Promise.all(writes);
  assert.deepEqual(done.slice(-2), ['a=2', 'e=1']);
});

test('a batch never writes one key twice; a failed batch fails each of its writes', async () => {
  const store = fakeStore();
  const clock = new ManualClock();
  const writer = new GroupCommitWriter(store, { maxBatch: 10, maxDelayMs: 1, clock });
  const first = [writer.put('k', '1'), writer.put('j', '1')];
  const second = [writer.delete('k'), writer.put('x', '1')];
  clock.advance(1);
  await tick();
  assert.deepEqual(store.keys(0), ['k', 'j']);
  store.batches[0]?.fail(new Error('boom'));
  for (const p of first) await assert.rejects(p, /boom/);
  await tick();
  assert.deepEqual(store.keys(1), ['k', 'x']);
  store.batches[1]?.commit();
  await Promise.all(second);
});

test('flush sends what is queued and waits for it', async () => {
  const store = fakeStore();
  const writer = new GroupCommitWriter(store, { maxDelayMs: 60_000 });
  void writer.put('a', '1');
  let flushed = false;
  const flushing = writer.flush().then(() => (flushed = true));
  await tick();
  assert.equal(store.batches.length, 1);
  assert.equal(flushed, false);
  store.batches[0]?.commit();
  await flushing;
  await writer.close();
  await assert.rejects(writer.put('b', '1'), /closed/);
});
