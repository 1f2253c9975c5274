import type { BackoffPolicy } from '../clock/backoff.ts';

/**
 * Mesos' STATUS_UPDATE_RETRY_INTERVAL_MIN / _MAX, without jitter as in Mesos: an agent's resends
 * are already spread by when each update was first sent, and a (re-)registration flushes every
 * unacknowledged update at once anyway, whatever its backoff.
 */
export const STATUS_UPDATE_BACKOFF: BackoffPolicy = { initialMs: 10_000, maxMs: 10 * 60_000, factor: 2 };

/** Short and jittered, so a fleet of agents does not re-register in lock step after a master failover. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, factor: 2, jitter: 0.5 };
