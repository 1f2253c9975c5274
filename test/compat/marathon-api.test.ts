/**
 * Marathon `/v2` compatibility: each case is a request a Marathon client makes and the response
 * shape Marathon documents (its RAML examples in /work/shared/fixtures/anchors/marathon, and the
 * RAML types where no example exists) — never Drover's own output. Run against a live `drover dev`
 * with real tasks. The cases run in order (later ones change what earlier ones created); the summary
 * line at the end counts the endpoints that answer and those in shape.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';
import { httpCall, type HttpAnswer } from '../support/http.ts';
import { fixture, mismatches, pick } from './marathon-shape.ts';
import { TEST_ADMIN_TOKEN } from '../../devkit/credentials.ts';

let root: string;
let dev: DroverProcess;
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> => httpCall(dev.url, method, path, body, headers);

// ---- templates from Marathon's examples and RAML ----------------------------------------------------
const appList = fixture('marathon', 'app_list.json') as { apps: unknown[] };
const appFixture = fixture('marathon', 'app.json');
/** AppInfo as `GET /v2/apps` shows every app (app_list.json), plus the RAML fields present for every app. */
const APP = {
  ...pick(appList.apps[0], [
    'id',
    'cmd',
    'instances',
    'cpus',
    'mem',
    'disk',
    'env',
    'executor',
    'constraints',
    'labels',
    'backoffFactor',
    'backoffSeconds',
    'maxLaunchDelaySeconds',
    'dependencies',
    'healthChecks',
    'upgradeStrategy',
    'requirePorts',
    'ports',
    'uris',
    'version',
    'versionInfo',
    'tasksStaged',
    'tasksRunning',
    'tasksHealthy',
    'tasksUnhealthy',
    'deployments',
  ]),
  ...pick(appFixture, ['readinessChecks', 'fetch']),
  // port, protocol and labels (name is optional in portDefinition.raml; labels are the app's own).
  portDefinitions: [{ port: 0, protocol: '', labels: {} }],
  // Values the anchor leaves to the app: any object.
  env: {},
  labels: {},
  gpus: 0,
  role: '',
  killSelection: '',
  unreachableStrategy: null,
  networks: [{ mode: '' }],
};
const TASK = pick((fixture('marathon', 'tasks.json') as { tasks: unknown[] }).tasks[0], ['appId', 'host', 'id', 'ports', 'servicePorts', 'slaveId', 'stagedAt', 'state', 'version']);
// `startedAt` only once the task ran (Marathon's Task.status.startedAt is optional).
/** Marathon's TaskFailure (types/task.raml, `lastTaskFailure`). */
const TASK_FAILURE = { appId: '', host: '', message: '', state: '', taskId: '', timestamp: '', version: '', slaveId: '' };
/** Marathon's full health result (types/healthCheck.raml `Health`). */
const HEALTH = { alive: true, consecutiveFailures: 0, firstSuccess: null, lastFailure: null, lastSuccess: null, lastFailureCause: null, instanceId: '' };
/** Marathon's TaskStats (`embed=app.taskStats`, types/appInfo.raml). */
const TASK_STATS = { totalSummary: { stats: { counts: { staged: 0, running: 0, healthy: 0, unhealthy: 0 }, lifeTime: null } } };
/** Marathon's `/metrics` (types/newMetrics.raml NewMetrics; each map's values as its RAML types). */
const METRICS = {
  version: '',
  counters: {},
  gauges: { 'marathon.apps.active.gauge': { value: 0 }, 'marathon.instances.running.gauge': { value: 0 }, 'marathon.uptime.gauge.seconds': { value: 0 } },
  histograms: {},
  meters: {},
  timers: {},
};
const DEPLOYMENT_RESULT = fixture('marathon', 'deployments_result.json');
const DEPLOYMENT = fixture('marathon', 'deployments.json');
const GROUP = pick(fixture('marathon', 'group.json'), ['id', 'apps', 'groups', 'dependencies', 'version']);
const info = fixture('marathon', 'info.json') as { marathon_config: unknown; http_config: unknown };
const INFO = {
  ...pick(info, ['name', 'version', 'buildref', 'elected', 'leader', 'frameworkId']),
  marathon_config: pick(info.marathon_config, [
    'master',
    'failover_timeout',
    'framework_name',
    'ha',
    'hostname',
    'local_port_min',
    'local_port_max',
    'mesos_role',
    'mesos_user',
    'task_launch_timeout',
    'executor',
    'features',
    'webui_url',
    'mesos_leader_ui_url',
  ]),
  http_config: pick(info.http_config, ['http_port']),
};
const queued = (fixture('marathon', 'queue.json') as { queue: Array<{ processedOffersSummary: unknown }> }).queue[1]!;
// lastUnusedOfferAt / lastUsedOfferAt only once offers were processed (optional in queue.raml).
const QUEUE = {
  queue: [
    {
      ...pick(queued, ['count', 'role', 'delay', 'since']),
      processedOffersSummary: pick(queued.processedOffersSummary, ['processedOffersCount', 'unusedOffersCount', 'rejectSummaryLastOffers', 'rejectSummaryLaunchAttempt']),
      app: { id: '' },
    },
  ],
};

// ---- the cases --------------------------------------------------------------------------------------
interface Case {
  endpoint: string;
  /** Not done yet, and why: the case runs and is counted, but does not fail the suite. */
  todo?: string;
  request: () => Promise<HttpAnswer>;
  status: number;
  shape?: unknown;
  /** An extra check of the answer (e.g. a value the anchor documents), as a list of differences. */
  check?: (a: HttpAnswer) => string[];
}

const state: { webTask?: string; version?: string; deployment?: string } = {};
const appWithHealth = {
  id: '/compat/web',
  cmd: 'sleep 3600',
  cpus: 0.05,
  mem: 32,
  instances: 2,
  labels: { tier: 'web' },
  fetch: [],
  healthChecks: [{ protocol: 'COMMAND', command: { value: 'true' }, gracePeriodSeconds: 30, intervalSeconds: 1, timeoutSeconds: 5, maxConsecutiveFailures: 3 }],
};
const crashing = { id: '/compat/crash', cmd: 'exit 3', cpus: 0.05, mem: 32, instances: 1, backoffSeconds: 1, backoffFactor: 1, maxLaunchDelaySeconds: 5 };
const has = (key: string) => (a: HttpAnswer) => ((a.body as Record<string, unknown>)?.[key] === undefined ? [`/${key}: missing`] : []);

const CASES: Case[] = [
  {
    endpoint: 'POST /v2/apps',
    request: () => call('POST', '/v2/apps', { id: '/compat/other', cmd: 'sleep 3600', cpus: 0.05, mem: 32, instances: 1 }),
    status: 201,
    shape: pick(APP, ['id', 'cmd', 'instances', 'cpus', 'mem', 'disk', 'version', 'versionInfo']),
  },
  { endpoint: 'GET /v2/apps', request: () => call('GET', '/v2/apps'), status: 200, shape: { apps: [APP] } },
  {
    endpoint: 'GET /v2/apps?embed=apps.tasks,apps.counts,apps.taskStats',
    request: () => call('GET', '/v2/apps?embed=apps.tasks&embed=apps.counts&embed=apps.taskStats&label=tier==web'),
    status: 200,
    shape: { apps: [{ ...APP, tasks: [TASK], taskStats: TASK_STATS }] },
  },
  {
    endpoint: 'GET /v2/apps/{id}',
    request: () => call('GET', '/v2/apps/compat/web'),
    status: 200,
    shape: { app: { ...APP, tasks: [{ ...TASK, healthCheckResults: [{ alive: true }] }], readinessCheckResults: [] } },
  },
  {
    endpoint: 'GET /v2/apps/{id} (healthCheckResults in full)',
    request: () => call('GET', '/v2/apps/compat/web'),
    status: 200,
    shape: { app: { tasks: [{ healthCheckResults: [HEALTH] }] } },
    // Values as Marathon's Health gives them for a check that has only passed (its `alive` is
    // lastSuccess after lastFailure): times are ISO strings, the failure fields null.
    check: (a) =>
      (a.body as { app: { tasks: Array<{ id: string; healthCheckResults: Array<Record<string, unknown>> }> } }).app.tasks.flatMap((t, i) => {
        const h = t.healthCheckResults[0] ?? {};
        const problems: string[] = [];
        if (typeof h['firstSuccess'] !== 'string' || Number.isNaN(Date.parse(h['firstSuccess'] as string))) problems.push(`/app/tasks/${i}: firstSuccess is not a time`);
        if (typeof h['lastSuccess'] !== 'string' || (h['lastSuccess'] as string) < (h['firstSuccess'] as string)) problems.push(`/app/tasks/${i}: lastSuccess is not a time after firstSuccess`);
        if (h['lastFailure'] !== null || h['lastFailureCause'] !== null || h['consecutiveFailures'] !== 0) problems.push(`/app/tasks/${i}: a failure recorded for a check that only passed`);
        if (h['instanceId'] !== t.id) problems.push(`/app/tasks/${i}: instanceId is not the task's`);
        return problems;
      }),
  },
  { endpoint: 'GET /v2/apps/{id} (lastTaskFailure)', request: () => call('GET', '/v2/apps/compat/crash'), status: 200, shape: { app: { ...APP, tasks: [], lastTaskFailure: TASK_FAILURE } } },
  {
    endpoint: 'GET /v2/apps/{group}/*',
    request: () => call('GET', '/v2/apps/compat/*'),
    status: 200,
    shape: { '*': [APP] },
    check: (a) => (((a.body as { '*'?: unknown[] })['*'] ?? []).length === 3 ? [] : ['/*: expected the 3 apps of /compat']),
  },
  { endpoint: 'GET /v2/apps/{id}/tasks', request: () => call('GET', '/v2/apps/compat/web/tasks'), status: 200, shape: { tasks: [TASK] } },
  { endpoint: 'GET /v2/apps/{id}/versions', request: () => call('GET', '/v2/apps/compat/web/versions'), status: 200, shape: { versions: [''] } },
  {
    endpoint: 'GET /v2/apps/{id}/versions/{version}',
    request: async () => call('GET', `/v2/apps/compat/web/versions/${((await call('GET', '/v2/apps/compat/web/versions')).body as { versions: string[] }).versions[0]}`),
    status: 200,
    shape: pick(APP, ['id', 'cmd', 'instances', 'version']),
  },
  { endpoint: 'GET /v2/tasks', request: () => call('GET', '/v2/tasks'), status: 200, shape: { tasks: [TASK] } },
  { endpoint: 'GET /v2/queue', request: () => call('GET', '/v2/queue'), status: 200, shape: QUEUE },
  { endpoint: 'GET /v2/deployments', request: () => call('GET', '/v2/deployments'), status: 200, shape: DEPLOYMENT },
  { endpoint: 'GET /v2/groups', request: () => call('GET', '/v2/groups'), status: 200, shape: { ...GROUP, groups: [GROUP] } },
  {
    endpoint: 'GET /v2/groups/{id}?embed=group.apps.tasks',
    request: () => call('GET', '/v2/groups/compat?embed=group.apps&embed=group.apps.tasks&embed=group.apps.counts'),
    status: 200,
    shape: { ...GROUP, apps: [{ ...pick(APP, ['id', 'tasksRunning', 'tasksStaged', 'tasksHealthy', 'tasksUnhealthy']), tasks: [TASK] }] },
  },
  { endpoint: 'GET /v2/groups/{id}/versions', request: () => call('GET', '/v2/groups/compat/versions'), status: 200, shape: [''] },
  {
    endpoint: 'GET /v2/info',
    request: () => call('GET', '/v2/info'),
    status: 200,
    shape: INFO,
    check: (a) => {
      const port = Number(new URL(dev.url).port);
      return (a.body as { http_config?: { http_port?: number } }).http_config?.http_port === port ? [] : [`/http_config/http_port: expected the listening port ${port}`];
    },
  },
  { endpoint: 'GET /v2/leader', request: () => call('GET', '/v2/leader'), status: 200, shape: { leader: '' } },
  {
    endpoint: 'GET /v2/events',
    request: async () => {
      const controller = new AbortController();
      const response = await fetch(`${dev.url}/v2/events`, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
      const reader = response.body?.getReader();
      const first = reader ? new TextDecoder().decode((await reader.read()).value) : '';
      controller.abort();
      return { status: response.status, body: first, headers: response.headers };
    },
    status: 200,
    check: (a) => (String(a.body).startsWith('event: event_stream_attached\n') ? [] : ['first frame is not event_stream_attached']),
  },
  { endpoint: 'GET /v2/eventSubscriptions', request: () => call('GET', '/v2/eventSubscriptions'), status: 200, shape: { callbackUrls: [''] } },
  { endpoint: 'GET /v2/plugins', request: () => call('GET', '/v2/plugins'), status: 200, shape: { plugins: [{ id: '', implementation: '', plugin: '' }] } },
  { endpoint: 'GET /v2/schemas/app', request: () => call('GET', '/v2/schemas/app'), status: 200, shape: { $schema: '', type: '', properties: { id: null, cmd: null, instances: null } } },
  { endpoint: 'GET /v2/pods', request: () => call('GET', '/v2/pods'), status: 200, shape: [] },
  { endpoint: 'HEAD /v2/pods', request: () => call('HEAD', '/v2/pods'), status: 200 },
  { endpoint: 'GET /v2/pods/::status', request: () => call('GET', '/v2/pods/::status'), status: 200, shape: [] },
  { endpoint: 'GET /ping', request: () => call('GET', '/ping'), status: 200, check: (a) => (a.body === 'pong' ? [] : ['body is not pong']) },
  {
    endpoint: 'GET /metrics/prometheus',
    request: () => call('GET', '/metrics/prometheus'),
    status: 200,
    // Marathon's Prometheus reporter: its dotted names with underscores.
    check: (a) =>
      typeof a.body === 'string' && a.body.includes('# TYPE') && /^marathon_apps_active_gauge \d+$/m.test(a.body) ? [] : ['not the Prometheus text format with marathon_apps_active_gauge'],
  },
  {
    endpoint: 'GET /metrics',
    request: () => call('GET', '/metrics'),
    status: 200,
    shape: METRICS,
    // Real values: the apps and running tasks the suite made (before the deletes below).
    check: (a) => {
      const m = a.body as { gauges: Record<string, { value: number }> };
      const problems: string[] = [];
      if (!((m.gauges['marathon.apps.active.gauge']?.value ?? 0) >= 2)) problems.push('/gauges/marathon.apps.active.gauge: expected the suite’s apps');
      if (!((m.gauges['marathon.instances.running.gauge']?.value ?? 0) >= 2)) problems.push('/gauges/marathon.instances.running.gauge: expected the running web tasks');
      if (!((m.gauges['marathon.groups.active.gauge']?.value ?? 0) >= 2)) problems.push('/gauges/marathon.groups.active.gauge: expected / and /compat');
      return problems;
    },
  },
  // ---- deployable changes: 200/201 `{deploymentId, version}` (deployments_result.json) ----------------
  { endpoint: 'PUT /v2/apps/{id}', request: () => call('PUT', '/v2/apps/compat/other?force=true', { cmd: 'sleep 3601' }), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'PATCH /v2/apps/{id}', request: () => call('PATCH', '/v2/apps/compat/other?force=true', { labels: { a: 'b' } }), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'PUT /v2/apps', request: () => call('PUT', '/v2/apps?force=true', [{ id: '/compat/other', instances: 2 }]), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'PATCH /v2/apps', request: () => call('PATCH', '/v2/apps?force=true', [{ id: '/compat/other', instances: 1 }]), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'POST /v2/apps/{id}/restart', request: () => call('POST', '/v2/apps/compat/other/restart?force=true'), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'DELETE /v2/apps/{id}/tasks?scale&wipe', request: () => call('DELETE', '/v2/apps/compat/web/tasks?scale=true&wipe=true'), status: 400, shape: { message: '' } },
  {
    endpoint: 'DELETE /v2/apps/{id}/tasks/{taskId}?scale=true',
    request: () => call('DELETE', `/v2/apps/compat/web/tasks/${state.webTask}?scale=true&force=true`),
    status: 200,
    shape: DEPLOYMENT_RESULT,
  },
  { endpoint: 'DELETE /v2/apps/{id}/tasks?scale=true', request: () => call('DELETE', '/v2/apps/compat/web/tasks?scale=true&force=true'), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'DELETE /v2/apps/{id}/tasks', request: () => call('DELETE', '/v2/apps/compat/other/tasks'), status: 200, shape: { tasks: [] } },
  { endpoint: 'POST /v2/tasks/delete?scale=true', request: () => call('POST', '/v2/tasks/delete?scale=true&force=true', { ids: [] }), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'POST /v2/tasks/delete', request: () => call('POST', '/v2/tasks/delete', { ids: [] }), status: 200, shape: { tasks: [] } },
  { endpoint: 'DELETE /v2/queue/{id}/delay', request: () => call('DELETE', '/v2/queue/compat/crash/delay'), status: 204 },
  {
    endpoint: 'POST /v2/groups',
    request: () => call('POST', '/v2/groups', { id: '/compat2', apps: [{ id: 'a', cmd: 'sleep 3600', cpus: 0.05, mem: 32, instances: 0 }] }),
    status: 201,
    shape: DEPLOYMENT_RESULT,
  },
  {
    endpoint: 'POST /v2/groups/{id}',
    request: () => call('POST', '/v2/groups/compat3', { id: 'sub', apps: [{ id: 'b', cmd: 'sleep 3600', cpus: 0.05, mem: 32, instances: 0 }] }),
    status: 201,
    shape: DEPLOYMENT_RESULT,
    check: has('deploymentId'),
  },
  { endpoint: 'PUT /v2/groups/{id}', request: () => call('PUT', '/v2/groups/compat2?force=true', { scaleBy: 2 }), status: 200, shape: DEPLOYMENT_RESULT },
  { endpoint: 'PUT /v2/groups', request: () => call('PUT', '/v2/groups?force=true&dryRun=true', { id: '/', groups: [] }), status: 200, shape: { steps: [] } },
  { endpoint: 'DELETE /v2/groups/{id}', request: () => call('DELETE', '/v2/groups/compat2?force=true'), status: 200, shape: DEPLOYMENT_RESULT },
  {
    endpoint: 'DELETE /v2/deployments/{id}?force=true',
    request: async () => {
      const d = (await call('PUT', '/v2/apps/compat/other?force=true', { instances: 3 })).body as { deploymentId: string };
      return call('DELETE', `/v2/deployments/${d.deploymentId}?force=true`);
    },
    status: 202,
  },
  { endpoint: 'DELETE /v2/apps/{id}', request: () => call('DELETE', '/v2/apps/compat/other?force=true'), status: 200, shape: DEPLOYMENT_RESULT },
];

// ---- the run ----------------------------------------------------------------------------------------
const results: Array<{ endpoint: string; answered: boolean; inShape: boolean }> = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-compat-marathon-'));
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--resources', 'cpus:2;mem:2048;disk:1000;ports:[23100-23200]']);
  await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', 60_000);
  assert.equal((await call('POST', '/v2/apps', appWithHealth)).status, 201);
  assert.equal((await call('POST', '/v2/apps', crashing)).status, 201);
  // Two healthy web tasks and one failure of the crashing app: what the read cases describe.
  await eventually(
    async () => {
      const tasks = ((await call('GET', '/v2/apps/compat/web/tasks')).body as { tasks: Array<{ id: string; healthCheckResults?: Array<{ alive: boolean }> }> }).tasks;
      const healthy = tasks.filter((t) => t.healthCheckResults?.[0]?.alive === true);
      return healthy.length === 2 ? (state.webTask = healthy[0]!.id) : undefined;
    },
    'two healthy web tasks',
    60_000,
  );
  await eventually(
    async () => ((await call('GET', '/v2/apps/compat/crash?embed=app.lastTaskFailure')).body as { app: { lastTaskFailure?: unknown } }).app.lastTaskFailure !== undefined,
    'a failure of /compat/crash',
    60_000,
  );
});

after(async () => {
  const answered = results.filter((r) => r.answered).length;
  const inShape = results.filter((r) => r.inShape).length;
  console.log(JSON.stringify({ surface: 'marathon', endpoints: results.length, answered, inShape }));
  if (dev === undefined) return;
  for (const id of ['/compat', '/compat2', '/compat3']) await call('DELETE', `/v2/groups${id}?force=true`).catch(() => undefined);
  await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000).catch(() => undefined);
  await dev?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('Marathon /v2 in Marathon’s shapes', () => {
  for (const c of CASES) {
    test(c.endpoint, c.todo === undefined ? {} : { todo: c.todo }, async () => {
      const answer = await c.request();
      // "Answers": the route exists and does what was asked (the documented status).
      const answered = answer.status === c.status;
      const problems = answered ? [...(c.shape === undefined ? [] : mismatches(answer.body, c.shape)), ...(c.check?.(answer) ?? [])] : [];
      results.push({ endpoint: c.endpoint, answered, inShape: answered && problems.length === 0 });
      assert.equal(answer.status, c.status, `${c.endpoint}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      assert.deepEqual(problems, [], c.endpoint);
    });
  }
});

/** The events of /v2/events, collected from now until `stop()`. */
function collectEvents(): { events: Array<Record<string, unknown>>; stop: () => void } {
  const events: Array<Record<string, unknown>> = [];
  const controller = new AbortController();
  void (async () => {
    const response = await fetch(`${dev.url}/v2/events`, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        if (data !== undefined) events.push(JSON.parse(data.slice(6)) as Record<string, unknown>);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
  })().catch(() => undefined);
  return { events, stop: () => controller.abort() };
}

/** Events.scala's fields of each health event (the anchor's case classes), eventType and timestamp included. */
const HEALTH_EVENTS: Record<string, Record<string, unknown>> = {
  health_status_changed_event: { appId: '', instanceId: '', version: '', alive: true, eventType: '', timestamp: '' },
  failed_health_check_event: { appId: '', instanceId: '', healthCheck: {}, eventType: '', timestamp: '' },
  unhealthy_instance_kill_event: { appId: '', taskId: '', instanceId: '', version: '', reason: '', host: '', slaveId: '', eventType: '', timestamp: '' },
};

describe('Marathon health checks: a task failing maxConsecutiveFailures checks is killed and replaced', () => {
  test('health_status_changed_event, failed_health_check_event and unhealthy_instance_kill_event in Marathon’s shapes; the task is replaced', async () => {
    const stream = collectEvents();
    try {
      // Passes its check for a few seconds, then fails it for good: 2 failures in a row → killed.
      const flaky = {
        id: '/compat/flaky',
        cmd: 'touch ok && sleep 4 && rm ok && exec sleep 3600',
        cpus: 0.05,
        mem: 32,
        instances: 1,
        healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -e ok' }, delaySeconds: 0, gracePeriodSeconds: 60, intervalSeconds: 1, timeoutSeconds: 5, maxConsecutiveFailures: 2 }],
      };
      assert.equal((await call('POST', '/v2/apps', flaky)).status, 201);
      const kill = await eventually(() => stream.events.find((e) => e['eventType'] === 'unhealthy_instance_kill_event' && e['appId'] === '/compat/flaky'), 'an unhealthy_instance_kill_event', 120_000);
      for (const [type, shape] of Object.entries(HEALTH_EVENTS)) {
        const event = stream.events.find((e) => e['eventType'] === type && e['appId'] === '/compat/flaky');
        assert.ok(event, `${type} seen`);
        assert.deepEqual(mismatches(event, shape), [], type);
      }
      const killedTask = kill['taskId'] as string;
      assert.equal(kill['instanceId'], killedTask);
      assert.notEqual(kill['reason'], 'unknown', 'the reason is the last failure’s cause');
      assert.ok(String(kill['reason']).length > 0);
      // The health change came first, saying the instance is no longer alive.
      assert.ok(stream.events.some((e) => e['eventType'] === 'health_status_changed_event' && e['instanceId'] === killedTask && e['alive'] === false));
      // Killed, and a new task launched in its place.
      await eventually(
        () => stream.events.some((e) => e['eventType'] === 'status_update_event' && e['taskId'] === killedTask && e['taskStatus'] === 'TASK_KILLED'),
        'the unhealthy task killed',
        60_000,
      );
      await eventually(
        async () => ((await call('GET', '/v2/apps/compat/flaky/tasks')).body as { tasks: Array<{ id: string; state: string }> }).tasks.some((t) => t.id !== killedTask && t.state === 'TASK_RUNNING'),
        'a replacement task running',
        60_000,
      );
    } finally {
      stream.stop();
      await call('DELETE', '/v2/apps/compat/flaky?force=true');
    }
  });

  test('maxConsecutiveFailures 0: an unhealthy task is never killed; its record names the failure', async () => {
    const kept = {
      id: '/compat/kept',
      cmd: 'touch ok && sleep 4 && rm ok && exec sleep 3600',
      cpus: 0.05,
      mem: 32,
      instances: 1,
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -e ok' }, delaySeconds: 0, gracePeriodSeconds: 60, intervalSeconds: 1, timeoutSeconds: 5, maxConsecutiveFailures: 0 }],
    };
    try {
      assert.equal((await call('POST', '/v2/apps', kept)).status, 201);
      type Health = { alive: boolean; consecutiveFailures: number; firstSuccess: string | null; lastSuccess: string | null; lastFailure: string | null; lastFailureCause: string | null };
      const [task] = await eventually(
        async () => {
          const tasks = ((await call('GET', '/v2/apps/compat/kept/tasks')).body as { tasks: Array<{ id: string; state: string; healthCheckResults?: Health[] }> }).tasks;
          return tasks[0]?.healthCheckResults?.[0]?.alive === false ? tasks : undefined;
        },
        'the task unhealthy',
        60_000,
      );
      const health = task!.healthCheckResults![0]!;
      assert.equal(task!.state, 'TASK_RUNNING', 'still running: 0 means never kill');
      assert.ok(health.consecutiveFailures >= 1);
      assert.ok(health.firstSuccess !== null && health.lastSuccess !== null && health.lastFailure !== null);
      assert.ok(health.lastFailure > health.lastSuccess, 'the failure came after the last success');
      assert.ok((health.lastFailureCause ?? '').length > 0);
    } finally {
      await call('DELETE', '/v2/apps/compat/kept?force=true');
    }
  });
});

describe('Marathon ignores app fields it does not know (its RAML readers read known fields by name)', () => {
  test('unknown fields, top level and nested, are accepted and not kept; the answer names the top-level ones', async () => {
    const body = {
      id: '/compat/unknown',
      cmd: 'sleep 3600',
      cpus: 0.05,
      mem: 32,
      instances: 0,
      notAMarathonField: { any: 'thing' },
      'bad\nkey': 1,
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1, surplus: true },
    };
    try {
      const created = await call('POST', '/v2/apps', body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.headers.get('drover-ignored-fields'), '/notAMarathonField, /bad%0Akey');
      const app = ((await call('GET', '/v2/apps/compat/unknown')).body as { app: Record<string, unknown> }).app;
      assert.equal(app['notAMarathonField'], undefined);
      assert.equal(app['bad\nkey'], undefined);
      assert.equal((app['upgradeStrategy'] as Record<string, unknown>)['surplus'], undefined);
      assert.equal((app['upgradeStrategy'] as Record<string, unknown>)['minimumHealthCapacity'], 1);
      // A PUT with a typo'd field changes what it names and ignores the rest.
      const put = await call('PUT', '/v2/apps/compat/unknown?force=true', { instnces: 2, cmd: 'sleep 3601' });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.headers.get('drover-ignored-fields'), '/instnces');
      const after = ((await call('GET', '/v2/apps/compat/unknown')).body as { app: { cmd: string; instances: number } }).app;
      assert.deepEqual([after.cmd, after.instances], ['sleep 3601', 0]);
      // Fields Marathon knows and Drover cannot run are still refused, naming the field.
      const refused = await call('POST', '/v2/apps', { ...body, id: '/compat/gpu', gpus: 1 });
      assert.equal(refused.status, 422);
      assert.ok((refused.body as { details: Array<{ path: string }> }).details.some((d) => d.path === '/gpus'));
      assert.equal((await call('GET', '/v2/apps/compat/gpu')).status, 404, 'nothing created');
    } finally {
      await call('DELETE', '/v2/apps/compat/unknown?force=true');
    }
  });
});

/**
 * An unmodified Marathon client from npm (`marathon-node`, elasticio/marathon-node, on `request`)
 * against this cluster: it creates, lists, reads, scales and deletes an app. It knows no
 * authentication, so its request options carry the token (it passes them to every request);
 * nothing of the library itself is changed. In this file to share its cluster.
 */
interface MarathonNodeClient {
  app: {
    getList(query?: Record<string, unknown>): Promise<{ apps: Array<{ id: string; instances: number }> }>;
    create(body: unknown): Promise<{ id: string; deployments: unknown[] }>;
    getOne(id: string, query?: Record<string, unknown>): Promise<{ app: { id: string; instances: number; tasksRunning: number } }>;
    update(id: string, body: unknown, force?: boolean): Promise<{ deploymentId: string; version: string }>;
    destroy(id: string, force?: boolean): Promise<{ deploymentId: string; version: string }>;
    getTasks(id: string): Promise<{ tasks: Array<{ id: string; state: string }> }>;
  };
  info: { get(): Promise<{ name: string; http_config: { http_port: number } }> };
  misc: { ping(): Promise<unknown> };
}
const marathonNode = createRequire(import.meta.url)('marathon-node') as (baseUrl: string, opts?: Record<string, unknown>) => MarathonNodeClient;

describe('npm marathon-node against Drover', () => {
  test('creates, lists, reads, scales and deletes an app', async () => {
    const client = marathonNode(dev.url, { headers: { Authorization: `token=${TEST_ADMIN_TOKEN}` } });
    assert.equal((await client.info.get()).http_config.http_port, Number(new URL(dev.url).port));
    const created = await client.app.create({ id: '/compat/npm', cmd: 'exec sleep 3600', cpus: 0.05, mem: 32, instances: 1 });
    assert.equal(created.id, '/compat/npm');
    assert.ok((await client.app.getList()).apps.some((a) => a.id === '/compat/npm'));
    await eventually(async () => (await client.app.getOne('compat/npm')).app.tasksRunning === 1, 'the client’s app running', 60_000);
    const scaled = await client.app.update('compat/npm', { instances: 2 }, true);
    assert.equal(typeof scaled.deploymentId, 'string');
    await eventually(async () => (await client.app.getTasks('compat/npm')).tasks.filter((t) => t.state === 'TASK_RUNNING').length === 2, 'scaled to 2', 60_000);
    assert.equal((await client.app.getOne('compat/npm')).app.instances, 2);
    const deleted = await client.app.destroy('compat/npm', true);
    assert.equal(typeof deleted.deploymentId, 'string');
    // The library rejects a 404 (request-promise's StatusCodeError).
    await eventually(
      async () => {
        try {
          await client.app.getOne('compat/npm');
          return false;
        } catch (error) {
          return (error as { statusCode?: number }).statusCode === 404;
        }
      },
      'the app gone',
      60_000,
    );
    assert.ok(!(await client.app.getList()).apps.some((a) => a.id === '/compat/npm'));
  });
});
