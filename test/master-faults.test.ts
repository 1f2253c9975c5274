/**
 * Master-side faults with real processes: a master restart must not tear down frameworks before
 * they can re-subscribe (issue 14; reliability anchors §7 scenario 11), and a rebooted machine's
 * agent comes back under a new id while its old tasks are reported gone (scenario 6).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { freePort } from '../devkit/etcd.ts';
import { TestScheduler } from './support/scheduler.ts';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-faults-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface State {
  slaves: Array<Record<string, unknown>>;
  frameworks: Array<Record<string, unknown>>;
  completed_frameworks: Array<Record<string, unknown>>;
}

async function state(url: string): Promise<State> {
  return (await (await fetch(`${url}/master/state`)).json()) as State;
}

function startMaster(dir: string, port: number): Promise<DroverProcess> {
  return startDrover([
    'master',
    '--no-services',
    '--no-jobs',
    '--port',
    String(port),
    '--store',
    `sqlite:${join(dir, 'master.db')}`,
    '--allocation-interval',
    '0.2',
    '--agent-heartbeat-interval',
    '0.5',
    '--max-missed-heartbeats',
    '4',
  ]);
}

function startAgent(masterUrl: string, dir: string, name: string, extra: string[] = []): Promise<DroverProcess> {
  return startDrover(['agent', '--master', masterUrl, '--port', '0', '--work-dir', join(dir, name), '--resources', 'cpus:2;mem:1024;disk:1024;ports:[22500-22510]', '--hostname', name, ...extra]);
}

async function runningOnAgent(agent: DroverProcess, taskId: string): Promise<boolean> {
  const s = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ id: string; state: string }> };
  return s.tasks.some((t) => t.id === taskId && t.state === 'TASK_RUNNING');
}

describe('master restart', () => {
  test('a framework with failover_timeout 0 that re-subscribes seconds after the restarted master serves keeps its tasks', async () => {
    const dir = join(root, 'restart');
    const port = await freePort();
    let master = await startMaster(dir, port);
    const agent = await startAgent(master.url, dir, 'agent-r');
    let fw: TestScheduler | undefined;
    try {
      await eventually(async () => (await state(master.url)).slaves.some((s) => s['active']), 'agent active');
      fw = await TestScheduler.subscribe(master.url, { name: 'zero-failover', failover_timeout: 0 });
      const id = fw.frameworkId;
      await fw.launch((await fw.offers())[0]!, [{ id: 'keeper', cmd: 'sleep 120' }]);
      await fw.status('keeper', 'TASK_RUNNING');

      // The master crashes; the framework's stream ends with it.
      await master.stop('SIGKILL');
      await fw.close().catch(() => undefined);
      master = await startMaster(dir, port);
      const served = Date.now();
      await eventually(async () => (await fetch(`${master.url}/ping`)).ok, 'restarted master answers /ping');
      // Before this change the master tore the framework down ~immediately after start.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      fw = await TestScheduler.subscribe(master.url, { name: 'zero-failover', failover_timeout: 0, id: { value: id } });
      assert.equal(fw.frameworkId, id);
      assert.ok(Date.now() - served >= 3000);

      // The agent re-registered and still runs the task; the master reports it RUNNING.
      await eventually(async () => (await state(master.url)).slaves.some((s) => s['active']), 'agent re-registered');
      await fw.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'keeper' } }] } });
      await fw.status('keeper', 'TASK_RUNNING');
      assert.ok(await runningOnAgent(agent, 'keeper'), 'the task still runs on the agent');
      const s = await state(master.url);
      assert.ok(s.frameworks.some((f) => f['id'] === id && f['active'] === true));
      assert.equal(s.completed_frameworks.length, 0);
      await fw.call({ type: 'KILL', kill: { task_id: { value: 'keeper' } } });
      await fw.status('keeper', 'TASK_KILLED');
    } finally {
      await fw?.close().catch(() => undefined);
      await agent.stop('SIGKILL');
      await master.stop();
    }
  });
});

describe('machine reboot', () => {
  test('a rebooted agent registers under a new id; the old agent is gone and its tasks GONE (LOST without PARTITION_AWARE)', async () => {
    const dir = join(root, 'reboot');
    await mkdir(dir, { recursive: true });
    const bootIdFile = join(dir, 'boot_id');
    await writeFile(bootIdFile, 'boot-1\n');
    // Long heartbeats: the restart below is quicker than the unreachable timeout, so what the
    // frameworks hear comes from the reboot, not from a missed heartbeat.
    const master = await startDrover([
      'master',
      '--no-services',
      '--no-jobs',
      '--port',
      '0',
      '--store',
      `sqlite:${join(dir, 'master.db')}`,
      '--allocation-interval',
      '0.2',
      '--agent-heartbeat-interval',
      '10',
    ]);
    let agent = await startAgent(master.url, dir, 'agent-boot', ['--boot-id-file', bootIdFile]);
    const aware = await TestScheduler.subscribe(master.url, { name: 'aware', failover_timeout: 60, capabilities: [{ type: 'PARTITION_AWARE' }] });
    const plain = await TestScheduler.subscribe(master.url, { name: 'plain', failover_timeout: 60 });
    try {
      await aware.launch((await aware.offers())[0]!, [{ id: 'aware-task', cmd: 'sleep 120' }]);
      const running = await aware.status('aware-task', 'TASK_RUNNING');
      const oldAgentId = running.agent_id!.value;
      await plain.launch((await plain.offers())[0]!, [{ id: 'plain-task', cmd: 'sleep 120' }]);
      await plain.status('plain-task', 'TASK_RUNNING');

      // The machine goes down: the agent and every task process die, and the next boot has a new id.
      const agentState = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ id: string; pid: number | null }> };
      await agent.stop('SIGKILL');
      for (const t of agentState.tasks) if (t.pid !== null) process.kill(t.pid, 'SIGKILL');
      await writeFile(bootIdFile, 'boot-2\n');
      agent = await startAgent(master.url, dir, 'agent-boot', ['--boot-id-file', bootIdFile]);

      const gone = await aware.next('UPDATE', (e) => e.update.status.task_id.value === 'aware-task' && e.update.status.state === 'TASK_GONE');
      assert.equal(gone.update.status.reason, 'REASON_AGENT_REMOVED');
      assert.equal(gone.update.status.source, 'SOURCE_MASTER');
      const lost = await plain.next('UPDATE', (e) => e.update.status.task_id.value === 'plain-task' && e.update.status.state === 'TASK_LOST');
      assert.equal(lost.update.status.reason, 'REASON_AGENT_REMOVED');

      const s = await eventually(async () => {
        const st = await state(master.url);
        return st.slaves.length === 1 && st.slaves[0]!['active'] === true ? st : undefined;
      }, 'one active agent');
      const newAgentId = String(s.slaves[0]!['id']);
      assert.notEqual(newAgentId, oldAgentId, 'a new agent id');
      assert.ok(!s.slaves.some((a) => a['id'] === oldAgentId), 'the old agent is removed');
      // The new agent recovered nothing, and recorded its id under the new boot id.
      const fresh = await eventually(async () => {
        // Unregistered, the agent's /state says "" (Mesos' shape; it once said null).
        const a = (await (await fetch(`${agent.url}/state`)).json()) as { id: string | null; tasks: unknown[] };
        return a.id === null || a.id === '' ? undefined : a;
      }, 'the agent has written its new id');
      assert.deepEqual([fresh.id, fresh.tasks.length], [newAgentId, 0]);
      const meta = JSON.parse(await readFile(join(dir, 'agent-boot', 'meta', 'agent.json'), 'utf8')) as { agentId: string; bootId: string };
      assert.deepEqual([meta.agentId, meta.bootId], [newAgentId, 'boot-2']);
      // Reconciliation agrees: the old tasks are not running anywhere.
      const st = await state(master.url);
      assert.ok(!st.frameworks.some((f) => (f['tasks'] as unknown[]).length > 0));
    } finally {
      await aware.close().catch(() => undefined);
      await plain.close().catch(() => undefined);
      await agent.stop('SIGKILL');
      await master.stop();
    }
  });
});

describe('completed frameworks', () => {
  test('a torn-down framework is listed in completed_frameworks of /master/state, /master/frameworks and v1 GET_FRAMEWORKS', async () => {
    const dir = join(root, 'completed');
    const master = await startDrover(['master', '--no-services', '--no-jobs', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2', '--max-completed-frameworks', '1']);
    const agent = await startAgent(master.url, dir, 'agent-c');
    try {
      const ids: string[] = [];
      for (const name of ['first', 'second']) {
        const fw = await TestScheduler.subscribe(master.url, { name });
        ids.push(fw.frameworkId);
        await fw.launch((await fw.offers())[0]!, [{ id: `${name}-task`, cmd: 'sleep 120' }]);
        await fw.status(`${name}-task`, 'TASK_RUNNING');
        await fw.call({ type: 'TEARDOWN' });
        await eventually(async () => (await state(master.url)).completed_frameworks.some((f) => f['id'] === fw.frameworkId), `${name} completed`);
        await fw.close().catch(() => undefined);
      }
      // --max-completed-frameworks 1: only the newest is kept.
      const s = await state(master.url);
      assert.deepEqual(
        s.completed_frameworks.map((f) => f['id']),
        [ids[1]],
      );
      const done = s.completed_frameworks[0]!;
      assert.equal(done['active'], false);
      assert.deepEqual(
        (done['completed_tasks'] as Array<Record<string, unknown>>).map((t) => [t['id'], t['state']]),
        [['second-task', 'TASK_KILLED']],
      );
      assert.ok(!s.frameworks.some((f) => ids.includes(String(f['id']))));

      const frameworks = (await (await fetch(`${master.url}/master/frameworks?framework_id=${ids[1]}`)).json()) as State;
      assert.deepEqual([frameworks.frameworks.length, frameworks.completed_frameworks.map((f) => f['name'])], [0, ['second']]);
      const v1 = (await (await fetch(`${master.url}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'GET_FRAMEWORKS' }) })).json()) as {
        get_frameworks: { completed_frameworks: Array<{ framework_info: { name: string }; active: boolean; unregistered_time?: unknown }> };
      };
      assert.deepEqual(
        v1.get_frameworks.completed_frameworks.map((f) => [f.framework_info.name, f.active, f.unregistered_time !== undefined]),
        [['second', false, true]],
      );
      // A bad query is a 400 with the field's path, not a 500.
      const bad = await fetch(`${master.url}/master/frameworks?framework_id=`);
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /framework_id/);
    } finally {
      await agent.stop('SIGKILL');
      await master.stop();
    }
  });
});
