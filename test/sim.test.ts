/**
 * The simulator's tiny scenario as a correctness test: a real master process, 50 hollow agents
 * speaking the real agent protocol, 2,000 tasks posted to /v2/apps. Correctness only — every task
 * running, no agent over-committed (in the agents' own bookkeeping and in the master's), no port
 * handed out twice on an agent, every status update acknowledged. No timing assertion: the run is
 * polled with generous timeouts, so a loaded CI machine only makes it slower.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadScenario } from '../sim/scenario.ts';
import { runLaunchScenario } from '../sim/launch-scenario.ts';
import { runSoakScenario } from '../sim/soak-scenario.ts';

interface TaskJson {
  id: string;
  host: string;
  ports: number[];
  state: string;
}
interface AgentJson {
  hostname: string;
  resources: Record<string, number | string>;
  used_resources: Record<string, number | string>;
}

test('tiny scenario: 50 hollow agents run 2,000 tasks, nothing over-committed, no port twice, every update acknowledged', { timeout: 240_000 }, async () => {
  const scenario = await loadScenario('tiny');
  const summary = await runLaunchScenario(scenario, {
    inspect: async (url) => {
      const { tasks } = (await (await fetch(`${url}/v2/tasks`)).json()) as { tasks: TaskJson[] };
      const { slaves } = (await (await fetch(`${url}/master/state-summary`)).json()) as { slaves: AgentJson[] };
      return { tasks, slaves };
    },
  });
  const stats = summary['agentStats'] as Record<string, unknown>;
  const { tasks, slaves } = summary['inspected'] as { tasks: TaskJson[]; slaves: AgentJson[] };

  assert.equal(summary['complete'], true, `every task running (${String(summary['running'])}/2000)`);
  assert.equal(stats['registered'], 50);
  assert.equal(stats['running'], 2000, 'the agents run 2,000 tasks');
  assert.equal(stats['launched'], 2000, 'no more launches than tasks (none failed, none twice)');
  assert.deepEqual(stats['violations'], []);
  assert.equal(stats['overcommits'], 0);
  assert.equal(stats['duplicatePorts'], 0);
  assert.equal(stats['duplicateLaunches'], 0);
  // Each task: TASK_STARTING and TASK_RUNNING, both acknowledged by the services framework.
  assert.equal(stats['unacknowledged'], 0, 'every status update acknowledged');
  assert.equal(stats['acknowledged'], 4000);

  // The framework's view: 2,000 running tasks, no (host, port) pair twice.
  assert.equal(tasks.length, 2000);
  assert.ok(tasks.every((t) => t.state === 'TASK_RUNNING'));
  const pairs = new Set(tasks.flatMap((t) => t.ports.map((p) => `${t.host}:${p}`)));
  assert.equal(pairs.size, 4000, 'two ports per task, none handed out twice on a host');

  // The master's view: no agent uses more than it has.
  assert.equal(slaves.length, 50);
  for (const s of slaves) {
    for (const name of ['cpus', 'mem'] as const) {
      assert.ok(Number(s.used_resources[name]) <= Number(s.resources[name]) + 1e-9, `${s.hostname} ${name}: ${s.used_resources[name]} > ${s.resources[name]}`);
    }
  }
});

test('tiny scenario over TLS (what bench/tls.ts runs): 50 hollow agents join by TLS bootstrap and run 500 tasks over mTLS, every update acknowledged, no call failed', {
  timeout: 300_000,
}, async () => {
  const base = await loadScenario('tiny', { tasks: 500 });
  const scenario = { ...base, master: { ...base.master, tls: true } };
  const summary = await runLaunchScenario(scenario);
  const stats = summary['agentStats'] as Record<string, unknown>;
  assert.equal(summary['complete'], true, `every task running (${String(summary['running'])}/500)`);
  assert.equal(stats['registered'], 50);
  assert.equal(stats['running'], 500);
  assert.deepEqual(stats['violations'], []);
  assert.equal(stats['unacknowledged'], 0, 'every status update acknowledged');
  assert.equal(stats['acknowledged'], 1000);
  // A failed call (a refused certificate, a handshake cut off) would be tallied here.
  assert.deepEqual(stats['warnings'], {});
});

interface PartitionOutcome {
  complete: boolean;
  lostAgents: number;
  lostTasks: number;
  detectionSeconds: number | null;
  fullReplacementSeconds: number | null;
  heldPeak: number;
  unreachablePeak: number;
  windowCap: number | null;
  during: { minRunning: number | null; replacementsLaunched: number; unreachableAgents: number | null; heldTasks: number; markedTasks: number };
  afterHealing: { running: number; appsAtCount: boolean; agentsLiveTasks: number; duplicates: number; appsOverCount: number; unacknowledged: number };
  killedBySelection: Record<string, { apps: number; lostTasks: number; killedReturned: number; killedElsewhere: number }>;
  violations: string[];
}

/** The partition scenarios at 50 agents and 500 tasks (10 apps × 50), in this thread. */
async function reducedPartition(name: string, resources?: string): Promise<PartitionOutcome> {
  const scenario = await loadScenario(name, { agents: 50, apps: 10, tasks: 500, workers: 0 });
  if (resources !== undefined) scenario.agents.resources = resources;
  const summary = await runLaunchScenario(scenario, { progress: (line) => process.stderr.write(`[${name}] ${line}\n`) });
  assert.equal(summary['running'], 500, 'every task ran before the partition');
  const partition = summary['partition'] as PartitionOutcome | undefined;
  assert.ok(partition, 'the partition phase ran');
  return partition;
}

test('partition scenario (reduced): 10 % of 50 agents cut off — detected, every app back at its count, 0 duplicates after healing', { timeout: 300_000 }, async () => {
  // 12 tasks per agent at most: the 500 tasks spread over ≥ 42 of the 50 agents, so the lost
  // five run some (placement packs agents otherwise), and the other 45 have room for them.
  const p = await reducedPartition('partition', 'cpus:1.2;mem:65536;ports:[31000-32000]');
  assert.equal(p.lostAgents, 5);
  assert.ok(p.lostTasks > 0, 'the lost agents ran tasks');
  assert.equal(p.complete, true, 'replaced, healed and settled');
  assert.notEqual(p.detectionSeconds, null, 'the master marked the lost agents unreachable');
  assert.equal(p.heldPeak, 0, '5 of 50 is within the guard (at most 20 per window): nothing held');
  assert.equal(p.during.unreachableAgents, 5);
  // Each lost instance replaced once (inactiveAfterSeconds 0), and no more.
  assert.equal(p.during.replacementsLaunched, p.lostTasks);
  assert.notEqual(p.fullReplacementSeconds, null, 'every app back at its count while the agents were away');
  // After healing: the returned instances and their replacements settled to exactly the counts.
  assert.equal(p.afterHealing.running, 500);
  assert.equal(p.afterHealing.appsAtCount, true);
  assert.equal(p.afterHealing.agentsLiveTasks, 500, 'the agents run exactly the apps’ total');
  assert.equal(p.afterHealing.duplicates, 0);
  assert.equal(p.afterHealing.appsOverCount, 0);
  assert.equal(p.afterHealing.unacknowledged, 0);
  // One kill per returned instance, whichever side it hit; YOUNGEST_FIRST apps kill the replacements.
  let lost = 0;
  for (const [selection, row] of Object.entries(p.killedBySelection)) {
    assert.equal(row.killedReturned + row.killedElsewhere, row.lostTasks, `${selection}: one kill per instance that came back`);
    if (selection === 'YOUNGEST_FIRST') assert.equal(row.killedReturned, 0, 'YOUNGEST_FIRST keeps the instances that came back');
    lost += row.lostTasks;
  }
  assert.equal(lost, p.lostTasks);
  assert.deepEqual(p.violations, []);
});

test('partition-60 scenario (reduced): 60 % of 50 agents cut off — the guard marks at most 40 %, holds the rest; 0 duplicates after healing', { timeout: 300_000 }, async () => {
  const p = await reducedPartition('partition-60');
  assert.equal(p.lostAgents, 30);
  // 40 % of 50 = 20 agents marked within one detection window, never more; the other 10 held.
  assert.equal(p.windowCap, 20);
  assert.ok(p.unreachablePeak <= 20, `marked ${p.unreachablePeak} > the guard's 20`);
  assert.ok(p.heldPeak > 0, 'removals were held');
  assert.equal((p as unknown as { healedWhileHeld: boolean }).healedWhileHeld, true, 'the network healed while the hold stood');
  assert.ok(p.unreachablePeak + p.heldPeak <= 30);
  // Replacements exactly for what was marked: the held agents' instances were never replaced.
  // (Which agents ran how many tasks is placement's choice, so the split is read, not fixed.)
  assert.equal(p.during.replacementsLaunched, p.during.markedTasks, `replacements ${p.during.replacementsLaunched}; marked agents' tasks ${p.during.markedTasks}, held ${p.during.heldTasks}`);
  assert.equal(p.complete, true, 'healed and settled');
  assert.equal(p.afterHealing.running, 500);
  assert.equal(p.afterHealing.appsAtCount, true);
  assert.equal(p.afterHealing.agentsLiveTasks, 500);
  assert.equal(p.afterHealing.duplicates, 0);
  assert.equal(p.afterHealing.appsOverCount, 0);
  assert.deepEqual(p.violations, []);
});

test('soak scenario, 20 s: churn and API load run against the real master and the memory curve is sampled', { timeout: 240_000 }, async () => {
  // A smoke run only: that the scenario drives the master and reports its curve. No assertion on
  // RSS here — a flat curve is for `npm run sim -- soak` (an hour), not for a loaded CI machine.
  const summary = await runSoakScenario(await loadScenario('soak', { minutes: 1 / 3 }));
  const curve = summary['curve'] as Array<{ t: number; rssMb: number; heapUsedMb: number }>;
  const load = summary['load'] as Record<string, number>;
  assert.ok(curve.length >= 2, `samples: ${curve.length}`);
  assert.equal(summary['samples'], curve.length);
  assert.ok(
    curve.every((s) => s.rssMb > 0 && s.heapUsedMb > 0),
    'every sample has the RSS and the heap in use',
  );
  assert.ok(load['appsCreated']! > 0 && load['gets']! > 0 && load['eventClients']! > 0, JSON.stringify(load));
  assert.equal(load['errors'], 0, `no failed request: ${JSON.stringify(summary['lastErrors'])}`);
  for (const key of ['rss', 'heapUsed'] as const) {
    const c = summary[key] as Record<string, number>;
    assert.ok(c['minMb']! <= c['endMb']! && c['endMb']! <= c['maxMb']!, JSON.stringify(c));
  }
});
