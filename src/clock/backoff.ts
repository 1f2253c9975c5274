/**
 * Exponential backoff with jitter, pure: the one retry schedule every reconnect and resend loop
 * uses (agent → master, status update resends, the store's election watch, the web UI's streams).
 *
 * Jitter matters whenever many clients fail together — a master failover drops every agent's link
 * and every browser's stream at once; without it they all retry in lock step and the new leader
 * gets each wave as one burst. The random source is a parameter so tests fix it.
 */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is ever longer than this. */
  maxMs: number;
  /** Growth per attempt; 2 doubles. */
  factor?: number;
  /**
   * Fraction of the delay that is randomised away: 0 (none, a fixed schedule), 0.5 ("equal
   * jitter": somewhere in [delay/2, delay]) up to 1 ("full jitter": anywhere in [0, delay]).
   */
  jitter?: number;
}

/** A value in [0, 1), as `Math.random` returns. */
export type RandomSource = () => number;

/**
 * The delay before retry number `attempt` (1 = first retry): initial × factor^(attempt-1), capped
 * at max, then reduced by up to `jitter` of itself using `random`.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: RandomSource = Math.random): number {
  const factor = policy.factor ?? 2;
  const n = Math.max(1, Math.floor(attempt));
  // Cap the exponent too: factor^n overflows to Infinity long before n is absurd.
  const exponent = Math.min(n - 1, 64);
  const base = Math.min(policy.maxMs, policy.initialMs * factor ** exponent);
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0));
  return Math.round(base * (1 - jitter * random()));
}

/**
 * The attempt counter of one retry loop: `next()` is the delay before the next try, `reset()` after
 * a success starts the schedule over.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: RandomSource = Math.random,
  ) {}

  /** Retries since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  next(): number {
    this.attempt++;
    return backoffDelay(this.policy, this.attempt, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }
}
