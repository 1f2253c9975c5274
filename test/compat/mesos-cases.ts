/**
 * The Mesos compatibility table: one case per master endpoint, operator call (master and agent),
 * scheduler call and agent endpoint that issue 21 names, each a request and the shape Mesos
 * documents for its answer — field names and JSON types from `include/mesos/v1/master/master.proto`,
 * `agent/agent.proto`, `scheduler/scheduler.proto` and the endpoint docs (`docs/endpoints/**`,
 * `docs/operator-http-api.md`, `docs/maintenance.md`), never from Drover's output. Mesos writes
 * its JSON with stout's protobuf mapping: 64-bit integers are JSON numbers, empty repeated fields
 * are left out (hence `opt([...])` for lists), bytes are base64.
 *
 * The cases run in order against one cluster (mesos.test.ts); those that change the cluster come
 * after those that read it, and MARK_AGENT_GONE (which ends the agent) last.
 */
import { Readable } from 'node:stream';
import { decodeJsonRecords, encodeJsonRecord } from '../../src/protocol/recordio.ts';
import { literal, opt, shapeErrors, values, type Shape } from './shape.ts';

export type Surface = 'master endpoint' | 'master operator call' | 'scheduler call' | 'agent endpoint' | 'agent operator call';

export interface CompatContext {
  master: string;
  agent: string;
  agentId: string;
  agentHostname: string;
  /** A subscribed framework with one running task (`taskId`, sandbox `sandbox` whose stdout holds `stdout`). */
  frameworkId: string;
  taskId: string;
  /** The task's container id (what `dcos task exec` names as the parent of a session). */
  containerId: string;
  sandbox: string;
  stdout: string;
  /** Subscribe a throwaway framework (for the teardown cases); its id. */
  spareFramework(): Promise<string>;
  /** A call from the subscribed framework (its stream id added): the HTTP status, and the error's text. */
  schedulerCall(call: Record<string, unknown>): Promise<{ status: number; message: string }>;
  /** The framework's next event of `type` matching `predicate` (or an error naming what came). */
  nextEvent(type: string, predicate: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

export interface CompatCase {
  surface: Surface;
  name: string;
  /** Every way the answer differs from Mesos'; empty when it matches. */
  check(ctx: CompatContext): Promise<string[]>;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const get = async (url: string): Promise<Answer> => answer(await fetch(url, { redirect: 'manual' }));
const post = async (url: string, body: unknown, type = 'application/json'): Promise<Answer> =>
  answer(await fetch(url, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) }));

function expectStatus(a: Answer, status: number): string[] {
  return a.status === status ? [] : [`status: expected ${status}, got ${a.status} ${a.text.slice(0, 300)}`];
}

/** Status, then the JSON body's shape. */
function expectJson(a: Answer, shape: Shape, status = 200): string[] {
  const s = expectStatus(a, status);
  return s.length > 0 ? s : shapeErrors(a.json, shape);
}

const check = (ok: boolean, message: string): string[] => (ok ? [] : [message]);

// ---- shapes ---------------------------------------------------------------------------------------

/** Mesos' legacy resource object (`model(Resources)` in src/common/http.cpp). */
const LegacyResources: Shape = { cpus: 'number', mem: 'number', disk: 'number', gpus: 'number' };
const Id: Shape = { value: 'string' };
const Duration: Shape = { nanoseconds: 'number' };
const MachineId: Shape = { hostname: opt('string'), ip: opt('string') };

/** `/version` (src/common/http.cpp `version()`), agent and master alike. */
const VersionJson: Shape = { version: 'string', build_date: 'string', build_time: 'number', build_user: 'string' };

const LegacyTask: Shape = {
  id: 'string',
  name: 'string',
  framework_id: 'string',
  executor_id: 'string',
  slave_id: 'string',
  state: 'string',
  resources: LegacyResources,
  statuses: [{ state: 'string', timestamp: 'number' }],
};

/** `/master/frameworks` entries (master/readonly_handler.cpp `FullFrameworkWriter`). */
const LegacyFramework: Shape = {
  id: 'string',
  name: 'string',
  pid: opt('string'),
  used_resources: LegacyResources,
  offered_resources: LegacyResources,
  capabilities: ['string'],
  hostname: 'string',
  webui_url: 'string',
  active: 'boolean',
  connected: 'boolean',
  recovered: 'boolean',
  user: 'string',
  failover_timeout: 'number',
  checkpoint: 'boolean',
  registered_time: 'number',
  resources: LegacyResources,
  roles: opt(['string']),
  tasks: [LegacyTask],
  unreachable_tasks: 'array',
  completed_tasks: 'array',
  offers: 'array',
  executors: 'array',
};

/** `/master/slaves` entries (master/readonly_handler.cpp `SlaveWriter`). */
const LegacyAgent: Shape = {
  id: 'string',
  pid: 'string',
  hostname: 'string',
  registered_time: 'number',
  resources: LegacyResources,
  used_resources: LegacyResources,
  offered_resources: LegacyResources,
  reserved_resources: values(LegacyResources),
  unreserved_resources: LegacyResources,
  attributes: 'object',
  active: 'boolean',
  version: 'string',
  capabilities: ['string'],
};

const MasterState: Shape = {
  version: 'string',
  id: 'string',
  pid: 'string',
  hostname: 'string',
  start_time: 'number',
  activated_slaves: 'number',
  deactivated_slaves: 'number',
  flags: values('string'),
  slaves: [LegacyAgent],
  frameworks: [LegacyFramework],
  completed_frameworks: 'array',
};

const MaintenanceWindow: Shape = { machine_ids: [MachineId], unavailability: { start: Duration, duration: opt(Duration) } };
const Schedule: Shape = { windows: opt([MaintenanceWindow]) };
const ClusterStatus: Shape = { draining_machines: opt([{ id: MachineId, statuses: opt('array') }]), down_machines: opt([MachineId]) };

/** agent.proto / master.proto `Response.ListFiles`, `FileInfo` in mesos.proto. */
const FileInfo: Shape = { path: 'string', nlink: 'number', size: 'number', mtime: Duration, mode: 'number', uid: 'string', gid: 'string' };

/** The agent's `/state` (slave/http.cpp `state`). */
const AgentState: Shape = {
  ...VersionJson,
  start_time: 'number',
  id: 'string',
  pid: 'string',
  hostname: 'string',
  resources: LegacyResources,
  attributes: 'object',
  master_hostname: 'string',
  flags: values('string'),
  frameworks: [
    {
      id: 'string',
      name: 'string',
      user: 'string',
      failover_timeout: 'number',
      checkpoint: 'boolean',
      hostname: 'string',
      executors: [
        {
          id: 'string',
          name: 'string',
          source: 'string',
          container: 'string',
          directory: 'string',
          resources: LegacyResources,
          tasks: [LegacyTask],
          queued_tasks: 'array',
          completed_tasks: 'array',
        },
      ],
      completed_executors: 'array',
    },
  ],
  completed_frameworks: 'array',
  reserved_resources: 'object',
  unreserved_resources: LegacyResources,
  capabilities: opt(['string']),
};

const MASTER_METRICS = [
  'master/uptime_secs',
  'master/elected',
  'master/slaves_active',
  'master/frameworks_active',
  'master/tasks_running',
  'master/cpus_total',
  'master/cpus_used',
  'master/mem_total',
  'master/mem_used',
];
const AGENT_METRICS = ['slave/uptime_secs', 'slave/registered', 'slave/tasks_running', 'slave/executors_running', 'slave/cpus_total', 'slave/cpus_used', 'slave/mem_total', 'slave/mem_used'];

function metricsSnapshot(a: Answer, names: string[]): string[] {
  const errors = expectJson(a, values('number'));
  if (errors.length > 0) return errors;
  const body = a.json as Record<string, number>;
  return names.filter((n) => typeof body[n] !== 'number').map((n) => `/${n}: missing`);
}

const operator = (url: string, call: Record<string, unknown>): Promise<Answer> => post(`${url}/api/v1`, call);

const call =
  (type: string, shape: Shape, extra: Record<string, unknown> = {}) =>
  async (url: string) => {
    const key = type.toLowerCase();
    return expectJson(await operator(url, { type, ...extra }), { type: literal(type), [key]: shape });
  };

// ---- nested container sessions (agent.proto ProcessIO) -----------------------------------------

const ProcessIo: Shape = { type: literal('DATA'), data: { type: 'string', data: 'string' } };

function launchSession(c: CompatContext, id: string, command: string): Promise<Response> {
  return fetch(`${c.agent}/api/v1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/recordio', 'message-accept': 'application/json' },
    body: JSON.stringify({
      type: 'LAUNCH_NESTED_CONTAINER_SESSION',
      launch_nested_container_session: { container_id: { value: id, parent: { value: c.containerId } }, command: { value: command, shell: true } },
    }),
  });
}

async function readSession(response: Response): Promise<{ status: number; records: Array<Record<string, unknown>> }> {
  if (response.status !== 200 || response.body === null) return { status: response.status, records: [] };
  const records: Array<Record<string, unknown>> = [];
  for await (const r of decodeJsonRecords<Record<string, unknown>>(Readable.fromWeb(response.body as never))) records.push(r);
  return { status: response.status, records };
}

function outputOf(records: Array<Record<string, unknown>>, type: 'STDOUT' | 'STDERR'): string {
  return records
    .map((r) => r['data'] as { type?: string; data?: string } | undefined)
    .filter((d) => d?.type === type)
    .map((d) => Buffer.from(d?.data ?? '', 'base64').toString('utf8'))
    .join('');
}

/** ATTACH_CONTAINER_INPUT as a RecordIO request: the container, then STDIN records (an empty one is EOF). */
async function attachInput(c: CompatContext, id: string, lines: string[]): Promise<Answer> {
  const records = [
    { type: 'ATTACH_CONTAINER_INPUT', attach_container_input: { type: 'CONTAINER_ID', container_id: { value: id } } },
    ...lines.map((line) => ({
      type: 'ATTACH_CONTAINER_INPUT',
      attach_container_input: { type: 'PROCESS_IO', process_io: { type: 'DATA', data: { type: 'STDIN', data: Buffer.from(line).toString('base64') } } },
    })),
  ];
  return post(`${c.agent}/api/v1`, Buffer.concat(records.map((r) => encodeJsonRecord(r))).toString('latin1'), 'application/recordio');
}

// ---- the table ----------------------------------------------------------------------------------

const SPARE = 'compat-spare-machine';

export const CASES: CompatCase[] = [
  // master endpoints
  {
    surface: 'master endpoint',
    name: 'GET /master/frameworks',
    check: async (c) => {
      const a = await get(`${c.master}/master/frameworks`);
      const errors = expectJson(a, { frameworks: [LegacyFramework], completed_frameworks: 'array', unregistered_frameworks: 'array' });
      const ours = (a.json as { frameworks?: Array<{ id: string; tasks: Array<{ id: string }> }> } | undefined)?.frameworks?.find((f) => f.id === c.frameworkId);
      return [...errors, ...check(ours?.tasks.some((t) => t.id === c.taskId) === true, 'the running task is not listed under its framework')];
    },
  },
  {
    surface: 'master endpoint',
    name: 'GET /master/slaves',
    check: async (c) => {
      const a = await get(`${c.master}/master/slaves`);
      const errors = expectJson(a, { slaves: [LegacyAgent], recovered_slaves: 'array' });
      const one = await get(`${c.master}/master/slaves?slave_id=${c.agentId}`);
      const none = await get(`${c.master}/master/slaves?slave_id=no-such-agent`);
      return [
        ...errors,
        ...check((one.json as { slaves?: unknown[] })?.slaves?.length === 1, '?slave_id= does not select the agent'),
        ...check((none.json as { slaves?: unknown[] })?.slaves?.length === 0, '?slave_id= of an unknown agent is not empty'),
      ];
    },
  },
  { surface: 'master endpoint', name: 'GET /master/flags', check: async (c) => expectJson(await get(`${c.master}/master/flags`), { flags: values('string') }) },
  {
    surface: 'master endpoint',
    name: 'GET /master/health',
    check: async (c) => expectStatus(await get(`${c.master}/master/health`), 200),
  },
  {
    surface: 'master endpoint',
    name: 'GET /master/redirect',
    check: async (c) => {
      const a = await get(`${c.master}/master/redirect`);
      const port = new URL(c.master).port;
      return [...expectStatus(a, 307), ...check(new RegExp(`^//[^/]+:${port}$`).test(a.headers.get('location') ?? ''), `Location: expected //<leader>:${port}, got ${a.headers.get('location')}`)];
    },
  },
  { surface: 'master endpoint', name: 'GET /version', check: async (c) => expectJson(await get(`${c.master}/version`), VersionJson) },
  { surface: 'master endpoint', name: 'GET /metrics/snapshot', check: async (c) => metricsSnapshot(await get(`${c.master}/metrics/snapshot`), MASTER_METRICS) },
  { surface: 'master endpoint', name: 'GET /master/state.json', check: async (c) => expectJson(await get(`${c.master}/master/state.json`), MasterState) },
  { surface: 'master endpoint', name: 'GET /state.json', check: async (c) => expectJson(await get(`${c.master}/state.json`), MasterState) },
  {
    surface: 'master endpoint',
    name: 'GET /master/frameworks.json, /master/slaves.json, /master/tasks.json',
    check: async (c) => [
      ...expectJson(await get(`${c.master}/master/frameworks.json`), { frameworks: 'array' }),
      ...expectJson(await get(`${c.master}/master/slaves.json`), { slaves: 'array' }),
      ...expectJson(await get(`${c.master}/master/tasks.json`), { tasks: [LegacyTask] }),
    ],
  },
  {
    surface: 'master endpoint',
    name: 'GET /master/state?jsonp=cb',
    check: async (c) => {
      const a = await get(`${c.master}/master/state?jsonp=compatCallback`);
      const m = /^compatCallback\(([\s\S]*)\);$/.exec(a.text);
      let body: unknown;
      try {
        body = m === null ? undefined : JSON.parse(m[1]!);
      } catch {
        body = undefined;
      }
      return [
        ...expectStatus(a, 200),
        ...check(m !== null, `body is not compatCallback(...);: ${a.text.slice(0, 80)}`),
        ...check((a.headers.get('content-type') ?? '').startsWith('text/javascript'), `content-type: ${a.headers.get('content-type')}`),
        ...shapeErrors(body, MasterState),
      ];
    },
  },
  {
    surface: 'master endpoint',
    name: 'POST /master/maintenance/schedule, GET /master/maintenance/schedule',
    check: async (c) => {
      const schedule = { windows: [{ machine_ids: [{ hostname: SPARE }], unavailability: { start: { nanoseconds: Date.now() * 1e6 }, duration: { nanoseconds: 3600e9 } } }] };
      const set = await post(`${c.master}/master/maintenance/schedule`, schedule);
      const read = await get(`${c.master}/master/maintenance/schedule`);
      const machines = (read.json as { windows?: Array<{ machine_ids: Array<{ hostname?: string }> }> } | undefined)?.windows?.flatMap((w) => w.machine_ids) ?? [];
      return [
        ...expectStatus(set, 200),
        ...expectJson(read, Schedule),
        ...check(
          machines.some((m) => m.hostname === SPARE),
          'the posted schedule is not read back',
        ),
      ];
    },
  },
  {
    surface: 'master endpoint',
    name: 'GET /master/maintenance/status',
    check: async (c) => {
      const a = await get(`${c.master}/master/maintenance/status`);
      const draining = (a.json as { draining_machines?: Array<{ id: { hostname?: string } }> } | undefined)?.draining_machines ?? [];
      return [
        ...expectJson(a, ClusterStatus),
        ...check(
          draining.some((m) => m.id.hostname === SPARE),
          'a scheduled machine is not draining',
        ),
      ];
    },
  },
  {
    surface: 'master endpoint',
    name: 'POST /master/machine/down',
    check: async (c) => {
      const unscheduled = await post(`${c.master}/master/machine/down`, [{ hostname: 'compat-never-scheduled' }]);
      const a = await post(`${c.master}/master/machine/down`, [{ hostname: SPARE }]);
      const status = (await get(`${c.master}/master/maintenance/status`)).json as { down_machines?: Array<{ hostname?: string }> } | undefined;
      return [...expectStatus(unscheduled, 400), ...expectStatus(a, 200), ...check(status?.down_machines?.some((m) => m.hostname === SPARE) === true, 'the machine is not down')];
    },
  },
  {
    surface: 'master endpoint',
    name: 'POST /master/machine/up',
    check: async (c) => {
      const a = await post(`${c.master}/master/machine/up`, [{ hostname: SPARE }]);
      const status = (await get(`${c.master}/master/maintenance/status`)).json as { down_machines?: Array<{ hostname?: string }> } | undefined;
      return [...expectStatus(a, 200), ...check(status?.down_machines?.some((m) => m.hostname === SPARE) !== true, 'the machine is still down')];
    },
  },
  {
    surface: 'master endpoint',
    name: 'POST /master/teardown',
    check: async (c) => {
      const missing = await post(`${c.master}/master/teardown`, '', 'application/x-www-form-urlencoded');
      const unknown = await post(`${c.master}/master/teardown`, 'frameworkId=no-such-framework', 'application/x-www-form-urlencoded');
      const id = await c.spareFramework();
      const a = await post(`${c.master}/master/teardown`, `frameworkId=${id}`, 'application/x-www-form-urlencoded');
      const frameworks = (await get(`${c.master}/master/frameworks`)).json as { frameworks?: Array<{ id: string }>; completed_frameworks?: Array<{ id: string }> } | undefined;
      return [
        ...expectStatus(missing, 400),
        ...expectStatus(unknown, 400),
        ...expectStatus(a, 200),
        ...check(frameworks?.frameworks?.some((f) => f.id === id) === false && frameworks.completed_frameworks?.some((f) => f.id === id) === true, 'the framework was not torn down'),
      ];
    },
  },

  // master operator calls (POST /api/v1)
  { surface: 'master operator call', name: 'GET_HEALTH', check: async (c) => call('GET_HEALTH', { healthy: 'boolean' })(c.master) },
  { surface: 'master operator call', name: 'GET_VERSION', check: async (c) => call('GET_VERSION', { version_info: VersionJson })(c.master) },
  { surface: 'master operator call', name: 'GET_FLAGS', check: async (c) => call('GET_FLAGS', { flags: [{ name: 'string', value: opt('string') }] })(c.master) },
  {
    surface: 'master operator call',
    name: 'GET_METRICS',
    check: async (c) => {
      const a = await operator(c.master, { type: 'GET_METRICS', get_metrics: { timeout: { nanoseconds: 5e9 } } });
      const errors = expectJson(a, { type: literal('GET_METRICS'), get_metrics: { metrics: [{ name: 'string', value: opt('number') }] } });
      const names = new Set((a.json as { get_metrics?: { metrics?: Array<{ name: string }> } } | undefined)?.get_metrics?.metrics?.map((m) => m.name));
      return [...errors, ...MASTER_METRICS.filter((n) => !names.has(n)).map((n) => `metric ${n} missing`)];
    },
  },
  { surface: 'master operator call', name: 'GET_LOGGING_LEVEL', check: async (c) => call('GET_LOGGING_LEVEL', { level: 'number' })(c.master) },
  {
    surface: 'master operator call',
    name: 'SET_LOGGING_LEVEL',
    check: async (c) => {
      const set = await operator(c.master, { type: 'SET_LOGGING_LEVEL', set_logging_level: { level: 2, duration: { nanoseconds: 60e9 } } });
      const read = await operator(c.master, { type: 'GET_LOGGING_LEVEL' });
      const reset = await operator(c.master, { type: 'SET_LOGGING_LEVEL', set_logging_level: { level: 0, duration: { nanoseconds: 1e9 } } });
      return [
        ...expectStatus(set, 200),
        ...expectStatus(reset, 200),
        ...check((read.json as { get_logging_level?: { level?: number } })?.get_logging_level?.level === 2, 'the level set is not read back'),
      ];
    },
  },
  {
    surface: 'master operator call',
    name: 'LIST_FILES (a path the master does not serve: 404, as Mesos)',
    check: async (c) => expectStatus(await operator(c.master, { type: 'LIST_FILES', list_files: { path: '/no/such/virtual/path' } }), 404),
  },
  {
    surface: 'master operator call',
    name: 'READ_FILE (a path the master does not serve: 404, as Mesos)',
    check: async (c) => expectStatus(await operator(c.master, { type: 'READ_FILE', read_file: { path: '/no/such/virtual/path', offset: 0 } }), 404),
  },
  {
    surface: 'master operator call',
    name: 'GET_STATE',
    check: async (c) => call('GET_STATE', { get_tasks: 'object', get_executors: 'object', get_frameworks: 'object', get_agents: 'object' })(c.master),
  },
  {
    surface: 'master operator call',
    name: 'GET_AGENTS',
    check: async (c) => call('GET_AGENTS', { agents: [{ agent_info: { id: Id, hostname: 'string' }, active: 'boolean', total_resources: 'array' }] })(c.master),
  },
  {
    surface: 'master operator call',
    name: 'GET_FRAMEWORKS',
    check: async (c) => call('GET_FRAMEWORKS', { frameworks: [{ framework_info: { id: Id, name: 'string', user: 'string' }, active: 'boolean', connected: 'boolean' }] })(c.master),
  },
  {
    surface: 'master operator call',
    name: 'GET_TASKS',
    check: async (c) => call('GET_TASKS', { tasks: [{ task_id: Id, framework_id: Id, agent_id: Id, name: 'string', state: 'string' }] })(c.master),
  },
  { surface: 'master operator call', name: 'GET_MASTER', check: async (c) => call('GET_MASTER', { master_info: { id: 'string', ip: 'number', port: 'number', hostname: 'string' } })(c.master) },
  {
    surface: 'master operator call',
    name: 'GET_EXECUTORS',
    check: async (c) => call('GET_EXECUTORS', { executors: opt([{ executor_info: { executor_id: Id }, agent_id: Id }]), orphan_executors: opt('array') })(c.master),
  },
  { surface: 'master operator call', name: 'GET_OPERATIONS', check: async (c) => call('GET_OPERATIONS', { operations: opt('array') })(c.master) },
  { surface: 'master operator call', name: 'GET_MAINTENANCE_SCHEDULE', check: async (c) => call('GET_MAINTENANCE_SCHEDULE', { schedule: Schedule })(c.master) },
  { surface: 'master operator call', name: 'GET_MAINTENANCE_STATUS', check: async (c) => call('GET_MAINTENANCE_STATUS', { status: ClusterStatus })(c.master) },
  {
    surface: 'master operator call',
    name: 'UPDATE_MAINTENANCE_SCHEDULE',
    check: async (c) => {
      const schedule = { windows: [{ machine_ids: [{ hostname: `${SPARE}-2` }], unavailability: { start: { nanoseconds: Date.now() * 1e6 } } }] };
      const a = await operator(c.master, { type: 'UPDATE_MAINTENANCE_SCHEDULE', update_maintenance_schedule: { schedule } });
      const read = await operator(c.master, { type: 'GET_MAINTENANCE_SCHEDULE' });
      const hosts = JSON.stringify(read.json);
      return [...expectStatus(a, 200), ...check(hosts.includes(`${SPARE}-2`), 'the schedule is not read back')];
    },
  },
  {
    surface: 'master operator call',
    name: 'START_MAINTENANCE',
    check: async (c) => {
      const a = await operator(c.master, { type: 'START_MAINTENANCE', start_maintenance: { machines: [{ hostname: `${SPARE}-2` }] } });
      const status = await operator(c.master, { type: 'GET_MAINTENANCE_STATUS' });
      const down = (status.json as { get_maintenance_status?: { status?: { down_machines?: Array<{ hostname?: string }> } } })?.get_maintenance_status?.status?.down_machines ?? [];
      return [
        ...expectStatus(a, 200),
        ...check(
          down.some((m) => m.hostname === `${SPARE}-2`),
          'the machine is not down',
        ),
      ];
    },
  },
  {
    surface: 'master operator call',
    name: 'STOP_MAINTENANCE',
    check: async (c) => {
      const a = await operator(c.master, { type: 'STOP_MAINTENANCE', stop_maintenance: { machines: [{ hostname: `${SPARE}-2` }] } });
      const status = await operator(c.master, { type: 'GET_MAINTENANCE_STATUS' });
      const down = (status.json as { get_maintenance_status?: { status?: { down_machines?: Array<{ hostname?: string }> } } })?.get_maintenance_status?.status?.down_machines ?? [];
      return [...expectStatus(a, 200), ...check(!down.some((m) => m.hostname === `${SPARE}-2`), 'the machine is still down')];
    },
  },
  {
    surface: 'master operator call',
    name: 'TEARDOWN',
    check: async (c) => {
      const id = await c.spareFramework();
      const a = await operator(c.master, { type: 'TEARDOWN', teardown: { framework_id: { value: id } } });
      const frameworks = (await operator(c.master, { type: 'GET_FRAMEWORKS' })).json as { get_frameworks?: { frameworks?: Array<{ framework_info: { id: { value: string } } }> } };
      return [...expectStatus(a, 200), ...check(frameworks.get_frameworks?.frameworks?.some((f) => f.framework_info.id.value === id) === false, 'the framework is still there')];
    },
  },

  // scheduler calls (POST /api/v1/scheduler)
  {
    surface: 'scheduler call',
    name: 'SUBSCRIBE with protobuf-JSON nulls (as npm mesos-framework sends)',
    check: async (c) => {
      const abort = new AbortController();
      const response = await fetch(`${c.master}/api/v1/scheduler`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          framework_id: null,
          type: 'SUBSCRIBE',
          subscribe: {
            framework_info: {
              user: 'root',
              name: 'compat-nulls',
              id: null,
              failover_timeout: null,
              checkpoint: null,
              role: null,
              hostname: null,
              principal: null,
              webui_url: null,
              capabilities: null,
              labels: null,
            },
          },
          accept: null,
          decline: null,
        }),
        signal: abort.signal,
      });
      try {
        if (response.status !== 200) return [`status: expected 200, got ${response.status} ${(await response.text()).slice(0, 300)}`];
        const first = await decodeJsonRecords<{ type: string }>(Readable.fromWeb(response.body as never)).next();
        return check(first.value?.type === 'SUBSCRIBED', `first event: ${JSON.stringify(first.value)}`);
      } finally {
        abort.abort();
      }
    },
  },

  {
    surface: 'scheduler call',
    name: 'RECONCILE_OPERATIONS',
    check: async (c) => {
      const a = await c.schedulerCall({ type: 'RECONCILE_OPERATIONS', reconcile_operations: { operations: [{ operation_id: { value: 'compat-unknown-op' } }] } });
      if (a.status !== 202) return [`status: expected 202, got ${a.status} ${a.message}`];
      const event = await c.nextEvent('UPDATE_OPERATION_STATUS', (e) => JSON.stringify(e).includes('compat-unknown-op'));
      return [
        ...shapeErrors(event, { type: literal('UPDATE_OPERATION_STATUS'), update_operation_status: { status: { operation_id: Id, state: 'string' } } }),
        ...check((event['update_operation_status'] as { status: { state: string } }).status.state === 'OPERATION_UNKNOWN', 'an operation the master never saw is not OPERATION_UNKNOWN'),
      ];
    },
  },
  {
    surface: 'scheduler call',
    name: 'UPDATE_FRAMEWORK',
    check: async (c) => {
      const info = { id: { value: c.frameworkId }, user: 'root', name: 'compat-renamed', failover_timeout: 120 };
      const a = await c.schedulerCall({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: info } });
      const user = await c.schedulerCall({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...info, user: 'someone-else' } } });
      const frameworks = (await get(`${c.master}/master/frameworks?framework_id=${c.frameworkId}`)).json as { frameworks?: Array<{ name: string; failover_timeout: number }> };
      const f = frameworks.frameworks?.[0];
      return [
        ...check(a.status === 202, `status: expected 202, got ${a.status} ${a.message}`),
        ...check(f?.name === 'compat-renamed' && f.failover_timeout === 120, `the framework is not updated: ${JSON.stringify(f)}`),
        ...check(user.status === 400, `changing the user: expected 400, got ${user.status}`),
      ];
    },
  },
  {
    surface: 'scheduler call',
    name: 'MESSAGE (to an executor that takes none: refused, not dropped)',
    check: async (c) => {
      const a = await c.schedulerCall({ type: 'MESSAGE', message: { agent_id: { value: c.agentId }, executor_id: { value: c.taskId }, data: Buffer.from('hi').toString('base64') } });
      return check(a.status >= 400 && a.status < 600 && a.message !== '', `expected a refusal with a reason, got ${a.status} ${a.message}`);
    },
  },
  {
    surface: 'scheduler call',
    name: 'REQUEST (refused, not dropped)',
    check: async (c) => {
      const a = await c.schedulerCall({ type: 'REQUEST', request: { requests: [{ agent_id: { value: c.agentId } }] } });
      return check(a.status >= 400 && a.status < 600 && a.message !== '', `expected a refusal with a reason, got ${a.status} ${a.message}`);
    },
  },

  // agent endpoints
  {
    surface: 'agent endpoint',
    name: 'GET /slave(1)/state',
    check: async (c) => {
      const a = await get(`${c.agent}/slave(1)/state`);
      const tasks = ((a.json as { frameworks?: Array<{ executors?: Array<{ tasks?: Array<{ id: string }> }> }> })?.frameworks ?? []).flatMap((f) => f.executors ?? []).flatMap((e) => e.tasks ?? []);
      return [
        ...expectJson(a, AgentState),
        ...check(
          tasks.some((t) => t.id === c.taskId),
          'the running task is not under its framework and executor',
        ),
      ];
    },
  },
  { surface: 'agent endpoint', name: 'GET /state', check: async (c) => expectJson(await get(`${c.agent}/state`), AgentState) },
  { surface: 'agent endpoint', name: 'GET /flags', check: async (c) => expectJson(await get(`${c.agent}/flags`), { flags: values('string') }) },
  { surface: 'agent endpoint', name: 'GET /health', check: async (c) => expectStatus(await get(`${c.agent}/health`), 200) },
  { surface: 'agent endpoint', name: 'GET /version', check: async (c) => expectJson(await get(`${c.agent}/version`), VersionJson) },
  { surface: 'agent endpoint', name: 'GET /metrics/snapshot', check: async (c) => metricsSnapshot(await get(`${c.agent}/metrics/snapshot`), AGENT_METRICS) },
  {
    surface: 'agent endpoint',
    name: 'GET /containers',
    check: async (c) => {
      const a = await get(`${c.agent}/containers`);
      const errors = expectJson(a, [{ container_id: 'string', executor_id: 'string', executor_name: 'string', framework_id: 'string', source: 'string' }]);
      return [...errors, ...check(Array.isArray(a.json) && (a.json as Array<{ executor_id: string }>).some((x) => x.executor_id === c.taskId), 'the running task has no container')];
    },
  },

  // agent operator calls (POST /api/v1 on the agent)
  {
    surface: 'agent operator call',
    name: 'GET_STATE',
    check: async (c) =>
      call('GET_STATE', {
        get_tasks: { launched_tasks: opt([{ task_id: Id, state: 'string' }]) },
        get_executors: 'object',
        get_frameworks: { frameworks: opt([{ framework_info: { id: Id, name: 'string' } }]) },
      })(c.agent),
  },
  {
    surface: 'agent operator call',
    name: 'GET_CONTAINERS',
    check: async (c) => {
      const a = await operator(c.agent, { type: 'GET_CONTAINERS', get_containers: { show_nested: false, show_standalone: false } });
      const errors = expectJson(a, {
        type: literal('GET_CONTAINERS'),
        get_containers: { containers: opt([{ framework_id: opt(Id), executor_id: opt(Id), executor_name: opt('string'), container_id: Id }]) },
      });
      const ids = (a.json as { get_containers?: { containers?: Array<{ executor_id?: { value: string } }> } })?.get_containers?.containers?.map((x) => x.executor_id?.value);
      return [...errors, ...check(ids?.includes(c.taskId) === true, 'the running task has no container')];
    },
  },
  {
    surface: 'agent operator call',
    name: 'LIST_FILES',
    check: async (c) => {
      const a = await operator(c.agent, { type: 'LIST_FILES', list_files: { path: c.sandbox } });
      const errors = expectJson(a, { type: literal('LIST_FILES'), list_files: { file_infos: opt([FileInfo]) } });
      const paths = (a.json as { list_files?: { file_infos?: Array<{ path: string }> } })?.list_files?.file_infos?.map((f) => f.path) ?? [];
      const missing = await operator(c.agent, { type: 'LIST_FILES', list_files: { path: `${c.sandbox}/no-such-dir` } });
      return [
        ...errors,
        ...check(
          paths.some((p) => p.endsWith('/stdout')),
          `stdout is not listed: ${paths.join(', ')}`,
        ),
        ...expectStatus(missing, 404),
      ];
    },
  },
  {
    surface: 'agent operator call',
    name: 'READ_FILE',
    check: async (c) => {
      const a = await operator(c.agent, { type: 'READ_FILE', read_file: { path: `${c.sandbox}/stdout`, offset: 0 } });
      const errors = expectJson(a, { type: literal('READ_FILE'), read_file: { size: 'number', data: opt('string') } });
      const data = (a.json as { read_file?: { data?: string } })?.read_file?.data;
      return [...errors, ...check(data !== undefined && Buffer.from(data, 'base64').toString('utf8').includes(c.stdout), 'data is not the file (base64)')];
    },
  },
  {
    surface: 'agent operator call',
    name: 'LAUNCH_NESTED_CONTAINER_SESSION',
    check: async (c) => {
      const { status, records } = await readSession(await launchSession(c, 'compat-session', 'echo compat-session-out; echo compat-session-err >&2'));
      return [
        ...check(status === 200, `status: expected 200, got ${status}`),
        ...records.flatMap((r) => shapeErrors(r, ProcessIo)),
        ...check(outputOf(records, 'STDOUT') === 'compat-session-out\n', `stdout: ${JSON.stringify(outputOf(records, 'STDOUT'))}`),
        ...check(outputOf(records, 'STDERR') === 'compat-session-err\n', `stderr: ${JSON.stringify(outputOf(records, 'STDERR'))}`),
      ];
    },
  },
  {
    surface: 'agent operator call',
    name: 'ATTACH_CONTAINER_INPUT',
    check: async (c) => {
      // The command waits for a line on stdin: the output can only come from the attached input.
      const launched = await launchSession(c, 'compat-input', 'read line; echo "got-$line"');
      const input = await attachInput(c, 'compat-input', ['from-input\n', '']);
      const { records } = await readSession(launched);
      return [...expectStatus(input, 200), ...check(outputOf(records, 'STDOUT') === 'got-from-input\n', `stdout: ${JSON.stringify(outputOf(records, 'STDOUT'))}`)];
    },
  },
  {
    surface: 'agent operator call',
    name: 'ATTACH_CONTAINER_OUTPUT',
    check: async (c) => {
      const launched = await launchSession(c, 'compat-output', 'read line; echo "out-$line"');
      const attached = await fetch(`${c.agent}/api/v1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/recordio', 'message-accept': 'application/json' },
        body: JSON.stringify({ type: 'ATTACH_CONTAINER_OUTPUT', attach_container_output: { container_id: { value: 'compat-output' } } }),
      });
      const input = await attachInput(c, 'compat-output', ['second\n', '']);
      const [output] = await Promise.all([readSession(attached), readSession(launched)]);
      return [
        ...check(output.status === 200, `status: expected 200, got ${output.status}`),
        ...expectStatus(input, 200),
        ...check(outputOf(output.records, 'STDOUT') === 'out-second\n', `attached stdout: ${JSON.stringify(outputOf(output.records, 'STDOUT'))}`),
      ];
    },
  },

  // last: it ends the agent
  {
    surface: 'master operator call',
    name: 'MARK_AGENT_GONE',
    check: async (c) => {
      const unknown = await operator(c.master, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: 'no-such-agent' } } });
      const a = await operator(c.master, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: c.agentId } } });
      const agents = (await operator(c.master, { type: 'GET_AGENTS' })).json as { get_agents?: { agents?: Array<{ agent_info: { id: { value: string } } }> } };
      return [...expectStatus(unknown, 404), ...expectStatus(a, 200), ...check(agents.get_agents?.agents?.some((x) => x.agent_info.id.value === c.agentId) === false, 'the agent is still listed')];
    },
  },
];
