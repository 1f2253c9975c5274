/**
 * Agent maintenance, as Mesos' operator calls DEACTIVATE_AGENT, DRAIN_AGENT and REACTIVATE_AGENT:
 *
 * - a **deactivated** agent keeps its tasks but gets no new offers (its outstanding offers are
 *   rescinded);
 * - a **draining** agent is deactivated and every task on it is killed, with the kill grace
 *   period capped by `max_grace_period`; once no task is left it is **DRAINED** (and stays
 *   deactivated until reactivated, so an operator can take the machine down safely);
 * - **reactivating** clears both, and the agent is offered again.
 *
 * The state is persisted in the registry (`/drover/master/maintenance/<agentId>`), so it survives a
 * master restart or failover, and an agent that re-registers while draining has the tasks it
 * reports killed again. Marking the agent gone after draining (`mark_gone`) is not supported yet
 * and is refused rather than ignored.
 */
import { DroverError } from '../errors/errors.ts';
import type { Store } from '../store/store.ts';

const PREFIX = '/drover/master/maintenance/';

export interface DrainInfo {
  state: 'DRAINING' | 'DRAINED';
  config: { mark_gone: boolean; max_grace_period?: { nanoseconds: number } };
}

export interface AgentMaintenance {
  deactivated: boolean;
  drain?: DrainInfo;
}

/**
 * What maintenance sees of an agent: its id, and where its state is mirrored for the views and
 * the offer cycle. The master's AgentRecord is one; this file does not import the master's
 * model, so the model may name `AgentMaintenance` without an import cycle.
 */
export interface MaintainedAgent {
  readonly id: string;
  maintenance?: AgentMaintenance;
}

/** What the maintenance shell needs of the master. */
export interface MaintenanceHost {
  agent(agentId: string): MaintainedAgent | undefined;
  /** How many live tasks the agent has (the master's by-agent index). */
  liveTasksOn(agentId: string): number;
  /** Ask the agent to kill each of its live tasks, with the grace period capped (ns) when given. */
  killTasksOn(agentId: string, gracePeriodNs: number | undefined): void;
  /** Rescind every outstanding offer on the agent. */
  rescindOffersOn(agentId: string): void;
  scheduleAllocation(): void;
  /** The agent's state changed (for operator streams). */
  agentUpdated(agentId: string): void;
}

export class Maintenance {
  private readonly states = new Map<string, AgentMaintenance>();

  constructor(
    private readonly store: Store,
    private readonly host: MaintenanceHost,
  ) {}

  async load(): Promise<void> {
    const { kvs } = await this.store.range(PREFIX);
    for (const kv of kvs) this.states.set(kv.key.slice(PREFIX.length), JSON.parse(kv.value) as AgentMaintenance);
  }

  /** Mirrors the agent's maintenance state onto its record (views and the offer cycle read it there). */
  attach(agent: MaintainedAgent): void {
    const state = this.states.get(agent.id);
    if (state === undefined) delete agent.maintenance;
    else agent.maintenance = state;
  }

  async deactivate(agentId: string): Promise<void> {
    this.agent(agentId);
    const current = this.states.get(agentId);
    await this.save(agentId, { ...current, deactivated: true });
    this.host.rescindOffersOn(agentId);
    this.updated(agentId);
  }

  async drain(agentId: string, options: { maxGracePeriodNs?: number; markGone?: boolean }): Promise<void> {
    this.agent(agentId);
    if (options.markGone === true) {
      throw new DroverError('VALIDATION', 'mark_gone is not supported yet: drain the agent, then stop it', { details: [{ path: '/drain_agent/mark_gone', errors: ['not supported yet'] }] });
    }
    const config: DrainInfo['config'] = { mark_gone: false, ...(options.maxGracePeriodNs === undefined ? {} : { max_grace_period: { nanoseconds: options.maxGracePeriodNs } }) };
    await this.save(agentId, { deactivated: true, drain: { state: 'DRAINING', config } });
    this.host.rescindOffersOn(agentId);
    this.killTasksOf(agentId);
    await this.checkDrained(agentId);
    this.updated(agentId);
  }

  async reactivate(agentId: string): Promise<void> {
    this.agent(agentId);
    if (!this.states.has(agentId)) throw new DroverError('CONFLICT', `Agent ${agentId} is not deactivated`);
    await this.store.delete(PREFIX + agentId);
    this.states.delete(agentId);
    this.updated(agentId);
    this.host.scheduleAllocation();
  }

  /** A task ended: a draining agent with no task left is drained. */
  taskEnded(agentId: string): void {
    if (this.states.get(agentId)?.drain?.state !== 'DRAINING') return;
    void this.checkDrained(agentId).then(() => this.updated(agentId));
  }

  /** An agent (re-)registered: it keeps its maintenance state, and if draining, what it still runs is killed again. */
  agentRegistered(agent: MaintainedAgent): void {
    this.attach(agent);
    if (agent.maintenance?.drain?.state === 'DRAINING') {
      this.killTasksOf(agent.id);
      void this.checkDrained(agent.id).then(() => this.updated(agent.id));
    }
  }

  private agent(agentId: string): MaintainedAgent {
    const agent = this.host.agent(agentId);
    if (!agent) throw new DroverError('NOT_FOUND', `Unknown agent ${agentId}`);
    return agent;
  }

  private killTasksOf(agentId: string): void {
    const grace = this.states.get(agentId)?.drain?.config.max_grace_period?.nanoseconds;
    this.host.killTasksOn(agentId, grace);
  }

  private async checkDrained(agentId: string): Promise<void> {
    const state = this.states.get(agentId);
    if (state?.drain?.state !== 'DRAINING') return;
    if (this.host.liveTasksOn(agentId) > 0) return;
    await this.save(agentId, { ...state, drain: { ...state.drain, state: 'DRAINED' } });
  }

  private async save(agentId: string, state: AgentMaintenance): Promise<void> {
    await this.store.put(PREFIX + agentId, JSON.stringify(state));
    this.states.set(agentId, state);
  }

  private updated(agentId: string): void {
    const agent = this.host.agent(agentId);
    if (!agent) return;
    this.attach(agent);
    this.host.agentUpdated(agentId);
  }
}
