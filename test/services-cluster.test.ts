/**
 * The services framework on a real two-agent cluster: constraints across agents, a health-gated
 * rolling update observed for capacity at every poll, and a master-process restart that keeps the
 * running task ids.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';

let root: string;
let master: DroverProcess;
let masterPort = 0;
const agents: DroverProcess[] = [];

async function startMaster(port: number): Promise<DroverProcess> {
  return startDrover(['master', '--port', String(port), '--store', `sqlite:${join(root, 'master.db')}`, '--allocation-interval', '0.2', '--agent-heartbeat-interval', '0.5']);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-svcc-'));
  master = await startMaster(0);
  masterPort = Number(new URL(master.url).port);
  // Both agents share this machine's network: their port ranges must not overlap, or one agent's
  // health check could reach the other agent's task on the same port.
  for (const [name, rack, ports] of [
    ['node-1', 'r1', '21800-21849'],
    ['node-2', 'r2', '21850-21899'],
  ] as const) {
    agents.push(
      await startDrover([
        'agent',
        '--master',
        master.url,
        '--port',
        '0',
        '--work-dir',
        join(root, name),
        '--hostname',
        name,
        '--resources',
        `cpus:2;mem:2048;disk:1000;ports:[${ports}]`,
        '--attributes',
        `rack:${rack}`,
      ]),
    );
  }
  await eventually(async () => ((await get('/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 2, 'two agents');
});
after(async () => {
  for (const a of ((await get('/v2/apps')).body as { apps: Array<{ id: string }> }).apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`);
  await eventually(async () => ((await get('/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 20_000).catch(() => undefined);
  for (const a of agents) await a.stop();
  await master.stop();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${master.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}
const get = (path: string) => call('GET', path);

interface TaskJson {
  id: string;
  state: string;
  host: string;
  healthCheckResults?: Array<{ alive: boolean }>;
}
async function tasks(appId: string): Promise<TaskJson[]> {
  const r = await get(`/v2/apps${appId}/tasks`);
  return r.status === 200 ? (r.body as { tasks: TaskJson[] }).tasks : [];
}
async function runningTasks(appId: string, n: number, timeoutMs = 20_000): Promise<TaskJson[]> {
  return eventually(
    async () => {
      const list = (await tasks(appId)).filter((t) => t.state === 'TASK_RUNNING');
      return list.length === n ? list : undefined;
    },
    `${n} running instances of ${appId}`,
    timeoutMs,
  );
}

describe('constraints across agents', () => {
  test('UNIQUE hostname puts one instance on each agent, and a third stays queued with the reason', async () => {
    await call('POST', '/v2/apps', { id: '/uniq', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 3, constraints: [['hostname', 'UNIQUE']] });
    const two = await runningTasks('/uniq', 2);
    assert.deepEqual(two.map((t) => t.host).sort(), ['node-1', 'node-2']);
    const queued = await eventually(async () => {
      const q = ((await get('/v2/queue')).body as { queue: Array<{ app: { id: string }; count: number; lastUnusedOffers: Array<{ reason: string[] }> }> }).queue.find((e) => e.app.id === '/uniq');
      return q && q.lastUnusedOffers.length > 0 ? q : undefined;
    }, 'the queue entry with reasons');
    assert.equal(queued.count, 1);
    assert.match(queued.lastUnusedOffers.map((o) => o.reason.join()).join(' | '), /constraint hostname UNIQUE/);
    await call('DELETE', '/v2/apps/uniq?force=true');
  });

  test('GROUP_BY rack spreads evenly; MAX_PER rack caps each rack', async () => {
    await call('POST', '/v2/apps', { id: '/spread', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 4, constraints: [['rack', 'GROUP_BY', '2']] });
    const spread = await runningTasks('/spread', 4);
    assert.deepEqual(spread.filter((t) => t.host === 'node-1').length, 2, 'two per rack');
    await call('POST', '/v2/apps', { id: '/capped', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 3, constraints: [['rack', 'MAX_PER', '1']] });
    const capped = await runningTasks('/capped', 2);
    assert.deepEqual(capped.map((t) => t.host).sort(), ['node-1', 'node-2']);
    await call('DELETE', '/v2/apps/spread?force=true');
    await call('DELETE', '/v2/apps/capped?force=true');
  });
});

describe('deployments', () => {
  const healthy = (extra: Record<string, unknown> = {}) => ({
    id: '/hc',
    cmd: 'exec python3 -m http.server $PORT0',
    cpus: 0.1,
    mem: 64,
    instances: 2,
    upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
    healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 30, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 1, delaySeconds: 0 }],
    ...extra,
  });
  const healthyCount = (list: TaskJson[]) => list.filter((t) => t.state === 'TASK_RUNNING' && t.healthCheckResults?.[0]?.alive === true).length;

  test('a rolling update keeps ⌈instances × minimumHealthCapacity⌉ healthy at every observed moment and is gated on health', async () => {
    assert.equal((await call('POST', '/v2/apps', healthy())).status, 201);
    await eventually(async () => healthyCount(await tasks('/hc')) === 2, 'two healthy instances', 30_000);
    const original = (await tasks('/hc')).map((t) => t.id);

    // v2 does not serve HTTP: its instances never become healthy, so the update must stall with
    // one old healthy instance left (0.5 × 2), never fewer.
    assert.equal((await call('PUT', '/v2/apps/hc', { cmd: 'exec sleep 300' })).status, 200);
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      const now = await tasks('/hc');
      assert.ok(healthyCount(now) >= 1, `healthy never below 1: ${JSON.stringify(now.map((t) => [t.state, t.healthCheckResults?.[0]?.alive]))}`);
      assert.ok(
        now.filter((t) => t.state !== 'TASK_KILLING').length <= 2,
        `never over capacity (maximumOverCapacity 0): ${JSON.stringify(now.map((t) => [t.id.slice(3, 16), t.state, t.healthCheckResults?.[0]?.alive]))}`,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    const stalled = await tasks('/hc');
    assert.ok(
      stalled.some((t) => original.includes(t.id) && t.healthCheckResults?.[0]?.alive === true),
      'one original instance still serves',
    );
    assert.equal(((await get('/v2/deployments')).body as unknown[]).length, 1, 'the deployment waits for health');

    // A good version (forced over the stalled deployment) completes, again never below one healthy.
    assert.equal((await call('PUT', '/v2/apps/hc?force=true', { cmd: 'exec python3 -m http.server $PORT0' })).status, 200);
    await eventually(
      async () => {
        const now = await tasks('/hc');
        assert.ok(healthyCount(now) >= 1, 'healthy never below 1 while recovering');
        return healthyCount(now) === 2 && ((await get('/v2/deployments')).body as unknown[]).length === 0;
      },
      'the good version deployed',
      40_000,
    );
    await call('DELETE', '/v2/apps/hc?force=true');
  });
});

describe('master restart', () => {
  test('a restart of the master process keeps the running tasks and their ids', async () => {
    await call('POST', '/v2/apps', { id: '/durable', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 2 });
    const ids = (await runningTasks('/durable', 2)).map((t) => t.id).sort();
    await eventually(async () => ((await get('/v2/apps/durable')).body as { app: { deployments: unknown[] } }).app.deployments.length === 0, 'deployed');
    await master.stop('SIGKILL');
    master = await startMaster(masterPort);
    const after = (await runningTasks('/durable', 2, 30_000)).map((t) => t.id).sort();
    assert.deepEqual(after, ids);
    // And it stays that way: no replacement launched once the agents are back.
    await eventually(async () => ((await get('/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 2, 'agents re-registered', 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual((await tasks('/durable')).map((t) => t.id).sort(), ids);
    const masterTasks = ((await get('/master/state')).body as { frameworks: Array<{ name: string; tasks: Array<{ id: string; state: string }> }> }).frameworks.find(
      (f) => f.name === 'marathon',
    )!.tasks;
    assert.deepEqual(
      masterTasks
        .filter((t) => t.id.startsWith('durable.'))
        .map((t) => t.id)
        .sort(),
      ids,
    );
    await call('DELETE', '/v2/apps/durable?force=true');
  });
});
