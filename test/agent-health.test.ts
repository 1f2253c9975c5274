/**
 * Health checks through a real Agent and the stand-in master: a task serving HTTP on its port is
 * reported RUNNING healthy=true, then healthy=false once its server is killed — and the agent
 * leaves the task running (the scheduler decides what to do with an unhealthy task).
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent/agent.ts';
import type { TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { eventually } from '../devkit/process.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT } from './support/agent.ts';

let workDir: string;
let master: FakeMaster;
let agent: Agent | undefined;

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'drover-agent-health-'));
  master = await FakeMaster.start();
});

afterEach(async () => {
  await agent?.shutdown(0);
  agent = undefined;
  killTasksUnder(workDir);
  await master.close();
  await rm(workDir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startAgent(ports: number): Promise<Agent> {
  const a = new Agent({
    masterUrl: master.url,
    port: 0,
    workDir,
    resources: Resources.parse(`cpus:2;mem:1024;ports:[${ports}-${ports}]`),
    ...FAST_AGENT,
    killGracePeriodMs: 500,
    // The HTTP test kills the task's server by the pid the task wrote: a host pid only without
    // the linux containerizer's pid namespace.
    containerizer: 'posix',
  });
  await a.start();
  await master.waitFor(() => a.registered && master.connected && a.agentId !== undefined, 'registration');
  agent = a;
  return a;
}

function launch(a: Agent, id: string, cmd: string, port: number, healthCheck: Record<string, unknown>): void {
  const task: TaskInfo = {
    name: id,
    task_id: { value: id },
    agent_id: { value: a.agentId! },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: port, end: port }] } },
    ],
    command: { value: cmd, shell: true },
    health_check: healthCheck,
  };
  master.push({ type: 'LAUNCH', launch: { framework_id: FRAMEWORK.id!, framework_info: FRAMEWORK, tasks: [task] } });
}

const healthUpdates = (taskId: string) => master.updatesOf(taskId).filter((u) => u.status.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');

describe('agent health checks', () => {
  test('HTTP check: RUNNING healthy=true, then healthy=false when the server inside the task dies', async () => {
    const port = await freePort();
    const a = await startAgent(port);
    // The server runs in the background so the test can kill it while the task itself lives on.
    const server = `require('http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT0, '127.0.0.1')`;
    launch(a, 'web', `${JSON.stringify(process.execPath)} -e ${JSON.stringify(server)} & echo $! > server.pid; sleep 60`, port, {
      type: 'HTTP',
      http: { port, path: '/' },
      delay_seconds: 0,
      interval_seconds: 0.1,
      timeout_seconds: 3,
      consecutive_failures: 2,
      grace_period_seconds: 10,
    });
    const running = await master.update('web', 'TASK_RUNNING');
    await master.waitFor(() => healthUpdates('web').length >= 1, 'a health update');
    const healthy = healthUpdates('web')[0]!;
    assert.equal(healthy.status.state, 'TASK_RUNNING');
    assert.equal(healthy.status.healthy, true);
    assert.equal(healthy.status.source, 'SOURCE_EXECUTOR');
    assert.notEqual(healthy.status.uuid, running.status.uuid);

    const pid = Number(await readFile(join(running.directory!, 'server.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await master.waitFor(() => healthUpdates('web').length >= 2, 'the unhealthy update');
    const unhealthy = healthUpdates('web')[1]!;
    assert.equal(unhealthy.status.state, 'TASK_RUNNING');
    assert.equal(unhealthy.status.healthy, false);
    assert.match(unhealthy.status.message ?? '', new RegExp(`HTTP health check on port ${port}/ failed 2 times in a row`));
    // Reported once per change, and the task is left running. That no second report comes is the
    // point, so there is no condition to wait for: 300 ms is six more probes at 50 ms.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(healthUpdates('web').length, 2);
    assert.deepEqual(master.statesOf('web'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING', 'TASK_RUNNING']);
    const state = (await (await fetch(`${a.url}/state`)).json()) as { tasks: Array<{ id: string; status: { healthy?: boolean } }> };
    assert.equal(state.tasks.find((t) => t.id === 'web')?.status.healthy, false);
  });

  test('COMMAND check in the sandbox; checks stop when the task ends', async () => {
    const port = await freePort();
    const a = await startAgent(port);
    launch(a, 'cmd', 'touch ready; sleep 0.5', port, { type: 'COMMAND', command: { value: 'test -f ready' }, delay_seconds: 0, interval_seconds: 0.05, grace_period_seconds: 5 });
    await master.update('cmd', 'TASK_FINISHED');
    const health = healthUpdates('cmd');
    assert.equal(health[0]?.status.healthy, true);
    const count = master.updatesOf('cmd').length;
    // That nothing follows is the point: 200 ms is four probe intervals in which none may report.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(master.updatesOf('cmd').length, count, 'nothing after the terminal update');
    assert.equal(master.statesOf('cmd').at(-1), 'TASK_FINISHED');
  });

  test('an invalid health check is refused at launch with TASK_ERROR, and the agent carries on', async () => {
    const port = await freePort();
    const a = await startAgent(port);
    launch(a, 'bad', 'sleep 10', port, { type: 'HTTP', http: { port: 'eighty' } });
    const error = await master.update('bad', 'TASK_ERROR');
    assert.equal(error.status.reason, 'REASON_TASK_INVALID');
    assert.match(error.status.message ?? '', /Invalid health check: http\.port must be an integer/);
    launch(a, 'good', 'true', port, { type: 'TCP', tcp: { port } });
    await master.update('good', 'TASK_FINISHED');
    await eventually(() => a.registered, 'still registered');
  });
});
