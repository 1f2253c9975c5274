/**
 * The jobs framework (Metronome /v1) end to end against a live `drover dev` with real tasks:
 * the API and its error shapes, run now, stop, delete with active runs, the queue, a dependent
 * job, and one real-time `* * * * *` schedule.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall } from './support/http.ts';

let root: string;
let dev: DroverProcess;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-jobs-e2e-'));
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--resources', 'cpus:4;mem:4096;disk:1000;ports:[22500-22600]']);
  await eventually(async () => ((await get('/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
});
after(async () => {
  await dev.stop();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, base = dev.url): Promise<{ status: number; body: unknown }> {
  const { status, body: answer } = await httpCall(base, method, path, body);
  return { status, body: answer };
}
const get = (path: string) => call('GET', path);

interface RunJson {
  id: string;
  status: string;
  tasks: Array<{ id: string; status: string }>;
  reason?: string;
}
interface HistoryJson {
  successCount: number;
  failureCount: number;
  successfulFinishedRuns: Array<{ id: string; tasks: string[] }>;
  failedFinishedRuns: Array<{ id: string }>;
}

const job = (id: string, cmd: string, extra: Record<string, unknown> = {}) => ({ id, run: { cmd, cpus: 0.1, mem: 32 }, ...extra });

async function runStatus(jobId: string, runId: string, status: string): Promise<RunJson> {
  return eventually(
    async () => {
      const r = (await get(`/v1/jobs/${jobId}/runs/${runId}`)).body as RunJson;
      return r.status === status ? r : undefined;
    },
    `run ${jobId}/${runId} ${status}`,
    30_000,
  );
}

describe('jobs API', () => {
  test('create, read, replace, schedules; Metronome error shapes', async () => {
    const created = await call('POST', '/v1/jobs', job('api.demo', 'true', { labels: { team: 'a' } }));
    assert.equal(created.status, 201);
    assert.equal((created.body as { id: string }).id, 'api.demo');
    assert.equal((await call('POST', '/v1/jobs', job('api.demo', 'true'))).status, 409);
    assert.deepEqual(await get('/v1/jobs/nope'), { status: 404, body: { message: "Job 'nope' does not exist", code: 'DROVER_ERR_NOT_FOUND', details: [] } });
    assert.equal((await call('POST', '/v1/jobs', '{"id": ')).status, 400);
    const invalid = await call('POST', '/v1/jobs', { id: 'bad', run: { cmd: 'x', cpus: 0.001 } });
    assert.equal(invalid.status, 422);
    assert.deepEqual(invalid.body, { message: 'Object is not valid', code: 'DROVER_ERR_VALIDATION', details: [{ path: '/run/cpus', errors: ['must be >= 0.01'] }] });
    const docker = await call('POST', '/v1/jobs', { id: 'bad', run: { cmd: 'x', docker: { image: 'busybox', parameters: [{ key: 'privileged', value: 'true' }] } } });
    assert.equal(docker.status, 422);
    assert.equal((docker.body as { details: Array<{ path: string }> }).details[0]!.path, '/run/docker/parameters');

    const s = await call('POST', '/v1/jobs/api.demo/schedules', { id: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Berlin' });
    assert.equal(s.status, 201);
    assert.match((s.body as { nextRunAt: string }).nextRunAt, /T0[01]:00:00\.000\+0000$/);
    const feb30 = await call('PUT', '/v1/jobs/api.demo/schedules/nightly', { id: 'nightly', cron: '0 0 30 2 *' });
    assert.deepEqual((feb30.body as { details: unknown }).details, [{ path: '/cron', errors: ['day-of-month 30 never occurs in February'] }]);
    assert.equal((await call('PUT', '/v1/jobs/api.demo/schedules/nightly', { id: 'nightly', cron: '0 3 * * *', concurrencyPolicy: 'FORBID' })).status, 200);
    assert.equal(((await get('/v1/jobs/api.demo/schedules/nightly')).body as { concurrencyPolicy: string }).concurrencyPolicy, 'FORBID');
    assert.equal((await get('/v1/jobs/api.demo/schedules/none')).status, 404);

    const replaced = await call('PUT', '/v1/jobs/api.demo', { ...job('api.demo', 'echo v2'), schedules: [{ id: 'nightly', cron: '0 3 * * *' }] });
    assert.equal(replaced.status, 200);
    const list = (await get('/v1/jobs?embed=history&embed=activeRuns')).body as Array<{ id: string; run: { cmd: string }; history: HistoryJson; activeRuns: unknown[] }>;
    const demo = list.find((j) => j.id === 'api.demo')!;
    assert.equal(demo.run.cmd, 'echo v2');
    assert.deepEqual(demo.activeRuns, []);
    assert.equal(demo.history.successCount, 0);
    assert.equal((await call('DELETE', '/v1/jobs/api.demo/schedules/nightly')).status, 200);
    // The legacy /v0 form: the job with its schedules in one body.
    assert.equal((await call('POST', '/v0/scheduled-jobs', { ...job('api.legacy', 'true'), schedules: [{ id: 'nightly', cron: '20 0 * * *' }] })).status, 201);
    assert.equal(((await get('/v1/jobs/api.legacy/schedules')).body as unknown[]).length, 1);
    assert.equal((await call('PUT', '/v0/scheduled-jobs/api.legacy', { ...job('api.legacy', 'true'), schedules: [] })).status, 200);
    assert.deepEqual((await get('/v1/jobs/api.legacy/schedules')).body, []);
    assert.equal((await call('DELETE', '/v1/jobs/api.legacy')).status, 200);
    assert.equal((await call('DELETE', '/v1/jobs/api.demo')).status, 200);
    assert.equal((await get('/v1/jobs/api.demo')).status, 404);
  });

  test('run now: a real task succeeds; history keeps its task id and its sandbox log is reachable', async () => {
    await call('POST', '/v1/jobs', job('hello', 'echo "hello from $DROVER_JOB_RUN_ID"'));
    const started = await call('POST', '/v1/jobs/hello/runs');
    assert.equal(started.status, 201);
    const runId = (started.body as RunJson).id;
    assert.match(runId, /^\d{14}[A-Za-z0-9]{5}$/);
    const done = await runStatus('hello', runId, 'SUCCESS');
    // The run's end and the job's history counters are two writes: read the history once it has it.
    const history = await eventually(async () => {
      const h = ((await get('/v1/jobs/hello?embed=history')).body as { history: HistoryJson }).history;
      return h.successCount > 0 ? h : undefined;
    }, 'the run in the history');
    assert.equal(history.successCount, 1);
    assert.deepEqual(history.successfulFinishedRuns[0]!.tasks, [done.tasks[0]!.id]);
    // From the history's task id to its log through the agent's sandbox files API.
    const tasks = ((await get(`/master/tasks?task_id=${encodeURIComponent(history.successfulFinishedRuns[0]!.tasks[0]!)}`)).body as { tasks: Array<{ directory?: string }> }).tasks;
    const agent = ((await get('/master/state')).body as { slaves: Array<{ port: number }> }).slaves[0]!;
    const stdout = await eventually(async () => {
      const read = await fetch(`http://127.0.0.1:${agent.port}/files/read?path=${encodeURIComponent(join(tasks[0]!.directory!, 'stdout'))}&offset=0`);
      const { data } = (await read.json()) as { data: string };
      return data.includes('hello from') ? data : undefined;
    }, 'the job’s stdout through the agent');
    assert.equal(stdout.trim(), `hello from ${runId}`);
  });

  test('stop a running run; DELETE with an active run is 409 until stopCurrentJobRuns=true', async () => {
    await call('POST', '/v1/jobs', job('sleeper', 'sleep 300', { run: { cmd: 'sleep 300', cpus: 0.1, mem: 32, restart: { policy: 'ON_FAILURE' } } }));
    const a = (await call('POST', '/v1/jobs/sleeper/runs')).body as RunJson;
    await runStatus('sleeper', a.id, 'ACTIVE');
    const stopped = await call('POST', `/v1/jobs/sleeper/runs/${a.id}/actions/stop`);
    assert.equal(stopped.status, 200);
    const failed = await runStatus('sleeper', a.id, 'FAILED');
    assert.match(failed.reason ?? '', /^stopped by request/);
    assert.equal(failed.tasks.length, 1, 'a stopped run is not retried');

    const b = (await call('POST', '/v1/jobs/sleeper/runs')).body as RunJson;
    await runStatus('sleeper', b.id, 'ACTIVE');
    const refused = await call('DELETE', '/v1/jobs/sleeper');
    assert.equal(refused.status, 409);
    assert.equal((refused.body as { message: string }).message, 'There are active job runs. Override with stopCurrentJobRuns=true');
    assert.equal((await call('DELETE', '/v1/jobs/sleeper?stopCurrentJobRuns=true')).status, 200);
    const taskId = b.tasks[0]?.id ?? `sleeper_${b.id}.1`;
    await eventually(
      async () => {
        const t = ((await get(`/master/tasks?task_id=${encodeURIComponent(taskId)}`)).body as { tasks: Array<{ state: string }> }).tasks[0];
        return t?.state === 'TASK_KILLED';
      },
      'the deleted job’s task was killed',
      30_000,
    );
  });

  test('the queue shows a run that does not fit, with the reason', async () => {
    await call('POST', '/v1/jobs', { id: 'huge', run: { cmd: 'true', cpus: 64, mem: 32 } });
    const r = (await call('POST', '/v1/jobs/huge/runs')).body as RunJson;
    const queue = await eventually(
      async () => {
        const q = (await get('/v1/queue')).body as Array<{ jobId: string; runs: Array<{ runId: string }>; lastUnusedOffers: Array<{ reason: string[] }> }>;
        const entry = q.find((e) => e.jobId === 'huge');
        return entry && entry.lastUnusedOffers.length > 0 ? entry : undefined;
      },
      'a refused offer in the queue',
      30_000,
    );
    assert.deepEqual(queue.runs, [{ runId: r.id }]);
    // Other tests' tasks may hold a little of the agent's 4 cpus.
    assert.match(queue.lastUnusedOffers[0]!.reason[0]!, /^insufficient cpus: [\d.]+ < 64$/);
    assert.equal((await call('POST', `/v1/jobs/huge/runs/${r.id}/actions/stop`)).status, 200);
    assert.equal(((await get(`/v1/jobs/huge/runs/${r.id}`)).body as RunJson).status, 'FAILED');
    assert.deepEqual(
      ((await get('/v1/queue')).body as Array<{ jobId: string }>).filter((e) => e.jobId === 'huge'),
      [],
    );
  });

  test('a dependent job runs after its parent succeeds, in the parent’s cycle', async () => {
    await call('POST', '/v1/jobs', job('dag.parent', 'true'));
    assert.equal((await call('POST', '/v1/jobs', { ...job('dag.child', 'true'), dependencies: [{ id: 'dag.parent' }] })).status, 201);
    assert.equal((await call('POST', '/v1/jobs', { ...job('dag.orphan', 'true'), dependencies: [{ id: 'dag.nope' }] })).status, 422);
    const parent = (await call('POST', '/v1/jobs/dag.parent/runs')).body as RunJson & { cycle: string };
    await runStatus('dag.parent', parent.id, 'SUCCESS');
    const history = await eventually(
      async () => {
        const h = ((await get('/v1/jobs/dag.child?embed=history')).body as { history: HistoryJson }).history;
        return h.successCount === 1 ? h : undefined;
      },
      'the child ran',
      30_000,
    );
    const child = (await get(`/v1/jobs/dag.child/runs/${history.successfulFinishedRuns[0]!.id}`)).body as { cycle: string; trigger: string };
    assert.equal(child.cycle, parent.cycle);
    assert.equal(child.trigger, 'dependency');
    assert.equal((await call('DELETE', '/v1/jobs/dag.parent')).status, 409, 'a parent cannot be deleted under its child');
  });

  test('Chronos API: iso8601 and dependency jobs land as Metronome jobs; PUT job/{name} runs one', async () => {
    const scheduled = await call('POST', '/v1/scheduler/iso8601', { name: 'Chronos_Root', command: 'true', schedule: 'R/2030-01-01T00:00:00Z/PT1H', epsilon: 'PT30M', cpus: 0.1, mem: 32, disk: 0 });
    assert.equal(scheduled.status, 204);
    assert.equal((await call('POST', '/v1/scheduler/dependency', { name: 'chronos_child', command: 'true', parents: ['Chronos_Root'], cpus: 0.1, mem: 32, disk: 0 })).status, 204);
    const root = (await get('/v1/jobs/chronos-root')).body as { schedules: Array<{ cron: string; startingDeadlineSeconds: number; nextRunAt: string }> };
    assert.equal(root.schedules[0]!.cron, 'R/2030-01-01T00:00:00Z/PT1H');
    assert.equal(root.schedules[0]!.startingDeadlineSeconds, 1800);
    assert.equal(root.schedules[0]!.nextRunAt, '2030-01-01T00:00:00.000+0000');
    assert.deepEqual(((await get('/v1/jobs/chronos-child')).body as { dependencies: unknown }).dependencies, [{ id: 'chronos-root' }]);
    // A Chronos container runs in its image now (test/image-launch-cluster.test.ts); docker run options cannot.
    const docker = await call('POST', '/v1/scheduler/iso8601', {
      name: 'd',
      command: 'x',
      schedule: 'R//PT1H',
      container: { type: 'DOCKER', image: 'busybox', parameters: [{ key: 'privileged', value: 'true' }] },
    });
    assert.equal(docker.status, 422);
    assert.equal((docker.body as { details: Array<{ path: string }> }).details[0]!.path, '/container/parameters');
    assert.equal((await call('PUT', '/v1/scheduler/job/Chronos_Root')).status, 204);
    await eventually(
      async () => ((await get('/v1/jobs/chronos-child?embed=historySummary')).body as { historySummary: { successCount: number } }).historySummary.successCount === 1,
      'the Chronos child ran after its parent',
      30_000,
    );
    // job/success: a failed run counts as a success by hand.
    assert.equal((await call('POST', '/v1/scheduler/dependency', { name: 'flaky', command: 'false', parents: ['Chronos_Root'], retries: 0, cpus: 0.1, mem: 32, disk: 0 })).status, 204);
    const failed = (await call('POST', '/v1/jobs/flaky/runs')).body as RunJson;
    await runStatus('flaky', failed.id, 'FAILED');
    assert.equal((await call('PUT', '/v1/scheduler/job/success/flaky')).status, 204);
    const summary = ((await get('/v1/jobs/flaky?embed=historySummary')).body as { historySummary: { successCount: number; failureCount: number } }).historySummary;
    assert.deepEqual([summary.successCount, summary.failureCount], [1, 0]);
    assert.equal((await call('PUT', '/v1/scheduler/job/success/flaky')).status, 404, 'nothing left to mark');
  });

  test('real time: a "* * * * *" job runs on the next minute', async () => {
    assert.equal((await call('POST', '/v1/jobs', { ...job('minutely', 'echo tick'), schedules: [{ id: 'every', cron: '* * * * *' }] })).status, 201);
    const history = await eventually(
      async () => {
        const h = ((await get('/v1/jobs/minutely?embed=history')).body as { history: HistoryJson }).history;
        return h.successCount >= 1 ? h : undefined;
      },
      'a scheduled run succeeded',
      100_000,
    );
    const run = (await get(`/v1/jobs/minutely/runs/${history.successfulFinishedRuns[0]!.id}`)).body as { trigger: string; scheduledAt: string };
    assert.equal(run.trigger, 'schedule');
    assert.match(run.scheduledAt, /:00\.000\+0000$/, 'the tick is on a whole minute');
  });
});

test('--no-jobs turns the framework off', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'drover-nojobs-'));
  const plain = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', dir, '--no-jobs', '--resources', 'cpus:1;mem:512']);
  try {
    assert.equal((await call('GET', '/v1/jobs', undefined, plain.url)).status, 404);
    assert.equal((await call('GET', '/v2/apps', undefined, plain.url)).status, 200);
  } finally {
    await plain.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a run survives a restart of drover dev: the task keeps running and its run ends SUCCESS', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'drover-jobs-restart-'));
  const args = ['dev', '--port', '0', '--agent-port', '0', '--data-dir', dir, '--resources', 'cpus:1;mem:512'];
  let first: DroverProcess | undefined = await startDrover(args);
  let second: DroverProcess | undefined;
  let sandbox: string | undefined;
  // The task waits for a file in its sandbox (its /tmp is private) that the test creates after the
  // restart: a deterministic gate, not a sleep.
  const openGate = async (): Promise<void> => {
    if (sandbox) await writeFile(join(sandbox, 'gate'), '');
  };
  try {
    const url = first.url;
    await eventually(async () => ((await call('GET', '/master/state', undefined, url)).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
    await call('POST', '/v1/jobs', job('survivor', 'while [ ! -e gate ]; do sleep 0.2; done'), url);
    const r = (await call('POST', '/v1/jobs/survivor/runs', undefined, url)).body as RunJson;
    const active = await eventually(
      async () => {
        const run = (await call('GET', `/v1/jobs/survivor/runs/${r.id}`, undefined, url)).body as RunJson;
        return run.status === 'ACTIVE' ? run : undefined;
      },
      'the run is active',
      30_000,
    );
    const taskId = active.tasks[0]!.id;
    sandbox = ((await call('GET', `/master/tasks?task_id=${encodeURIComponent(taskId)}`, undefined, url)).body as { tasks: Array<{ directory: string }> }).tasks[0]!.directory;
    assert.equal(await first.stop(), 0);
    first = undefined;
    second = await startDrover(args);
    const url2 = second.url;
    const before = (await call('GET', `/v1/jobs/survivor/runs/${r.id}`, undefined, url2)).body as RunJson;
    assert.notEqual(before.status, 'SUCCESS', 'the run was not finished by the restart');
    assert.deepEqual(
      before.tasks.map((t) => t.id),
      [taskId],
    );
    await openGate();
    const done = await eventually(
      async () => {
        const run = (await call('GET', `/v1/jobs/survivor/runs/${r.id}`, undefined, url2)).body as RunJson;
        return run.status === 'SUCCESS' ? run : undefined;
      },
      'the run finished after the restart',
      60_000,
    );
    assert.deepEqual(
      done.tasks.map((t) => t.id),
      [taskId],
      'the same task, not a relaunch',
    );
    assert.equal(((await call('GET', '/v1/jobs/survivor?embed=history', undefined, url2)).body as { history: HistoryJson }).history.successCount, 1);
  } finally {
    // Whatever happened, the task must not outlive the test (agents keep tasks across restarts).
    await openGate().catch(() => undefined);
    await first?.stop();
    await second?.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
