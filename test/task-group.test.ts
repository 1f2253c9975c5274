/**
 * Task groups (Mesos LAUNCH_GROUP, the default executor's semantics) with real processes: a
 * `drover master` and a `drover agent` (linux containerizer: each task its own cgroup and
 * namespaces), a v1 framework on the HTTP API.
 *
 * - Two tasks of a group talk over localhost (busybox nc) and share a sandbox volume; each has its
 *   own cgroup and sandbox, both the same network namespace.
 * - A task that exits 0 leaves the group running; one that fails kills the rest (TASK_KILLED).
 * - An invalid group is refused whole: every task TASK_ERROR, REASON_TASK_GROUP_INVALID.
 * - kill -9 of the agent and a restart: the group keeps running (same pids); a KILL of one task
 *   afterwards still takes the whole group down (the group was recovered, not just its tasks).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { freePort } from '../devkit/etcd.ts';
import { TestScheduler } from './support/scheduler.ts';
import { spawnSync } from 'node:child_process';
import { Resources } from '../src/resources/index.ts';
import type { OfferJson } from '../src/frameworks/sdk/scheduler.ts';
import type { TaskInfo } from '../src/protocol/mesos/scheduler.ts';

interface AgentTask {
  id: string;
  state: string;
  pid: number | null;
  directory: string;
}

const root = await mkdtemp(join(tmpdir(), 'drover-taskgroup-'));
const workDir = join(root, 'agent');
let master: DroverProcess;
let agent: DroverProcess | undefined;
let fw: TestScheduler;
const launcherPids = new Set<number>();

function startAgent(): Promise<DroverProcess> {
  return startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', workDir, '--hostname', `tg-${process.pid}`, '--resources', 'cpus:8;mem:4096;disk:4096']);
}

async function agentTasks(): Promise<AgentTask[]> {
  return ((await (await fetch(`${agent!.url}/state`)).json()) as { tasks: AgentTask[] }).tasks;
}

/** `<work dir>/slaves/<agent>/frameworks/<fw>/executors/<id>/runs/<run>`: the one run of executor `id`. */
async function executorSandbox(id: string): Promise<string> {
  const found: string[] = [];
  for (const a of await readdir(join(workDir, 'slaves'))) {
    for (const f of await readdir(join(workDir, 'slaves', a, 'frameworks'))) {
      const runs = join(workDir, 'slaves', a, 'frameworks', f, 'executors', id, 'runs');
      for (const r of await readdir(runs).catch(() => [])) found.push(join(runs, r));
    }
  }
  assert.equal(found.length, 1, `one run of executor ${id}`);
  return found[0]!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const SHARED_VOLUME = { container_path: 'shared', mode: 'RW', source: { type: 'SANDBOX_PATH', sandbox_path: { type: 'PARENT', path: 'volumes/shared' } } };

function groupTask(offer: OfferJson, id: string, cmd: string, volumes: unknown[] = [SHARED_VOLUME]) {
  return {
    name: id,
    task_id: { value: id },
    agent_id: offer.agent_id,
    resources: Resources.parse('cpus:0.1;mem:32').toJSON(),
    command: { value: cmd, shell: true },
    container: { type: 'MESOS', volumes },
  };
}

function executor(id: string, resources = 'cpus:0.1;mem:32;disk:10') {
  return { type: 'DEFAULT', executor_id: { value: id }, resources: Resources.parse(resources).toJSON(), container: { type: 'MESOS' } };
}

async function launchGroup(executorInfo: Record<string, unknown>, tasks: unknown[]): Promise<void> {
  // Offers of what earlier tests freed can be small: take one that fits any group here.
  let offer: OfferJson | undefined;
  while (offer === undefined) offer = (await fw.offers(60_000)).find((o) => Resources.fromJSON(o.resources).cpus() >= 1);
  const fixed = tasks.map((t) => ({ ...(t as TaskInfo), agent_id: offer.agent_id }));
  await fw.call({
    type: 'ACCEPT',
    accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH_GROUP', launch_group: { executor: executorInfo, task_group: { tasks: fixed } } }], filters: { refuse_seconds: 0.01 } },
  });
}

/** Waits for the task to run; fails with its end's state and message if it ended instead. */
async function isRunning(id: string): Promise<void> {
  const e = await fw.next('UPDATE', (u) => u.update.status.task_id.value === id && (u.update.status.state === 'TASK_RUNNING' || TERMINAL.has(u.update.status.state)), 60_000);
  assert.equal(`${e.update.status.state} ${e.update.status.message ?? ''}`.trim(), 'TASK_RUNNING', id);
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE']);

/** A placeholder offer for building tasks before the real one is known (launchGroup sets agent_id). */
const ANY = { agent_id: { value: 'set-at-launch' } } as OfferJson;

before(async () => {
  master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2']);
  agent = await startAgent();
  fw = await TestScheduler.subscribe(master.url, { name: 'task-groups', capabilities: [{ type: 'PARTITION_AWARE' }] });
});

after(async () => {
  await fw?.close().catch(() => undefined);
  // Safety net: every launcher of ours names a sandbox under `root` on its command line.
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if ((cmdline.split('\0')[0] ?? '').endsWith('unshare') && cmdline.includes(root)) launcherPids.add(Number(entry));
  }
  for (const pid of launcherPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await agent?.stop('SIGKILL');
  await master.stop();
  // Safety net: no volume mount of ours may outlive the test (rm would go through it).
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(`${root}/`)) spawnSync('umount', ['-l', mp]);
  }
  await rm(root, { recursive: true, force: true });
});

test('two tasks of a group talk over localhost and share a volume, each in its own cgroup', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const token = `hello-${process.pid}-${Date.now()}`;
  const server = `readlink /proc/self/ns/net > netns; cat /proc/self/cgroup > cgroup; busybox nc -l -p ${port} > shared/received`;
  const client = [
    'readlink /proc/self/ns/net > netns; cat /proc/self/cgroup > cgroup',
    `echo ${token} > shared/written`,
    // The server may not listen yet: retry until a connection is made (nc exits 0 then).
    `i=0; until busybox nc 127.0.0.1 ${port} < shared/written; do i=$((i+1)); [ $i -gt 600 ] && exit 9; sleep 0.1; done`,
  ].join('; ');
  await launchGroup(executor('talk'), [groupTask(ANY, 'talk-server', server), groupTask(ANY, 'talk-client', client)]);
  for (const id of ['talk-server', 'talk-client']) await isRunning(id);
  const finished = await Promise.all([fw.status('talk-server', 'TASK_FINISHED', 60_000), fw.status('talk-client', 'TASK_FINISHED', 60_000)]);
  assert.deepEqual(
    finished.map((s) => s.state),
    ['TASK_FINISHED', 'TASK_FINISHED'],
  );
  const dirs = await eventually(async () => {
    const tasks = (await (await fetch(`${agent!.url}/state`)).json()) as { completed_tasks?: AgentTask[]; tasks: AgentTask[] };
    const all = [...tasks.tasks, ...(tasks.completed_tasks ?? [])];
    const s = all.find((t) => t.id === 'talk-server')?.directory;
    const c = all.find((t) => t.id === 'talk-client')?.directory;
    return s !== undefined && c !== undefined ? { s, c } : undefined;
  }, 'the sandboxes of the group on the agent');
  assert.notEqual(dirs.s, dirs.c, 'each task has its own sandbox');
  // The volume lives in the executor's sandbox (the tasks' mounts of it are gone with them).
  const shared = join(await executorSandbox('talk'), 'volumes', 'shared');
  // What the client wrote into the shared volume reached the server over localhost.
  assert.equal(await readFile(join(shared, 'received'), 'utf8'), `${token}\n`);
  assert.equal(await readFile(join(shared, 'written'), 'utf8'), `${token}\n`);
  const [netS, netC] = await Promise.all([readFile(join(dirs.s, 'netns'), 'utf8'), readFile(join(dirs.c, 'netns'), 'utf8')]);
  assert.equal(netS, netC, 'one network namespace');
  const [cgS, cgC] = await Promise.all([readFile(join(dirs.s, 'cgroup'), 'utf8'), readFile(join(dirs.c, 'cgroup'), 'utf8')]);
  assert.notEqual(cgS, cgC, 'each task its own cgroup');
});

test('a task that exits 0 leaves the group running; one that fails kills the others', { timeout: 120_000 }, async () => {
  const failer = 'until [ -f shared/fail ]; do sleep 0.2; done; exit 3';
  await launchGroup(executor('fate'), [groupTask(ANY, 'fate-done', 'touch shared/done; exit 0'), groupTask(ANY, 'fate-sleeper', 'exec sleep 600'), groupTask(ANY, 'fate-failer', failer)]);
  await fw.status('fate-done', 'TASK_FINISHED', 60_000);
  await isRunning('fate-sleeper');
  await isRunning('fate-failer');
  const tasks = await agentTasks();
  const sleeper = tasks.find((t) => t.id === 'fate-sleeper');
  const failerTask = tasks.find((t) => t.id === 'fate-failer');
  assert.equal(sleeper?.state, 'TASK_RUNNING', 'exit 0 of a sibling does not kill the group');
  assert.equal(failerTask?.state, 'TASK_RUNNING');
  assert.ok(sleeper.pid !== null && alive(sleeper.pid));
  launcherPids.add(sleeper.pid);
  await writeFile(join(failerTask.directory, 'shared', 'fail'), '');
  const failed = await fw.status('fate-failer', 'TASK_FAILED', 60_000);
  assert.equal(failed.message, 'Command exited with status 3');
  await fw.status('fate-sleeper', 'TASK_KILLED', 60_000);
  await eventually(() => !alive(sleeper.pid!), 'the killed sibling to be gone', 60_000);
});

test('an invalid group is refused whole: TASK_ERROR, REASON_TASK_GROUP_INVALID for every task', { timeout: 120_000 }, async () => {
  const cases: Array<{ name: string; executor: Record<string, unknown>; tasks: (p: string) => unknown[]; message: RegExp }> = [
    { name: 'nodisk', executor: executor('nodisk', 'cpus:0.1;mem:32'), tasks: (p) => [groupTask(ANY, `${p}-a`, 'sleep 1'), groupTask(ANY, `${p}-b`, 'sleep 1')], message: /disk resources/ },
    { name: 'custom', executor: { ...executor('custom'), type: 'CUSTOM' }, tasks: (p) => [groupTask(ANY, `${p}-a`, 'sleep 1')], message: /'ExecutorInfo.type' must be 'DEFAULT'/ },
    { name: 'dup', executor: executor('dup'), tasks: (p) => [groupTask(ANY, `${p}-a`, 'sleep 1'), groupTask(ANY, `${p}-a`, 'sleep 1')], message: /duplicate task ID/ },
    {
      name: 'big',
      executor: executor('big'),
      tasks: (p) => [groupTask(ANY, `${p}-a`, 'sleep 1'), { ...groupTask(ANY, `${p}-b`, 'sleep 1'), resources: Resources.parse('cpus:100;mem:32').toJSON() }],
      message: /more resources/,
    },
    {
      name: 'nocmd',
      executor: executor('nocmd'),
      tasks: (p) => [groupTask(ANY, `${p}-a`, 'sleep 1'), { ...groupTask(ANY, `${p}-b`, ''), command: { shell: true } }],
      message: /Task 'nocmd-b' is invalid/,
    },
  ];
  for (const c of cases) {
    const tasks = c.tasks(c.name) as Array<{ task_id: { value: string } }>;
    await launchGroup(c.executor, tasks);
    for (const id of new Set(tasks.map((t) => t.task_id.value))) {
      const s = await fw.status(id, 'TASK_ERROR', 60_000);
      assert.equal(s.reason, 'REASON_TASK_GROUP_INVALID', `${c.name}: ${id}`);
      assert.match(s.message ?? '', c.message, c.name);
    }
  }
  // Nothing of them reached the agent.
  const ids = new Set((await agentTasks()).map((t) => t.id));
  for (const c of cases) assert.ok(![...ids].some((id) => id.startsWith(`${c.name}-`)), `${c.name} launched nothing`);
});

test('kill -9 of the agent and a restart: the group keeps running, and is still one group', { timeout: 180_000 }, async () => {
  await launchGroup(executor('keep'), [groupTask(ANY, 'keep-a', 'echo a >> shared/log; exec sleep 600'), groupTask(ANY, 'keep-b', 'echo b >> shared/log; exec sleep 600')]);
  await isRunning('keep-a');
  await isRunning('keep-b');
  const before = new Map((await agentTasks()).map((t) => [t.id, t]));
  for (const id of ['keep-a', 'keep-b']) launcherPids.add(before.get(id)!.pid!);
  await agent!.stop('SIGKILL');
  agent = await startAgent();
  const afterRestart = await eventually(
    async () => {
      const m = new Map((await agentTasks()).map((t) => [t.id, t]));
      return m.get('keep-a')?.state === 'TASK_RUNNING' && m.get('keep-b')?.state === 'TASK_RUNNING' ? m : undefined;
    },
    'the group recovered',
    60_000,
  );
  for (const id of ['keep-a', 'keep-b']) {
    assert.equal(afterRestart.get(id)!.pid, before.get(id)!.pid, `${id} kept its pid`);
    assert.ok(alive(afterRestart.get(id)!.pid!));
  }
  const log = (await readFile(join(afterRestart.get('keep-a')!.directory, 'shared', 'log'), 'utf8')).split('\n').filter(Boolean).sort();
  assert.deepEqual(log, ['a', 'b'], 'each task ran once');
  await fw.call({ type: 'KILL', kill: { task_id: { value: 'keep-a' } } });
  await fw.next('UPDATE', (e) => e.update.status.task_id.value === 'keep-a' && e.update.status.state === 'TASK_KILLED' && e.update.status.uuid !== undefined, 60_000);
  await fw.next('UPDATE', (e) => e.update.status.task_id.value === 'keep-b' && e.update.status.state === 'TASK_KILLED' && e.update.status.uuid !== undefined, 60_000);
  await eventually(() => !alive(before.get('keep-b')!.pid!), 'keep-b gone', 60_000);
});
