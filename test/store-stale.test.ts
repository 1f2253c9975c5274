/**
 * A master on a store older than its agents know (issue 15, item 5), with real processes: a master
 * on SQLite, an agent running a task, then the master restarted on
 *   1. a copy of its store taken before the agent ever registered (a restored old backup: same
 *      cluster, consistent, passes every check the SQLite store makes at open), and
 *   2. a new, empty store (another cluster).
 * Each time the agent's re-registration is refused with DROVER_ERR_STORE_STALE (the master logs
 * and counts it, the agent logs it and keeps retrying) and the task is not killed; with
 * `--accept-stale-store` the master adopts the agent and its task, same process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { freePort } from '../devkit/etcd.ts';
import { TestScheduler } from './support/scheduler.ts';

const WAIT_MS = 60_000;
let root: string;
let storeDir: string;
let backupDir: string;
let port: number;
let master: DroverProcess | undefined;
let agent: DroverProcess | undefined;

function startMaster(extra: string[] = []): Promise<DroverProcess> {
  return startDrover(['master', '--no-services', '--no-jobs', '--port', String(port), '--store', `sqlite:${join(storeDir, 'master.db')}`, '--allocation-interval', '0.2', ...extra]);
}

/** The store's files: the database, its WAL and the `.id`/`.rev` sidecars (copied together, store stopped). */
async function copyStore(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) if (name.startsWith('master.db')) await copyFile(join(from, name), join(to, name));
}

async function agentTask(id: string): Promise<{ state: string; pid: number | null } | undefined> {
  const s = (await (await fetch(`${agent!.url}/state`)).json()) as { tasks: Array<{ id: string; state: string; pid: number | null }> };
  return s.tasks.find((t) => t.id === id);
}

async function agentRegistered(): Promise<boolean> {
  return ((await (await fetch(`${agent!.url}/state`)).json()) as { registered: boolean }).registered;
}

async function masterKnowsTask(id: string): Promise<boolean> {
  const body = (await (await fetch(`${master!.url}/master/tasks`)).json()) as { tasks: Array<{ id: string; state: string }> };
  return body.tasks.some((t) => t.id === id && t.state === 'TASK_RUNNING');
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${master!.url}/metrics/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-stale-'));
  storeDir = join(root, 'store');
  backupDir = join(root, 'backup');
  port = await freePort();
});

after(async () => {
  await agent?.stop('SIGKILL');
  await master?.stop('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

test('a master restarted on an older or a new store refuses the agent, which keeps its task; --accept-stale-store adopts it', { timeout: 600_000 }, async () => {
  // The "old backup": the store as the first master left it, before any agent registered.
  master = await startMaster();
  await master.stop();
  await copyStore(storeDir, backupDir);

  master = await startMaster();
  agent = await startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    join(root, 'agent'),
    '--hostname',
    'stale-agent',
    '--resources',
    'cpus:2;mem:1024;disk:1024;ports:[22600-22610]',
  ]);
  const fw = await TestScheduler.subscribe(master.url, { name: 'stale', failover_timeout: 3600 });
  let pid: number;
  try {
    await fw.launch((await fw.offers(WAIT_MS))[0]!, [{ id: 'keeper', cmd: 'sleep 600' }]);
    await fw.status('keeper', 'TASK_RUNNING', WAIT_MS);
    pid = (await agentTask('keeper'))!.pid!;
    assert.ok(pid > 0 && alive(pid));
  } finally {
    await fw.close().catch(() => undefined);
  }
  await master.stop();

  // 1. The store restored from the old backup: consistent, same cluster, but it never saw the agent.
  await copyStore(backupDir, storeDir);
  master = await startMaster();
  await eventually(() => master!.output().includes('agent-refused-stale-store'), 'the master refuses the agent', WAIT_MS);
  assert.match(master.output(), /DROVER_ERR_STORE_STALE/);
  assert.match(master.output(), /"reason":"record-missing"/);
  assert.ok((await metric('drover_master_agent_registrations_refused_stale_store_total')) >= 1);
  // The agent says why, keeps retrying, and kills nothing.
  await eventually(() => count(agent!.output(), 'master-refused-registration-stale-store') >= 2, 'the agent retries its refused registration', WAIT_MS);
  assert.match(agent.output(), /has no record of it: the store is older than that registration/);
  assert.equal(await agentRegistered(), false);
  assert.equal((await agentTask('keeper'))?.state, 'TASK_RUNNING');
  assert.ok(alive(pid), 'the task process still runs');
  assert.equal(await masterKnowsTask('keeper'), false, 'the refused agent’s task is not adopted');
  await master.stop();

  // 2. A new, empty store (another cluster id, another signing key): refused too. With auth on, the
  // agent's own token is the first thing the new master cannot vouch for (an unknown key: 401);
  // with auth off it is the registration's cluster id (src/master/stale-store.test.ts).
  await rm(storeDir, { recursive: true, force: true });
  master = await startMaster();
  await eventually(() => agent!.output().includes('master-refused-agent-credential'), 'the master on a new store refuses the agent', WAIT_MS);
  assert.equal(await agentRegistered(), false);
  assert.ok(alive(pid), 'the task process still runs');
  await master.stop();

  // 3. The operator accepts the old backup knowingly: the agent and its task are adopted, same process.
  await copyStore(backupDir, storeDir);
  master = await startMaster(['--accept-stale-store']);
  await eventually(() => masterKnowsTask('keeper'), 'the master adopts the task under --accept-stale-store', WAIT_MS);
  assert.match(master.output(), /stale-store-accepted/);
  assert.ok((await metric('drover_master_agent_registrations_accepted_stale_store_total')) >= 1);
  assert.equal((await agentTask('keeper'))?.pid, pid, 'the same process, never restarted');
  assert.ok(alive(pid));
  await master.stop();

  // 4. From then on the agent's marker names this store: a plain restart (no flag) accepts it.
  master = await startMaster();
  await eventually(() => masterKnowsTask('keeper'), 'a plain restart on the adopted store accepts the agent', WAIT_MS);
  assert.doesNotMatch(master.output(), /agent-refused-stale-store/);
  assert.equal((await agentTask('keeper'))?.pid, pid);
});
