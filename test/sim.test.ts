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
