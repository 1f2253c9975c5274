/**
 * The fault suite, part 2 (issue 14; reliability anchors §7): 60 % of the agents partitioned at
 * once. A real master (heartbeat 1 s × 8 missed) with `--agent-removal-rate-limit 1/10mins`
 * (Mesos' flag) and the default mass-unreachable guard, five real agents each in its own network
 * namespace, ten instances (at most four per agent). The three agents holding the most are cut
 * off both ways: the rule lets exactly one be marked unreachable (the first permit is immediate,
 * the next ten minutes away); the other two are held — not marked, not replaced. Only the marked
 * agent's instances are replaced; healed, exactly the target count remains (the replacements
 * killed), with 0 duplicates on the agents. Prints its figures.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultCluster } from '../devkit/fault-cluster.ts';
import { massPartitionScenario } from '../devkit/fault-scenarios.ts';
import { netnsUnavailable } from '../devkit/netns.ts';

const unavailable = netnsUnavailable();
let cluster: FaultCluster;

before(async () => {
  if (unavailable) return;
  cluster = await FaultCluster.start({ prefix: 'b', portBase: 23100, agents: 5, heartbeatS: 1, missedHeartbeats: 8, masterArgs: ['--agent-removal-rate-limit', '1/10mins'] });
});
after(async () => {
  await cluster?.destroy();
});

describe('faults: a network split', { skip: unavailable }, () => {
  test('60 % of the agents partitioned at once: one marked per the rate limit, the rest held, 0 duplicates after healing', { timeout: 500_000 }, async () => {
    const f = await massPartitionScenario(cluster, { appId: '/split', partitioned: 3, instancesPerAgent: 2, observeMs: 10_000 });
    console.log(`# faults ${JSON.stringify(f)}`);
    assert.deepEqual([f.agents, f.partitioned], [5, 3]);
    // 1/10mins: the first marking at once, none more within the test.
    assert.equal(f.maxMarked, 1, 'exactly one agent marked unreachable');
    assert.equal(f.maxHeld, 2, 'the other two held');
    assert.equal(f.replaced, f.onMarkedAgents, "only the marked agent's instances replaced");
    assert.deepEqual(f.after, { tasks: f.instances, running: f.instances, live: f.instances });
    assert.equal(f.duplicates, 0);
  });
});
