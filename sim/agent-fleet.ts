/**
 * Many HollowAgents in one thread, started in waves so that a thousand REGISTER calls do not
 * land on the master in the same millisecond (a real fleet boots over minutes, not at once).
 */
import { pino } from 'pino';
import type { Logger } from '../src/log/index.ts';
import type { AttributeJson } from '../src/protocol/mesos/agent-link.ts';
import { Resources } from '../src/resources/index.ts';
import { HollowAgent, type HollowAgentStats, type TaskBehaviour } from './hollow-agent.ts';
import { pooledPost } from './call-pool.ts';

/** Call sockets per fleet (a fleet is a worker thread): enough for the pace of a million launches. */
const CALL_SOCKETS = 1024;

export interface FleetSpec {
  masterUrl: string;
  /** Index of the first agent (hostnames are hollow-<index>). */
  first: number;
  count: number;
  /** `cpus:32;mem:65536;ports:[31000-32000]` syntax. */
  resources: string;
  attributes?: Record<string, string>;
  behaviour: TaskBehaviour;
  heartbeatIntervalOverride?: number;
  /** Agents started per wave, 10 ms apart. */
  wave?: number;
  /** The cluster CA (PEM): agents join over HTTPS by TLS bootstrap and use mTLS (HollowAgentOptions.caPem). */
  caPem?: string;
}

/** Kills since a partition, by app (task id prefix): of the agents cut off (the instances that came back) and of the others. */
export interface PartitionReport {
  /** Live tasks on the agents cut off, when they were. */
  lostByApp: Record<string, number>;
  killedOnLost: Record<string, number>;
  killedElsewhere: Record<string, number>;
}

/**
 * Which `fraction` of `count` agents are cut off: a seeded shuffle, the same every run. Evenly
 * spaced indices lined up with how apps were placed (every lost agent ran the same half of the
 * apps), so the pick is scattered instead.
 */
export function lostIndices(count: number, fraction: number, seed: number): Set<number> {
  const order = Array.from({ length: count }, (_, i) => i);
  let state = seed >>> 0 || 1;
  const random = (): number => {
    // xorshift32: small, seeded, good enough to scatter a pick.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, Math.round(count * fraction)));
}

/** Sums of several fleets' partition reports. */
export function sumReports(all: readonly PartitionReport[]): PartitionReport {
  const out: PartitionReport = { lostByApp: {}, killedOnLost: {}, killedElsewhere: {} };
  for (const r of all) {
    for (const side of ['lostByApp', 'killedOnLost', 'killedElsewhere'] as const) for (const [app, n] of Object.entries(r[side])) out[side][app] = (out[side][app] ?? 0) + n;
  }
  return out;
}

/**
 * The hollow agents' log, kept as a tally of warnings by event and reason (a failed call, a lost
 * stream): a run that stalls says why in its summary (`agentStats.warnings`), without a log line
 * per agent.
 */
function tallyLogger(tally: Map<string, number>): Logger {
  return pino(
    { level: 'warn' },
    {
      write(line: string): void {
        let key = 'unparsed';
        try {
          const entry = JSON.parse(line) as { msg?: string; err?: unknown };
          key = `${entry.msg ?? ''}: ${String(typeof entry.err === 'string' ? entry.err : ((entry.err as { message?: string } | undefined)?.message ?? '')).slice(0, 120)}`;
        } catch {
          // counted as unparsed
        }
        if (tally.size < 50 || tally.has(key)) tally.set(key, (tally.get(key) ?? 0) + 1);
      },
    },
  );
}

export class AgentFleet {
  readonly agents: HollowAgent[] = [];
  private readonly warnings = new Map<string, number>();
  private lost = new Set<HollowAgent>();
  private lostByApp: Record<string, number> = {};

  constructor(private readonly spec: FleetSpec) {
    const resources = Resources.parse(spec.resources);
    const logger = tallyLogger(this.warnings);
    // One pool of call sockets for the fleet's agents (call-pool.ts says why).
    const post = pooledPost(CALL_SOCKETS);
    for (let i = 0; i < spec.count; i++) {
      const index = spec.first + i;
      const attributes: AttributeJson[] = Object.entries(spec.attributes ?? {}).map(([name, value]) => ({
        name,
        type: 'TEXT',
        text: { value: value.replaceAll('{i}', String(index)).replaceAll('{rack}', String(index % 10)) },
      }));
      this.agents.push(
        new HollowAgent({
          masterUrl: spec.masterUrl,
          hostname: `hollow-${index}`,
          resources,
          attributes,
          behaviour: spec.behaviour,
          logger,
          post,
          ...(spec.caPem === undefined ? {} : { caPem: spec.caPem }),
          ...(spec.heartbeatIntervalOverride === undefined ? {} : { heartbeatIntervalOverride: spec.heartbeatIntervalOverride }),
        }),
      );
    }
  }

  async start(): Promise<void> {
    const wave = this.spec.wave ?? 100;
    for (let i = 0; i < this.agents.length; i += wave) {
      for (const agent of this.agents.slice(i, i + wave)) agent.start();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }

  /**
   * Cut `fraction` of the fleet's agents off from the master at once (each fleet of a run loses
   * its share; `lostIndices` picks which); kill counts start again from zero.
   */
  async partition(fraction: number): Promise<{ agents: number; tasks: number; tasksByHost: Record<string, number> }> {
    const pick = lostIndices(this.agents.length, fraction, 0x5eed + this.spec.first);
    const lost = this.agents.filter((_, i) => pick.has(i));
    this.lost = new Set(lost);
    for (const a of this.agents) a.killedByApp.clear();
    let tasks = 0;
    const tasksByHost: Record<string, number> = {};
    this.lostByApp = {};
    for (const a of lost) {
      tasks += a.liveTasks().tasks;
      tasksByHost[a.hostname] = a.liveTasks().tasks;
      for (const [app, n] of a.tasksByApp()) this.lostByApp[app] = (this.lostByApp[app] ?? 0) + n;
    }
    await Promise.all(lost.map((a) => a.partition()));
    return { agents: lost.length, tasks, tasksByHost };
  }

  heal(): void {
    for (const a of this.agents) a.heal();
  }

  /** Kills since the partition, by app: on the agents that were cut off, and on the others. */
  partitionReport(): PartitionReport {
    const out: PartitionReport = { lostByApp: { ...this.lostByApp }, killedOnLost: {}, killedElsewhere: {} };
    for (const a of this.agents) {
      const into = this.lost.has(a) ? out.killedOnLost : out.killedElsewhere;
      for (const [app, n] of a.killedByApp) into[app] = (into[app] ?? 0) + n;
    }
    return out;
  }

  stats(): HollowAgentStats {
    const out: HollowAgentStats = {
      registered: 0,
      tasks: 0,
      running: 0,
      launched: 0,
      ended: 0,
      killed: 0,
      updatesSent: 0,
      acknowledged: 0,
      unacknowledged: 0,
      overcommits: 0,
      duplicatePorts: 0,
      duplicateLaunches: 0,
      violations: [],
      warnings: Object.fromEntries(this.warnings),
    };
    for (const agent of this.agents) {
      if (agent.registered) out.registered++;
      const live = agent.liveTasks();
      out.tasks += live.tasks;
      out.running += live.running;
      const s = agent.stats;
      out.launched += s.launched;
      out.ended += s.ended;
      out.killed += s.killed;
      out.updatesSent += s.updatesSent;
      out.acknowledged += s.acknowledged;
      out.unacknowledged += s.unacknowledged;
      out.overcommits += s.overcommits;
      out.duplicatePorts += s.duplicatePorts;
      out.duplicateLaunches += s.duplicateLaunches;
      if (out.violations.length < 20) out.violations.push(...s.violations.slice(0, 20 - out.violations.length));
    }
    return out;
  }
}

/** Sums of several fleets' stats (one per worker). */
export function sumStats(all: readonly HollowAgentStats[]): HollowAgentStats {
  const out: HollowAgentStats = {
    registered: 0,
    tasks: 0,
    running: 0,
    launched: 0,
    ended: 0,
    killed: 0,
    updatesSent: 0,
    acknowledged: 0,
    unacknowledged: 0,
    overcommits: 0,
    duplicatePorts: 0,
    duplicateLaunches: 0,
    violations: [],
    warnings: {},
  };
  for (const s of all) {
    for (const k of Object.keys(out) as Array<keyof HollowAgentStats>) {
      if (k === 'violations') out.violations.push(...s.violations);
      else if (k === 'warnings') for (const [w, n] of Object.entries(s.warnings ?? {})) out.warnings![w] = (out.warnings![w] ?? 0) + n;
      else out[k] += s[k];
    }
  }
  out.violations = out.violations.slice(0, 20);
  return out;
}
