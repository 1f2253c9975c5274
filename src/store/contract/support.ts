/** Helpers for the store contract suite. */
import assert from 'node:assert/strict';
import { isDroverError, type ErrorKind } from '../../errors/errors.ts';
import type { Store, WatchEvent, WatchOptions } from '../store.ts';

export type OpenStore = () => Promise<Store>;

let counter = 0;

/**
 * A key prefix no other test uses: backends like etcd are shared by every test of a file, so
 * each test works in its own corner of the key space.
 */
export function unique(what: string): string {
  return `/contract/${what}/${process.pid}.${Date.now().toString(36)}.${counter++}/`;
}

export async function withStore(open: OpenStore, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await open();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 10 ms; fails the test with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Asserts that `promise` rejects with a DroverError of `kind`. */
export async function rejectsWith(promise: Promise<unknown>, kind: ErrorKind, what = ''): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isDroverError(error, kind), `${what} expected DROVER_ERR_${kind}, got ${String((error as Error)?.stack ?? error)}`);
    return true;
  });
}

export function throwsWith(fn: () => unknown, kind: ErrorKind): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isDroverError(error, kind), `expected DROVER_ERR_${kind}, got ${String(error)}`);
    return true;
  });
}

/** Records what a watch delivers: each onEvents call separately, and any error. */
export interface Recorder extends WatchOptions {
  calls: WatchEvent[][];
  errors: Error[];
  events(): WatchEvent[];
}

export function recorder(fromRevision?: number): Recorder {
  const calls: WatchEvent[][] = [];
  const errors: Error[] = [];
  const r: Recorder = {
    calls,
    errors,
    events: () => calls.flat(),
    onEvents: (events) => void calls.push(events),
    onError: (error) => void errors.push(error),
  };
  if (fromRevision !== undefined) r.fromRevision = fromRevision;
  return r;
}

/** "put a@3" / "delete a@4": compact event descriptions for readable assertions. */
export function describeEvents(events: WatchEvent[], prefix: string): string[] {
  return events.map((e) => `${e.type} ${e.kv.key.slice(prefix.length)}@${e.revision}`);
}
