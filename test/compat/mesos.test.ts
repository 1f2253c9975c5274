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
import { startAgentProcess } from '../support/agent-process.ts';

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
  agent = await startAgentProcess(master.url, join(root, 'agent'), { hostname: '127.0.0.1', resources: 'cpus:2;mem:1024;disk:1024;ports:[24100-24110]' });
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

/** Bad input: a 4xx naming the field, and nothing changed (run first: the table's last case ends the agent). */
describe('bad input to the Mesos APIs', () => {
  const operator = async (url: string, body: unknown) => {
    const r = await fetch(`${url}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, text: await r.text() };
  };

  test('a schedule naming a machine twice → 400 with its path; the schedule is unchanged', async () => {
    const before = await (await fetch(`${ctx.master}/master/maintenance/schedule`)).text();
    const window = { machine_ids: [{ hostname: 'dup' }, { hostname: 'DUP' }], unavailability: { start: { nanoseconds: 0 } } };
    const r = await operator(ctx.master, { type: 'UPDATE_MAINTENANCE_SCHEDULE', update_maintenance_schedule: { schedule: { windows: [window] } } });
    assert.equal(r.status, 400);
    assert.match(r.text, /\/update_maintenance_schedule\/schedule\/windows\/0\/machine_ids\/1/);
    assert.equal(await (await fetch(`${ctx.master}/master/maintenance/schedule`)).text(), before);
  });

  test('SET_LOGGING_LEVEL with a negative level → 400 naming the field', async () => {
    const r = await operator(ctx.master, { type: 'SET_LOGGING_LEVEL', set_logging_level: { level: -1, duration: { nanoseconds: 1 } } });
    assert.equal(r.status, 400);
    assert.match(r.text, /\/set_logging_level\/level/);
  });

  test('a jsonp callback that is not an identifier → 400, never echoed into the script', async () => {
    const r = await fetch(`${ctx.master}/master/state?jsonp=${encodeURIComponent('alert(1)//')}`);
    assert.equal(r.status, 400);
    assert.doesNotMatch(await r.text(), /alert\(1\)\/\/\(/);
  });

  test('a null inside a list is not an absent field: SUBSCRIBE with roles [null] → 400', async () => {
    const r = await fetch(`${ctx.master}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'bad', roles: [null] } } }),
    });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /\/subscribe\/framework_info\/roles\/0/);
  });

  test('UPDATE_FRAMEWORK for another framework id → 400; the framework keeps its name', async () => {
    const r = await ctx.schedulerCall({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { id: { value: 'someone-else' }, user: 'root', name: 'hijack' } } });
    assert.equal(r.status, 400);
    const f = ((await (await fetch(`${ctx.master}/master/frameworks?framework_id=${ctx.frameworkId}`)).json()) as { frameworks: Array<{ name: string }> }).frameworks[0];
    assert.notEqual(f?.name, 'hijack');
  });

  test('agent READ_FILE outside the work dir → 4xx; LAUNCH_NESTED_CONTAINER_SESSION under no running task → 404', async () => {
    const read = await operator(ctx.agent, { type: 'READ_FILE', read_file: { path: '/etc/passwd', offset: 0 } });
    assert.ok(read.status >= 400 && read.status < 500, `${read.status} ${read.text}`);
    const session = await operator(ctx.agent, {
      type: 'LAUNCH_NESTED_CONTAINER_SESSION',
      launch_nested_container_session: { container_id: { value: 'orphan', parent: { value: 'no-such-container' } }, command: { value: 'true' } },
    });
    assert.equal(session.status, 404);
  });
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
