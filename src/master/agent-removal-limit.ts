/**
 * Which silent agents the master may mark unreachable now, and which it must hold — pure.
 *
 * Marking an agent unreachable tells every framework its tasks are UNREACHABLE/LOST, and they
 * start replacements. When the agents are really dead that is right; when a network split cut a
 * large part of the fleet off from the master, the agents and their tasks are fine, and
 * replacing them all doubles the fleet's load (and, for the replicas of a stateful service, may
 * run two copies). Two limits, checked for every agent in the order given (the longest silent
 * first):
 *
 * - **rate** (Mesos `--agent_removal_rate_limit`, e.g. `1/20mins`; none by default): at most one
 *   marking every `perMs / agents` ms, the first at once, as Mesos' RateLimiter spaces permits.
 * - **mass-unreachable guard** (ours, after Kubernetes' node-eviction rule; on by default): within
 *   one detection window (heartbeat interval × missed heartbeats), at most `guardFraction` of
 *   the agents that were reachable at its start are marked, and never fewer than one. A larger
 *   loss within one window looks like a partition, not like dead machines: the rest are held,
 *   still silent and offered to nobody, and are marked as the window slides on — or come back.
 *
 * The shell (master.ts) keeps the returned history, logs `agent-removal-held` with the counts,
 * and asks again on its next health check.
 */

export interface RemovalPolicy {
  /** Mesos' agent_removal_rate_limit as `{agents}/{perMs}`; undefined: no rate limit. */
  rate?: { agents: number; perMs: number };
  /** Largest share of reachable agents marked within one window; 1 (or more) disables the guard. */
  guardFraction: number;
  /** The detection window (ms): heartbeat interval × missed heartbeats. */
  windowMs: number;
}

export const DEFAULT_GUARD_FRACTION = 0.4;

/** What earlier decisions leave behind: when agents were marked, and when the rate allows the next. */
export interface RemovalHistory {
  /** Times of markings within the last window, oldest first. */
  readonly markedAt: readonly number[];
  readonly nextPermitAt: number;
}

export const EMPTY_HISTORY: RemovalHistory = { markedAt: [], nextPermitAt: -Infinity };

export interface RemovalDecision {
  /** Mark these unreachable now. */
  mark: string[];
  /** Hold these: silent, but not marked yet. */
  held: string[];
  /** Why the first held agent was held. */
  reason?: 'rate-limit' | 'mass-unreachable';
  /** When asking again may let the first held agent through. */
  retryAt?: number;
  /** Markings already made within the window (before this decision) and the window's cap. */
  markedInWindow: number;
  windowCap: number;
  history: RemovalHistory;
}

/**
 * @param candidates silent agents past the heartbeat limit, the longest silent first
 * @param reachable agents not (yet) unreachable, candidates included
 */
export function decideRemovals(policy: RemovalPolicy, history: RemovalHistory, now: number, candidates: readonly string[], reachable: number): RemovalDecision {
  const markedAt = history.markedAt.filter((t) => now - t < policy.windowMs);
  const markedBefore = markedAt.length;
  // Agents reachable when the window began: those still reachable plus those marked since.
  const base = reachable + markedBefore;
  const windowCap = policy.guardFraction >= 1 ? Infinity : Math.max(1, Math.floor(policy.guardFraction * base));
  const spacing = policy.rate === undefined ? 0 : policy.rate.perMs / policy.rate.agents;
  let nextPermitAt = history.nextPermitAt;
  const mark: string[] = [];
  const held: string[] = [];
  let reason: RemovalDecision['reason'];
  let retryAt: number | undefined;
  for (const id of candidates) {
    if (markedAt.length >= windowCap) {
      held.push(id);
      if (reason === undefined) {
        reason = 'mass-unreachable';
        retryAt = markedAt[0]! + policy.windowMs;
      }
      continue;
    }
    if (now < nextPermitAt) {
      held.push(id);
      if (reason === undefined) {
        reason = 'rate-limit';
        retryAt = nextPermitAt;
      }
      continue;
    }
    mark.push(id);
    markedAt.push(now);
    if (spacing > 0) nextPermitAt = Math.max(now, nextPermitAt) + spacing;
  }
  return {
    mark,
    held,
    ...(reason === undefined ? {} : { reason }),
    ...(retryAt === undefined ? {} : { retryAt }),
    markedInWindow: markedBefore,
    windowCap,
    history: { markedAt, nextPermitAt },
  };
}

/** Mesos' rate syntax `N/DURATION` (`1/20mins`), with the duration already parsed by `parseDuration`. */
export function parseRemovalRate(text: string, parseDuration: (s: string) => number | undefined): { agents: number; perMs: number } | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) return undefined;
  const agents = Number(match[1]);
  const perMs = parseDuration(match[2]!);
  if (!(agents >= 1) || perMs === undefined || !(perMs > 0)) return undefined;
  return { agents, perMs };
}
