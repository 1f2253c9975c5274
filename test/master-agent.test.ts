/**
 * Master and agents as real processes on loopback, driven by a framework over the Mesos v1
 * scheduler HTTP API. Short heartbeat and allocation intervals keep the suite quick.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { TestScheduler } from './support/scheduler.ts';
import type { OfferJson } from '../src/frameworks/sdk/scheduler.ts';

let root: string;
let master: DroverProcess;
const agents: DroverProcess[] = [];

async function startAgent(name: string, resources: string): Promise<DroverProcess> {
  return startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', join(root, name), '--resources', resources, '--hostname', name]);
}

async function state(): Promise<{ slaves: Array<Record<string, unknown>>; frameworks: Array<Record<string, unknown>> }> {
  return (await (await fetch(`${master.url}/master/state`)).json()) as never;
}

function offerOn(offers: OfferJson[], hostname: string): OfferJson | undefined {
  return offers.find((o) => o.hostname === hostname);
}

/** Offers until one for `hostname` arrives (declining none: a framework may hold several). */
async function offerFor(framework: TestScheduler, hostname: string): Promise<OfferJson> {
  for (;;) {
    const found = offerOn(await framework.offers(), hostname);
    if (found) return found;
  }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-ma-'));
  master = await startDrover([
    'master',
    '--no-services',
    '--port',
    '0',
    '--store',
    `sqlite:${join(root, 'master.db')}`,
    '--allocation-interval',
    '0.2',
    '--agent-heartbeat-interval',
    '0.2',
    '--max-missed-heartbeats',
    '3',
    '--max-completed-tasks-per-framework',
    '1',
  ]);
  agents.push(await startAgent('agent-a', 'cpus:2;mem:1024;disk:1024;ports:[21500-21510]'));
  agents.push(await startAgent('agent-b', 'cpus:2;mem:1024;disk:1024;ports:[21520-21530]'));
  await eventually(async () => (await state()).slaves.filter((s) => s['active']).length === 2, 'two active agents');
});

after(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  await master.stop();
  await rm(root, { recursive: true, force: true });
});

describe('task lifecycle', () => {
  test('subscribe → offers → launch → RUNNING → kill → KILLED, with its sandbox output', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'lifecycle' });
    try {
      const offer = await offerFor(fw, 'agent-a');
      assert.ok(offer.resources.some((r) => (r as { name: string }).name === 'cpus'));
      await fw.launch(offer, [{ id: 'sleeper', cmd: 'echo started; exec sleep 60' }]);
      const running = await fw.status('sleeper', 'TASK_RUNNING');
      assert.equal(running.agent_id?.value, offer.agent_id.value);
      // RUNNING means the process was started, not that its first command has run yet: wait for
      // its output before killing it, so the kill cannot land before the echo on a loaded machine.
      await eventually(async () => {
        const fwState = (await state()).frameworks.find((f) => f['id'] === fw.frameworkId);
        const live = (fwState?.['tasks'] as Array<Record<string, unknown>> | undefined)?.find((t) => t['id'] === 'sleeper');
        if (!live?.['directory']) return false;
        return (await readFile(join(String(live['directory']), 'stdout'), 'utf8').catch(() => '')) === 'started\n';
      }, 'the running task wrote to its sandbox stdout');
      await fw.call({ type: 'KILL', kill: { task_id: { value: 'sleeper' }, agent_id: offer.agent_id } });
      await fw.status('sleeper', 'TASK_KILLED');
      const completed = (await state()).frameworks.find((f) => f['id'] === fw.frameworkId)!['completed_tasks'] as Array<Record<string, unknown>>;
      const task = completed.find((t) => t['id'] === 'sleeper')!;
      assert.equal(task['state'], 'TASK_KILLED');
      assert.equal(await readFile(join(String(task['directory']), 'stdout'), 'utf8'), 'started\n');
    } finally {
      await fw.close();
    }
  });

  test('exit 0 → TASK_FINISHED; exit 1 → TASK_FAILED with the exit code', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'exits' });
    try {
      const offer = await offerFor(fw, 'agent-b');
      await fw.launch(offer, [
        { id: 'ok', cmd: 'exit 0' },
        { id: 'bad', cmd: 'exit 1' },
      ]);
      await fw.status('ok', 'TASK_FINISHED');
      const failed = await fw.status('bad', 'TASK_FAILED');
      assert.match(failed.message ?? '', /status 1/);
      // Memory keeps one completed task per framework here; the history store keeps both.
      await eventually(async () => {
        const history = (await (await fetch(`${master.url}/master/tasks?framework_id=${fw.frameworkId}`)).json()) as { tasks: Array<{ id: string; state: string }> };
        const byId = Object.fromEntries(history.tasks.map((t) => [t.id, t.state]));
        return byId['ok'] === 'TASK_FINISHED' && byId['bad'] === 'TASK_FAILED';
      }, 'both completed tasks in the history');
      const inMemory = (await state()).frameworks.find((f) => f['id'] === fw.frameworkId)!['completed_tasks'] as unknown[];
      assert.equal(inMemory.length, 1);
    } finally {
      await fw.close();
    }
  });

  test('launching more than offered, duplicate ids, a used offer and a foreign agent get TASK_ERROR/DROPPED with reasons', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'bad-launch', capabilities: [{ type: 'PARTITION_AWARE' }] });
    try {
      const offer = await offerFor(fw, 'agent-a');
      await fw.launch(offer, [
        { id: 'greedy', cmd: 'true', resources: 'cpus:64;mem:32' },
        { id: 'twin', cmd: 'sleep 30' },
        { id: 'twin', cmd: 'sleep 30' },
      ]);
      const greedy = await fw.status('greedy', 'TASK_ERROR');
      assert.equal(greedy.reason, 'REASON_TASK_INVALID');
      assert.match(greedy.message ?? '', /more resources/);
      const twin = await fw.status('twin', 'TASK_ERROR');
      assert.match(twin.message ?? '', /already in use/);
      await fw.status('twin', 'TASK_RUNNING');
      // The offer was used by that ACCEPT: using it again is refused for each task.
      await fw.launch(offer, [{ id: 'late', cmd: 'true' }]);
      const late = await fw.status('late', 'TASK_DROPPED');
      assert.equal(late.reason, 'REASON_INVALID_OFFERS');
      await fw.call({ type: 'KILL', kill: { task_id: { value: 'twin' } } });
      await fw.status('twin', 'TASK_KILLED');
    } finally {
      await fw.close();
    }
  });
});

describe('reconciliation', () => {
  test('explicit and implicit reconciliation answer with the latest state', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'reconcile', capabilities: [{ type: 'PARTITION_AWARE' }] });
    try {
      const offer = await offerFor(fw, 'agent-b');
      await fw.launch(offer, [{ id: 'r1', cmd: 'sleep 60' }]);
      await fw.status('r1', 'TASK_RUNNING');
      await fw.call({ type: 'RECONCILE', reconcile: { tasks: [] } });
      const implicit = await fw.status('r1', 'TASK_RUNNING');
      assert.equal(implicit.reason, 'REASON_RECONCILIATION');
      assert.equal(implicit.uuid, undefined, 'reconciliation updates need no acknowledgement');
      await fw.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'r1' } }, { task_id: { value: 'ghost' }, agent_id: offer.agent_id }] } });
      assert.equal((await fw.status('r1', 'TASK_RUNNING')).reason, 'REASON_RECONCILIATION');
      assert.equal((await fw.status('ghost', 'TASK_GONE')).reason, 'REASON_RECONCILIATION');
      await fw.call({ type: 'KILL', kill: { task_id: { value: 'r1' } } });
      await fw.status('r1', 'TASK_KILLED');
    } finally {
      await fw.close();
    }
  });
});

describe('framework failover', () => {
  test('re-subscribing within failover_timeout keeps the tasks', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'failover', failover_timeout: 30 });
    const id = fw.frameworkId;
    const offer = await offerFor(fw, 'agent-a');
    await fw.launch(offer, [{ id: 'survivor', cmd: 'sleep 60' }]);
    await fw.status('survivor', 'TASK_RUNNING');
    await fw.close();
    await eventually(async () => (await state()).frameworks.find((f) => f['id'] === id)?.['active'] === false, 'framework disconnected');
    const again = await TestScheduler.subscribe(master.url, { name: 'failover', failover_timeout: 30, id: { value: id } });
    try {
      assert.equal(again.frameworkId, id);
      await again.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'survivor' } }] } });
      await again.status('survivor', 'TASK_RUNNING');
      await again.call({ type: 'KILL', kill: { task_id: { value: 'survivor' } } });
      await again.status('survivor', 'TASK_KILLED');
    } finally {
      await again.close();
    }
  });

  test('beyond failover_timeout the framework is torn down and its tasks killed', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'gone', failover_timeout: 0.5 });
    const id = fw.frameworkId;
    const offer = await offerFor(fw, 'agent-b');
    await fw.launch(offer, [{ id: 'orphan', cmd: 'sleep 60' }]);
    await fw.status('orphan', 'TASK_RUNNING');
    await fw.close();
    await eventually(async () => !(await state()).frameworks.some((f) => f['id'] === id), 'framework removed');
    // The agent killed the process: its sandbox's task is no longer running on the agent.
    await eventually(async () => {
      const agentState = (await (await fetch(`${agents[1]!.url}/state`)).json()) as { tasks?: Array<{ id?: string; task_id?: unknown; state: string }> };
      const tasks = agentState.tasks ?? [];
      return !tasks.some((t) => JSON.stringify(t).includes('orphan') && t.state === 'TASK_RUNNING');
    }, 'orphan killed on the agent');
    await assert.rejects(TestScheduler.subscribe(master.url, { name: 'gone', id: { value: id } }), /has been removed/);
  });
});

describe('allocation', () => {
  test('DRF: two frameworks subscribed before any agent each get one of two equal agents', async () => {
    // A dedicated master, so both frameworks are there before the agents register. The first
    // agent goes to one framework (both at share 0: tie broken by id); that offer counts as
    // allocated (share 0.5), so the second agent must go to the other framework.
    const dir = await mkdtemp(join(root, 'drf-'));
    const drfMaster = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2']);
    const a = await TestScheduler.subscribe(drfMaster.url, { name: 'drf-a' });
    const b = await TestScheduler.subscribe(drfMaster.url, { name: 'drf-b' });
    const started: DroverProcess[] = [];
    try {
      for (const name of ['drf-1', 'drf-2']) {
        started.push(await startDrover(['agent', '--master', drfMaster.url, '--port', '0', '--work-dir', join(dir, name), '--resources', 'cpus:2;mem:512', '--hostname', name]));
      }
      const [offersA, offersB] = await Promise.all([a.offers(), b.offers()]);
      assert.equal(offersA.length, 1);
      assert.equal(offersB.length, 1);
      assert.notEqual(offersA[0]!.agent_id.value, offersB[0]!.agent_id.value);
      // A uses its whole agent; B declines its offer without a filter. At the next cycle B is
      // still the framework with the lower share (0 < 0.5), so B, not A, is offered again.
      await a.launch(offersA[0]!, [{ id: 'hog', cmd: 'sleep 60', resources: 'cpus:2;mem:512' }]);
      await a.status('hog', 'TASK_RUNNING');
      await b.call({ type: 'DECLINE', decline: { offer_ids: [offersB[0]!.id], filters: { refuse_seconds: 0 } } });
      const again = await b.offers();
      assert.equal(again[0]?.agent_id.value, offersB[0]!.agent_id.value);
      const frameworks = ((await (await fetch(`${drfMaster.url}/master/state`)).json()) as { frameworks: Array<{ id: string; offers: unknown[] }> }).frameworks;
      assert.equal(frameworks.find((f) => f.id === a.frameworkId)?.offers.length, 0, 'A holds no offer');
      await a.call({ type: 'KILL', kill: { task_id: { value: 'hog' } } });
      await a.status('hog', 'TASK_KILLED');
    } finally {
      await a.close();
      await b.close();
      for (const agent of started) await agent.stop('SIGKILL');
      await drfMaster.stop();
    }
  });
});

describe('agent failures', () => {
  test('unacknowledged updates survive an agent restart and are delivered after it', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'restart', failover_timeout: 60 });
    try {
      const offer = await offerFor(fw, 'agent-a');
      fw.hold('patient');
      await fw.launch(offer, [{ id: 'patient', cmd: 'sleep 1; exit 0' }]);
      // Updates of one task go out in order, each after the previous is acknowledged.
      const starting = await fw.status('patient', 'TASK_STARTING', 10_000);
      await fw.ack(starting);
      const running = await fw.status('patient', 'TASK_RUNNING');
      await agents[0]!.stop('SIGKILL');
      agents[0] = await startAgent('agent-a', 'cpus:2;mem:1024;disk:1024;ports:[21500-21510]');
      // The restarted agent re-sends the unacknowledged RUNNING (same uuid)...
      const again = await fw.status('patient', 'TASK_RUNNING', 20_000);
      assert.equal(again.uuid, running.uuid);
      fw.release('patient');
      await fw.ack(again);
      // ...and then the exit it observed through its checkpoint.
      await fw.status('patient', 'TASK_FINISHED', 20_000);
    } finally {
      await fw.close();
    }
  });

  test('an agent that stops heartbeating becomes unreachable, then returns with its tasks', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'partition', capabilities: [{ type: 'PARTITION_AWARE' }] });
    try {
      const offer = await offerFor(fw, 'agent-b');
      await fw.launch(offer, [{ id: 'steady', cmd: 'sleep 60' }]);
      await fw.status('steady', 'TASK_RUNNING');
      agents[1]!.child.kill('SIGSTOP');
      const unreachable = await fw.status('steady', 'TASK_UNREACHABLE', 10_000);
      assert.equal(unreachable.source, 'SOURCE_MASTER');
      assert.equal((await state()).slaves.find((s) => s['hostname'] === 'agent-b')?.['active'], false);
      agents[1]!.child.kill('SIGCONT');
      await fw.status('steady', 'TASK_RUNNING', 15_000);
      await eventually(async () => (await state()).slaves.find((s) => s['hostname'] === 'agent-b')?.['active'] === true, 'agent-b active again');
      // A KILL sent while the resumed agent is still replacing its stream can be lost, as in Mesos:
      // frameworks retry kills until they see the end (Marathon's kill retry), so this one does too.
      let killed: unknown;
      for (let attempt = 0; attempt < 6 && killed === undefined; attempt++) {
        await fw.call({ type: 'KILL', kill: { task_id: { value: 'steady' } } });
        killed = await fw.status('steady', 'TASK_KILLED', 5_000).catch(() => undefined);
      }
      assert.ok(killed, 'the task was killed');
    } finally {
      agents[1]!.child.kill('SIGCONT');
      await fw.close();
    }
  });
});
