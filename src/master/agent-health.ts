/**
 * The master's health check of agents (the shell around agent-removal-limit.ts): agents silent
 * past heartbeat interval × missed heartbeats are marked unreachable — as many as the removal
 * limits allow. The others are held (`removalHeldSince` on the record, gauge
 * `drover_master_agents_removal_held`), logged once per change as `agent-removal-held` with the
 * counts, and asked about again on the next check.
 */
import type { Logger } from '../log/index.ts';
import { decideRemovals, EMPTY_HISTORY, type RemovalHistory, type RemovalPolicy } from './agent-removal-limit.ts';
import type { AgentRecord } from './model.ts';

export interface AgentHealthHost {
  readonly agents: ReadonlyMap<string, AgentRecord>;
  readonly log: Logger;
  markUnreachable(agent: AgentRecord, why: string): void;
  heldCount(count: number): void;
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
    for (const id of decision.mark) this.host.markUnreachable(this.host.agents.get(id)!, `missed ${maxMissedHeartbeats} heartbeats`);
    const held = new Set(decision.held);
    for (const agent of this.host.agents.values()) {
      if (held.has(agent.id)) agent.removalHeldSince ??= now;
      else delete agent.removalHeldSince;
    }
    this.host.heldCount(held.size);
    // Logged when the held set changes, not on every check: one line per step of an episode.
    if (held.size !== this.held.size || [...held].some((id) => !this.held.has(id))) {
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
      } else this.host.log.info({ released: this.held.size }, 'agent-removal-released');
    }
    this.held = held;
  }

  /** The agent is gone for good: nothing to hold. */
  forget(agentId: string): void {
    this.held.delete(agentId);
  }
}
