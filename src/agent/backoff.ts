/**
 * Exponential backoff, pure. Used for two schedules:
 * - status update retries: Mesos' status update manager starts at 10 s and doubles up to 10 min;
 * - reconnecting to the master: short and jittered, so a fleet of agents does not re-register in
 *   lock step after a master failover.
 */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is ever longer than this. */
  maxMs: number;
  /** Growth per attempt; 2 doubles. */
  factor?: number;
  /** Fraction of the delay that is randomised away, 0 (none) to 1 (anywhere in [0, delay]). */
  jitter?: number;
}

/** Mesos' STATUS_UPDATE_RETRY_INTERVAL_MIN / _MAX. */
export const STATUS_UPDATE_BACKOFF: BackoffPolicy = { initialMs: 10_000, maxMs: 10 * 60_000, factor: 2 };

export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, factor: 2, jitter: 0.5 };

/**
 * The delay before retry number `attempt` (1 = first retry): initial × factor^(attempt-1), capped
 * at max, then reduced by up to `jitter` of itself using `random` (a value in [0, 1)).
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const factor = policy.factor ?? 2;
  const n = Math.max(1, Math.floor(attempt));
  // Cap the exponent too: factor^n overflows to Infinity long before n is absurd.
  const exponent = Math.min(n - 1, 64);
  const base = Math.min(policy.maxMs, policy.initialMs * factor ** exponent);
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0));
  return Math.round(base * (1 - jitter * random()));
}
