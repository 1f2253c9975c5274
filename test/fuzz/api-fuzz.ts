/**
 * An HTTP fuzz of the master's APIs: every POST/PUT/PATCH/DELETE route of the permission table
 * (Marathon, Metronome, Chronos, Mesos' v1 calls, IAM, secrets, packages, quota; routes without a
 * hand-written generator are fuzzed from their pattern), plus odd paths and query strings on the
 * GET routes. The
 * property, per request: never a 5xx; a refusal is a 4xx whose body says why (`message`, and
 * `details` with paths for 422); and a refused request changes nothing (every kind of stored
 * definition reads back the same). Bodies are arbitrary JSON, or Marathon/Metronome fixtures with one field
 * replaced by arbitrary JSON (most bugs hide one field away from a valid body).
 *
 * `runApiFuzz` is shared by test/api-fuzz.test.ts (CI: a few hundred cases a route) and
 * `npm run fuzz -- --cases N` (long runs).
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { startMasterServer, type MasterServer } from '../../src/cluster/master.ts';
import { silentLogger } from '../../src/log/index.ts';
import { createMemoryStore } from '../../src/store/memory/memory-store.ts';
import { TEST_ADMIN_TOKEN, testAuth } from '../../devkit/credentials.ts';
import { ROUTE_PERMISSIONS } from '../../src/iam/route-permissions.ts';

/** The fuzz is about inputs, as the admin: auth itself is test/iam-*.test.ts's. */
const ADMIN = { authorization: `token=${TEST_ADMIN_TOKEN}` };

type Json = unknown;
interface Request {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  body?: Json;
}

const APP = {
  id: '/fuzz/app',
  cmd: 'sleep 100',
  cpus: 0.1,
  mem: 32,
  instances: 1,
  portDefinitions: [{ port: 0, name: 'http' }],
  labels: { a: 'b' },
  env: { K: 'v' },
  constraints: [['hostname', 'UNIQUE']],
  healthChecks: [{ protocol: 'HTTP', path: '/' }],
};
const JOB = { id: 'fuzz-job', run: { cmd: 'true', cpus: 0.1, mem: 32, disk: 0 }, schedules: [{ id: 'every', cron: '*/5 * * * *', timezone: 'UTC' }] };
const CHRONOS = { name: 'fuzz-chronos', command: 'true', schedule: 'R/2030-01-01T00:00:00Z/PT1H', cpus: 0.1, mem: 32 };

/** Path pieces that have broken path handling somewhere: escapes, dots, slashes, long runs. */
const segment = fc.oneof(
  fc.constantFrom('fuzz', 'app', '%25', '%', '%2F', '%252F', '..', '.', '%2e%2e', 'a%00b', '%ff', '%E2%82%AC', 'UPPER', '-x', 'x-', '', 'versions', 'tasks', 'restart', 'delay', 'x'.repeat(300)),
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
);
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
const queryValue = fc.oneof(fc.constantFrom('true', 'false', '', '%25', 'a,b', '(', 'k in (a,b)', 'k==', '!=', 'tasks', 'apps.tasks'), fc.string({ maxLength: 20 }).map(encodeURIComponent));
const query = fc
  .array(fc.tuple(fc.constantFrom('force', 'embed', 'label', 'id', 'cmd', 'partialUpdate', 'dryRun', 'scale', 'host', 'wipe', 'status'), queryValue), { maxLength: 3 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

const anyJson = fc.jsonValue({ maxDepth: 4 });
/** A fixture with one (possibly nested) field replaced by arbitrary JSON, or dropped. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<Json> {
  const keys = Object.keys(base);
  return fc.tuple(fc.constantFrom(...keys, 'unknownField'), fc.option(anyJson, { nil: undefined }), fc.option(fc.constantFrom(...keys), { nil: undefined })).map(([key, value, inner]) => {
    const out: Record<string, unknown> = structuredClone(base);
    const target = out[key];
    if (inner !== undefined && typeof target === 'object' && target !== null && !Array.isArray(target)) (target as Record<string, unknown>)[inner] = value;
    else if (value === undefined) delete out[key];
    else out[key] = value;
    return out;
  });
}
const appBody = fc.oneof(anyJson, mutated(APP), mutated(APP), mutated(APP));
const jobBody = fc.oneof(
  anyJson,
  mutated(JOB),
  mutated(JOB),
  mutated(JOB.run as Record<string, unknown>).map((run) => ({ ...JOB, run })),
);
const groupBody: fc.Arbitrary<Json> = fc.letrec((tie) => ({
  group: fc.oneof(
    { depthSize: 'small' },
    anyJson,
    fc.record({ id: fc.oneof(path, anyJson), apps: fc.oneof(fc.array(appBody, { maxLength: 2 }), anyJson), groups: fc.oneof(fc.array(tie('group'), { maxLength: 2 }), anyJson) }, { requiredKeys: [] }),
  ),
})).group;

/** The routes and how to make a request for each. */
export const ROUTES: Record<string, fc.Arbitrary<Request>> = {
  'POST /v2/apps': fc.tuple(appBody, query).map(([body, q]) => ({ method: 'POST', url: `/v2/apps${q}`, body })),
  'PUT /v2/apps/*': fc.tuple(path, appBody, query).map(([p, body, q]) => ({ method: 'PUT', url: `/v2/apps/${p}${q}`, body })),
  'PATCH /v2/apps/*': fc.tuple(path, appBody, query).map(([p, body, q]) => ({ method: 'PATCH', url: `/v2/apps/${p}${q}`, body })),
  'PUT /v2/apps': fc.tuple(fc.oneof(anyJson, fc.array(appBody, { maxLength: 3 })), query).map(([body, q]) => ({ method: 'PUT', url: `/v2/apps${q}`, body })),
  'POST /v2/apps/*': fc.tuple(path, fc.option(anyJson, { nil: undefined }), query).map(([p, body, q]) => ({ method: 'POST', url: `/v2/apps/${p}${q}`, ...(body === undefined ? {} : { body }) })),
  'POST /v2/groups': fc.tuple(groupBody, query).map(([body, q]) => ({ method: 'POST', url: `/v2/groups${q}`, body })),
  'PUT /v2/groups/*': fc.tuple(path, groupBody, query).map(([p, body, q]) => ({ method: 'PUT', url: `/v2/groups/${p}${q}`, body })),
  'POST /v2/tasks/delete': fc.tuple(anyJson, query).map(([body, q]) => ({ method: 'POST', url: `/v2/tasks/delete${q}`, body })),
  'GET/DELETE /v2/*': fc
    .tuple(fc.constantFrom('GET', 'DELETE') as fc.Arbitrary<'GET' | 'DELETE'>, fc.constantFrom('apps', 'groups', 'queue', 'deployments', 'tasks'), path, query)
    .map(([method, root, p, q]) => ({ method, url: `/v2/${root}/${p}${q}` })),
  'POST /v1/jobs': fc.tuple(jobBody, query).map(([body, q]) => ({ method: 'POST', url: `/v1/jobs${q}`, body })),
  'PUT /v1/jobs/:id': fc.tuple(segment, jobBody).map(([id, body]) => ({ method: 'PUT', url: `/v1/jobs/${id}`, body })),
  'POST /v1/jobs/:id/schedules': fc
    .tuple(fc.constantFrom('fuzz-job', 'nope', '%25'), fc.oneof(anyJson, mutated(JOB.schedules[0]!)))
    .map(([id, body]) => ({ method: 'POST', url: `/v1/jobs/${id}/schedules`, body })),
  'PUT /v1/jobs/:id/schedules/:sid': fc
    .tuple(fc.constantFrom('fuzz-job', 'nope'), segment, fc.oneof(anyJson, mutated(JOB.schedules[0]!)))
    .map(([id, sid, body]) => ({ method: 'PUT', url: `/v1/jobs/${id}/schedules/${sid}`, body })),
  'POST /v1/jobs/:id/runs...': fc
    .tuple(fc.constantFrom('fuzz-job', 'nope', '%25'), fc.constantFrom('', '/x/actions/stop', '/x/actions/success'))
    .map(([id, rest]) => ({ method: 'POST', url: `/v1/jobs/${id}/runs${rest}` })),
  'POST /v0/scheduled-jobs': jobBody.map((body) => ({ method: 'POST', url: '/v0/scheduled-jobs', body })),
  'POST /v1/scheduler/iso8601': fc.oneof(anyJson, mutated(CHRONOS)).map((body) => ({ method: 'POST', url: '/v1/scheduler/iso8601', body })),
  'POST /v1/scheduler/dependency': fc.oneof(anyJson, mutated({ ...CHRONOS, parents: ['fuzz-chronos'] })).map((body) => ({ method: 'POST', url: '/v1/scheduler/dependency', body })),
  'PUT /v1/scheduler/job/:name': segment.map((name) => ({ method: 'PUT', url: `/v1/scheduler/job/${name}` })),
  'GET/DELETE /v1/*': fc.tuple(fc.constantFrom('GET', 'DELETE') as fc.Arbitrary<'GET' | 'DELETE'>, path, query).map(([method, p, q]) => ({ method, url: `/v1/jobs/${p}${q}` })),
};

/** Which rows of the permission table each hand-written route above covers, where names differ. */
const COVERS: Record<string, string[]> = {
  'PUT /v1/jobs/:id/schedules/:sid': ['PUT /v1/jobs/:id/schedules/:scheduleId'],
  'POST /v1/jobs/:id/runs...': ['POST /v1/jobs/:id/runs', 'POST /v1/jobs/:id/runs/:runId/actions/stop', 'POST /v1/jobs/:id/runs/:runId/actions/success'],
};

/**
 * Bodies close to valid for table rows without a hand-written route: a mutated one reaches the
 * handler's deeper checks, where arbitrary JSON stops at the first.
 */
const POD = { id: '/fuzz/pod', containers: [{ name: 'c', resources: { cpus: 0.1, mem: 32 }, exec: { command: { shell: 'sleep 100' } } }], scaling: { kind: 'fixed', instances: 1 } };
/** Operator calls (POST /api/v1) fuzzed by type; SUBSCRIBE is a stream that never ends, not a request. */
const OPERATOR_TYPES = [
  'GET_HEALTH',
  'GET_FLAGS',
  'GET_VERSION',
  'GET_METRICS',
  'GET_STATE',
  'GET_AGENTS',
  'GET_FRAMEWORKS',
  'GET_TASKS',
  'GET_ROLES',
  'GET_WEIGHTS',
  'UPDATE_WEIGHTS',
  'GET_QUOTA',
  'UPDATE_QUOTA',
  'GET_MASTER',
  'GET_MAINTENANCE_STATUS',
  'GET_MAINTENANCE_SCHEDULE',
  'UPDATE_MAINTENANCE_SCHEDULE',
  'START_MAINTENANCE',
  'STOP_MAINTENANCE',
  'DRAIN_AGENT',
  'DEACTIVATE_AGENT',
  'REACTIVATE_AGENT',
  'MARK_AGENT_GONE',
  'RESERVE_RESOURCES',
  'UNRESERVE_RESOURCES',
  'CREATE_VOLUMES',
  'DESTROY_VOLUMES',
  'TEARDOWN',
  'NOPE',
];
const EXAMPLES: Record<string, fc.Arbitrary<Json>> = {
  'POST /v2/pods': mutated(POD),
  'PUT /v2/pods/*': mutated(POD),
  'PUT /v2/groups': groupBody,
  'PATCH /v2/apps': fc.array(appBody, { maxLength: 3 }),
  'POST /api/v1': fc.tuple(fc.constantFrom(...OPERATOR_TYPES), anyJson).map(([type, value]) => ({ type, [type.toLowerCase()]: value })),
  'POST /api/v1/scheduler': fc
    .tuple(fc.constantFrom('ACCEPT', 'DECLINE', 'REVIVE', 'SUPPRESS', 'KILL', 'RECONCILE', 'ACKNOWLEDGE', 'TEARDOWN', 'MESSAGE', 'REQUEST', 'UPDATE_FRAMEWORK', 'NOPE'), anyJson)
    .map(([type, value]) => ({ type, framework_id: { value: 'fuzz' }, [type.toLowerCase()]: value })),
  'PUT /master/weights': fc.oneof(anyJson, fc.array(fc.record({ role: fc.oneof(segment, anyJson), weight: fc.oneof(fc.double(), anyJson) }), { maxLength: 3 })),
  'PUT /secrets/v1/secret/default/*': fc.oneof(anyJson, fc.record({ value: fc.oneof(fc.string(), anyJson) }, { requiredKeys: [] })),
  'PATCH /secrets/v1/secret/default/*': fc.oneof(anyJson, fc.record({ value: fc.oneof(fc.string(), anyJson) }, { requiredKeys: [] })),
  'PUT /acs/api/v1/users/:uid': fc.oneof(anyJson, mutated({ description: 'fuzz', password: 'fuzz-password-1' })),
  'POST /acs/api/v1/auth/login': fc.oneof(anyJson, mutated({ uid: 'fuzz', password: 'nope' }), mutated({ uid: 'fuzz', token: 'a.b.c' })),
  // The built-in repository's packages (catalog/universe).
  'POST /package/install': fc.oneof(anyJson, mutated({ packageName: 'nginx', options: { service: { name: 'fuzz-nginx' } } }), mutated({ packageName: 'redis', appId: '/fuzz/redis' })),
  'POST /package/render': fc.oneof(anyJson, mutated({ packageName: 'marathon-lb', options: { marathonlb: { name: 'x' } } }), mutated({ packageName: 'nginx', packageVersion: 'nope' })),
  'POST /package/describe': fc.oneof(anyJson, mutated({ packageName: 'redis', packageVersion: '5.0.1' })),
  'POST /package/uninstall': fc.oneof(anyJson, mutated({ packageName: 'nginx', appId: '/fuzz-nginx', all: false })),
  'POST /service/update': fc.oneof(anyJson, mutated({ appId: '/fuzz-nginx', options: {}, replace: false })),
  'POST /package/repository/add': fc.oneof(anyJson, mutated({ name: 'fuzz', uri: 'http://127.0.0.1:9/repo.json', index: 0 })),
};

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Rows not fuzzed, and why. */
const NOT_FUZZED: Record<string, string> = {
  'DELETE /v2/leader': 'the master abdicates: a command without input, and the rest of the run would have no leader',
};
/** The URL of a table row, with fuzzed parameters (`:x` one segment, `*` a path) and a query. */
function rowUrl(pattern: string): fc.Arbitrary<string> {
  const parts = pattern.split('/').map((part) => (part === '*' ? path : part.startsWith(':') ? segment : fc.constant(part)));
  return fc.tuple(fc.tuple(...parts), query).map(([pieces, q]) => `${pieces.join('/')}${q}`);
}

/**
 * Every mutating row of the permission table (src/iam/route-permissions.ts, the one list of
 * routes) that no hand-written route above covers, fuzzed from its pattern: a route added later
 * is fuzzed from the day it is added.
 */
function tableRoutes(): Record<string, fc.Arbitrary<Request>> {
  const covered = new Set([...Object.keys(ROUTES), ...Object.values(COVERS).flat()]);
  const out: Record<string, fc.Arbitrary<Request>> = {};
  for (const row of Object.keys(ROUTE_PERMISSIONS)) {
    const [method, pattern] = row.split(' ') as [Request['method'], string];
    if (!MUTATING.has(method) || covered.has(row) || row in NOT_FUZZED) continue;
    const body = method === 'DELETE' ? fc.constant(undefined) : fc.oneof(anyJson, EXAMPLES[row] ?? anyJson);
    out[row] = fc.tuple(rowUrl(pattern), body).map(([url, b]) => ({ method, url, ...(b === undefined ? {} : { body: b }) }));
  }
  return out;
}
const TABLE_ROUTES = tableRoutes();
Object.assign(ROUTES, TABLE_ROUTES);

export interface FuzzServer {
  server: MasterServer;
  app: FastifyInstance;
  /** app.inject as the admin (auth is on; the fuzz is about inputs). */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** A master with both frameworks on a memory store, no agents: the APIs are what is fuzzed. */
export async function startFuzzServer(): Promise<FuzzServer> {
  // With a secrets key, so secret writes reach their validation (without one they answer 503 by design).
  const server = await startMasterServer({ store: createMemoryStore(), logger: silentLogger(), port: 0, host: '127.0.0.1', ui: false, auth: testAuth(), secretsKey: randomBytes(32) });
  const app = server.app;
  // Seed one app and one job, so the fuzz also hits updates of things that exist.
  await app.inject({ method: 'POST', url: '/v2/apps', payload: APP, headers: ADMIN });
  await app.inject({ method: 'POST', url: '/v1/jobs', payload: JOB, headers: ADMIN });
  return {
    server,
    app,
    inject: (options) => app.inject({ ...options, headers: { ...ADMIN, ...options.headers } }),
    close: () => server.close(),
  };
}

/**
 * The stored definitions as the APIs show them: a refused request must leave them as they were.
 * Counts and deployments are left out: they move on their own (a deployment of an earlier,
 * accepted request completes between two reads), as are groups (derived from the apps, with a
 * `version` that is the time of the read).
 */
const MOVING = new Set(['deployments', 'tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'tasks', 'lastTaskFailure', 'taskStats', 'readinessCheckResults', 'nextRunAt']);
/** What a refused request must leave as it was: every kind of stored definition, read back. */
const STATE_READS: Array<{ method: 'GET' | 'POST'; url: string }> = [
  { method: 'GET', url: '/v2/apps' },
  { method: 'GET', url: '/v1/jobs' },
  { method: 'GET', url: '/v2/pods' },
  { method: 'GET', url: '/secrets/v1/secret/default/?list=true' },
  { method: 'GET', url: '/acs/api/v1/users' },
  { method: 'GET', url: '/acs/api/v1/groups' },
  { method: 'GET', url: '/acs/api/v1/acls' },
  { method: 'GET', url: '/master/weights' },
  { method: 'GET', url: '/master/quota' },
  { method: 'POST', url: '/package/repository/list' },
];
async function snapshot(app: FastifyInstance): Promise<string> {
  const reads = await Promise.all(
    STATE_READS.map(async ({ method, url }) => {
      const res = await app.inject({ method, url, headers: { ...ADMIN, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { payload: '{}' } : {}) });
      return [res.statusCode, res.statusCode < 300 ? (JSON.parse(res.body) as unknown) : null];
    }),
  );
  return JSON.stringify(reads, (key, value: unknown) => (MOVING.has(key) ? undefined : value));
}

export interface Violation {
  route: string;
  request: Request;
  status: number;
  body: string;
  why: string;
}

/** Sends one request; a problem with the answer, in words, or undefined. */
async function check(app: FastifyInstance, request: Request): Promise<{ status: number; body: string; why?: string }> {
  const before = await snapshot(app);
  const res = await app.inject({
    method: request.method,
    url: request.url,
    ...(request.body === undefined ? { headers: ADMIN } : { payload: JSON.stringify(request.body), headers: { ...ADMIN, 'content-type': 'application/json' } }),
  });
  if (res.statusCode >= 500) return { status: res.statusCode, body: res.body, why: 'a 5xx' };
  if (res.statusCode >= 400) {
    let parsed: { message?: unknown; details?: Array<{ path?: unknown; errors?: unknown }> };
    try {
      parsed = JSON.parse(res.body) as typeof parsed;
    } catch {
      return { status: res.statusCode, body: res.body, why: 'a refusal whose body is not JSON' };
    }
    if (typeof parsed.message !== 'string' || parsed.message === '') return { status: res.statusCode, body: res.body, why: 'a refusal without a message' };
    if (res.statusCode === 422 && !(Array.isArray(parsed.details) && parsed.details.length > 0 && parsed.details.every((d) => typeof d.path === 'string' && Array.isArray(d.errors)))) {
      return { status: res.statusCode, body: res.body, why: 'a 422 without details (path and errors)' };
    }
    if ((await snapshot(app)) !== before) return { status: res.statusCode, body: res.body, why: 'a refused request changed the state' };
  }
  return { status: res.statusCode, body: res.body };
}

/** Runs `cases` requests per route (`tableCases` for the rows fuzzed from their pattern); returns what broke the property (empty when none). */
export async function runApiFuzz(
  app: FastifyInstance,
  options: { cases: number; seed?: number; routes?: string[]; tableCases?: number },
): Promise<{ violations: Violation[]; statuses: Record<string, Record<number, number>> }> {
  const violations: Violation[] = [];
  const statuses: Record<string, Record<number, number>> = {};
  for (const [route, arbitrary] of Object.entries(ROUTES)) {
    if (options.routes !== undefined && !options.routes.includes(route)) continue;
    const counts: Record<number, number> = (statuses[route] = {});
    const result = await fc.check(
      fc.asyncProperty(arbitrary, async (request) => {
        const answer = await check(app, request);
        counts[answer.status] = (counts[answer.status] ?? 0) + 1;
        if (answer.why !== undefined) {
          violations.push({ route, request, status: answer.status, body: answer.body.slice(0, 500), why: answer.why });
          return false;
        }
        return true;
      }),
      { numRuns: route in TABLE_ROUTES ? (options.tableCases ?? options.cases) : options.cases, ...(options.seed === undefined ? {} : { seed: options.seed }), endOnFailure: true },
    );
    if (result.failed && result.counterexample) {
      const request = result.counterexample[0];
      const last = violations.at(-1);
      if (last) violations[violations.length - 1] = { ...last, request };
    }
  }
  return { violations, statuses };
}
