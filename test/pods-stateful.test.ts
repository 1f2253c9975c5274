/**
 * Pods with persistent volumes (Marathon's `volumes: [{name, persistent: {size}}]`; pod-slots.ts),
 * with real processes: `drover master --mesos-role R` (services framework on SQLite) and one
 * `drover agent` on the linux containerizer.
 *
 * The pod's instance reserves its resources and creates its volume on the agent (RESERVE, CREATE
 * and LAUNCH_GROUP in one ACCEPT); both containers mount the volume (one writes, the other reads).
 * A killed instance is replaced on the same agent, on the same reservation, and finds the data;
 * so is one replaced by an update (kill-first); deleting the pod destroys the volume and releases
 * the reservation. Bad input: 422 with its path.
 * Runs with the other files (one master and one agent of its own, free ports, its own role).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { linuxUnavailable } from './support/agent.ts';
import { httpCall } from './support/http.ts';

const skip = linuxUnavailable();
const ROLE = `podvol${process.pid % 100000}`;
const HOST = `pods-stateful-${process.pid}`;
const WAIT_MS = 120_000;
const root = await mkdtemp(join(tmpdir(), 'drover-pods-stateful-'));
const workDir = join(root, 'agent');
let master: DroverProcess | undefined;
let agent: DroverProcess | undefined;

const api = (method: string, path: string, body?: unknown) => httpCall(master!.url, method, path, body);

interface InstanceStatus {
  id: string;
  agentId: string;
  containers: Array<{ name: string; status: string; containerId: string }>;
}

async function running(except: readonly string[] = []): Promise<InstanceStatus> {
  return eventually(
    async () => {
      const r = await api('GET', '/v2/pods/db/store::status');
      const instances = r.status === 200 ? (r.body as { instances: InstanceStatus[] }).instances : [];
      return instances.find((i) => !except.includes(i.id) && i.containers.length === 2 && i.containers.every((c) => c.status === 'TASK_RUNNING'));
    },
    `a running instance of /db/store other than ${except.join(', ') || 'none'}`,
    WAIT_MS,
  );
}

/** The role's volume directories on the agent: `<work dir>/volumes/roles/<role>/<persistence id>`. */
async function volumes(): Promise<string[]> {
  const dir = join(workDir, 'volumes', 'roles', ROLE);
  return (await readdir(dir).catch(() => [])).map((d) => join(dir, d));
}

async function logLines(n: number): Promise<string[]> {
  return eventually(
    async () => {
      const [dir] = await volumes();
      if (dir === undefined) return undefined;
      const lines = (await readFile(join(dir, 'log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
      return lines.length >= n ? lines : undefined;
    },
    `${n} line(s) in the volume's log`,
    WAIT_MS,
  );
}

/** What the agent has reserved for the role, from the master's view of it. */
async function reservedForRole(): Promise<Record<string, unknown> | undefined> {
  const slaves = ((await api('GET', '/master/slaves')).body as { slaves: Array<{ hostname: string; reserved_resources?: Record<string, Record<string, unknown>> }> }).slaves;
  return slaves.find((s) => s.hostname === HOST)?.reserved_resources?.[ROLE];
}

async function sandboxOf(taskId: string): Promise<string> {
  const tasks = ((await (await fetch(`${agent!.url}/state`)).json()) as { tasks: Array<{ id: string; directory: string }> }).tasks;
  const found = tasks.find((t) => t.id === taskId);
  if (found === undefined) throw new Error(`no sandbox for ${taskId}`);
  return found.directory;
}

const POD = {
  id: '/db/store',
  networks: [{ mode: 'host' }],
  volumes: [{ name: 'data', persistent: { size: 32 } }],
  containers: [
    {
      name: 'writer',
      resources: { cpus: 0.1, mem: 32 },
      volumeMounts: [{ name: 'data', mountPath: 'data' }],
      exec: { command: { shell: 'echo "start $MESOS_TASK_ID" >> data/log; exec sleep 600' } },
    },
    {
      name: 'reader',
      resources: { cpus: 0.1, mem: 32 },
      volumeMounts: [{ name: 'data', mountPath: 'shared' }],
      exec: { command: { shell: 'until [ -s shared/log ]; do sleep 0.2; done; cp shared/log seen; exec sleep 600' } },
    },
  ],
};

before(async () => {
  if (skip !== undefined) return;
  master = await startDrover(['master', '--no-jobs', '--mesos-role', ROLE, '--port', '0', '--store', `sqlite:${join(root, 'master.db')}`, '--allocation-interval', '0.2']);
  agent = await startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', workDir, '--hostname', HOST, '--containerizer', 'linux', '--resources', 'cpus:2;mem:1024;disk:1024']);
  await eventually(async () => ((await api('GET', '/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 1, 'the agent', WAIT_MS);
});

after(async () => {
  if (master !== undefined) await api('DELETE', '/v2/pods/db/store?force=true').catch(() => undefined);
  await agent?.stop('SIGKILL');
  await master?.stop();
  // Volume mounts the agent did not live to undo (never rm through a mount).
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').reverse()) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(`${root}/`)) spawnSync('umount', ['-l', mp]);
  }
  await rm(root, { recursive: true, force: true });
});

test('bad persistent volumes: 422 with their paths, nothing stored', { skip }, async () => {
  const r = await api('POST', '/v2/pods', {
    ...POD,
    id: '/bad',
    volumes: [
      { name: 'data', persistent: { size: 0 } },
      { name: 'b', persistent: { size: 8, type: 'mount', maxSize: 9 } },
      { name: 'c', host: '/tmp', persistent: { size: 8 } },
    ],
  });
  assert.equal(r.status, 422, JSON.stringify(r.body));
  assert.deepEqual(((r.body as { details: Array<{ path: string }> }).details ?? []).map((d) => d.path).sort(), [
    '/volumes/0/persistent/size',
    '/volumes/1/persistent/maxSize',
    '/volumes/1/persistent/type',
    '/volumes/2/host',
  ]);
  assert.equal((await api('GET', '/v2/pods/bad')).status, 404);
});

test('a pod instance reserves and creates its volume; killed, it is replaced on the same agent and finds its data; wiped, on a new volume; deleting the pod releases all', {
  skip,
  timeout: 400_000,
}, async () => {
  const created = await api('POST', '/v2/pods', POD);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const first = await running();
  assert.deepEqual(await logLines(1), [`start ${first.id}.writer`]);
  // The other container mounts the same volume and reads what the writer wrote.
  const seen = join(await sandboxOf(`${first.id}.reader`), 'seen');
  assert.equal(await eventually(async () => (await readFile(seen, 'utf8').catch(() => '')) || undefined, 'the reader saw the log', WAIT_MS), `start ${first.id}.writer\n`);
  assert.equal((await volumes()).length, 1);
  const reserved = await reservedForRole();
  assert.ok(reserved !== undefined && Number(reserved['disk']) >= 32, `reserved for ${ROLE}: ${JSON.stringify(reserved)}`);

  // Killed: replaced on its reservation, same agent, same volume, the data still there.
  const killed = await api('DELETE', `/v2/pods/db/store::instances/${first.id}`);
  assert.equal(killed.status, 200, JSON.stringify(killed.body));
  const second = await running([first.id]);
  assert.equal(second.agentId, first.agentId);
  assert.deepEqual(await logLines(2), [`start ${first.id}.writer`, `start ${second.id}.writer`]);
  assert.equal((await volumes()).length, 1, 'one volume, reused');
  const seen2 = join(await sandboxOf(`${second.id}.reader`), 'seen');
  const read = await eventually(async () => (await readFile(seen2, 'utf8').catch(() => '')) || undefined, 'the new reader saw the old data', WAIT_MS);
  assert.ok(read.startsWith(`start ${first.id}.writer\n`), read);

  // An update replaces the instance kill-first, on the same slot: the data is still there.
  const updated = await api('PUT', '/v2/pods/db/store', { ...POD, environment: { VERSION: '2' } });
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  const third = await running([first.id, second.id]);
  assert.equal(third.agentId, first.agentId);
  assert.deepEqual(await logLines(3), [`start ${first.id}.writer`, `start ${second.id}.writer`, `start ${third.id}.writer`]);
  assert.equal((await volumes()).length, 1);

  // Killed with wipe=true: its volume is destroyed, and the replacement starts on a new, empty one.
  const [oldVolume] = await volumes();
  const wiped = await api('DELETE', `/v2/pods/db/store::instances/${third.id}?wipe=true`);
  assert.equal(wiped.status, 200, JSON.stringify(wiped.body));
  const fourth = await running([first.id, second.id, third.id]);
  await eventually(async () => !(await volumes()).includes(oldVolume!), 'the wiped volume destroyed', WAIT_MS);
  assert.equal((await volumes()).length, 1, 'one volume: the new one');
  assert.deepEqual(await logLines(1), [`start ${fourth.id}.writer`], 'the new volume holds only the new instance');

  // Deleted: the volume is destroyed and the reservation released.
  assert.equal((await api('DELETE', '/v2/pods/db/store?force=true')).status, 202);
  await eventually(async () => (await volumes()).length === 0, 'the volume destroyed', WAIT_MS);
  await eventually(
    async () => {
      const r = await reservedForRole();
      return r === undefined || Object.values(r).every((v) => typeof v !== 'number' || v === 0);
    },
    'the reservation released',
    WAIT_MS,
  );
});
