/**
 * Master-side faults with real processes: a master restart must not tear down frameworks before
 * they can re-subscribe (issue 14; reliability anchors §7 scenario 11), and a rebooted machine's
 * agent comes back under a new id while its old tasks are reported gone (scenario 6).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from './support/process.ts';
import { freePort } from './support/etcd.ts';
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
    'master', '--no-services', '--no-jobs', '--port', String(port), '--store', `sqlite:${join(dir, 'master.db')}`,
    '--allocation-interval', '0.2', '--agent-heartbeat-interval', '0.5', '--max-missed-heartbeats', '4',
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
