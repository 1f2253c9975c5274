/**
 * The agent against a scripted stand-in master (test/agent-fake-master.ts): real task processes,
 * real sockets, a real work dir in a temp folder. An "agent restart" is a new Agent instance on
 * the same work dir after `stop()`, which leaves the tasks running exactly as a crashed agent
 * process would.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '../src/agent/agent.ts';
import { parseAttributes } from '../src/agent/attributes.ts';
import { Resources } from '../src/resources/index.ts';
import { eventually } from '../devkit/process.ts';
import { groupGone, killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT } from './support/agent.ts';

let workDir: string;
let master: FakeMaster;
const running: Agent[] = [];

function startAgent(overrides: Partial<AgentOptions> = {}): Promise<Agent> {
  const agent = new Agent({
    masterUrl: master.url,
    port: 0,
    workDir,
    resources: Resources.parse('cpus:2;mem:1024;disk:2048;ports:[21200-21209]'),
    attributes: parseAttributes('rack:r1;level:3'),
    ...FAST_AGENT,
    recoveryPollIntervalMs: 50,
    killGracePeriodMs: 2000,
    ...overrides,
  });
  running.push(agent);
  return agent.start().then(() => agent);
}

async function stopAgent(agent: Agent): Promise<void> {
  await agent.stop();
  running.splice(running.indexOf(agent), 1);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function agentState(agent: Agent): Promise<{ id: string; tasks: Array<Record<string, unknown>> }> {
  return (await (await fetch(`${agent.url}/state`)).json()) as never;
}

/** Waits until the agent has reported the task RUNNING and returns its pid from /state. */
async function runningPid(agent: Agent, taskId: string): Promise<number> {
  await master.update(taskId, 'TASK_RUNNING');
  const task = (await agentState(agent)).tasks.find((t) => t['id'] === taskId);
  assert.ok(task, `${taskId} is in /state`);
  return task['pid'] as number;
}

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'drover-agent-'));
  master = await FakeMaster.start();
});

afterEach(async () => {
  // shutdown() kills what a test left running.
  for (const agent of running.splice(0)) await agent.shutdown(0);
  // And a test that failed between an agent's stop and its restart leaves nothing behind.
  killTasksUnder(workDir);
  await master.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('registration', () => {
  test('gets an id that is checkpointed and sent back when the agent restarts', async () => {
    const first = await startAgent();
    await master.waitFor(() => first.agentId, 'registration');
    const call = master.registrations[0]!;
    assert.equal(call.agent_id, undefined, 'a new agent has no id yet');
    const info = call.register!.agent_info;
    assert.equal(info.hostname, 'test-agent');
    assert.equal(info.port, first.port);
    assert.deepEqual(Resources.fromJSON(info.resources).format(), 'cpus:2;mem:1024;disk:2048;ports:[21200-21209]');
    assert.deepEqual(info.attributes, [
      { name: 'rack', type: 'TEXT', text: { value: 'r1' } },
      { name: 'level', type: 'SCALAR', scalar: { value: 3 } },
    ]);
    const id = first.agentId!;
    const meta = JSON.parse(await readFile(join(workDir, 'meta', 'agent.json'), 'utf8')) as { agentId: string };
    assert.equal(meta.agentId, id);
    await stopAgent(first);

    const second = await startAgent();
    await master.waitFor(() => master.registrations.length === 2 && master.connected, 're-registration');
    assert.equal(master.registrations[1]!.agent_id?.value, id);
    assert.equal(master.registrations[1]!.register!.agent_info.id?.value, id);
    assert.equal(second.agentId, id);
    assert.deepEqual(master.invalidCalls, []);
  });

  test('heartbeats, and re-registers when the stream ends or a call is refused as stale', async () => {
    master.heartbeatIntervalSeconds = 0.05;
    const agent = await startAgent();
    await master.waitFor(() => master.heartbeats >= 2, 'heartbeats');
    master.dropStream();
    await master.waitFor(() => master.registrations.length >= 2 && master.connected, 're-registration after the stream ended');
    assert.equal(master.registrations[1]!.agent_id?.value, agent.agentId);
    // The next heartbeat is refused with 409: the agent must open a new stream.
    const before = master.registrations.length;
    master.forgetStreamId();
    await master.waitFor(() => master.registrations.length > before && master.connected, 're-registration after a 409');
    await master.waitFor(() => agent.registered, 'the agent registered on the new stream');
  });

  test('a malformed event is dropped without dropping the link', async () => {
    const agent = await startAgent();
    await master.waitFor(() => agent.registered && master.connected, 'registration');
    master.pushRaw({ type: 'LAUNCH', launch: { tasks: 'not a list' } });
    master.launch([{ id: 'after-garbage', cmd: 'true' }]);
    await master.update('after-garbage', 'TASK_FINISHED');
    assert.equal(master.registrations.length, 1);
  });

  test('keeps trying while the master is down, then registers', async () => {
    const port = master.port;
    await master.close();
    // Something on the port that answers no REGISTER: it counts the agent's attempts.
    let attempts = 0;
    const refuser = createServer((socket) => (attempts++, socket.destroy()));
    await new Promise<void>((resolve) => refuser.listen(port, '127.0.0.1', resolve));
    const agent = await startAgent();
    await eventually(() => attempts >= 3, 'a few failed attempts');
    await new Promise<void>((resolve) => refuser.close(() => resolve()));
    assert.equal(agent.registered, false);
    master = await FakeMaster.start({ port });
    await master.waitFor(() => agent.registered, 'registration once the master is up');
  });
});

/** Where /state says the task's sandbox is (live or completed). */
async function directoryOf(agent: Agent, taskId: string): Promise<string> {
  const state = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<Record<string, unknown>>; completed_tasks: Array<Record<string, unknown>> };
  const task = [...state.tasks, ...state.completed_tasks].find((t) => t['id'] === taskId);
  assert.ok(task, `${taskId} is in /state`);
  return String(task['directory']);
}

async function registeredAgent(overrides: Partial<AgentOptions> = {}): Promise<Agent> {
  const agent = await startAgent(overrides);
  await master.waitFor(() => agent.registered && master.connected, 'registration');
  return agent;
}

describe('tasks', () => {
  test('echo hi; exit 0 → STARTING, RUNNING, FINISHED, with "hi" in the sandbox stdout', async () => {
    const agent = await registeredAgent();
    master.launch([{ id: 'hello', cmd: 'echo hi; exit 0' }]);
    const finished = await master.update('hello', 'TASK_FINISHED');
    assert.deepEqual(master.statesOf('hello'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    for (const { status } of master.updatesOf('hello')) {
      assert.equal(Buffer.from(status.uuid!, 'base64').length, 16);
      assert.equal(status.source, 'SOURCE_EXECUTOR');
      assert.equal(status.agent_id?.value, agent.agentId);
      assert.equal(status.executor_id, undefined);
      assert.ok(Math.abs(status.timestamp! - Date.now() / 1000) < 60, 'timestamp is in seconds');
    }
    assert.equal(new Set(master.updatesOf('hello').map((u) => u.status.uuid)).size, 3, 'a fresh uuid per update');
    assert.equal(finished.framework_id.value, FRAMEWORK.id!.value);
    assert.equal(finished.status.message, 'Command exited with status 0');
    const directory = await directoryOf(agent, 'hello');
    assert.match(directory, new RegExp(`^${workDir}/slaves/${agent.agentId}/frameworks/fw-1/executors/hello/runs/[0-9a-f-]{36}$`));
    assert.equal(await readFile(join(directory, 'stdout'), 'utf8'), 'hi\n');
    // All acknowledged: the task's checkpoint goes, its sandbox stays.
    await eventually(async () => !(await exists(join(workDir, 'meta', 'frameworks', 'fw-1', 'tasks', 'hello'))), 'checkpoint removed');
    assert.ok(await exists(join(directory, 'stdout')));
  });

  test('exit 3 → TASK_FAILED "Command exited with status 3"; the task sees its ports and ids', async () => {
    const agent = await registeredAgent();
    master.launch([
      {
        id: 'failing',
        cmd: 'echo "$PORT0 $PORTS $MESOS_TASK_ID $MESOS_FRAMEWORK_ID $MESOS_AGENT_ID"; echo oops >&2; exit 3',
        resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 21202, end: 21203 }] } }],
      },
    ]);
    const failed = await master.update('failing', 'TASK_FAILED');
    assert.equal(failed.status.message, 'Command exited with status 3');
    assert.equal(failed.status.source, 'SOURCE_EXECUTOR');
    const directory = await directoryOf(agent, 'failing');
    assert.equal(await readFile(join(directory, 'stdout'), 'utf8'), `21202 21202,21203 failing fw-1 ${agent.agentId}\n`);
    assert.equal(await readFile(join(directory, 'stderr'), 'utf8'), 'oops\n');
  });

  test('a task killed by a signal it did not get from the agent is FAILED with the signal', async () => {
    await registeredAgent();
    master.launch([{ id: 'segv', cmd: 'kill -SEGV $$' }]);
    const failed = await master.update('segv', 'TASK_FAILED');
    assert.equal(failed.status.message, 'Command terminated with signal SIGSEGV');
  });

  test('KILL of sleep 100 → TASK_KILLING (if the framework understands it), TASK_KILLED, and the process is gone', async () => {
    const agent = await registeredAgent();
    const framework = { ...FRAMEWORK, capabilities: [{ type: 'TASK_KILLING_STATE' as const }] };
    master.launch([{ id: 'sleeper', cmd: 'sleep 100' }], framework);
    const pid = await runningPid(agent, 'sleeper');
    assert.ok(isAlive(pid));
    master.kill('sleeper');
    const killed = await master.update('sleeper', 'TASK_KILLED');
    assert.deepEqual(master.statesOf('sleeper'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED']);
    assert.match(killed.status.message ?? '', /SIGTERM/);
    await groupGone(pid);
  });

  test('a KILL right behind the LAUNCH ends the task KILLED, whether or not it had started', async () => {
    await registeredAgent();
    master.launch([{ id: 'brief', cmd: 'sleep 100' }]);
    master.kill('brief');
    const killed = await master.update('brief', 'TASK_KILLED');
    if (killed.status.reason === 'REASON_TASK_KILLED_DURING_LAUNCH') {
      assert.ok(!master.statesOf('brief').includes('TASK_RUNNING'), 'never started');
    }
  });

  test('a task that ignores SIGTERM is SIGKILLed after its kill policy grace period', async () => {
    const agent = await registeredAgent();
    master.launch([{ id: 'stubborn', cmd: "trap '' TERM; echo ready; while :; do sleep 0.05; done", killPolicyMs: 200 }]);
    const pid = await runningPid(agent, 'stubborn');
    const directory = await directoryOf(agent, 'stubborn');
    await eventually(async () => (await readFile(join(directory, 'stdout'), 'utf8')) === 'ready\n', 'trap installed');
    master.kill('stubborn');
    await master.update('stubborn', 'TASK_KILLED');
    assert.deepEqual(master.statesOf('stubborn'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLED'], 'no KILLING without the capability');
    await groupGone(pid);
  });

  test('KILL of an unknown task is answered TASK_LOST', async () => {
    await registeredAgent();
    master.kill('ghost');
    const lost = await master.update('ghost', 'TASK_LOST');
    assert.equal(lost.status.reason, 'REASON_TASK_UNKNOWN');
    assert.equal(lost.status.source, 'SOURCE_AGENT');
  });

  test('SHUTDOWN_FRAMEWORK kills the tasks of that framework only', async () => {
    const agent = await registeredAgent();
    const other = { ...FRAMEWORK, id: { value: 'fw-2' }, name: 'other' };
    master.launch([{ id: 'a1', cmd: 'sleep 100' }]);
    master.launch([{ id: 'b1', cmd: 'sleep 100' }], other);
    await runningPid(agent, 'a1');
    const keep = await runningPid(agent, 'b1');
    master.push({ type: 'SHUTDOWN_FRAMEWORK', shutdown_framework: { framework_id: FRAMEWORK.id! } });
    await master.update('a1', 'TASK_KILLED');
    assert.ok(isAlive(keep));
    assert.deepEqual(master.statesOf('b1'), ['TASK_STARTING', 'TASK_RUNNING']);
  });

  test('launch problems: no command → TASK_ERROR; a sandbox that cannot be created → TASK_FAILED', async () => {
    await registeredAgent();
    master.launch([{ id: 'empty', cmd: '' }]);
    const error = await master.update('empty', 'TASK_ERROR');
    assert.equal(error.status.reason, 'REASON_TASK_INVALID');
    // A file where the sandbox's parent directory must go.
    await writeFile(join(workDir, 'slaves'), 'not a directory');
    master.launch([{ id: 'nowhere', cmd: 'true' }]);
    const failed = await master.update('nowhere', 'TASK_FAILED');
    assert.equal(failed.status.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(failed.status.message ?? '', /sandbox/);
  });
});

describe('status updates', () => {
  test('are retried until acknowledged, in order per task, re-sent after an agent restart, and then stop', async () => {
    master.autoAck = false;
    const backoff = { statusUpdateBackoff: { initialMs: 200, maxMs: 400 } };
    const first = await registeredAgent(backoff);
    master.launch([{ id: 'quick', cmd: 'true' }]);
    // STARTING is the head; RUNNING waits behind it; FINISHED, terminal, is never held back.
    await master.update('quick', 'TASK_FINISHED');
    await master.waitFor(() => master.statesOf('quick').filter((s) => s === 'TASK_STARTING').length >= 2, 'STARTING retried');
    assert.ok(!master.statesOf('quick').includes('TASK_RUNNING'), 'RUNNING waits for STARTING to be acknowledged');
    const starting = master.updatesOf('quick')[0]!;
    await stopAgent(first);

    const before = master.updates.length;
    await registeredAgent(backoff);
    // The restarted agent re-sends the same update (same uuid) from its checkpoint.
    await master.waitFor(() => master.updates.slice(before).find((u) => u.status.uuid === starting.status.uuid), 'STARTING re-sent after the restart');
    master.ack(starting);
    const runningUpdate = await master.waitFor(() => master.updatesOf('quick').find((u) => u.status.state === 'TASK_RUNNING'), 'RUNNING after STARTING is acknowledged');
    const finished = master.updatesOf('quick').find((u) => u.status.state === 'TASK_FINISHED')!;
    master.ack(runningUpdate);
    master.ack(finished);
    // Nothing left to send: the task's checkpoint is removed...
    await eventually(async () => !(await exists(join(workDir, 'meta', 'frameworks', 'fw-1', 'tasks', 'quick'))), 'checkpoint removed');
    // ...and no retry follows. That nothing comes is the point, so there is no condition to wait
    // for: 1 s is well past the largest backoff of this test's policy.
    const count = master.updatesOf('quick').length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(master.updatesOf('quick').length, count);
  });
  test('updates of many tasks travel in batches', async () => {
    await registeredAgent();
    // A master that takes 300 ms to answer each UPDATE call. The agent keeps one call in flight,
    // so whatever the 40 tasks produce meanwhile must ride in the next call. This holds however
    // slowly the machine launches the tasks: no timing is asserted, only the shape of the calls.
    master.updateReplyDelayMs = 300;
    const ids = Array.from({ length: 40 }, (_, i) => `batch-${i}`);
    const startedAt = Date.now();
    master.launch(ids.map((id) => ({ id, cmd: 'true' })));
    const delivered = (): number => master.updates.filter((u) => u.status.task_id.value.startsWith('batch-')).length;
    // A terminal update is never held back, so a FINISHED may arrive before its task's RUNNING:
    // wait for all 40 tasks × 3 updates (STARTING, RUNNING, FINISHED).
    await master.waitFor(() => ids.every((id) => master.statesOf(id).includes('TASK_FINISHED')) && delivered() >= 120, 'all updates', 60_000);
    const elapsedMs = Date.now() - startedAt;
    // Each delivered once.
    assert.equal(delivered(), 120);
    // One call in flight at a time: never more calls than 300 ms slots in the elapsed time.
    assert.ok(master.updateCalls <= Math.ceil(elapsedMs / 300) + 1, `${master.updateCalls} UPDATE calls in ${elapsedMs} ms`);
    // And updates that queued behind a call went out together.
    assert.ok(master.largestUpdateBatch > 1, `largest batch ${master.largestUpdateBatch}`);
    assert.ok(master.updateCalls < 120, `${master.updateCalls} UPDATE calls for 120 updates`);
  });
});

describe('agent restart', () => {
  test('a task keeps running while the agent is down and is reattached RUNNING; it can then be killed', async () => {
    const first = await registeredAgent();
    master.launch([{ id: 'survivor', cmd: 'sleep 100' }]);
    const pid = await runningPid(first, 'survivor');
    await stopAgent(first);
    assert.ok(isAlive(pid), 'the task outlives the agent');

    const second = await registeredAgent();
    const reported = master.registrations.at(-1)!.register!;
    const task = reported.tasks?.find((t) => t.task_info.task_id.value === 'survivor');
    assert.equal(task?.state, 'TASK_RUNNING');
    assert.match(task?.directory ?? '', /executors\/survivor\/runs\//);
    assert.deepEqual(
      reported.frameworks?.map((f) => f.id?.value),
      ['fw-1'],
    );
    assert.equal((await agentState(second)).tasks.find((t) => t['id'] === 'survivor')?.['state'], 'TASK_RUNNING');
    master.kill('survivor');
    await master.update('survivor', 'TASK_KILLED');
    await groupGone(pid);
  });

  test('a task that exited while the agent was down is reported with its exit code after the restart', async () => {
    const first = await registeredAgent();
    master.launch([{ id: 'lonely', cmd: 'while [ ! -e go ]; do sleep 0.02; done; exit 4' }]);
    const pid = await runningPid(first, 'lonely');
    const directory = await directoryOf(first, 'lonely');
    await stopAgent(first);
    await writeFile(join(directory, 'go'), '');
    await eventually(() => !isAlive(pid), 'the task exits while no agent watches');

    await registeredAgent();
    const failed = await master.update('lonely', 'TASK_FAILED');
    assert.equal(failed.status.message, 'Command exited with status 4');
  });

  test('a task that exits after the restart is noticed by polling', async () => {
    const first = await registeredAgent();
    master.launch([{ id: 'later', cmd: 'while [ ! -e go ]; do sleep 0.02; done; exit 0' }]);
    await runningPid(first, 'later');
    const directory = await directoryOf(first, 'later');
    await stopAgent(first);
    await registeredAgent();
    await writeFile(join(directory, 'go'), '');
    await master.update('later', 'TASK_FINISHED');
  });

  test('shutdown() kills every task', async () => {
    const agent = await registeredAgent();
    master.launch([{ id: 'doomed', cmd: 'sleep 100' }]);
    const pid = await runningPid(agent, 'doomed');
    running.splice(running.indexOf(agent), 1);
    await agent.shutdown();
    await groupGone(pid);
    assert.ok(master.statesOf('doomed').includes('TASK_KILLED'));
  });
});

describe('one machine', () => {
  test('two agents on one machine, each with its own work dir and port, do not interfere', async (t) => {
    const otherDir = await mkdtemp(join(tmpdir(), 'drover-agent-b-'));
    const otherMaster = await FakeMaster.start();
    t.after(async () => {
      await otherMaster.close();
      await rm(otherDir, { recursive: true, force: true });
    });
    const a = await registeredAgent();
    const b = await startAgent({ masterUrl: otherMaster.url, workDir: otherDir });
    await otherMaster.waitFor(() => b.registered, 'second agent registered');
    assert.notEqual(a.port, b.port);
    master.launch([{ id: 'same-id', cmd: 'echo a' }]);
    otherMaster.launch([{ id: 'same-id', cmd: 'echo b' }]);
    await master.update('same-id', 'TASK_FINISHED');
    await otherMaster.update('same-id', 'TASK_FINISHED');
    assert.equal(await readFile(join(await directoryOf(a, 'same-id'), 'stdout'), 'utf8'), 'a\n');
    assert.equal(await readFile(join(await directoryOf(b, 'same-id'), 'stdout'), 'utf8'), 'b\n');
  });
});
