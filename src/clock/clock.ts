/**
 * The one clock: wall time plus timers. Everything that reads the time or waits for it takes a
 * `Clock`, so a test can jump an hour in a millisecond (`ManualClock`) and a shell's timing
 * decisions can be replayed. Nothing here imports anything: every layer may use it.
 */

/** A pending timer; pass it back to `clearTimeout`. */
export interface TimerHandle {
  /** Keeps the process alive until it fires (system clock); a no-op on a manual clock. */
  unref(): TimerHandle;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once, `ms` from now (negative or NaN counts as 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer made by this clock; a fired or unknown one is ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

class SystemTimer implements TimerHandle {
  constructor(readonly timeout: NodeJS.Timeout) {}
  unref(): TimerHandle {
    this.timeout.unref();
    return this;
  }
}

/** The real clock: `Date.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => new SystemTimer(setTimeout(fn, Math.max(0, ms || 0))),
  clearTimeout: (handle) => {
    if (handle instanceof SystemTimer) clearTimeout(handle.timeout);
  },
};

class ManualTimer implements TimerHandle {
  constructor(
    readonly at: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
  unref(): TimerHandle {
    return this;
  }
}

/**
 * A clock that moves only when told. `advance(ms)` fires every timer due by the new time, in
 * time order (ties in the order they were set), with `now()` equal to each timer's due time while
 * it runs; a timer set while advancing fires in the same call if it falls due within it.
 */
export class ManualClock implements Clock {
  private readonly timers = new Set<ManualTimer>();
  private seq = 0;

  constructor(private t: number = 0) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = new ManualTimer(this.t + Math.max(0, ms || 0), this.seq++, fn);
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle instanceof ManualTimer) this.timers.delete(handle);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing what falls due (see the class comment). */
  advance(ms: number): void {
    const until = this.t + Math.max(0, ms);
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of this.timers) {
        if (timer.at <= until && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) next = timer;
      }
      if (next === undefined) break;
      this.timers.delete(next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = until;
  }

  /** Sets the time (never backwards) and fires what falls due. */
  set(t: number): void {
    this.advance(t - this.t);
  }
}
