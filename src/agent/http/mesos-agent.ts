/**
 * The agent's HTTP endpoints in Mesos' shapes (docs/endpoints/slave/*.md, agent.proto):
 *   GET /state, /slave(1)/state   the agent's state as Mesos' agent writes it (frameworks →
 *                                 executors → tasks, legacy resource objects), plus Drover's own
 *                                 keys (`tasks`, `completed_tasks`, `registered`, …) beside them
 *   GET /flags, /health, /version, /metrics/snapshot (`slave/<name>`), /containers
 *   POST /api/v1                  GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_STATE,
 *                                 GET_CONTAINERS, LIST_FILES, READ_FILE
 *
 * Drover runs command tasks without a separate executor process: each task is shown as Mesos
 * shows a command task, under a command executor whose id is the task id; a task of a task group
 * under its group's executor.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { withoutNullFields } from '../../protocol/mesos/protobuf-json.ts';
import { versionJson } from '../../protocol/mesos/version.ts';
import { Resources } from '../../resources/index.ts';
import type { TaskCheckpoint } from '../checkpoint/checkpoint-store.ts';
import type { SandboxFiles } from './files.ts';
import type { ExecSpec } from '../exec/exec-session.ts';
import type { NestedSessions } from './nested-sessions.ts';

/** What the agent shows of itself (agent.ts builds it on each request). */
export interface MesosAgentView {
  id: string | undefined;
  hostname: string;
  port: number;
  masterUrl: string;
  registered: boolean;
  startedAtMs: number;
  flags: Record<string, string>;
  /** The agent's total resources (v1 JSON). */
  resources: unknown[];
  attributes: ReadonlyArray<{ name: string; text?: { value: string }; scalar?: { value: number }; ranges?: unknown; set?: unknown }>;
  tasks: TaskCheckpoint[];
  completed: readonly TaskCheckpoint[];
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_LOST']);

/** Mesos' legacy resource object: `{"cpus":1,"mem":128,"disk":0,"gpus":0,"ports":"[31000-31000]"}`. */
export function legacy(resources: Resources): Record<string, number | string> {
  const out: Record<string, number | string> = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  for (const r of resources) if (r.value.type === 'SCALAR') out[r.name] = Number(out[r.name] ?? 0) + r.value.toNumber();
  for (const name of resources.names()) {
    const type = resources.toArray().find((r) => r.name === name)?.value.type;
    if (type === 'RANGES') out[name] = resources.ranges(name).format();
    if (type === 'SET') out[name] = resources.set(name).format();
  }
  return out;
}

const resourcesOf = (json: unknown): Resources => {
  try {
    return Resources.fromJSON(json);
  } catch {
    return Resources.EMPTY;
  }
};

/** The executor a task runs under: its group's, or the command executor named after the task. */
function executorOf(c: TaskCheckpoint): { id: string; name: string } {
  const group = (c.taskGroup as { executor?: { executor_id?: { value?: string }; name?: string } } | undefined)?.executor;
  const id = group?.executor_id?.value;
  if (id !== undefined) return { id, name: group?.name ?? id };
  return { id: c.taskInfo.task_id.value, name: `Command Executor (Task: ${c.taskInfo.task_id.value}) (Command: ${commandText(c)})` };
}

function commandText(c: TaskCheckpoint): string {
  const command = c.taskInfo.command as { value?: string; shell?: boolean; arguments?: string[] } | undefined;
  if (command?.shell === false) return `[${(command.arguments ?? []).join(', ')}]`;
  return `sh -c '${command?.value ?? ''}'`;
}

function legacyTask(c: TaskCheckpoint, agentId: string): Record<string, unknown> {
  const status = c.latestStatus;
  return {
    id: c.taskInfo.task_id.value,
    name: c.taskInfo.name,
    framework_id: c.frameworkId,
    executor_id: executorOf(c).id,
    slave_id: agentId,
    state: c.state,
    resources: legacy(resourcesOf(c.taskInfo.resources)),
    statuses: status === undefined ? [] : [{ state: status.state, timestamp: status.timestamp ?? c.launchedAtMs / 1000, ...(status.healthy === undefined ? {} : { healthy: status.healthy }) }],
    ...(c.taskInfo.labels === undefined ? {} : { labels: (c.taskInfo.labels as { labels?: unknown }).labels }),
    ...(c.taskInfo.discovery === undefined ? {} : { discovery: c.taskInfo.discovery }),
    ...(c.taskInfo.container === undefined ? {} : { container: c.taskInfo.container }),
  };
}

function attributesObject(view: MesosAgentView): Record<string, unknown> {
  return Object.fromEntries(view.attributes.map((a) => [a.name, a.text?.value ?? a.scalar?.value ?? a.set ?? a.ranges]));
}

/** `/state`: Mesos' agent state (slave/http.cpp). */
export function agentStateJson(view: MesosAgentView): Record<string, unknown> {
  const agentId = view.id ?? '';
  const byFramework = new Map<string, { info: TaskCheckpoint['frameworkInfo']; live: TaskCheckpoint[]; done: TaskCheckpoint[] }>();
  const add = (c: TaskCheckpoint, live: boolean): void => {
    const f = byFramework.get(c.frameworkId) ?? { info: c.frameworkInfo, live: [], done: [] };
    (live ? f.live : f.done).push(c);
    byFramework.set(c.frameworkId, f);
  };
  for (const c of view.tasks) add(c, !TERMINAL.has(c.state));
  for (const c of view.completed) add(c, false);
  const executors = (tasks: TaskCheckpoint[], done: TaskCheckpoint[]): Array<Record<string, unknown>> => {
    const byExecutor = new Map<string, { first: TaskCheckpoint; live: TaskCheckpoint[]; done: TaskCheckpoint[] }>();
    for (const [c, live] of [...tasks.map((t) => [t, true] as const), ...done.map((t) => [t, false] as const)]) {
      const id = executorOf(c).id;
      const e = byExecutor.get(id) ?? { first: c, live: [], done: [] };
      (live ? e.live : e.done).push(c);
      byExecutor.set(id, e);
    }
    return [...byExecutor.entries()].map(([id, e]) => ({
      id,
      name: executorOf(e.first).name,
      source: e.first.taskInfo.task_id.value,
      container: e.first.containerId,
      directory: e.first.sandbox,
      resources: legacy([...e.live, ...e.done].reduce((sum, c) => sum.add(resourcesOf(c.taskInfo.resources)), Resources.EMPTY)),
      framework_id: e.first.frameworkId,
      tasks: e.live.map((c) => legacyTask(c, agentId)),
      queued_tasks: [],
      completed_tasks: e.done.map((c) => legacyTask(c, agentId)),
    }));
  };
  const frameworks = [...byFramework.entries()].map(([id, f]) => {
    const info = f.info as { name?: string; user?: string; failover_timeout?: number; checkpoint?: boolean; hostname?: string; role?: string; roles?: string[]; principal?: string };
    const live = executors(f.live, []);
    const done = executors([], f.done);
    return {
      id,
      name: info.name ?? '',
      user: info.user ?? '',
      failover_timeout: info.failover_timeout ?? 0,
      checkpoint: info.checkpoint ?? false,
      hostname: info.hostname ?? '',
      ...(info.roles === undefined ? { role: info.role ?? '*' } : { roles: info.roles }),
      ...(info.principal === undefined ? {} : { principal: info.principal }),
      executors: live,
      completed_executors: done,
    };
  });
  const total = resourcesOf(view.resources);
  const reservedRoles = total.roles().filter((r) => r !== '*');
  return {
    ...versionJson(),
    start_time: view.startedAtMs / 1000,
    id: agentId,
    pid: `slave(1)@${view.hostname}:${view.port}`,
    hostname: view.hostname,
    capabilities: ['MULTI_ROLE', 'HIERARCHICAL_ROLE', 'AGENT_DRAINING'],
    resources: legacy(total),
    reserved_resources: Object.fromEntries(reservedRoles.map((r) => [r, legacy(total.filterRole(r))])),
    unreserved_resources: legacy(total.filterRole('*')),
    attributes: attributesObject(view),
    master_hostname: masterHostname(view.masterUrl),
    log_dir: '',
    flags: view.flags,
    frameworks: frameworks.filter((f) => f.executors.length > 0),
    completed_frameworks: frameworks.filter((f) => f.executors.length === 0),
  };
}

function masterHostname(url: string): string {
  try {
    return new URL(url.split(',')[0]!.trim()).hostname;
  } catch {
    return '';
  }
}

/** `/containers`: one entry per live task's container (Mesos' containerizer view). */
export function containersJson(view: MesosAgentView): Array<Record<string, unknown>> {
  return view.tasks
    .filter((c) => !TERMINAL.has(c.state))
    .map((c) => {
      const executor = executorOf(c);
      return {
        container_id: c.containerId,
        executor_id: executor.id,
        executor_name: executor.name,
        framework_id: c.frameworkId,
        source: c.taskInfo.task_id.value,
        status: { container_id: { value: c.containerId }, ...(c.container?.pid === undefined ? {} : { executor_pid: c.container.pid }) },
      };
    });
}

/** `/metrics/snapshot` in Mesos' agent names (docs/monitoring.md, "Agent"). */
export function agentMetrics(view: MesosAgentView, nowMs: number): Record<string, number> {
  const live = view.tasks.filter((c) => !TERMINAL.has(c.state));
  const count = (list: readonly TaskCheckpoint[], state: string): number => list.filter((c) => c.state === state).length;
  const out: Record<string, number> = {
    'slave/uptime_secs': (nowMs - view.startedAtMs) / 1000,
    'slave/registered': view.registered ? 1 : 0,
    'slave/executors_running': new Set(live.map((c) => executorOf(c).id)).size,
    'slave/tasks_staging': count(live, 'TASK_STAGING'),
    'slave/tasks_starting': count(live, 'TASK_STARTING'),
    'slave/tasks_running': count(live, 'TASK_RUNNING'),
    'slave/tasks_killing': count(live, 'TASK_KILLING'),
    'slave/tasks_finished': count(view.completed, 'TASK_FINISHED'),
    'slave/tasks_failed': count(view.completed, 'TASK_FAILED'),
    'slave/tasks_killed': count(view.completed, 'TASK_KILLED'),
    'slave/tasks_lost': count(view.completed, 'TASK_LOST'),
  };
  const total = resourcesOf(view.resources);
  const used = live.reduce((sum, c) => sum.add(resourcesOf(c.taskInfo.resources)), Resources.EMPTY);
  for (const name of ['cpus', 'mem', 'disk', 'gpus']) {
    const t = scalar(total, name);
    const u = scalar(used, name);
    out[`slave/${name}_total`] = t;
    out[`slave/${name}_used`] = u;
    out[`slave/${name}_percent`] = t === 0 ? 0 : u / t;
  }
  return out;
}

function scalar(resources: Resources, name: string): number {
  let sum = 0;
  for (const r of resources) if (r.name === name && r.value.type === 'SCALAR') sum += r.value.toNumber();
  return sum;
}

// ---- v1 operator calls -----------------------------------------------------------------------

export const AGENT_CALLS = ['GET_HEALTH', 'GET_FLAGS', 'GET_VERSION', 'GET_METRICS', 'GET_STATE', 'GET_CONTAINERS', 'LIST_FILES', 'READ_FILE'] as const;
const Path = Type.String({ minLength: 1, maxLength: 4096 });
const AgentCall = compileValidator(
  Type.Object({
    type: Type.Enum(AGENT_CALLS),
    get_metrics: Type.Optional(Type.Object({ timeout: Type.Optional(Type.Object({ nanoseconds: Type.Integer() })) })),
    get_containers: Type.Optional(Type.Object({ show_nested: Type.Optional(Type.Boolean()), show_standalone: Type.Optional(Type.Boolean()) })),
    list_files: Type.Optional(Type.Object({ path: Path })),
    read_file: Type.Optional(Type.Object({ path: Path, offset: Type.Integer({ minimum: 0 }), length: Type.Optional(Type.Integer({ minimum: 0 })) })),
  }),
);

function v1Task(c: TaskCheckpoint, agentId: string): Record<string, unknown> {
  return {
    name: c.taskInfo.name,
    task_id: c.taskInfo.task_id,
    framework_id: { value: c.frameworkId },
    executor_id: { value: executorOf(c).id },
    agent_id: { value: agentId },
    state: c.state,
    resources: c.taskInfo.resources,
    statuses: c.latestStatus === undefined ? [] : [c.latestStatus],
    ...(c.taskInfo.labels === undefined ? {} : { labels: c.taskInfo.labels }),
    ...(c.taskInfo.container === undefined ? {} : { container: c.taskInfo.container }),
  };
}

function getState(view: MesosAgentView): Record<string, unknown> {
  const agentId = view.id ?? '';
  const live = view.tasks.filter((c) => !TERMINAL.has(c.state));
  const terminated = view.tasks.filter((c) => TERMINAL.has(c.state));
  const executors = new Map<string, TaskCheckpoint>();
  for (const c of live) executors.set(executorOf(c).id, c);
  const frameworks = new Map<string, TaskCheckpoint['frameworkInfo']>();
  for (const c of view.tasks) frameworks.set(c.frameworkId, c.frameworkInfo);
  const completedFrameworks = new Map<string, TaskCheckpoint['frameworkInfo']>();
  for (const c of view.completed) if (!frameworks.has(c.frameworkId)) completedFrameworks.set(c.frameworkId, c.frameworkInfo);
  const frameworkInfo = (id: string, info: TaskCheckpoint['frameworkInfo']) => ({ framework_info: { ...info, id: { value: id } } });
  return {
    get_tasks: {
      pending_tasks: [],
      queued_tasks: [],
      launched_tasks: live.map((c) => v1Task(c, agentId)),
      terminated_tasks: terminated.map((c) => v1Task(c, agentId)),
      completed_tasks: view.completed.map((c) => v1Task(c, agentId)),
    },
    get_executors: {
      executors: [...executors.entries()].map(([id, c]) => ({
        executor_info: {
          executor_id: { value: id },
          framework_id: { value: c.frameworkId },
          name: executorOf(c).name,
          ...(c.taskGroup === undefined ? { type: 'DEFAULT', command: c.taskInfo.command } : { type: 'DEFAULT' }),
        },
      })),
      completed_executors: [],
    },
    get_frameworks: {
      frameworks: [...frameworks.entries()].map(([id, info]) => frameworkInfo(id, info)),
      completed_frameworks: [...completedFrameworks.entries()].map(([id, info]) => frameworkInfo(id, info)),
    },
  };
}

/** Mesos' st_mode from the `ls -l` text files.ts shows (type and permission bits). */
function modeNumber(text: string): number {
  const type = text[0] === 'd' ? 0o040000 : text[0] === 'l' ? 0o120000 : 0o100000;
  let bits = 0;
  for (let i = 1; i < 10; i++) if (text[i] !== '-') bits |= 1 << (9 - i);
  return type | bits;
}

export interface AgentCallHost {
  view(): MesosAgentView;
  files: SandboxFiles;
  /** Checks the caller may read the agent's state (fixed permission) or the sandbox a path is in. */
  authorizeState(request: FastifyRequest): Promise<void>;
  authorizeSandbox(request: FastifyRequest, path: string): Promise<void>;
  /** Nested container sessions (absent: the agent runs no exec, and the calls are refused). */
  sessions?: SessionsHost;
}

export interface SessionsHost {
  store: NestedSessions;
  /** Runs `argv` in the running task (by task id) through the agent's exec path. */
  spec(taskId: string, frameworkId: string, argv: string[]): Promise<ExecSpec>;
  /** The caller may exec in the task (AGENT_EXEC on its app). */
  authorizeExec(request: FastifyRequest, taskId: string): Promise<void>;
}

export async function handleAgentCall(host: AgentCallHost, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = request.body;
  let call;
  try {
    call = AgentCall.validate(withoutNullFields(body), 'Failed to validate agent::Call');
  } catch (e) {
    if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
    throw e;
  }
  if (call.type === 'LIST_FILES' || call.type === 'READ_FILE') {
    const path = call.type === 'LIST_FILES' ? call.list_files?.path : call.read_file?.path;
    const field = call.type === 'LIST_FILES' ? 'list_files' : 'read_file';
    if (path === undefined) throw new DroverError('MALFORMED', `Expecting '${field}' to be present`, { details: [{ path: `/${field}`, errors: ['required for this call type'] }] });
    await host.authorizeSandbox(request, path);
    if (call.type === 'LIST_FILES') {
      const infos = await host.files.browse(path);
      return {
        type: call.type,
        list_files: { file_infos: infos.map((f) => ({ path: f.path, nlink: f.nlink, size: f.size, mtime: { nanoseconds: f.mtime * 1e9 }, mode: modeNumber(f.mode), uid: f.uid, gid: f.gid })) },
      };
    }
    const { size, data } = await host.files.readBytes(path, call.read_file!.offset, call.read_file!.length);
    return { type: call.type, read_file: { size, data: data.toString('base64') } };
  }
  await host.authorizeState(request);
  const view = host.view();
  switch (call.type) {
    case 'GET_HEALTH':
      return { type: call.type, get_health: { healthy: true } };
    case 'GET_FLAGS':
      return { type: call.type, get_flags: { flags: Object.entries(view.flags).map(([name, value]) => ({ name, value })) } };
    case 'GET_VERSION':
      return { type: call.type, get_version: { version_info: versionJson() } };
    case 'GET_METRICS':
      return { type: call.type, get_metrics: { metrics: Object.entries(agentMetrics(view, Date.now())).map(([name, value]) => ({ name, value })) } };
    case 'GET_STATE':
      return { type: call.type, get_state: getState(view) };
    case 'GET_CONTAINERS':
      return {
        type: call.type,
        get_containers: {
          containers: containersJson(view).map((c) => ({
            framework_id: { value: c['framework_id'] },
            executor_id: { value: c['executor_id'] },
            executor_name: c['executor_name'],
            container_id: { value: c['container_id'] },
            container_status: c['status'],
          })),
        },
      };
  }
  return reply.code(400).send();
}

/** The agent's Mesos routes (their permissions are in route-permissions.ts AGENT_ROUTE_PERMISSIONS). */
export function registerMesosAgentRoutes(app: FastifyInstance, host: AgentCallHost, state: () => Record<string, unknown>): void {
  const mesosState = async (): Promise<Record<string, unknown>> => mesosStateOf(state(), host.view());
  app.get('/state', mesosState);
  app.get('/slave(1)/state', mesosState);
  app.get('/flags', async () => ({ flags: host.view().flags }));
  app.get('/health', async (_request, reply) => reply.code(200).send());
  app.get('/version', async () => versionJson());
  app.get('/metrics/snapshot', async () => agentMetrics(host.view(), Date.now()));
  app.get('/containers', async () => containersJson(host.view()));
  app.register(async (scope) => {
    // ATTACH_CONTAINER_INPUT streams its records: the body is read by the handler, not parsed.
    scope.addContentTypeParser('application/recordio', (_request, _payload, done) => done(null, undefined));
    scope.post('/api/v1', async (request, reply) => {
      const sessions = host.sessions;
      const streamed = (request.headers['content-type'] ?? '').startsWith('application/recordio');
      const body = withoutNullFields(request.body) as Record<string, unknown> | undefined;
      const type = streamed ? 'ATTACH_CONTAINER_INPUT' : body?.['type'];
      if (type !== 'LAUNCH_NESTED_CONTAINER_SESSION' && type !== 'ATTACH_CONTAINER_OUTPUT' && type !== 'ATTACH_CONTAINER_INPUT') return handleAgentCall(host, request, reply);
      if (sessions === undefined) throw new DroverError('NOT_IMPLEMENTED', `${String(type)} is not available: this agent runs no commands in tasks`);
      if (type === 'ATTACH_CONTAINER_INPUT') {
        if (!streamed) throw new DroverError('MALFORMED', 'ATTACH_CONTAINER_INPUT is a streamed call: send Content-Type application/recordio');
        await sessions.store.attachInput(request.raw, (taskId) => sessions.authorizeExec(request, taskId));
        return reply.code(200).send();
      }
      if (type === 'ATTACH_CONTAINER_OUTPUT') {
        const target = sessions.store.outputTarget(body?.['attach_container_output']);
        await sessions.authorizeExec(request, target.taskId);
        reply.hijack();
        await sessions.store.attachOutput(target.id, reply.raw);
        return;
      }
      const launch = sessions.store.parseLaunch(body?.['launch_nested_container_session']);
      const task = host.view().tasks.find((c) => !TERMINAL.has(c.state) && (c.containerId === launch.parent || c.taskInfo.task_id.value === launch.parent));
      if (task === undefined) throw new DroverError('NOT_FOUND', `Parent container ${launch.parent} not found: no running task has it`);
      await sessions.authorizeExec(request, task.taskInfo.task_id.value);
      const spec = await sessions.spec(task.taskInfo.task_id.value, task.frameworkId, launch.argv);
      reply.hijack();
      try {
        await sessions.store.launch(launch.id, task.taskInfo.task_id.value, spec, reply.raw);
      } catch (e) {
        const error = e instanceof DroverError ? e : new DroverError('INTERNAL', 'The session could not start', { cause: e });
        if (!reply.raw.headersSent) reply.raw.writeHead(error.status, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify(error.toJSON()));
      }
    });
  });
}

/**
 * `/state`: Drover's keys (tasks, registered, work_dir, …) with Mesos' beside them; where both name
 * a key (resources, attributes, frameworks, id) Mesos' shape wins, and Drover's v1 resource list
 * moves to `resources_full`.
 */
function mesosStateOf(state: Record<string, unknown>, view: MesosAgentView): Record<string, unknown> {
  return { ...state, resources_full: state['resources'], ...agentStateJson(view) };
}
