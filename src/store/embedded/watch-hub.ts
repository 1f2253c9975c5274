/**
 * In-process watch delivery for the embedded backends. Writers publish each transaction's events
 * right after it commits; every matching watcher gets them in a microtask, in revision order,
 * one transaction never split across calls (several may share one call).
 *
 * Replay and registration happen in one synchronous step (the engine is single-threaded), so a
 * watch from revision R sees history from R and then live events with no gap and no duplicate.
 */
import { DroverError } from '../../errors/errors.ts';
import type { Watch, WatchEvent, WatchOptions } from '../store.ts';

interface Watcher {
  prefix: string;
  /** Events below this revision are not delivered (a watch may start in the future). */
  from: number;
  options: WatchOptions;
  pending: WatchEvent[];
  scheduled: boolean;
  active: boolean;
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  /** `history` is what to replay first; 'compacted' fails the watch (asynchronously). */
  add(prefix: string, options: WatchOptions, history: WatchEvent[] | 'compacted'): Watch {
    const watcher: Watcher = { prefix, from: options.fromRevision ?? 0, options, pending: [], scheduled: false, active: true };
    if (history === 'compacted') {
      const error = new DroverError('STORE_COMPACTED', `watch from revision ${String(options.fromRevision)} is before the compacted revision: resync with a fresh range`);
      watcher.active = false;
      queueMicrotask(() => options.onError?.(error));
    } else {
      this.watchers.add(watcher);
      this.enqueue(
        watcher,
        history.filter((e) => e.kv.key.startsWith(prefix)),
      );
    }
    return {
      cancel: async () => {
        watcher.active = false;
        watcher.pending = [];
        this.watchers.delete(watcher);
      },
    };
  }

  /** Events of one committed transaction (or one lease expiry): one revision, in order. */
  publish(events: WatchEvent[]): void {
    if (events.length === 0) return;
    const revision = (events[0] as WatchEvent).revision; // one write: one revision
    for (const watcher of this.watchers) {
      if (revision < watcher.from) continue;
      if (watcher.prefix === '') this.enqueue(watcher, events);
      else
        this.enqueue(
          watcher,
          events.filter((e) => e.kv.key.startsWith(watcher.prefix)),
        );
    }
  }

  /** Ends every watch with `error` (the store is closing). */
  failAll(error: Error): void {
    for (const watcher of this.watchers) {
      watcher.active = false;
      watcher.pending = [];
      queueMicrotask(() => watcher.options.onError?.(error));
    }
    this.watchers.clear();
  }

  private enqueue(watcher: Watcher, events: WatchEvent[]): void {
    if (events.length === 0) return;
    for (const e of events) watcher.pending.push(e);
    if (watcher.scheduled) return;
    watcher.scheduled = true;
    queueMicrotask(() => {
      watcher.scheduled = false;
      const batch = watcher.pending;
      watcher.pending = [];
      // Listeners get their own copies: one event object is shared by every watcher.
      if (watcher.active && batch.length > 0) watcher.options.onEvents(batch.map(copyEvent));
    });
  }
}

function copyEvent(e: WatchEvent): WatchEvent {
  return { type: e.type, revision: e.revision, kv: { ...e.kv } };
}
