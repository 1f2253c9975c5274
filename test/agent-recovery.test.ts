/**
 * Agent crash recovery with real processes (issue 4): `kill -9` of an agent running 20 tasks, some
 * tasks ending while it is down, then a restart on the same work dir. The survivors keep their
 * PIDs and are never restarted; the ended ones get their terminal updates after the restart; an
 * update the framework never acknowledged is sent again.
 *
 * The second test does the same to `drover dev` (master and agent in one process).
 *
 * Alone they take ~13 s and ~8 s; the timeouts are generous because `npm test` runs four files at
 * once on two cores.
 *
 * The master keeps its default 15 s heartbeat so the few seconds of downtime never make the
 * agent unreachable (that path is master-agent.test.ts's).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { TestScheduler } from './support/scheduler.ts';
import type { TaskStatus } from '../src/protocol/mesos/scheduler.ts';

interface AgentTask {
  id: string;
  state: string;
  pid: number | null;
  directory: string;
}

const SURVIVORS = 17;
const root = await mkdtemp(join(tmpdir(), 'drover-recovery-'));
const workDir = join(root, 'agent');
let master: DroverProcess;
let agent: DroverProcess | undefined;
const launcherPids = new Set<number>();

function startAgent(): Promise<DroverProcess> {
  return startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', workDir, '--hostname', 'recovering', '--resources', 'cpus:8;mem:4096;disk:1024;ports:[21100-21110]']);
}

async function agentTasks(): Promise<AgentTask[]> {
  return ((await (await fetch(`${agent!.url}/state`)).json()) as { tasks: AgentTask[] }).tasks;
}

/** Every process whose chain of parents reaches `pid` (from /proc, so it sees the task's pid namespace from outside). */
async function descendants(pid: number): Promise<Array<{ pid: number; comm: string }>> {
  const parents = new Map<number, { ppid: number; comm: string }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (close < 0) continue;
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    parents.set(Number(entry), { ppid, comm: stat.slice(stat.indexOf('(') + 1, close) });
  }
  const found: Array<{ pid: number; comm: string }> = [];
  for (const [p, info] of parents) {
    for (let up = info.ppid, hops = 0; up > 1 && hops < 20; up = parents.get(up)?.ppid ?? 0, hops++) {
      if (up === pid) {
        found.push({ pid: p, comm: info.comm });
        break;
      }
    }
  }
  return found;
}

async function sleepOf(launcherPid: number): Promise<number> {
  const sleep = (await descendants(launcherPid)).find((p) => p.comm === 'sleep');
  assert.ok(sleep, `no sleep process under launcher ${launcherPid}`);
  return sleep.pid;
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE']);

/** The agent's own terminal update of `taskId` (it has a uuid; the master's echoes on re-registration have none). */
async function agentTerminal(fw: TestScheduler, taskId: string): Promise<TaskStatus> {
  const event = await fw.next('UPDATE', (e) => e.update.status.task_id.value === taskId && TERMINAL.has(e.update.status.state) && e.update.status.uuid !== undefined, 30_000);
  return event.update.status;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2']);
  agent = await startAgent();
});

after(async () => {
  // Safety net: nothing may outlive the test, whatever failed. Every launcher of ours names a
  // sandbox under `root` on its command line, and takes its pid namespace down when killed.
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if ((cmdline.split('\0')[0] ?? '').endsWith('unshare') && cmdline.includes(root)) launcherPids.add(Number(entry));
  }
  for (const pid of launcherPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await agent?.stop('SIGKILL');
  await master.stop();
  await rm(root, { recursive: true, force: true });
});

test('kill -9 of an agent with 20 running tasks: a restart keeps them and delivers what ended meanwhile', { timeout: 90_000 }, async () => {
  const fw = await TestScheduler.subscribe(master.url, { name: 'recovery' });
  try {
    const ids = Array.from({ length: 20 }, (_, i) => `sleeper-${String(i).padStart(2, '0')}`);
    const offer = (await fw.offers())[0]!;
    await fw.launch(
      offer,
      ids.map((id) => ({ id, cmd: `echo started ${id}; exec sleep 600`, resources: 'cpus:0.05;mem:16' })),
      0.01,
    );
    const runningUuids = new Set<string | undefined>();
    for (const id of ids) runningUuids.add((await fw.status(id, 'TASK_RUNNING', 20_000)).uuid);
    // These end on their own while the agent is down: one succeeds, one fails with 3. short-ok's
    // STARTING is never acknowledged before the crash (so its RUNNING waits behind it): the
    // restarted agent must send it again.
    fw.hold('short-ok');
    await fw.launch((await fw.offers())[0]!, [
      { id: 'short-ok', cmd: 'sleep 3', resources: 'cpus:0.1;mem:64' },
      { id: 'short-bad', cmd: 'sleep 3; exit 3', resources: 'cpus:0.1;mem:64' },
    ]);
    const heldStarting = await fw.status('short-ok', 'TASK_STARTING');
    await fw.status('short-bad', 'TASK_RUNNING');
    await eventually(async () => (await agentTasks()).find((t) => t.id === 'short-ok')?.state === 'TASK_RUNNING', 'short-ok running on the agent');

    const before = new Map((await agentTasks()).map((t) => [t.id, t]));
    for (const id of ids) {
      const t = before.get(id);
      assert.equal(t?.state, 'TASK_RUNNING', id);
      assert.ok(t.pid !== null && alive(t.pid), `${id} has a live pid`);
      launcherPids.add(t.pid);
    }
    for (const id of ['short-ok', 'short-bad']) launcherPids.add(before.get(id)!.pid!);

    await agent!.stop('SIGKILL');
    agent = undefined;
    const downAt = fw.events.length;

    // While the agent is down: three tasks die three ways.
    // - sleeper-00: its command gets SIGTERM → the wrapper records the signal → TASK_FAILED.
    // - sleeper-01: its command gets SIGKILL → TASK_FAILED with that signal.
    // - sleeper-02: the launcher itself is SIGKILLed → no exit record → TASK_FAILED, REASON_EXECUTOR_TERMINATED.
    process.kill(await sleepOf(before.get('sleeper-00')!.pid!), 'SIGTERM');
    process.kill(await sleepOf(before.get('sleeper-01')!.pid!), 'SIGKILL');
    process.kill(before.get('sleeper-02')!.pid!, 'SIGKILL');
    const ended = ['sleeper-00', 'sleeper-01', 'sleeper-02', 'short-ok', 'short-bad'];
    await eventually(() => ended.every((id) => !alive(before.get(id)!.pid!)), 'the ended tasks to be gone', 10_000);
    const survivors = ids.slice(3);
    assert.equal(survivors.length, SURVIVORS);
    // (Offers, rescinds and heartbeats may; task updates have nobody to come from.)
    assert.deepEqual(
      fw.events.slice(downAt).filter((e) => e.type === 'UPDATE'),
      [],
      'no update reaches the framework while the agent is down',
    );

    agent = await startAgent();

    // Each as [state, message, reason] so a failure shows what came instead.
    const outcome = async (id: string): Promise<[string, string | undefined, string | undefined]> => {
      const s = await agentTerminal(fw, id);
      return [s.state, s.message, s.reason];
    };
    assert.deepEqual(await outcome('sleeper-00'), ['TASK_FAILED', 'Command terminated with signal SIGTERM', undefined]);
    assert.deepEqual(await outcome('sleeper-01'), ['TASK_FAILED', 'Command terminated with signal SIGKILL', undefined]);
    assert.deepEqual(
      (await outcome('sleeper-02')).filter((_, i) => i !== 1),
      ['TASK_FAILED', 'REASON_EXECUTOR_TERMINATED'],
    );
    assert.deepEqual(await outcome('short-ok'), ['TASK_FINISHED', 'Command exited with status 0', undefined]);
    assert.deepEqual(await outcome('short-bad'), ['TASK_FAILED', 'Command exited with status 3', undefined]);

    // The unacknowledged STARTING of short-ok came again, with the same uuid. The task ended while
    // the agent was down, so its final state reaches the framework too; the RUNNING queued behind
    // STARTING is stale by then — the master acknowledges it to the agent and keeps it from the
    // framework, so no task goes from terminal back to running (test/master-stale-update.test.ts).
    const resent = await fw.status('short-ok', 'TASK_STARTING');
    assert.equal(resent.uuid, heldStarting.uuid);
    fw.release('short-ok');
    await fw.ack(resent);
    await fw.status('short-ok', 'TASK_FINISHED');

    // Survivors: same PIDs, still RUNNING, never restarted.
    const afterState = new Map((await agentTasks()).map((t) => [t.id, t]));
    for (const id of survivors) {
      const t = afterState.get(id);
      assert.equal(t?.state, 'TASK_RUNNING', id);
      assert.equal(t.pid, before.get(id)!.pid, `${id} kept its pid`);
      assert.ok(alive(t.pid!), `${id} is alive`);
      assert.equal(await readFile(join(t.directory, 'stdout'), 'utf8'), `started ${id}\n`, `${id} ran once`);
    }
    const since = fw.events.slice(downAt);
    // A RUNNING whose acknowledgement had not reached the agent before the crash may come again,
    // but only as the same update (same uuid): a new update would mean a restarted task.
    const again = since.flatMap((e) => (e.type === 'UPDATE' && survivors.includes(e.update.status.task_id.value) ? [e.update.status] : []));
    const fresh = again.filter((s) => s.state !== 'TASK_RUNNING' || !runningUuids.has(s.uuid));
    assert.deepEqual(
      fresh.map((s) => `${s.task_id.value}:${s.state}`),
      [],
      'no new update for a survivor',
    );
    for (const id of ended) assert.ok(!afterState.has(id) || afterState.get(id)!.state !== 'TASK_RUNNING', `${id} is not running`);

    // The master agrees: 17 running tasks on the agent.
    await eventually(
      async () => {
        const state = (await (await fetch(`${master.url}/master/state`)).json()) as { frameworks: Array<{ id: string; tasks: Array<{ id: string; state: string }> }> };
        const tasks = state.frameworks.find((f) => f.id === fw.frameworkId)?.tasks ?? [];
        return tasks.filter((t) => t.state === 'TASK_RUNNING').length === SURVIVORS;
      },
      'the master to see 17 running tasks',
      30_000,
    );
    const shortOk = fw.events.slice(downAt).flatMap((e) => (e.type === 'UPDATE' && e.update.status.task_id.value === 'short-ok' ? [e.update.status.state] : []));
    const finishedAt = shortOk.indexOf('TASK_FINISHED');
    assert.ok(finishedAt >= 0, `short-ok finished: ${shortOk.join(', ')}`);
    assert.ok(!shortOk.slice(finishedAt).includes('TASK_RUNNING'), `never running again after finished: ${shortOk.join(', ')}`);

    // Clean up through the framework so no sleep lingers.
    for (const id of survivors) await fw.call({ type: 'KILL', kill: { task_id: { value: id } } });
    for (const id of survivors) await fw.status(id, 'TASK_KILLED', 20_000);
    // The launchers were re-parented away from the agent at the crash; init reaps them a moment later.
    await eventually(() => survivors.every((id) => !alive(afterState.get(id)!.pid!)), 'every survivor process to be gone', 10_000);
  } finally {
    await fw.close();
  }
});

/** A port that was free a moment ago (the dev agent's port must be known to find it again). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('kill -9 of `drover dev` and a restart on the same --data-dir keeps the tasks and their PIDs', { timeout: 90_000 }, async () => {
  const dataDir = join(root, 'dev');
  const agentPort = await freePort();
  const startDev = (): Promise<DroverProcess> =>
    startDrover(['dev', '--port', '0', '--agent-port', String(agentPort), '--data-dir', dataDir, '--resources', 'cpus:2;mem:1024;disk:1024;ports:[21150-21160]']);
  const pids = async (): Promise<Map<string, AgentTask>> => new Map(((await (await fetch(`http://127.0.0.1:${agentPort}/state`)).json()) as { tasks: AgentTask[] }).tasks.map((t) => [t.id, t]));
  let dev = await startDev();
  const ids = ['dev-a', 'dev-b', 'dev-c'];
  try {
    const fw = await TestScheduler.subscribe(dev.url, { name: 'dev-recovery', failover_timeout: 60 });
    const frameworkId = fw.frameworkId;
    await fw.launch(
      (await fw.offers())[0]!,
      ids.map((id) => ({ id, cmd: `echo started ${id}; exec sleep 600`, resources: 'cpus:0.05;mem:16' })),
    );
    for (const id of ids) await fw.status(id, 'TASK_RUNNING', 20_000);
    const before = await pids();
    for (const id of ids) launcherPids.add(before.get(id)!.pid!);
    await fw.close();

    await dev.stop('SIGKILL');
    dev = await startDev();

    const afterState = await eventually(
      async () => {
        const now = await pids();
        return ids.every((id) => now.get(id)?.state === 'TASK_RUNNING') && now;
      },
      'the dev agent to report its tasks again',
      30_000,
    );
    for (const id of ids) {
      assert.equal(afterState.get(id)!.pid, before.get(id)!.pid, `${id} kept its pid`);
      assert.equal(await readFile(join(afterState.get(id)!.directory, 'stdout'), 'utf8'), `started ${id}\n`, `${id} ran once`);
    }
    // The same framework, re-subscribed within its failover timeout, can still kill them.
    const again = await TestScheduler.subscribe(dev.url, { name: 'dev-recovery', failover_timeout: 60, id: { value: frameworkId } });
    try {
      for (const id of ids) await again.call({ type: 'KILL', kill: { task_id: { value: id } } });
      for (const id of ids) await again.status(id, 'TASK_KILLED', 20_000);
    } finally {
      await again.close();
    }
    await eventually(() => ids.every((id) => !alive(before.get(id)!.pid!)), 'every dev task process to be gone', 10_000);
  } finally {
    await dev.stop();
  }
});
