/**
 * Metronome `/v1` and Chronos `/v1/scheduler` compatibility: each case a request those anchors'
 * clients make and the response shape their docs and examples give (fixtures in
 * /work/shared/fixtures/anchors/{metronome,chronos}), against a live `drover dev` whose jobs run real
 * tasks. One cluster for both (they are one jobs framework). A summary line per surface at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';
import { httpCall, type HttpAnswer } from '../support/http.ts';
import { fixture, mismatches, pick } from './marathon-shape.ts';

let root: string;
let dev: DroverProcess | undefined;
const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(dev!.url, method, path, body);

// ---- templates ------------------------------------------------------------------------------------
const job = fixture('metronome', 'v1__examples__job.json') as { run: unknown };
// labels and env are the job's own (any object); restart.activeDeadlineSeconds is optional (jobspec.schema.json).
const JOB = { ...pick(job, ['id', 'schedules']), labels: {}, run: { ...pick(job.run, ['cmd', 'cpus', 'mem', 'disk', 'artifacts', 'maxLaunchDelay', 'placement']), env: {}, restart: { policy: '' } } };
const RUN = pick(fixture('metronome', 'v1__examples__run.json'), ['createdAt', 'id', 'jobId', 'status', 'tasks']);
const SCHEDULE = fixture('metronome', 'v1__examples__schedule.json');
const QUEUE = fixture('metronome', 'v1__examples__queue_job_list.json');
const INFO = fixture('metronome', 'general__examples__info.json');
/** Chronos' job as docs/docs/api.md's "Sample Job" shows it (less `epsilon`/`async`, gone in 3.0, and `schedule`, absent for dependent jobs). */
const CHRONOS_JOB = pick(fixture('chronos', 'docs_api_md_job_4_camus_kafka2hdfs.json'), [
  'name',
  'command',
  'arguments',
  'shell',
  'executor',
  'executorFlags',
  'retries',
  'owner',
  'successCount',
  'errorCount',
  'lastSuccess',
  'lastError',
  'cpus',
  'disk',
  'mem',
  'disabled',
  'fetch',
  'environmentVariables',
]);
/** Chronos' JobStatResource: the run-time histogram and the task history. */
const CHRONOS_STAT = { histogram: { count: 0, mean: 0, median: 0, '75thPercentile': 0, '95thPercentile': 0, '98thPercentile': 0, '99thPercentile': 0 }, taskStatHistory: [] };

interface Case {
  surface: 'metronome' | 'chronos';
  endpoint: string;
  request: () => Promise<HttpAnswer>;
  status: number;
  shape?: unknown;
  check?: (a: HttpAnswer) => string[];
}
const state: { runId?: string } = {};
const text = (a: HttpAnswer): string => (typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
const contains = (needle: string) => (a: HttpAnswer) => (text(a).includes(needle) ? [] : [`answer lacks ${JSON.stringify(needle)}`]);
const names = (a: HttpAnswer): string[] => (a.body as Array<{ name: string }>).map((j) => j.name);

const PARENT = { name: 'Compat_Parent', command: 'true', schedule: 'R/2040-01-01T00:00:00Z/PT24H', owner: 'ops@example.com', cpus: 0.05, mem: 32, disk: 0, retries: 0 };
const CHILD = { name: 'compat_child', command: 'true', parents: ['Compat_Parent'], cpus: 0.05, mem: 32, disk: 0, retries: 0 };

const CASES: Case[] = [
  // ---- Metronome ----
  {
    surface: 'metronome',
    endpoint: 'POST /v1/jobs',
    request: () => call('POST', '/v1/jobs', { id: 'compat.sleepy', labels: { a: 'b' }, run: { cmd: 'sleep 600', cpus: 0.05, mem: 32, disk: 0 } }),
    status: 201,
    shape: JOB,
  },
  { surface: 'metronome', endpoint: 'GET /v1/jobs', request: () => call('GET', '/v1/jobs'), status: 200, shape: [JOB] },
  { surface: 'metronome', endpoint: 'GET /v1/jobs/{id}', request: () => call('GET', '/v1/jobs/compat.sleepy'), status: 200, shape: JOB },
  {
    surface: 'metronome',
    endpoint: 'PUT /v1/jobs/{id}',
    request: () => call('PUT', '/v1/jobs/compat.sleepy', { id: 'compat.sleepy', run: { cmd: 'sleep 601', cpus: 0.05, mem: 32, disk: 0 } }),
    status: 200,
    shape: JOB,
  },
  {
    surface: 'metronome',
    endpoint: 'POST /v1/jobs/{id}/schedules',
    request: () => call('POST', '/v1/jobs/compat.sleepy/schedules', { id: 'nightly', cron: '0 3 * * *', timezone: 'UTC' }),
    status: 201,
    shape: SCHEDULE,
  },
  { surface: 'metronome', endpoint: 'GET /v1/jobs/{id}/schedules', request: () => call('GET', '/v1/jobs/compat.sleepy/schedules'), status: 200, shape: [SCHEDULE] },
  { surface: 'metronome', endpoint: 'GET /v1/jobs/{id}/schedules/{sid}', request: () => call('GET', '/v1/jobs/compat.sleepy/schedules/nightly'), status: 200, shape: SCHEDULE },
  {
    surface: 'metronome',
    endpoint: 'PUT /v1/jobs/{id}/schedules/{sid}',
    request: () => call('PUT', '/v1/jobs/compat.sleepy/schedules/nightly', { id: 'nightly', cron: '0 4 * * *' }),
    status: 200,
    shape: SCHEDULE,
  },
  { surface: 'metronome', endpoint: 'DELETE /v1/jobs/{id}/schedules/{sid}', request: () => call('DELETE', '/v1/jobs/compat.sleepy/schedules/nightly'), status: 200 },
  {
    surface: 'metronome',
    endpoint: 'POST /v1/jobs/{id}/runs',
    request: async () => {
      const a = await call('POST', '/v1/jobs/compat.sleepy/runs');
      state.runId = (a.body as { id?: string }).id;
      return a;
    },
    status: 201,
    shape: RUN,
  },
  { surface: 'metronome', endpoint: 'GET /v1/jobs/{id}/runs', request: () => call('GET', '/v1/jobs/compat.sleepy/runs'), status: 200, shape: [RUN] },
  { surface: 'metronome', endpoint: 'GET /v1/jobs/{id}/runs/{runId}', request: () => call('GET', `/v1/jobs/compat.sleepy/runs/${state.runId}`), status: 200, shape: RUN },
  { surface: 'metronome', endpoint: 'GET /v1/queue', request: () => call('GET', '/v1/queue'), status: 200, shape: QUEUE },
  { surface: 'metronome', endpoint: 'POST /v1/jobs/{id}/runs/{runId}/actions/stop', request: () => call('POST', `/v1/jobs/compat.sleepy/runs/${state.runId}/actions/stop`), status: 200, shape: RUN },
  {
    surface: 'metronome',
    endpoint: 'GET /v1/metrics',
    request: () => call('GET', '/v1/metrics'),
    status: 200,
    shape: { version: '', gauges: {}, counters: {}, histograms: {}, meters: {}, timers: {} },
  },
  { surface: 'metronome', endpoint: 'GET /info', request: () => call('GET', '/info'), status: 200, shape: INFO },
  { surface: 'metronome', endpoint: 'GET /leader', request: () => call('GET', '/leader'), status: 200, shape: { leader: '' } },
  { surface: 'metronome', endpoint: 'GET /ping', request: () => call('GET', '/ping'), status: 200, check: (a) => (a.body === 'pong' ? [] : ['body is not pong']) },
  { surface: 'metronome', endpoint: 'DELETE /v1/jobs/{id}', request: () => call('DELETE', '/v1/jobs/compat.sleepy?stopCurrentJobRuns=true'), status: 200, shape: pick(JOB, ['id', 'run']) },
  // ---- Chronos (parent and child posted and run in before()) ----
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs',
    request: () => call('GET', '/v1/scheduler/jobs'),
    status: 200,
    shape: [CHRONOS_JOB],
    check: (a) => (JSON.stringify(names(a).sort()) === JSON.stringify(['Compat_Parent', 'compat_child']) ? [] : [`names not kept as given: ${JSON.stringify(names(a))}`]),
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs (counters)',
    request: () => call('GET', '/v1/scheduler/jobs'),
    status: 200,
    check: (a) => {
      const parent = (a.body as Array<Record<string, unknown>>).find((j) => j['name'] === 'Compat_Parent');
      const child = (a.body as Array<Record<string, unknown>>).find((j) => j['name'] === 'compat_child');
      return [
        ...(parent?.['successCount'] === 1 && parent['lastSuccess'] !== '' && parent['schedule'] === PARENT.schedule ? [] : ['parent: successCount 1, lastSuccess and its schedule']),
        ...(JSON.stringify(child?.['parents']) === '["Compat_Parent"]' && child?.['schedule'] === undefined ? [] : ['child: parents by name, no schedule']),
      ];
    },
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs/summary',
    request: () => call('GET', '/v1/scheduler/jobs/summary'),
    status: 200,
    shape: { jobs: [{ name: '', status: '', state: '' }] },
    check: contains('"status":"success"'),
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs/search?name=',
    request: () => call('GET', '/v1/scheduler/jobs/search?name=compat_p'),
    status: 200,
    shape: [CHRONOS_JOB],
    check: (a) => (JSON.stringify(names(a)) === '["Compat_Parent"]' ? [] : [`found ${JSON.stringify(names(a))}`]),
  },
  // `any` matches the name or the command, case-insensitively; limit and offset page the result.
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs/search?any=',
    request: () => call('GET', '/v1/scheduler/jobs/search?any=COMPAT'),
    status: 200,
    check: (a) => (names(a).length === 2 ? [] : [`found ${JSON.stringify(names(a))}`]),
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs/search?limit=&offset=',
    request: async () => {
      const [first, second] = await Promise.all([call('GET', '/v1/scheduler/jobs/search?any=compat&limit=1'), call('GET', '/v1/scheduler/jobs/search?any=compat&limit=1&offset=1')]);
      return { ...second, body: [...(first.body as unknown[]), ...(second.body as unknown[])] };
    },
    status: 200,
    check: (a) => (JSON.stringify(names(a).sort()) === JSON.stringify(['Compat_Parent', 'compat_child']) ? [] : [`pages gave ${JSON.stringify(names(a))}`]),
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/graph/dot',
    request: () => call('GET', '/v1/scheduler/graph/dot'),
    status: 200,
    check: (a) => [...contains('digraph')(a), ...contains('"Compat_Parent" -> "compat_child"')(a)],
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/graph/csv',
    request: () => call('GET', '/v1/scheduler/graph/csv'),
    status: 200,
    check: (a) => [...contains('node,Compat_Parent,success,idle')(a), ...contains('link,Compat_Parent,compat_child')(a)],
  },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/job/stat/{name}',
    request: () => call('GET', '/v1/scheduler/job/stat/Compat_Parent'),
    status: 200,
    shape: CHRONOS_STAT,
    check: (a) => ((a.body as typeof CHRONOS_STAT).histogram.count === 1 ? [] : ['histogram.count is not the one run']),
  },
  { surface: 'chronos', endpoint: 'GET /v1/scheduler/stats/{percentile}', request: () => call('GET', '/v1/scheduler/stats/99thPercentile'), status: 200, shape: [{ jobNameLabel: '', time: 0 }] },
  { surface: 'chronos', endpoint: 'PUT /v1/scheduler/job/{name}', request: () => call('PUT', '/v1/scheduler/job/Compat_Parent'), status: 204 },
  { surface: 'chronos', endpoint: 'DELETE /v1/scheduler/task/kill/{name}', request: () => call('DELETE', '/v1/scheduler/task/kill/Compat_Parent'), status: 204 },
  { surface: 'chronos', endpoint: 'DELETE /v1/scheduler/job/{name} (a child)', request: () => call('DELETE', '/v1/scheduler/job/compat_child'), status: 204 },
  { surface: 'chronos', endpoint: 'DELETE /v1/scheduler/job/{name}', request: () => call('DELETE', '/v1/scheduler/job/Compat_Parent'), status: 204 },
  {
    surface: 'chronos',
    endpoint: 'GET /v1/scheduler/jobs (after the deletes)',
    request: () => call('GET', '/v1/scheduler/jobs'),
    status: 200,
    check: (a) => (names(a).length === 0 ? [] : [`left: ${JSON.stringify(names(a))}`]),
  },
];

const results: Array<{ surface: string; answered: boolean; inShape: boolean }> = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-compat-jobs-'));
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--resources', 'cpus:2;mem:1024;disk:500;ports:[23400-23420]']);
  await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', 60_000);
  assert.equal((await call('POST', '/v1/scheduler/iso8601', PARENT)).status, 204);
  assert.equal((await call('POST', '/v1/scheduler/dependency', CHILD)).status, 204);
  // The parent run by hand, then its child: one success each, what the read cases describe.
  assert.equal((await call('PUT', '/v1/scheduler/job/Compat_Parent')).status, 204);
  await eventually(
    async () => {
      const runs = (await call('GET', '/v1/jobs/compat-child?embed=history')).body as { history?: { successCount: number } };
      return runs.history?.successCount === 1;
    },
    'the child ran after its parent',
    120_000,
  );
});
after(async () => {
  for (const surface of ['metronome', 'chronos']) {
    const mine = results.filter((r) => r.surface === surface);
    console.log(JSON.stringify({ surface, cases: mine.length, answered: mine.filter((r) => r.answered).length, inShape: mine.filter((r) => r.inShape).length }));
  }
  await dev?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('Metronome and Chronos in their shapes', () => {
  for (const c of CASES) {
    test(`${c.surface}: ${c.endpoint}`, async () => {
      const answer = await c.request();
      const answered = answer.status === c.status;
      const problems = answered ? [...(c.shape === undefined ? [] : mismatches(answer.body, c.shape)), ...(c.check?.(answer) ?? [])] : [];
      results.push({ surface: c.surface, answered, inShape: answered && problems.length === 0 });
      assert.equal(answer.status, c.status, `${c.endpoint}: ${text(answer).slice(0, 300)}`);
      assert.deepEqual(problems, [], c.endpoint);
    });
  }
});
