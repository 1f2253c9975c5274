/**
 * A Postgres-style stateful app (Marathon `container.volumes[].persistent`) with real processes:
 * `drover master --mesos-role pg` (services framework on SQLite) and two `drover agent`s.
 *
 * The app is a shell loop that appends to a file in its persistent volume. Its instance reserves
 * resources and creates its volume on one agent; every replacement — after a kill, after a master
 * restart, after a scale-down, the agent's kill -9 and restart, and a scale-up (queued meanwhile,
 * saying it waits for that agent), and the agent's kill -9 and restart with the task running (the task
 * is recovered and keeps writing) — runs on that agent and finds the file as it was. wipe=true
 * releases the reservation and deletes the volume; the replacement starts on a new, empty one.
 * Deleting the app releases everything. Bad input: 422 with the field path.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { freePort } from '../devkit/etcd.ts';
import { httpCall } from './support/http.ts';

const ROLE = 'pg';
const root = await mkdtemp(join(tmpdir(), 'drover-stateful-'));
const names = { a: `stateful-a-${process.pid}`, b: `stateful-b-${process.pid}` };
let port: number;
let master: DroverProcess;
const agents = new Map<string, DroverProcess>();

function startMaster(): Promise<DroverProcess> {
  return startDrover([
    'master',
    '--no-jobs',
    '--mesos-role',
    ROLE,
    '--port',
    String(port),
    '--store',
    `sqlite:${join(root, 'master.db')}`,
    '--allocation-interval',
    '0.2',
    '--agent-heartbeat-interval',
    '0.5',
    '--max-missed-heartbeats',
    '20',
  ]);
}

async function startAgent(host: string): Promise<void> {
  agents.set(host, await startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', join(root, host), '--hostname', host, '--resources', 'cpus:2;mem:1024;disk:1024']));
}

const call = (method: string, path: string, body?: unknown) => httpCall(master.url, method, path, body);

interface Task {
  id: string;
  host: string;
  state: string;
}

async function runningTask(except: readonly string[] = []): Promise<Task> {
  return eventually(
    async () => {
      const answer = await call('GET', '/v2/apps/db/pg/tasks');
      const tasks = answer.status === 200 ? (answer.body as { tasks: Task[] }).tasks : [];
      return tasks.find((t) => t.state === 'TASK_RUNNING' && !except.includes(t.id));
    },
    `a running task of /db/pg other than ${except.join(', ') || 'none'}`,
    120_000,
  );
}

/** The volume directories of role `pg` on an agent: `<work dir>/volumes/roles/pg/<persistence id>`. */
async function volumes(host: string): Promise<string[]> {
  const dir = join(root, host, 'volumes', 'roles', ROLE);
  return (await readdir(dir).catch(() => [])).map((d) => join(dir, d));
}

async function logOn(host: string, lines: number): Promise<string[]> {
  return eventually(
    async () => {
      const [dir] = await volumes(host);
      if (dir === undefined) return undefined;
      const text = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
      const got = text.split('\n').filter(Boolean);
      return got.length >= lines ? got : undefined;
    },
    `${lines} lines in the volume's log on ${host}`,
    120_000,
  );
}

async function killTask(id: string, query = ''): Promise<void> {
  const answer = await call('DELETE', `/v2/apps/db/pg/tasks/${id}${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

const APP = {
  id: '/db/pg',
  // Postgres-style: a start record, then a loop that keeps appending to its data directory.
  cmd: 'echo "start $MESOS_TASK_ID" >> pgdata/log; while true; do date +%s >> pgdata/ticks; sleep 1; done',
  cpus: 0.2,
  mem: 64,
  instances: 1,
  container: { type: 'MESOS', volumes: [{ containerPath: 'pgdata', mode: 'RW', persistent: { type: 'root', size: 64 } }] },
};

before(async () => {
  port = await freePort();
  master = await startMaster();
  await startAgent(names.a);
  await startAgent(names.b);
});

after(async () => {
  for (const a of agents.values()) await a.stop('SIGKILL').catch(() => undefined);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(root)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  await master?.stop();
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(`${root}/`)) spawnSync('umount', ['-l', mp]);
  }
  await rm(root, { recursive: true, force: true });
});

test('bad persistent volumes and upgrade strategies: 422 with the field path', async () => {
  const volume = (v: Record<string, unknown>) => ({ ...APP, id: '/bad', container: { type: 'MESOS', volumes: [{ containerPath: 'data', mode: 'RW', persistent: { size: 10 }, ...v }] } });
  const cases: Array<[unknown, string]> = [
    [volume({ containerPath: 'a/b' }), '/container/volumes/0/containerPath'],
    [volume({ persistent: { size: 0 } }), '/container/volumes/0/persistent/size'],
    [volume({ persistent: { type: 'mount', size: 10 } }), '/container/volumes/0/persistent/type'],
    [volume({ mode: 'RO' }), '/container/volumes/0/mode'],
    [{ ...volume({}), upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 1 } }, '/upgradeStrategy/maximumOverCapacity'],
  ];
  for (const [body, path] of cases) {
    const answer = await call('POST', '/v2/apps', body);
    assert.equal(answer.status, 422, path);
    const details = (answer.body as { details: Array<{ path: string }> }).details;
    assert.ok(
      details.some((d) => d.path === path),
      `${path} in ${JSON.stringify(details)}`,
    );
  }
  assert.equal((await call('GET', '/v2/apps/bad')).status, 404, 'nothing was created');
});

let home: string;
const seen: string[] = [];

test('the instance reserves and creates its volume; a killed task is replaced on the same agent and reads its data', { timeout: 300_000 }, async () => {
  const created = await call('POST', '/v2/apps', APP);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const app = (await call('GET', '/v2/apps/db/pg')).body as { app: { unreachableStrategy: unknown; upgradeStrategy: unknown; container: { volumes: unknown[] } } };
  // Marathon's defaults for resident apps, and the volume as it was given.
  assert.equal(app.app.unreachableStrategy, 'disabled');
  assert.deepEqual(app.app.upgradeStrategy, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 });
  assert.deepEqual(app.app.container.volumes, [{ containerPath: 'pgdata', mode: 'RW', persistent: { type: 'root', size: 64 } }]);
  const first = await runningTask();
  home = first.host;
  seen.push(first.id);
  assert.deepEqual(await logOn(home, 1), [`start ${first.id}`]);
  // The master holds the reservation, labelled with the slot, and the volume.
  const state = (await (await fetch(`${master.url}/master/state`)).json()) as { slaves: Array<{ hostname: string; reserved_resources_full?: Array<{ disk?: { persistence?: { id: string } } }> }> };
  const reserved = state.slaves.find((s) => s.hostname === home)?.reserved_resources_full ?? [];
  assert.ok(
    reserved.some((r) => r.disk?.persistence !== undefined),
    JSON.stringify(reserved),
  );

  await killTask(first.id);
  const second = await runningTask(seen);
  seen.push(second.id);
  assert.equal(second.host, home, 'the replacement runs where the data is');
  assert.deepEqual(await logOn(home, 2), [`start ${first.id}`, `start ${second.id}`]);
  const other = home === names.a ? names.b : names.a;
  assert.deepEqual(await volumes(other), [], 'no volume on the other agent');
});

test('a master restart changes nothing: the task runs on, its replacement still finds the data', { timeout: 300_000 }, async () => {
  await master.stop();
  master = await startMaster();
  const still = await runningTask();
  assert.equal(still.id, seen.at(-1));
  await killTask(still.id);
  const third = await runningTask(seen);
  seen.push(third.id);
  assert.equal(third.host, home);
  assert.equal((await logOn(home, 3)).at(-1), `start ${third.id}`);
});

test('its agent killed -9 while the task runs, and restarted: the same instance runs on there, on the same data; a replacement reads it', { timeout: 300_000 }, async () => {
  const running = await runningTask();
  assert.equal(running.host, home);
  const ticks = async (): Promise<number> => {
    const [dir] = await volumes(home);
    return (await readFile(join(dir!, 'ticks'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  };
  await agents.get(home)!.stop('SIGKILL');
  const before = await ticks();
  await startAgent(home);
  // The agent reattaches to the task (tasks outlive their agent): the same instance, still writing its volume.
  const after = await eventually(
    async () => {
      const answer = await call('GET', '/v2/apps/db/pg/tasks');
      const tasks = answer.status === 200 ? (answer.body as { tasks: Task[] }).tasks : [];
      return tasks.length === 1 && tasks[0]!.id === running.id && tasks[0]!.state === 'TASK_RUNNING' && (await ticks()) > before ? tasks[0] : undefined;
    },
    'the same task running and writing after the agent restart',
    120_000,
  );
  assert.equal(after.host, home);
  const agentState = (await (await fetch(`${agents.get(home)!.url}/state`)).json()) as { tasks: Array<{ id: string; state: string }> };
  assert.deepEqual(
    agentState.tasks.filter((t) => t.state === 'TASK_RUNNING').map((t) => t.id),
    [running.id],
    'recovered by the restarted agent',
  );
  // Its replacement, after a kill, still runs there on the same data.
  await killTask(running.id);
  const next = await runningTask(seen);
  seen.push(next.id);
  assert.equal(next.host, home);
  const log = await logOn(home, seen.length);
  assert.equal(log.at(-1), `start ${next.id}`);
  assert.equal(log.at(-2), `start ${running.id}`);
});

test('scaled down, its agent killed: a scale-up waits in the queue for that agent, then runs there on the same data', { timeout: 300_000 }, async () => {
  await killTask(seen.at(-1)!, '?scale=true');
  // Ended, not only no longer running: a task still KILLING when its agent dies stays live (and
  // holds its slot, so nothing waits in the queue) until the agent comes back. In CI the agent was
  // killed between TASK_KILLING and TASK_KILLED.
  await eventually(async () => ((await call('GET', '/v2/apps/db/pg/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'the scale-down', 120_000);
  await agents.get(home)!.stop('SIGKILL');
  // Once the master knows the agent is gone no offer of it is out: the instance can only wait.
  await eventually(
    async () => {
      const state = (await (await fetch(`${master.url}/master/state`)).json()) as { slaves: Array<{ hostname: string; drover_status: string }> };
      return state.slaves.find((s) => s.hostname === home)?.drover_status === 'unreachable';
    },
    `the master to see ${home} unreachable`,
    120_000,
  );
  assert.equal((await call('PUT', '/v2/apps/db/pg', { instances: 1 })).status, 200);
  const queued = await eventually(
    async () => {
      const q = ((await call('GET', '/v2/queue')).body as { queue: Array<{ app: { id: string }; count: number; lastUnusedOffers: Array<{ reason: string[] }> }> }).queue.find(
        (e) => e.app.id === '/db/pg',
      );
      const reasons = q?.lastUnusedOffers.map((o) => o.reason.join()).join(' | ') ?? '';
      return reasons.includes('waiting for its reserved resources') ? { q, reasons } : undefined;
    },
    'the queue to say the instance waits for its agent',
    120_000,
  );
  assert.equal(queued.q?.count, 1);
  assert.match(queued.reasons, new RegExp(`on ${home}`));
  await startAgent(home);
  const fourth = await runningTask(seen);
  seen.push(fourth.id);
  assert.equal(fourth.host, home);
  assert.equal((await logOn(home, 4)).at(-1), `start ${fourth.id}`);
});

test('wipe=true releases the reservation and deletes the volume; the replacement starts on a new one', { timeout: 300_000 }, async () => {
  const [old] = await volumes(home);
  assert.ok(old !== undefined);
  await killTask(seen.at(-1)!, '?wipe=true');
  const fresh = await runningTask(seen);
  seen.push(fresh.id);
  await eventually(async () => !(await volumes(home)).includes(old), 'the wiped volume to be deleted', 120_000);
  const dirs = [...(await volumes(names.a)), ...(await volumes(names.b))];
  assert.equal(dirs.length, 1, `one volume: ${dirs.join(', ')}`);
  assert.deepEqual((await readFile(join(dirs[0]!, 'log'), 'utf8')).split('\n').filter(Boolean), [`start ${fresh.id}`], 'a new, empty volume');
});

test('deleting the app releases its reservations and volumes', { timeout: 300_000 }, async () => {
  assert.equal((await call('DELETE', '/v2/apps/db/pg')).status, 200);
  await eventually(async () => (await volumes(names.a)).length + (await volumes(names.b)).length === 0, 'every volume deleted', 120_000);
  await eventually(
    async () => {
      const state = (await (await fetch(`${master.url}/master/state`)).json()) as { slaves: Array<{ reserved_resources_full?: unknown[] }> };
      return state.slaves.every((s) => s.reserved_resources_full === undefined);
    },
    'no reservation left on the master',
    120_000,
  );
});
