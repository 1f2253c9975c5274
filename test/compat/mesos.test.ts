/**
 * Mesos compatibility suite: every case of mesos-cases.ts against one real master and agent
 * (processes, auth on), with one framework running one task. Each case asserts the shape Mesos
 * documents; at the end one JSON line counts the cases that pass per surface (issue 21's figures).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';
import { TestScheduler } from '../support/scheduler.ts';
import { CASES, type CompatContext, type Surface } from './mesos-cases.ts';

let root: string;
let master: DroverProcess;
let agent: DroverProcess;
let scheduler: TestScheduler;
const spares: TestScheduler[] = [];
let ctx: CompatContext;
const tally = new Map<Surface, { passed: number; total: number }>();

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-compat-mesos-'));
  master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2']);
  agent = await startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    join(root, 'agent'),
    '--resources',
    'cpus:2;mem:1024;disk:1024;ports:[24100-24110]',
    '--hostname',
    '127.0.0.1',
  ]);
  scheduler = await TestScheduler.subscribe(master.url, { name: 'compat-mesos', failover_timeout: 60 });
  const offer = (await scheduler.offers())[0]!;
  await scheduler.launch(offer, [{ id: 'compat-task', cmd: 'echo compat-stdout-line; exec sleep 600', resources: 'cpus:0.1;mem:32' }]);
  await scheduler.status('compat-task', 'TASK_RUNNING', 60_000);
  const task = await eventually(
    async () => {
      const tasks = ((await (await fetch(`${master.url}/master/tasks`)).json()) as { tasks: Array<{ id: string; directory?: string; slave_id: string }> }).tasks;
      return tasks.find((t) => t.id === 'compat-task' && t.directory !== undefined);
    },
    'the task to have a sandbox',
    60_000,
  );
  const agentState = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ id: string; container_id: string }> };
  ctx = {
    master: master.url,
    agent: agent.url,
    agentId: task.slave_id,
    agentHostname: '127.0.0.1',
    frameworkId: scheduler.frameworkId,
    taskId: 'compat-task',
    containerId: agentState.tasks.find((t) => t.id === 'compat-task')!.container_id,
    sandbox: task.directory!,
    stdout: 'compat-stdout-line',
    spareFramework: async () => {
      const spare = await TestScheduler.subscribe(master.url, { name: 'compat-spare' });
      spares.push(spare);
      return spare.frameworkId;
    },
    schedulerCall: async (call) => {
      try {
        await scheduler.call({ framework_id: { value: scheduler.frameworkId }, ...call } as never);
        return { status: 202, message: '' };
      } catch (e) {
        return { status: (e as { httpStatus?: number }).httpStatus ?? 0, message: (e as Error).message };
      }
    },
    nextEvent: async (type, predicate) => (await scheduler.next(type as never, (e) => predicate(e as never), 30_000)) as never,
  };
});

after(async () => {
  console.log(JSON.stringify({ compat: 'mesos', surfaces: Object.fromEntries(tally) }));
  for (const s of spares) await s.close().catch(() => undefined);
  await scheduler?.close().catch(() => undefined);
  await agent?.stop('SIGKILL');
  await master?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('Mesos compatibility', () => {
  for (const c of CASES) {
    test(`${c.surface}: ${c.name}`, async () => {
      const count = tally.get(c.surface) ?? { passed: 0, total: 0 };
      tally.set(c.surface, count);
      count.total++;
      const errors = await c.check(ctx);
      if (errors.length === 0) count.passed++;
      assert.deepEqual(errors, []);
    });
  }
});
