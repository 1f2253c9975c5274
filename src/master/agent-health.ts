/**
 * The master's health check of agents (the shell around agent-removal-limit.ts): agents silent
 * past heartbeat interval × missed heartbeats are marked unreachable — as many as the removal
 * limits allow. The others are held (`removalHeldSince` on the record, gauge
 * `drover_master_agents_removal_held`), logged once per change as `agent-removal-held` with the
 * counts, and asked about again on the next check.
 *
 * `status()` is what the operator sees of it (`GET /master/agent-removal`, `drover_agent_removal`
 * in `/master/state`, the UI's banner): how many agents are held, why, since when, and when the
 * limits may let the next one through. The host hears of every change of the held set
 * (`heldChanged`), which the composition root turns into an event.
 */
import type { Logger } from '../log/index.ts';
import { decideRemovals, EMPTY_HISTORY, type RemovalHistory, type RemovalPolicy } from './agent-removal-limit.ts';
import type { AgentRecord } from './model.ts';

export interface AgentHealthHost {
  readonly agents: ReadonlyMap<string, AgentRecord>;
  readonly log: Logger;
  markUnreachable(agent: AgentRecord, why: string): void;
  heldCount(count: number): void;
  /** The held set changed (agents held, released, or marked after all); called once per change. */
  heldChanged?(status: AgentRemovalStatus): void;
}

/** Held agents listed by name in the status, at most (the counts are always whole). */
export const HELD_AGENTS_LISTED = 20;

/** What the removal limits hold right now, for the operator. Times are ms since the epoch. */
export interface AgentRemovalStatus {
  /** Silent agents held back from being marked unreachable. */
  held: number;
  /** Agents marked unreachable (their tasks reported UNREACHABLE, replacements allowed). */
  unreachable: number;
  /** Agents the master knows. */
  agents: number;
  /** Why the first held agent is held; absent when none is. */
  reason?: 'mass-unreachable' | 'rate-limit';
  /** When the longest-held agent was first held. */
  heldSince?: number;
  /** When asking again may let the first held agent through. */
  retryAt?: number;
  /** Markings within the current detection window, and the guard's cap for it (undefined: no guard). */
  markedInWindow: number;
  windowCap: number | undefined;
  windowMs: number;
  guardFraction: number;
  rate: { agents: number; perMs: number } | undefined;
  /** The first HELD_AGENTS_LISTED held agents, the longest held first. */
  heldAgents: Array<{ id: string; hostname: string; since: number }>;
}

export interface AgentHealthOptions {
  heartbeatIntervalMs: number;
  maxMissedHeartbeats: number;
  guardFraction: number;
  rate: { agents: number; perMs: number } | undefined;
  /**
   * How long an agent recovered from the registry (after a restart or a leader change) has to
   * re-register before it counts as silent — Mesos' `--agent_reregister_timeout`. With the
   * ordinary heartbeat window (5 s in the HA tests) a loaded machine's agent came back a moment
   * late, was marked unreachable and its instances replaced under `unreachableStrategy` 0/0.
   */
  reregisterWindowMs: number;
}

export class AgentHealth {
  /** Unreachable markings within the detection window, and the rate limit's next permit. */
  private history: RemovalHistory = EMPTY_HISTORY;
  /** Agents held back from being marked unreachable, as last logged. */
  private held = new Set<string>();
  /** The last decision's account of the hold: why, when to ask again, the window's cap. */
  private last: Pick<AgentRemovalStatus, 'reason' | 'retryAt'> & { windowCap: number } = { windowCap: Infinity };

  constructor(
    private readonly host: AgentHealthHost,
    private readonly options: AgentHealthOptions,
  ) {}

  check(now: number): void {
    const { heartbeatIntervalMs, maxMissedHeartbeats, guardFraction, rate } = this.options;
    const windowMs = heartbeatIntervalMs * maxMissedHeartbeats;
    const silent: AgentRecord[] = [];
    let reachable = 0;
    for (const agent of this.host.agents.values()) {
      if (agent.status === 'unreachable') continue;
      reachable++;
      if (now - agent.lastSeen > (agent.status === 'recovering' ? Math.max(windowMs, this.options.reregisterWindowMs) : windowMs)) silent.push(agent);
    }
    if (silent.length === 0 && this.held.size === 0) return;
    silent.sort((a, b) => a.lastSeen - b.lastSeen);
    const policy: RemovalPolicy = { guardFraction, windowMs, ...(rate ? { rate } : {}) };
    const decision = decideRemovals(
      policy,
      this.history,
      now,
      silent.map((a) => a.id),
      reachable,
    );
    this.history = decision.history;
    this.last = {
      windowCap: decision.windowCap,
      ...(decision.reason === undefined ? {} : { reason: decision.reason }),
      ...(decision.retryAt === undefined ? {} : { retryAt: decision.retryAt }),
    };
    for (const id of decision.mark) this.host.markUnreachable(this.host.agents.get(id)!, `missed ${maxMissedHeartbeats} heartbeats`);
    const held = new Set(decision.held);
    for (const agent of this.host.agents.values()) {
      if (held.has(agent.id)) agent.removalHeldSince ??= now;
      else delete agent.removalHeldSince;
    }
    this.host.heldCount(held.size);
    // Logged when the held set changes, not on every check: one line per step of an episode.
    const before = this.held;
    const changed = held.size !== before.size || [...held].some((id) => !before.has(id));
    this.held = held;
    if (changed) {
      if (held.size > 0) {
        this.host.log.warn(
          {
            held: held.size,
            heldAgents: [...held].slice(0, 20),
            marked: decision.mark.length,
            markedInWindow: decision.markedInWindow,
            windowCap: decision.windowCap,
            reachable,
            reason: decision.reason,
            retryAt: decision.retryAt === undefined ? undefined : new Date(decision.retryAt).toISOString(),
          },
          'agent-removal-held',
        );
      } else this.host.log.info({ released: before.size }, 'agent-removal-released');
      this.host.heldChanged?.(this.status(now));
    }
  }

  /**
   * The hold as it stands: counted from the agent records, so an agent that re-registered a
   * moment ago no longer counts as held, even before the next check.
   */
  status(now: number): AgentRemovalStatus {
    const { heartbeatIntervalMs, maxMissedHeartbeats, guardFraction, rate } = this.options;
    const windowMs = heartbeatIntervalMs * maxMissedHeartbeats;
    const held: AgentRecord[] = [];
    let unreachable = 0;
    for (const agent of this.host.agents.values()) {
      if (agent.status === 'unreachable') unreachable++;
      else if (agent.removalHeldSince !== undefined) held.push(agent);
    }
    held.sort((a, b) => a.removalHeldSince! - b.removalHeldSince!);
    const markedInWindow = this.history.markedAt.filter((t) => now - t < windowMs).length;
    return {
      held: held.length,
      unreachable,
      agents: this.host.agents.size,
      ...(held.length > 0 && this.last.reason !== undefined ? { reason: this.last.reason } : {}),
      ...(held.length > 0 ? { heldSince: held[0]!.removalHeldSince! } : {}),
      ...(held.length > 0 && this.last.retryAt !== undefined ? { retryAt: this.last.retryAt } : {}),
      markedInWindow,
      windowCap: Number.isFinite(this.last.windowCap) && guardFraction < 1 ? this.last.windowCap : undefined,
      windowMs,
      guardFraction,
      rate,
      heldAgents: held.slice(0, HELD_AGENTS_LISTED).map((a) => ({ id: a.id, hostname: a.hostname, since: a.removalHeldSince! })),
    };
  }

  /** The agent is gone for good: nothing to hold. */
  forget(agentId: string): void {
    this.held.delete(agentId);
  }
}
