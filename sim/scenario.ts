/**
 * Declarative scenarios (sim/scenarios/NAME.json), in the spirit of Kubernetes' scheduler_perf:
 * the agents, what to create through the public APIs, what to measure. `--agents N` and
 * `--tasks M` scale a scenario without editing it (instances per app = ceil(M / apps)).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskBehaviour } from './hollow-agent.ts';

export interface Scenario {
  name: string;
  /**
   * launch: create apps, wait until every task runs. churn: then keep tasks failing and measure
   * per interval. partition: then cut a share of the agents off and heal (partition-scenario.ts).
   * allocator: offer cycles, in-process. soak: churn and API load, memory sampled (soak-scenario.ts).
   */
  kind: 'launch' | 'churn' | 'partition' | 'allocator' | 'soak';
  description?: string;
  agents: {
    count: number;
    resources: string;
    /** TEXT attributes; `{i}` is the agent's index, `{rack}` index mod 10. */
    attributes?: Record<string, string>;
    behaviour: TaskBehaviour;
    /** Seconds between heartbeats; default the master's. */
    heartbeatIntervalSeconds?: number;
  };
  /** Worker threads running the agents; 0 runs them in the runner's own thread. */
  workers: number;
  apps: {
    count: number;
    instances: number;
    cpus: number;
    mem: number;
    ports: number;
    cmd?: string;
    /** Extra fields of every app definition (e.g. backoffSeconds, constraints). */
    extra?: Record<string, unknown>;
    /** Fields that vary by app: app `a` gets `values[a % values.length]` (e.g. killSelection). */
    vary?: Record<string, unknown[]>;
  };
  master: {
    store: 'sqlite' | 'memory';
    allocationIntervalSeconds: number;
    agentHeartbeatIntervalSeconds: number;
    /** Further `drover master` flags (e.g. ["--max-missed-heartbeats", "4"]). */
    args?: string[];
    /**
     * Everything over HTTPS with the cluster CA: hollow agents join by TLS bootstrap and use mTLS,
     * the runner's API calls go to https:// (bench/tls.ts compares this with auth and TLS off).
     */
    tls?: boolean;
  };
  measure: {
    /** Give up (and report what was reached) after this long. */
    timeoutSeconds: number;
    /** Tasks whose launch latency is read back (from /v2/apps/ID/tasks), at most. */
    latencySample: number;
    /** After everything runs: how long to sit at rest and sample offer cycles (scale-1m). */
    restSeconds?: number;
    /** Also wait until every status update is acknowledged (the correctness test). */
    requireAcknowledged?: boolean;
  };
  churn?: {
    durationSeconds: number;
    intervalSeconds: number;
  };
  /** kind partition: once every task runs, cut `fraction` of the agents off at once, then heal. */
  partition?: {
    fraction: number;
    /**
     * When the network comes back: `replaced` once every app is back at its count (the lost
     * instances replaced); `held` as soon as the master holds removals (a partition shorter
     * than the guard's hold: the held agents' instances are never replaced).
     */
    healWhen: 'replaced' | 'held';
    /** Give up waiting for detection and replacement, and for the state after healing to settle. */
    timeoutSeconds: number;
  };
  /** kind soak: churn and API load for `minutes`, the master's memory sampled (soak-scenario.ts). */
  soak?: {
    minutes: number;
    /** Samples before this are left out of the slope (caches and pools filling). */
    warmupMinutes: number;
    sampleSeconds: number;
    /** Apps cycling through create → scale → delete. */
    appSlots: number;
    churnIntervalMs: number;
    /** A job is created and run every this many churn rounds. */
    jobEvery: number;
    readIntervalMs: number;
    /** Concurrent /v2/events clients, each reconnecting after `eventClientSeconds`. */
    eventClients: number;
    eventClientSeconds: number;
  };
  /** kind allocator: frameworks, cycles and tasks already running per agent. */
  allocator?: {
    frameworks: number;
    cycles: number;
    tasksPerAgent: number;
    /** Frameworks (and their tasks) spread round-robin over roles `role-0` … (default: all in `*`). */
    roles?: number;
    /** Role weights (UPDATE_WEIGHTS). */
    weights?: Record<string, number>;
    /** Role quotas (UPDATE_QUOTA): scalar name → amount. */
    quota?: Record<string, { guarantees?: Record<string, number>; limits?: Record<string, number> }>;
    /** This many agents have all their resources statically reserved for `role-0` (with `roles`). */
    reservedAgents?: number;
    /** The goal for an offer cycle (ms): the summary says whether p50 wall time and p50 CPU time meet it. */
    goalCycleMs?: number;
  };
}

export interface Overrides {
  agents?: number;
  tasks?: number;
  /** Apps to spread the tasks over (instances per app = ceil(tasks / apps)). */
  apps?: number;
  workers?: number;
  timeoutSeconds?: number;
  durationSeconds?: number;
  /** soak: how long to run. */
  minutes?: number;
}

export const SCENARIO_DIR = join(import.meta.dirname, 'scenarios');

export async function loadScenario(nameOrPath: string, overrides: Overrides = {}): Promise<Scenario> {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : join(SCENARIO_DIR, `${nameOrPath}.json`);
  const scenario = JSON.parse(await readFile(path, 'utf8')) as Scenario;
  return applyOverrides(scenario, overrides);
}

export function applyOverrides(scenario: Scenario, o: Overrides): Scenario {
  const s: Scenario = structuredClone(scenario);
  if (o.agents !== undefined) s.agents.count = o.agents;
  if (o.apps !== undefined && s.kind !== 'allocator') {
    const tasks = o.tasks ?? s.apps.count * s.apps.instances;
    s.apps.count = o.apps;
    s.apps.instances = Math.ceil(tasks / o.apps);
  }
  if (o.tasks !== undefined) {
    if (s.kind === 'allocator') s.allocator!.tasksPerAgent = Math.ceil(o.tasks / s.agents.count);
    else s.apps.instances = Math.ceil(o.tasks / s.apps.count);
  }
  if (o.workers !== undefined) s.workers = o.workers;
  if (o.timeoutSeconds !== undefined) s.measure.timeoutSeconds = o.timeoutSeconds;
  if (o.durationSeconds !== undefined && s.churn) s.churn.durationSeconds = o.durationSeconds;
  if (o.minutes !== undefined && s.soak) {
    s.soak.minutes = o.minutes;
    // A short run keeps a proportionate warm-up (a 20-s smoke run would otherwise have no slope).
    s.soak.warmupMinutes = Math.min(s.soak.warmupMinutes, o.minutes / 4);
  }
  return s;
}

export function totalTasks(s: Scenario): number {
  return s.kind === 'allocator' ? s.agents.count * (s.allocator?.tasksPerAgent ?? 0) : s.apps.count * s.apps.instances;
}
