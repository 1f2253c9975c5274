/**
 * The fault scenarios of test/faults-*.test.ts with DEFAULT detection timings (heartbeat 15 s × 5
 * missed = 75 s, as Mesos' agent ping timeout), for comparison with reliability-anchors.md §7
 * scenarios 6–11. Two clusters at once, each agent in its own network namespace (needs root):
 * A = master + 3 agents + 1 relayed agent: partition both ways, agent → master dropped,
 * master → agent dropped, a lossy link (30 % loss, 0–2 s delay), an agent dead for good;
 * B = master (default removal guard, no rate limit) + 5 agents: 60 % partitioned at once.
 * Apps use Marathon's unreachableStrategy default (inactiveAfterSeconds 0).
 *
 * Flags: --hold=20 (seconds partitioned after replacement) --lossy=120 (seconds of lossy link)
 */
import { FaultCluster } from '../devkit/fault-cluster.ts';
import { deadAgentScenario, lossyLinkScenario, massPartitionScenario, partitionScenario } from '../devkit/fault-scenarios.ts';
import { netnsUnavailable } from '../devkit/netns.ts';

const flag = (args: string[], name: string, fallback: number): number => {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!(value > 0 && value <= 3600)) throw new Error(`--${name} must be 1…3600 seconds`);
  return value;
};

async function clusterA(holdS: number, lossyS: number): Promise<object[]> {
  const c = await FaultCluster.start({ prefix: 'a', portBase: 23200, agents: 3, relayedAgents: 1, heartbeatS: 15, missedHeartbeats: 5 });
  const steady = ['a1', 'a2', 'a3'];
  const out: object[] = [];
  // A scenario that fails is reported as such; the next one still runs.
  const run = async (name: string, scenario: () => Promise<object>): Promise<void> => {
    out.push(await scenario().catch((error: unknown) => ({ scenario: name, error: String(error) })));
  };
  try {
    for (const direction of ['both', 'out', 'in'] as const) {
      await run(`partition-${direction}`, () => partitionScenario(c, { appId: `/part-${direction}`, direction, instances: 4, inactiveAfterSeconds: 0, holdMs: holdS * 1000, candidates: steady }));
    }
    const lossy = c.agents.find((a) => a.relay !== undefined)!;
    await run('lossy-link', () => lossyLinkScenario(c, { agent: lossy, loss: 0.3, maxDelayMs: 2000, lossyMs: lossyS * 1000, concurrent: 4, taskSeconds: 1 }));
    await run('agent-dead', () => deadAgentScenario(c, { appId: '/dead', instances: 4, inactiveAfterSeconds: 0, expungeAfterSeconds: 0, candidates: steady }));
  } finally {
    await c.destroy();
  }
  return out;
}

async function clusterB(): Promise<object[]> {
  const c = await FaultCluster.start({ prefix: 'b', portBase: 23300, agents: 5, heartbeatS: 15, missedHeartbeats: 5 });
  try {
    return [await massPartitionScenario(c, { appId: '/split', partitioned: 3, instancesPerAgent: 2, observeMs: 30_000 })];
  } finally {
    await c.destroy();
  }
}

export default async function faults(args: string[]): Promise<Record<string, unknown>> {
  const unavailable = netnsUnavailable();
  if (unavailable) throw new Error(`faults bench needs network namespaces: ${unavailable}`);
  const holdS = flag(args, 'hold', 20);
  const lossyS = flag(args, 'lossy', 120);
  const started = Date.now();
  // Both run to their end (and clean up) even when one fails.
  const [a, b] = await Promise.allSettled([clusterA(holdS, lossyS), clusterB()]);
  const figures = (r: PromiseSettledResult<object[]>, name: string): object[] => (r.status === 'fulfilled' ? r.value : [{ cluster: name, error: String(r.reason) }]);
  return {
    bench: 'faults',
    detection: { heartbeatS: 15, missedHeartbeats: 5, windowS: 75 },
    holdS,
    lossyS,
    scenarios: [...figures(a, 'A'), ...figures(b, 'B')],
    totalS: Math.round((Date.now() - started) / 1000),
  };
}
