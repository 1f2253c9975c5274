import type { Clock, TimerHandle } from './clock.ts';

/** A repeating timer made by `every`. */
export interface Repeating {
  /** No further calls; safe to call twice, and from inside the callback. */
  stop(): void;
}

/**
 * Calls `fn` every `intervalMs` on `clock` (setInterval on the shared Clock, so a ManualClock
 * drives heartbeats, watchdogs and sweeps in tests). The next call is armed before `fn` runs, so
 * a slow `fn` does not stretch the period. Unref'd by default: a heartbeat or a sweep alone
 * should not keep a process alive.
 */
export function every(clock: Clock, intervalMs: number, fn: () => void, options: { unref?: boolean } = {}): Repeating {
  const unref = options.unref ?? true;
  let handle: TimerHandle | undefined;
  let stopped = false;
  const arm = (): void => {
    handle = clock.setTimeout(tick, intervalMs);
    if (unref) handle.unref();
  };
  const tick = (): void => {
    if (stopped) return;
    arm();
    fn();
  };
  arm();
  return {
    stop: () => {
      stopped = true;
      clock.clearTimeout(handle);
    },
  };
}
