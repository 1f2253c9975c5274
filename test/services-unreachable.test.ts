/**
 * Services when machines fail, with real processes on loopback. A master with short agent
 * timeouts and two agents: an agent paused (SIGSTOP) has its instances replaced per
 * unreachableStrategy and, resumed, leaves exactly the target count (the youngest killed, no
 * duplicate). A second master with long agent timeouts (so that a restarted agent re-registers
 * before it would be found unreachable) and one agent: killed -9 under young tasks and restarted,
 * it reports them lost, and the app is not crash-looped. Each test prints its figures.
 */
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';

/** Heartbeats every 0.5 s, unreachable after 6 missed: 3 s (Mesos: 15 s × 5). */
const HEARTBEAT_S = 0.5;
const MISSED = 6;

let root: string;
let master: DroverProcess;
/** The kill -9 test's master: agents unreachable only after 60 s. */
let slowMaster: DroverProcess;
const agents = new Map<string, DroverProcess>();
const AGENT_PORTS: Record<string, string> = { 'node-1': '21900-21929', 'node-2': '21930-21959', 'node-3': '21960-21999' };

function startAgent(name: string, on = master): Promise<DroverProcess> {
  return startDrover(['agent', '--master', on.url, '--port', '0', '--work-dir', join(root, name), '--hostname', name, '--resources', `cpus:2;mem:2048;disk:1000;ports:[${AGENT_PORTS[name]}]`]);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-unreach-'));
  master = await startDrover([
    'master',
    '--port',
    '0',
    '--store',
    `sqlite:${join(root, 'master.db')}`,
    '--allocation-interval',
    '0.2',
    '--agent-heartbeat-interval',
    String(HEARTBEAT_S),
    '--max-missed-heartbeats',
    String(MISSED),
  ]);
  slowMaster = await startDrover([
    'master',
    '--port',
    '0',
    '--store',
    `sqlite:${join(root, 'slow.db')}`,
    '--allocation-interval',
    '0.2',
    '--agent-heartbeat-interval',
    '1',
    '--max-missed-heartbeats',
    '60',
  ]);
  for (const name of ['node-1', 'node-2']) agents.set(name, await startAgent(name));
  agents.set('node-3', await startAgent('node-3', slowMaster));
  await eventually(async () => ((await get('/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 2, 'two agents');
  await eventually(async () => ((await get('/master/state', slowMaster)).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 1, "the slow master's agent");
});
after(async () => {
  for (const a of agents.values()) a.child.kill('SIGCONT');
  for (const m of [master, slowMaster]) {
    for (const a of ((await get('/v2/apps', m)).body as { apps: Array<{ id: string }> }).apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`, undefined, m);
    await eventually(async () => ((await get('/v2/tasks', m)).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 20_000).catch(() => undefined);
  }
  for (const a of agents.values()) await a.stop();
  await master.stop();
  await slowMaster.stop();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, on = master): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${on.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}
const get = (path: string, on = master) => call('GET', path, undefined, on);

interface TaskJson {
  id: string;
  state: string;
  host: string;
  stagedAt: string;
}
async function tasks(appId: string, on = master): Promise<TaskJson[]> {
  const r = await get(`/v2/apps${appId}/tasks`, on);
  return r.status === 200 ? (r.body as { tasks: TaskJson[] }).tasks : [];
}
const running = (list: TaskJson[]): TaskJson[] => list.filter((t) => t.state === 'TASK_RUNNING');

/** Tasks of the app's instances the master believes are live, as the agents report them (duplicates show here). */
async function masterLiveTasks(prefix: string): Promise<Array<{ id: string; state: string }>> {
  const state = (await get('/master/state')).body as { frameworks: Array<{ name: string; tasks: Array<{ id: string; state: string }>; unreachable_tasks?: Array<{ id: string; state: string }> }> };
  const fw = state.frameworks.find((f) => f.name === 'marathon');
  return [...(fw?.tasks ?? []), ...(fw?.unreachable_tasks ?? [])].filter(
    (t) => t.id.startsWith(prefix) && !['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED', 'TASK_GONE', 'TASK_LOST'].includes(t.state),
  );
}

/** Pids of the processes under `pid` (children, grandchildren...), from ps. */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='])
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const out: number[] = [];
  const walk = (parent: number): void => {
    for (const [child, ppid] of rows) if (ppid === parent && child !== undefined) out.push(child), walk(child);
  };
  walk(pid);
  return out;
}

interface QueueEntry {
  app: { id: string };
  count: number;
  delay: { timeLeftSeconds: number };
  launchStopped: boolean;
}
async function queueOf(appId: string, on = master): Promise<QueueEntry | undefined> {
  return ((await get('/v2/queue', on)).body as { queue: QueueEntry[] }).queue.find((e) => e.app.id === appId);
}

describe('unreachable agents', () => {
  test('SIGSTOP: replaced after detection + inactiveAfterSeconds; SIGCONT: exactly 2 again, the youngest killed, 0 duplicates', { timeout: 120_000 }, async () => {
    await call('POST', '/v2/apps', {
      id: '/steady',
      cmd: 'sleep 600',
      cpus: 0.1,
      mem: 32,
      instances: 2,
      unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 600 },
    });
    const before = await eventually(
      async () => {
        const list = running(await tasks('/steady'));
        return list.length === 2 ? list : undefined;
      },
      '2 running',
      30_000,
    );
    const victim = before[0]!;
    const paused = agents.get(victim.host)!;
    const other = victim.host === 'node-1' ? 'node-2' : 'node-1';

    const t0 = Date.now();
    paused.child.kill('SIGSTOP');
    await eventually(async () => (await tasks('/steady')).some((t) => t.id === victim.id && t.state === 'TASK_UNREACHABLE') || undefined, 'TASK_UNREACHABLE', 30_000);
    const detected = Date.now() - t0;
    const replaced = await eventually(
      async () => {
        const list = running(await tasks('/steady'));
        return list.length === 2 && list.every((t) => t.host === other || t.host !== victim.host) ? list : undefined;
      },
      'the replacement running',
      30_000,
    );
    const replacedAt = Date.now() - t0;
    // Placement may have put both on one agent: then both are away, and both replaced.
    const away = before.filter((t) => t.host === victim.host).length;
    const replacements = replaced.filter((t) => !before.some((b) => b.id === t.id));
    assert.equal(replacements.length, away, 'one new instance per instance away');
    assert.ok(replacements.every((t) => t.host === other));
    // While away: 2 running + the unreachable shown; /v2/queue asks for nothing more.
    const during = await tasks('/steady');
    assert.deepEqual(during.map((t) => t.state).sort(), ['TASK_RUNNING', 'TASK_RUNNING', ...Array<string>(away).fill('TASK_UNREACHABLE')]);
    assert.equal((await queueOf('/steady'))?.count ?? 0, 0);

    const t1 = Date.now();
    paused.child.kill('SIGCONT');
    const healed = await eventually(
      async () => {
        const list = await tasks('/steady');
        return list.length === 2 && running(list).length === 2 && !list.some((t) => replacements.some((r) => r.id === t.id)) ? list : undefined;
      },
      'exactly 2 after healing',
      60_000,
    );
    const healedAt = Date.now() - t1;
    assert.deepEqual(healed.map((t) => t.id).sort(), before.map((t) => t.id).sort(), 'the returned instance kept, the youngest (the replacement) killed');
    // Stable: a few heartbeats later, still exactly 2 on the agents (0 duplicates).
    await sleep(3000);
    const live = await masterLiveTasks('steady.');
    assert.deepEqual(live.map((t) => t.id).sort(), before.map((t) => t.id).sort(), `0 duplicates: ${JSON.stringify(live)}`);
    console.log(
      `# SIGSTOP ${victim.host} (${away} of 2 instances): unreachable after ${detected} ms (timeout ${HEARTBEAT_S * MISSED * 1000} ms), ${away} replacement(s) running on ${other} after ${replacedAt} ms (inactiveAfterSeconds 1); during: 2 running + ${away} unreachable, queue 0; SIGCONT: exactly 2 after ${healedAt} ms, replacement(s) killed, ${live.length} live on the agents`,
    );
    await call('DELETE', '/v2/apps/steady?force=true');
  });

  test('pods too: SIGSTOP replaces the unreachable instance; SIGCONT leaves exactly the target count, 0 duplicates', { timeout: 150_000 }, async () => {
    interface PodInstanceJson {
      id: string;
      status: string;
      agentHostname: string;
      containers: Array<{ status: string }>;
    }
    const instances = async (): Promise<PodInstanceJson[]> => {
      const r = await get('/v2/pods/upod::status');
      return r.status === 200 ? ((r.body as { instances?: PodInstanceJson[] }).instances ?? []) : [];
    };
    const stable = (list: PodInstanceJson[]): PodInstanceJson[] => list.filter((i) => i.status === 'STABLE');
    const created = await call('POST', '/v2/pods', {
      id: '/upod',
      networks: [{ mode: 'host' }],
      scaling: { kind: 'fixed', instances: 2 },
      scheduling: { unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 600 } },
      containers: [{ name: 'main', resources: { cpus: 0.1, mem: 32 }, exec: { command: { shell: 'sleep 600' } } }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const before = await eventually(
      async () => {
        const list = stable(await instances());
        return list.length === 2 ? list : undefined;
      },
      '2 pod instances running',
      60_000,
    );
    const victim = before[0]!;
    const paused = agents.get(victim.agentHostname)!;
    const other = victim.agentHostname === 'node-1' ? 'node-2' : 'node-1';
    const away = before.filter((i) => i.agentHostname === victim.agentHostname).length;

    const t0 = Date.now();
    paused.child.kill('SIGSTOP');
    const replaced = await eventually(
      async () => {
        const list = stable(await instances());
        return list.length === 2 && list.every((i) => i.agentHostname === other) ? list : undefined;
      },
      'the replacement instance(s) running on the other agent',
      60_000,
    );
    const replacedAt = Date.now() - t0;
    const replacements = replaced.filter((i) => !before.some((b) => b.id === i.id));
    assert.equal(replacements.length, away, 'one new instance per instance away');

    const t1 = Date.now();
    paused.child.kill('SIGCONT');
    const healed = await eventually(
      async () => {
        const list = await instances();
        return list.length === 2 && stable(list).length === 2 && !list.some((i) => replacements.some((r) => r.id === i.id)) ? list : undefined;
      },
      'exactly 2 instances after healing, the youngest (the replacements) killed',
      60_000,
    );
    const healedAt = Date.now() - t1;
    assert.deepEqual(healed.map((i) => i.id).sort(), before.map((i) => i.id).sort());
    await sleep(3000);
    const live = await masterLiveTasks('upod.');
    assert.equal(live.length, 2, `0 duplicates on the agents: ${JSON.stringify(live)}`);
    console.log(`# pod: SIGSTOP ${victim.agentHostname} (${away} of 2 instances): replaced on ${other} after ${replacedAt} ms; SIGCONT: exactly 2 after ${healedAt} ms, ${live.length} tasks live`);
    await call('DELETE', '/v2/pods/upod');
  });

  test('kill -9 of an agent under 10 young tasks, restarted: no backoff, no crash-loop stop, all relaunched at full speed', { timeout: 120_000 }, async () => {
    await call('POST', '/v2/apps', { id: '/young', cmd: 'sleep 600', cpus: 0.1, mem: 16, instances: 10, maxConsecutiveFailures: 10, backoffSeconds: 30 }, slowMaster);
    // A 30 s backoff: had one loss counted as a crash, no replacement would start for 30 s.
    const first = await eventually(
      async () => {
        const list = running(await tasks('/young', slowMaster));
        return list.length === 10 ? list : undefined;
      },
      '10 running',
      30_000,
    );
    // Young (< 10 s): a crash now would count toward the crash loop.
    const age = Date.now() - Math.min(...first.map((t) => Date.parse(t.stagedAt)));
    const t0 = Date.now();
    // The machine's crash: the agent and its tasks' processes (found by pid under the agent) die
    // at once, as the OOM killer or a cgroup teardown does; the checkpoints on disk stay.
    const agent3 = agents.get('node-3')!;
    const doomed = descendants(agent3.child.pid!);
    await agent3.stop('SIGKILL');
    for (const pid of doomed) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    agents.set('node-3', await startAgent('node-3', slowMaster));
    const restartedAfter = Date.now() - t0;
    const restartedAfterMs = (): number => restartedAfter;
    const again = await eventually(
      async () => {
        const list = running(await tasks('/young', slowMaster));
        return list.length === 10 && list.every((t) => !first.some((f) => f.id === t.id)) ? list : undefined;
      },
      '10 new instances running',
      restartedAfterMs() + 20_000,
    ).catch(() => undefined);
    const back = Date.now() - t0;
    const q = await queueOf('/young', slowMaster);
    const failure = ((await get('/v2/apps/young?embed=app.lastTaskFailure', slowMaster)).body as { app: { lastTaskFailure?: { state: string; message: string } } }).app.lastTaskFailure;
    const reused = again === undefined ? running(await tasks('/young', slowMaster)).filter((t) => first.some((f) => f.id === t.id)).length : 0;
    console.log(
      `# kill -9 node-3 with 10 tasks ${Math.round(age / 1000)} s old, agent back after ${restartedAfter} ms; last loss: ${failure ? `${failure.state} (${failure.message})` : 'none recorded'}: ${again ? `10 replacements running after ${back} ms` : `not all replaced (${reused} reattached)`}; queue: ${q ? `delay ${q.delay.timeLeftSeconds} s, launchStopped ${q.launchStopped}` : 'empty'}`,
    );
    assert.ok(again, `10 replacements running (${reused} reattached)`);
    assert.equal(failure?.state, 'TASK_FAILED', 'the agent reported them lost on recovery (not the unreachable path)');
    assert.ok(q === undefined || (!q.launchStopped && q.delay.timeLeftSeconds === 0), `not crash-looped: ${JSON.stringify(q)}`);
    await call('DELETE', '/v2/apps/young?force=true', undefined, slowMaster);
  });
});
