/**
 * Many HollowAgents in one thread, started in waves so that a thousand REGISTER calls do not
 * land on the master in the same millisecond (a real fleet boots over minutes, not at once).
 */
import { silentLogger } from '../src/log/index.ts';
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
}

export class AgentFleet {
  readonly agents: HollowAgent[] = [];

  constructor(private readonly spec: FleetSpec) {
    const resources = Resources.parse(spec.resources);
    const logger = silentLogger();
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
  };
  for (const s of all) {
    for (const k of Object.keys(out) as Array<keyof HollowAgentStats>) {
      if (k === 'violations') out.violations.push(...s.violations);
      else out[k] += s[k];
    }
  }
  out.violations = out.violations.slice(0, 20);
  return out;
}
