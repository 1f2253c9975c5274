/**
 * THE permission table: every HTTP route a Drover master serves, and every Mesos v1 operator and
 * scheduler call type, mapped to the permissions it needs — or explicitly public. One table, so a
 * reviewer reads every decision in one place, and a route without an entry is refused (deny by
 * default) and fails test/iam-routes.test.ts.
 *
 * Resource names are DC/OS's where DC/OS has one (perms-reference), Drover's own (`drover:…`)
 * for the rest. Paths in rids are checked by permissions.ts (prefix by whole segments, `..`
 * refused). Adding a route: add its `METHOD /url` (fastify's pattern) here.
 */
import { DroverError } from '../errors/errors.ts';
import { type Action, normalizePath, type Permission, SUPERUSER } from './permissions.ts';
import type { SchedulerCallType } from '../protocol/mesos/enums.ts';
import { appPathOfTask } from './task-paths.ts';

export const MARATHON_SERVICES = 'dcos:service:marathon:marathon:services';
export const METRONOME_JOBS = 'dcos:service:metronome:metronome:jobs';
export const MESOS_OPS = 'dcos:adminrouter:ops:mesos';
export const AGENT_OPS = 'dcos:adminrouter:ops:slave';
export const FRAMEWORK_ROLE = 'dcos:mesos:master:framework:role';
export const AGENT_SANDBOX = 'dcos:mesos:agent:sandbox:app_id';
export const AGENT_EXEC = 'dcos:mesos:agent:nested_container_session:app_id';
export const MAINTENANCE = 'drover:agents:maintenance';
/** Tearing down any framework as an operator (TEARDOWN, `/master/teardown`: Mesos' teardown_frameworks ACL). */
export const FRAMEWORK_TEARDOWN = 'dcos:mesos:master:framework:teardown';
/** DC/OS' rids for dynamic reservations and persistent volumes (operator calls). */
export const MESOS_RESERVATION = 'dcos:mesos:master:reservation';
export const MESOS_VOLUME = 'dcos:mesos:master:volume';
export const MESOS_DNS_OPS = 'dcos:adminrouter:ops:mesos-dns';
/** DC/OS' quota and weight permissions (R to read, U to change). */
export const QUOTA_ROLE = 'dcos:mesos:master:quota:role';
export const WEIGHT_ROLE = 'dcos:mesos:master:weight:role';
/** Cosmos' package API (DC/OS' Admin Router permission for /package and /service). */
export const PACKAGE_API = 'dcos:adminrouter:package';

/** What the table needs to know about the cluster to name a request's resources. */
export interface ClusterLookups {
  /** The app (services) a task id belongs to, if known. */
  appOfTask(taskId: string): string | undefined;
  appExists(appId: string): boolean;
  /** Roles of a framework, if known. */
  frameworkRoles(frameworkId: string): readonly string[] | undefined;
}

export interface RouteRequest {
  params: Record<string, string | undefined>;
  query: Record<string, unknown>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** Which list a read route's answer is filtered to (the caller sees only what it may read). */
export type ReadFilter = 'apps' | 'pods' | 'tasks' | 'queue' | 'groups' | 'deployments' | 'jobs' | 'jobs-queue';

export type RouteRule =
  | { kind: 'public' }
  /** Any authenticated principal; the handler answers only about the caller itself. */
  | { kind: 'authenticated' }
  /** The agent link: only agent credentials, bound to the agent id they name (see guard.ts). */
  | { kind: 'agent' }
  | { kind: 'permissions'; need: (request: RouteRequest, lookups: ClusterLookups) => Permission[]; filter?: ReadFilter };

const fixed = (rid: string, action: Action): RouteRule => ({ kind: 'permissions', need: () => [{ rid, action }] });
const filtered = (filter: ReadFilter): RouteRule => ({ kind: 'permissions', need: () => [], filter });

/** A path for a rid, or a 400 naming `where` (an id that is not a path, or one with `..`). */
export function ridPath(raw: unknown, where: string): string {
  if (typeof raw !== 'string') return '/';
  const path = normalizePath(raw);
  if (typeof path !== 'string') throw new DroverError('MALFORMED', `Invalid id: ${path.error}`, { details: [{ path: where, errors: [path.error] }] });
  return path;
}

const app = (path: string, action: Action): Permission => ({ rid: `${MARATHON_SERVICES}:${path}`, action });
/** Metronome job ids are dotted (`prod.backup`): as a path, `/prod/backup`, so a grant on `/prod` covers it. */
export const jobPath = (id: unknown, where = '/id'): string => (typeof id === 'string' ? ridPath(`/${id.split('.').join('/')}`, where) : '/');
const job = (id: unknown, action: Action): Permission => ({ rid: `${METRONOME_JOBS}:${jobPath(id)}`, action });

/** `/v2/apps/<id>[/tasks|/versions|/restart…]`: the app id part (as services/api.ts splits it). */
function appOfPath(request: RouteRequest): string {
  const raw = (request.params['*'] ?? '').replace(/\/$/, '');
  const match = /^(.*?)\/(tasks|versions|restart)(?:\/.+)?$/.exec(raw);
  return ridPath(match?.[1] ?? raw, '/id');
}

/** `/v2/pods/<id>[::status|::versions…|::instances…]`: the pod id part (as services/pods-api.ts splits it). */
function podOfPath(request: RouteRequest): string {
  const raw = request.params['*'] ?? '';
  const at = raw.indexOf('::');
  return ridPath((at < 0 ? raw : raw.slice(0, at)).replace(/\/$/, '') || '/', '/id');
}

const existsOrCreate = (lookups: ClusterLookups, path: string): Action => (lookups.appExists(path) ? 'update' : 'create');

/** Every app id a group body names (absolute, or relative to its enclosing group). */
function groupBodyApps(body: unknown, base: string, out: string[], depth = 0): void {
  if (depth > 16 || typeof body !== 'object' || body === null) return;
  const b = body as { id?: unknown; apps?: unknown; groups?: unknown };
  const id = typeof b.id === 'string' ? (b.id.startsWith('/') ? b.id : `${base}/${b.id}`) : base;
  const here = ridPath(id, '/id');
  for (const a of Array.isArray(b.apps) ? b.apps.slice(0, 1000) : []) {
    const aid = (a as { id?: unknown } | null)?.id;
    if (typeof aid === 'string') out.push(ridPath(aid.startsWith('/') ? aid : `${here === '/' ? '' : here}/${aid}`, '/apps/id'));
  }
  for (const g of Array.isArray(b.groups) ? b.groups.slice(0, 1000) : []) groupBodyApps(g, here === '/' ? '' : here, out, depth + 1);
}

const groupChange = (create: boolean): RouteRule => ({
  kind: 'permissions',
  need: (request, lookups) => {
    const body = request.body as { id?: unknown } | null;
    const group = ridPath(request.params['*'] ?? (typeof body?.id === 'string' ? body.id : '/'), '/id');
    const apps: string[] = [];
    groupBodyApps({ ...(typeof body === 'object' && body !== null ? body : {}), id: group }, '', apps);
    return [app(group, create ? 'create' : 'update'), ...apps.map((a) => app(a, existsOrCreate(lookups, a)))];
  },
});

/**
 * Mesos v1 operator calls (`POST /api/v1`), by type. Reads are Admin Router's `ops:mesos`;
 * maintenance is Drover's own.
 */
export const OPERATOR_CALL_PERMISSIONS: Readonly<Record<string, Permission>> = {
  GET_HEALTH: { rid: MESOS_OPS, action: 'read' },
  GET_STATE: { rid: MESOS_OPS, action: 'read' },
  GET_AGENTS: { rid: MESOS_OPS, action: 'read' },
  GET_TASKS: { rid: MESOS_OPS, action: 'read' },
  GET_FRAMEWORKS: { rid: MESOS_OPS, action: 'read' },
  GET_VERSION: { rid: MESOS_OPS, action: 'read' },
  GET_MASTER: { rid: MESOS_OPS, action: 'read' },
  SUBSCRIBE: { rid: MESOS_OPS, action: 'read' },
  DRAIN_AGENT: { rid: MAINTENANCE, action: 'update' },
  DEACTIVATE_AGENT: { rid: MAINTENANCE, action: 'update' },
  REACTIVATE_AGENT: { rid: MAINTENANCE, action: 'update' },
  // Removes the agent for good and revokes its certificate and token (Mesos' mark_agents_gone ACL).
  MARK_AGENT_GONE: { rid: MAINTENANCE, action: 'delete' },
  // Mesos' reserve_resources / unreserve_resources / create_volumes / destroy_volumes ACLs, one rid
  // for every role (DC/OS scopes them per role, which would read the roles from the body).
  RESERVE_RESOURCES: { rid: MESOS_RESERVATION, action: 'create' },
  UNRESERVE_RESOURCES: { rid: MESOS_RESERVATION, action: 'delete' },
  CREATE_VOLUMES: { rid: MESOS_VOLUME, action: 'create' },
  DESTROY_VOLUMES: { rid: MESOS_VOLUME, action: 'delete' },
  GET_ROLES: { rid: MESOS_OPS, action: 'read' },
  GET_WEIGHTS: { rid: WEIGHT_ROLE, action: 'read' },
  UPDATE_WEIGHTS: { rid: WEIGHT_ROLE, action: 'update' },
  GET_QUOTA: { rid: QUOTA_ROLE, action: 'read' },
  UPDATE_QUOTA: { rid: QUOTA_ROLE, action: 'update' },
  SET_QUOTA: { rid: QUOTA_ROLE, action: 'update' },
  REMOVE_QUOTA: { rid: QUOTA_ROLE, action: 'update' },
  // src/master/api/operator-cluster.ts
  GET_FLAGS: { rid: MESOS_OPS, action: 'read' },
  GET_METRICS: { rid: MESOS_OPS, action: 'read' },
  GET_LOGGING_LEVEL: { rid: MESOS_OPS, action: 'read' },
  SET_LOGGING_LEVEL: { rid: MESOS_OPS, action: 'update' },
  LIST_FILES: { rid: MESOS_OPS, action: 'read' },
  READ_FILE: { rid: MESOS_OPS, action: 'read' },
  GET_EXECUTORS: { rid: MESOS_OPS, action: 'read' },
  GET_OPERATIONS: { rid: MESOS_OPS, action: 'read' },
  GET_MAINTENANCE_SCHEDULE: { rid: MAINTENANCE, action: 'read' },
  GET_MAINTENANCE_STATUS: { rid: MAINTENANCE, action: 'read' },
  UPDATE_MAINTENANCE_SCHEDULE: { rid: MAINTENANCE, action: 'update' },
  START_MAINTENANCE: { rid: MAINTENANCE, action: 'update' },
  STOP_MAINTENANCE: { rid: MAINTENANCE, action: 'update' },
  // Mesos' teardown_frameworks ACL.
  TEARDOWN: { rid: FRAMEWORK_TEARDOWN, action: 'delete' },
};

/**
 * Mesos v1 scheduler calls (`POST /api/v1/scheduler`), by type: SUBSCRIBE needs `create` on
 * `dcos:mesos:master:framework:role:<role>` for each of its roles (Mesos' register_frameworks);
 * every later call acts as that framework, so it needs the same on one of the framework's roles.
 */
export const SCHEDULER_CALL_PERMISSIONS: Readonly<Record<SchedulerCallType, 'subscribing roles' | 'framework role'>> = {
  SUBSCRIBE: 'subscribing roles',
  UPDATE_FRAMEWORK: 'subscribing roles',
  TEARDOWN: 'framework role',
  ACCEPT: 'framework role',
  DECLINE: 'framework role',
  ACCEPT_INVERSE_OFFERS: 'framework role',
  DECLINE_INVERSE_OFFERS: 'framework role',
  REVIVE: 'framework role',
  SUPPRESS: 'framework role',
  KILL: 'framework role',
  SHUTDOWN: 'framework role',
  ACKNOWLEDGE: 'framework role',
  ACKNOWLEDGE_OPERATION_STATUS: 'framework role',
  RECONCILE: 'framework role',
  RECONCILE_OPERATIONS: 'framework role',
  MESSAGE: 'framework role',
  REQUEST: 'framework role',
};

function schedulerCall(request: RouteRequest, lookups: ClusterLookups): Permission[] {
  const call = (request.body ?? {}) as { type?: unknown; subscribe?: { framework_info?: { role?: unknown; roles?: unknown } }; framework_id?: { value?: unknown } };
  const role = (r: string): Permission => ({ rid: `${FRAMEWORK_ROLE}:${r === '*' ? '/' : ridPath(`/${r}`, '/roles')}`, action: 'create' });
  if (SCHEDULER_CALL_PERMISSIONS[call.type as SchedulerCallType] === 'subscribing roles') {
    const info = call.subscribe?.framework_info ?? (call as { update_framework?: { framework_info?: { role?: unknown; roles?: unknown } } }).update_framework?.framework_info ?? {};
    const roles = Array.isArray(info.roles) ? info.roles.filter((r): r is string => typeof r === 'string').slice(0, 64) : [];
    if (typeof info.role === 'string') roles.push(info.role);
    return (roles.length > 0 ? roles : ['*']).map(role);
  }
  const id = call.framework_id?.value;
  const roles = typeof id === 'string' ? lookups.frameworkRoles(id) : undefined;
  // An unknown framework: the call is refused by the master anyway (404/403); ask for the default role.
  return [role(roles?.[0] ?? '*')];
}

function operatorCall(request: RouteRequest): Permission[] {
  const type = (request.body as { type?: unknown } | null)?.type;
  const p = typeof type === 'string' ? OPERATOR_CALL_PERMISSIONS[type] : undefined;
  // An unknown type fails validation in the handler; only a superuser gets that far.
  return [p ?? { rid: SUPERUSER, action: 'full' }];
}

const IAM_ADMIN = fixed(SUPERUSER, 'full');

export const ROUTE_PERMISSIONS: Readonly<Record<string, RouteRule>> = {
  // ---- public --------------------------------------------------------------------------------
  'GET /ping': { kind: 'public' },
  'POST /acs/api/v1/auth/login': { kind: 'public' },
  // The UI's static files (its data comes from the APIs below, with the caller's token).
  'GET /': { kind: 'public' },
  'GET /*': { kind: 'public' },

  // ---- identity (DC/OS IAM: everything but /auth needs the superuser) ---------------------------
  'POST /acs/api/v1/authorize': { kind: 'authenticated' },
  'GET /acs/api/v1/users': IAM_ADMIN,
  'GET /acs/api/v1/users/:uid': IAM_ADMIN,
  'PUT /acs/api/v1/users/:uid': IAM_ADMIN,
  'PATCH /acs/api/v1/users/:uid': IAM_ADMIN,
  'DELETE /acs/api/v1/users/:uid': IAM_ADMIN,
  'GET /acs/api/v1/groups': IAM_ADMIN,
  'PUT /acs/api/v1/groups/:gid': IAM_ADMIN,
  'DELETE /acs/api/v1/groups/:gid': IAM_ADMIN,
  'PUT /acs/api/v1/groups/:gid/users/:uid': IAM_ADMIN,
  'DELETE /acs/api/v1/groups/:gid/users/:uid': IAM_ADMIN,
  'GET /acs/api/v1/acls': IAM_ADMIN,
  'PUT /acs/api/v1/acls/:rid/users/:uid/:action': IAM_ADMIN,
  'DELETE /acs/api/v1/acls/:rid/users/:uid/:action': IAM_ADMIN,
  'PUT /acs/api/v1/acls/:rid/groups/:gid/:action': IAM_ADMIN,
  'DELETE /acs/api/v1/acls/:rid/groups/:gid/:action': IAM_ADMIN,

  // ---- Mesos: master ---------------------------------------------------------------------------
  'GET /metrics': fixed('dcos:adminrouter:ops:system-metrics', 'read'),
  'GET /metrics/prometheus': fixed('dcos:adminrouter:ops:system-metrics', 'read'),
  'POST /api/v1/scheduler': { kind: 'permissions', need: schedulerCall },
  'POST /api/v1/agent': { kind: 'agent' },
  // Values of a launching task's secrets: the agent's own token only (guard.ts agentSecretsRefusal).
  'POST /api/v1/agent/secrets': { kind: 'agent' },
  // An agent's usage report (master/api/usage-routes.ts): the agent's own credential only (guard.ts).
  'POST /api/v1/agent/usage': { kind: 'agent' },
  'POST /api/v1': { kind: 'permissions', need: operatorCall },
  // ---- Mesos-DNS' HTTP interface (src/discovery; DC/OS guarded it as ops:mesos-dns) -------------
  'GET /v1/version': fixed(MESOS_DNS_OPS, 'read'),
  'GET /v1/config': fixed(MESOS_DNS_OPS, 'read'),
  'GET /v1/hosts/*': fixed(MESOS_DNS_OPS, 'read'),
  'GET /v1/services/*': fixed(MESOS_DNS_OPS, 'read'),

  'GET /master/state': fixed(MESOS_OPS, 'read'),
  'GET /master/state.json': fixed(MESOS_OPS, 'read'),
  'GET /state.json': fixed(MESOS_OPS, 'read'),
  'GET /master/frameworks.json': fixed(MESOS_OPS, 'read'),
  'GET /master/state-summary.json': fixed(MESOS_OPS, 'read'),
  'GET /master/tasks.json': fixed(MESOS_OPS, 'read'),
  'GET /master/roles.json': fixed(MESOS_OPS, 'read'),
  // src/master/api/mesos-endpoints.ts. Health and version say nothing about the cluster: public, as on Mesos.
  'GET /master/slaves': fixed(MESOS_OPS, 'read'),
  'GET /master/slaves.json': fixed(MESOS_OPS, 'read'),
  'GET /master/flags': fixed(MESOS_OPS, 'read'),
  'GET /master/flags.json': fixed(MESOS_OPS, 'read'),
  'GET /master/health': { kind: 'public' },
  'GET /version': { kind: 'public' },
  'GET /metrics/snapshot': fixed(MESOS_OPS, 'read'),
  'POST /master/teardown': fixed(FRAMEWORK_TEARDOWN, 'delete'),
  'GET /master/maintenance/schedule': fixed(MAINTENANCE, 'read'),
  'POST /master/maintenance/schedule': fixed(MAINTENANCE, 'update'),
  'GET /master/maintenance/status': fixed(MAINTENANCE, 'read'),
  'POST /master/machine/down': fixed(MAINTENANCE, 'update'),
  'POST /master/machine/up': fixed(MAINTENANCE, 'update'),
  'GET /state': fixed(MESOS_OPS, 'read'),
  'GET /master/frameworks': fixed(MESOS_OPS, 'read'),
  'GET /master/state-summary': fixed(MESOS_OPS, 'read'),
  'GET /master/tasks': fixed(MESOS_OPS, 'read'),
  'GET /master/redirect': fixed(MESOS_OPS, 'read'),
  'GET /master/agent-removal': fixed(MESOS_OPS, 'read'),
  // Usage series for the UI's graphs (master/usage-history.ts): per task, app, agent and cluster.
  'GET /master/usage': fixed(MESOS_OPS, 'read'),
  'GET /master/roles': fixed(MESOS_OPS, 'read'),
  'GET /master/quota': fixed(QUOTA_ROLE, 'read'),
  'GET /master/weights': fixed(WEIGHT_ROLE, 'read'),
  'PUT /master/weights': fixed(WEIGHT_ROLE, 'update'),
  // The relay to an agent's sandbox files; the agent checks the caller's permission on the task too.
  'GET /agent/:agentId/files/:operation': fixed(AGENT_OPS, 'read'),
  // The relay of an exec session: create on the task's app, as the agent checks again.
  'POST /agent/:agentId/tasks/exec': {
    kind: 'permissions',
    need: (r) => {
      const taskId = r.query['task_id'];
      return [{ rid: `${AGENT_EXEC}:${typeof taskId === 'string' && taskId.length <= 1024 ? appPathOfTask(taskId) : '/'}`, action: 'create' }];
    },
  },

  // ---- Marathon (/v2) ---------------------------------------------------------------------------
  'GET /v2/apps': filtered('apps'),
  'POST /v2/apps': { kind: 'permissions', need: (r) => [app(ridPath((r.body as { id?: unknown } | null)?.id, '/id'), 'create')] },
  'PUT /v2/apps': { kind: 'permissions', need: bulkApps },
  'PATCH /v2/apps': { kind: 'permissions', need: bulkApps },
  'GET /v2/apps/*': { kind: 'permissions', need: (r) => [app(appOfPath(r), 'read')] },
  'PUT /v2/apps/*': { kind: 'permissions', need: (r, l) => [app(appOfPath(r), existsOrCreate(l, appOfPath(r)))] },
  'PATCH /v2/apps/*': { kind: 'permissions', need: (r, l) => [app(appOfPath(r), existsOrCreate(l, appOfPath(r)))] },
  'POST /v2/apps/*': { kind: 'permissions', need: (r) => [app(appOfPath(r), 'update')] },
  // Deleting the app needs delete; killing its tasks (`…/tasks[/id]`) is an update (Marathon's UpdateRunSpec).
  'DELETE /v2/apps/*': { kind: 'permissions', need: (r) => [app(appOfPath(r), /\/tasks(\/|$)/.test(r.params['*'] ?? '') ? 'update' : 'delete')] },
  'GET /v2/tasks': filtered('tasks'),
  'POST /v2/tasks/delete': { kind: 'permissions', need: killTasks },
  // Pods: the same permission as apps (Marathon's run specs), by pod id.
  'GET /v2/pods': filtered('pods'),
  'POST /v2/pods': { kind: 'permissions', need: (r) => [app(ridPath((r.body as { id?: unknown } | null)?.id, '/id'), 'create')] },
  'GET /v2/pods/*': { kind: 'permissions', need: (r) => (podOfPath(r) === '/' ? [] : [app(podOfPath(r), 'read')]), filter: 'pods' },
  'PUT /v2/pods/*': { kind: 'permissions', need: (r, l) => [app(podOfPath(r), existsOrCreate(l, podOfPath(r)))] },
  'DELETE /v2/pods/*': { kind: 'permissions', need: (r) => [app(podOfPath(r), /::instances/.test(r.params['*'] ?? '') ? 'update' : 'delete')] },
  'GET /v2/groups': filtered('groups'),
  'GET /v2/groups/*': { kind: 'permissions', need: (r) => [app(ridPath(r.params['*'], '/id'), 'read')] },
  'POST /v2/groups': groupChange(true),
  'PUT /v2/groups': groupChange(false),
  'PUT /v2/groups/*': groupChange(false),
  'POST /v2/groups/*': groupChange(true),
  'DELETE /v2/groups/*': { kind: 'permissions', need: (r) => [app(ridPath(r.params['*'], '/id'), 'delete')] },
  'GET /v2/deployments': filtered('deployments'),
  'DELETE /v2/deployments/:id': fixed(`${MARATHON_SERVICES}:/`, 'update'),
  'GET /v2/queue': filtered('queue'),
  'DELETE /v2/queue/*': { kind: 'permissions', need: (r) => [app(ridPath((r.params['*'] ?? '').replace(/\/delay$/, ''), '/id'), 'update')] },
  'GET /v2/events': fixed('dcos:service:marathon:marathon:admin:events', 'read'),
  'GET /v2/info': fixed('dcos:service:marathon:marathon:admin:config', 'read'),
  'GET /v2/leader': fixed('dcos:service:marathon:marathon:admin:leader', 'read'),
  'DELETE /v2/leader': fixed('dcos:service:marathon:marathon:admin:leader', 'update'),
  'GET /v2/eventSubscriptions': fixed('dcos:service:marathon:marathon:admin:events', 'read'),
  'GET /v2/plugins': fixed('dcos:service:marathon:marathon:admin:config', 'read'),
  // The app schema is public knowledge (Marathon serves it to anyone allowed to talk to it).
  'GET /v2/schemas/app': { kind: 'authenticated' },

  // ---- package catalog (Cosmos' RPC; src/catalog/cosmos-api.ts COSMOS_RPCS). An install or an
  // update also needs the caller's permission on the app: it goes through POST/PUT /v2/apps.
  'GET /capabilities': { kind: 'authenticated' },
  'POST /package/search': fixed(PACKAGE_API, 'full'),
  'POST /package/describe': fixed(PACKAGE_API, 'full'),
  'POST /package/list-versions': fixed(PACKAGE_API, 'full'),
  'POST /package/render': fixed(PACKAGE_API, 'full'),
  'POST /package/install': fixed(PACKAGE_API, 'full'),
  'POST /package/uninstall': fixed(PACKAGE_API, 'full'),
  'POST /package/list': fixed(PACKAGE_API, 'full'),
  'POST /package/repository/list': fixed(PACKAGE_API, 'full'),
  'POST /package/repository/add': fixed(PACKAGE_API, 'full'),
  'POST /package/repository/delete': fixed(PACKAGE_API, 'full'),
  'POST /service/describe': fixed(PACKAGE_API, 'full'),
  'POST /service/update': fixed(PACKAGE_API, 'full'),

  // ---- the cluster CA's rotation (src/iam/ca-api.ts; 018-ca-rotation.md) -------------------------
  'GET /tls/v1/ca': IAM_ADMIN,
  'POST /tls/v1/ca/rotate': IAM_ADMIN,
  'POST /tls/v1/ca/finish': IAM_ADMIN,

  // ---- secrets (DC/OS' /secrets/v1; src/secrets/api.ts SECRET_ROUTES) ------------------------------
  'PUT /secrets/v1/secret/default/*': { kind: 'permissions', need: (r) => [secret(r, 'create')] },
  'PATCH /secrets/v1/secret/default/*': { kind: 'permissions', need: (r) => [secret(r, 'update')] },
  'GET /secrets/v1/secret/default/*': { kind: 'permissions', need: (r) => [secret(r, 'read')] },
  'DELETE /secrets/v1/secret/default/*': { kind: 'permissions', need: (r) => [secret(r, 'delete')] },

  // ---- Metronome (/v1) and Chronos ------------------------------------------------------------
  'GET /v1/jobs': filtered('jobs'),
  'POST /v1/jobs': { kind: 'permissions', need: (r) => [job((r.body as { id?: unknown } | null)?.id, 'create')] },
  'POST /v0/scheduled-jobs': { kind: 'permissions', need: (r) => [job((r.body as { id?: unknown } | null)?.id, 'create')] },
  'PUT /v0/scheduled-jobs/:id': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'GET /v1/jobs/:id': { kind: 'permissions', need: (r) => [job(r.params['id'], 'read')] },
  'PUT /v1/jobs/:id': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'DELETE /v1/jobs/:id': { kind: 'permissions', need: (r) => [job(r.params['id'], 'delete')] },
  'GET /v1/jobs/:id/schedules': { kind: 'permissions', need: (r) => [job(r.params['id'], 'read')] },
  'POST /v1/jobs/:id/schedules': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'GET /v1/jobs/:id/schedules/:scheduleId': { kind: 'permissions', need: (r) => [job(r.params['id'], 'read')] },
  'PUT /v1/jobs/:id/schedules/:scheduleId': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'DELETE /v1/jobs/:id/schedules/:scheduleId': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'GET /v1/jobs/:id/runs': { kind: 'permissions', need: (r) => [job(r.params['id'], 'read')] },
  'POST /v1/jobs/:id/runs': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'GET /v1/jobs/:id/runs/:runId': { kind: 'permissions', need: (r) => [job(r.params['id'], 'read')] },
  'POST /v1/jobs/:id/runs/:runId/actions/stop': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'POST /v1/jobs/:id/runs/:runId/actions/success': { kind: 'permissions', need: (r) => [job(r.params['id'], 'update')] },
  'GET /v1/queue': filtered('jobs-queue'),
  // Chronos names are not Metronome ids until parsed: these need the permission on every job.
  'POST /v1/scheduler/iso8601': fixed(`${METRONOME_JOBS}:/`, 'full'),
  'POST /v1/scheduler/dependency': fixed(`${METRONOME_JOBS}:/`, 'full'),
  'PUT /v1/scheduler/job/success/:name': fixed(`${METRONOME_JOBS}:/`, 'update'),
  'PUT /v1/scheduler/job/:name': fixed(`${METRONOME_JOBS}:/`, 'update'),
  'GET /v1/scheduler/jobs': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'GET /v1/scheduler/jobs/summary': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'GET /v1/scheduler/jobs/search': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'GET /v1/scheduler/graph/dot': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'GET /v1/scheduler/graph/csv': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'GET /v1/scheduler/job/stat/:name': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'GET /v1/scheduler/stats/:percentile': fixed(`${METRONOME_JOBS}:/`, 'read'),
  'DELETE /v1/scheduler/job/:name': fixed(`${METRONOME_JOBS}:/`, 'delete'),
  'DELETE /v1/scheduler/task/kill/:name': fixed(`${METRONOME_JOBS}:/`, 'update'),
  // Metronome's (and Chronos') operations endpoints.
  'GET /v1/metrics': fixed('dcos:service:metronome:metronome:admin:metrics', 'read'),
  'GET /info': fixed('dcos:service:metronome:metronome:admin:info', 'read'),
  'GET /leader': fixed('dcos:service:metronome:metronome:admin:leader', 'read'),
};

/** DC/OS' secret permissions: `dcos:secrets:default:/path`, and `dcos:secrets:list:default:/dir` to list. */
function secret(request: RouteRequest, action: Action): Permission {
  const path = ridPath(`/${request.params['*'] ?? ''}`.replace(/\/+$/, '') || '/', '/path');
  const list = request.query['list'] === 'true' || request.query['list'] === true;
  return list ? { rid: `dcos:secrets:list:default:${path}`, action: 'read' } : { rid: `dcos:secrets:default:${path}`, action };
}

function bulkApps(request: RouteRequest, lookups: ClusterLookups): Permission[] {
  const body = Array.isArray(request.body) ? request.body.slice(0, 10_000) : [];
  return body.map((a, i) => {
    const path = ridPath((a as { id?: unknown } | null)?.id, `/${i}/id`);
    return app(path, existsOrCreate(lookups, path));
  });
}

function killTasks(request: RouteRequest, lookups: ClusterLookups): Permission[] {
  const ids = (request.body as { ids?: unknown } | null)?.ids;
  const list = Array.isArray(ids) ? ids.slice(0, 10_000) : [];
  // A task nobody knows belongs to no app: killing it needs the permission on every app.
  return list.map((id) => app(typeof id === 'string' ? (lookups.appOfTask(id) ?? '/') : '/', 'update'));
}

/** The image store of an agent (`drover image …`): read to list, create to pull, delete to remove or prune. */
export const AGENT_IMAGES = 'drover:agent:images';
/** The agent's own state (`GET /state`): DC/OS' agent endpoint permission. */
export const AGENT_STATE = 'dcos:mesos:agent:endpoint:path:/state';

/**
 * Every route an AGENT serves (src/agent/http/agent-http.ts): public, one fixed permission, or the
 * permission on the task the request names (`task`: checked by the handler, which knows the task —
 * AGENT_SANDBOX read for files, AGENT_EXEC create for exec). A route without an entry is refused
 * and fails test/iam.test.ts.
 */
export type AgentRouteRule = { kind: 'public' } | { kind: 'task' } | { kind: 'fixed'; permission: Permission };

const agentFixed = (rid: string, action: Action): AgentRouteRule => ({ kind: 'fixed', permission: { rid, action } });

export const AGENT_ROUTE_PERMISSIONS: Readonly<Record<string, AgentRouteRule>> = {
  'GET /ping': { kind: 'public' },
  'GET /state': agentFixed(AGENT_STATE, 'read'),
  // src/agent/http/mesos-agent.ts: DC/OS' agent endpoint permissions; health and version are public, as on Mesos.
  'GET /slave(1)/state': agentFixed(AGENT_STATE, 'read'),
  'GET /flags': agentFixed('dcos:mesos:agent:endpoint:path:/flags', 'read'),
  'GET /health': { kind: 'public' },
  'GET /version': { kind: 'public' },
  'GET /metrics/snapshot': agentFixed('dcos:mesos:agent:endpoint:path:/metrics/snapshot', 'read'),
  'GET /containers': agentFixed('dcos:mesos:agent:endpoint:path:/containers', 'read'),
  // Per call, by the handler: the state calls need AGENT_STATE, LIST_FILES/READ_FILE the sandbox's permission.
  'POST /api/v1': { kind: 'task' },
  'GET /files/browse': { kind: 'task' },
  'GET /files/read': { kind: 'task' },
  'GET /files/download': { kind: 'task' },
  'GET /files/follow': { kind: 'task' },
  'POST /tasks/exec': { kind: 'task' },
  'GET /images': agentFixed(AGENT_IMAGES, 'read'),
  'POST /images/pull': agentFixed(AGENT_IMAGES, 'create'),
  'DELETE /images': agentFixed(AGENT_IMAGES, 'delete'),
  'POST /images/prune': agentFixed(AGENT_IMAGES, 'delete'),
  // Resource usage of the running containers (usage-sampler.ts): what /state shows, measured.
  'GET /monitor/statistics': agentFixed(AGENT_STATE, 'read'),
  'GET /metrics': agentFixed('dcos:adminrouter:ops:system-metrics', 'read'),
};

/** The rule for an agent route (HEAD is GET's), or undefined: no entry, so refused. */
export function agentRuleFor(method: string, url: string): AgentRouteRule | undefined {
  return AGENT_ROUTE_PERMISSIONS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

/** The rule for a route (HEAD is GET's), or undefined: no entry, so refused. */
export function ruleFor(method: string, url: string): RouteRule | undefined {
  return ROUTE_PERMISSIONS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}
