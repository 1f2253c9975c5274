/**
 * The rest of Mesos' master operator calls (`POST /api/v1`, master.proto), in Mesos' shapes:
 * GET_FLAGS, GET_METRICS, GET_LOGGING_LEVEL, SET_LOGGING_LEVEL, LIST_FILES, READ_FILE,
 * GET_EXECUTORS, GET_OPERATIONS, the maintenance schedule (GET_MAINTENANCE_SCHEDULE|STATUS,
 * UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE, STOP_MAINTENANCE), TEARDOWN and
 * MARK_AGENT_GONE. Calls that change something answer 200 with no body, as Mesos does.
 */
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import type { Master } from '../master.ts';
import { LoggingLevel, MAX_VERBOSITY } from '../logging-level.ts';
import { type MachineId, MaintenanceSchedule, type Schedule } from '../maintenance-schedule.ts';
import { masterMetricsSnapshot } from '../metrics-snapshot.ts';
import { teardown } from '../scheduler-calls.ts';
import { masterFlags } from './master-flags.ts';

export const CLUSTER_CALLS = [
  'GET_FLAGS',
  'GET_METRICS',
  'GET_LOGGING_LEVEL',
  'SET_LOGGING_LEVEL',
  'LIST_FILES',
  'READ_FILE',
  'GET_EXECUTORS',
  'GET_OPERATIONS',
  'GET_MAINTENANCE_SCHEDULE',
  'GET_MAINTENANCE_STATUS',
  'UPDATE_MAINTENANCE_SCHEDULE',
  'START_MAINTENANCE',
  'STOP_MAINTENANCE',
  'TEARDOWN',
  'MARK_AGENT_GONE',
] as const;
export type ClusterCall = (typeof CLUSTER_CALLS)[number];

export function isClusterCall(type: unknown): type is ClusterCall {
  return typeof type === 'string' && (CLUSTER_CALLS as readonly string[]).includes(type);
}

const Id = Type.Object({ value: Type.String({ minLength: 1, maxLength: 512 }) });
const Duration = Type.Object({ nanoseconds: Type.Integer() });
export const MachineIdSchema = Type.Object({ hostname: Type.Optional(Type.String({ maxLength: 255 })), ip: Type.Optional(Type.String({ maxLength: 64 })) });
export const Machines = Type.Array(MachineIdSchema, { maxItems: 10_000 });
export const ScheduleSchema = Type.Object({
  windows: Type.Optional(
    Type.Array(
      Type.Object({
        machine_ids: Type.Array(MachineIdSchema, { maxItems: 10_000 }),
        unavailability: Type.Object({ start: Duration, duration: Type.Optional(Duration) }),
      }),
      { maxItems: 1000 },
    ),
  ),
});
const Path = Type.String({ minLength: 1, maxLength: 4096 });

const Call = compileValidator(
  Type.Object({
    type: Type.Enum(CLUSTER_CALLS),
    get_metrics: Type.Optional(Type.Object({ timeout: Type.Optional(Duration) })),
    set_logging_level: Type.Optional(Type.Object({ level: Type.Integer({ minimum: 0, maximum: MAX_VERBOSITY }), duration: Type.Object({ nanoseconds: Type.Integer({ minimum: 0 }) }) })),
    list_files: Type.Optional(Type.Object({ path: Path })),
    read_file: Type.Optional(Type.Object({ path: Path, offset: Type.Integer({ minimum: 0 }), length: Type.Optional(Type.Integer({ minimum: 0 })) })),
    update_maintenance_schedule: Type.Optional(Type.Object({ schedule: ScheduleSchema })),
    start_maintenance: Type.Optional(Type.Object({ machines: Machines })),
    stop_maintenance: Type.Optional(Type.Object({ machines: Machines })),
    teardown: Type.Optional(Type.Object({ framework_id: Id })),
    mark_agent_gone: Type.Optional(Type.Object({ agent_id: Id })),
  }),
);

/** The call's own message (`teardown` for TEARDOWN, …), required as Mesos requires it. */
function part<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new DroverError('MALFORMED', `Expecting '${field}' to be present`, { details: [{ path: `/${field}`, errors: ['required for this call type'] }] });
  return value;
}

const schedules = new WeakMap<Master, MaintenanceSchedule>();
const loggingLevels = new WeakMap<Master, LoggingLevel>();

/** The master's maintenance schedule (loaded from the store on first use). */
export function scheduleOf(master: Master): MaintenanceSchedule {
  let schedule = schedules.get(master);
  if (schedule === undefined) {
    schedule = new MaintenanceSchedule(master.store, {
      agentsOn: (machine) => agentsOn(master, machine),
      down: (agentId) => master.maintenance.drain(agentId, {}),
      up: async (agentId) => {
        if (master.agents.get(agentId)?.maintenance !== undefined) await master.maintenance.reactivate(agentId);
      },
    });
    schedules.set(master, schedule);
  }
  return schedule;
}

function agentsOn(master: Master, machine: MachineId): string[] {
  const host = machine.hostname?.toLowerCase();
  return [...master.agents.values()]
    .filter((a) => (host !== undefined && host !== '' && a.hostname.toLowerCase() === host) || (machine.ip !== undefined && machine.ip !== '' && a.address?.replace(/^::ffff:/, '') === machine.ip))
    .map((a) => a.id);
}

function loggingLevelOf(master: Master): LoggingLevel {
  let level = loggingLevels.get(master);
  if (level === undefined) {
    level = new LoggingLevel(master.log);
    loggingLevels.set(master, level);
  }
  return level;
}

export function toSchedule(raw: { windows?: Schedule['windows'] }): Schedule {
  return { windows: raw.windows ?? [] };
}

/** Mesos' master serves only its log through its file API (`/master/log`, with --log_dir); Drover's master logs to stdout. */
function noSuchFile(path: string): never {
  throw new DroverError(
    'NOT_FOUND',
    `Failed to find '${path}': the master serves no files (its log goes to stdout); read sandboxes through the agents' /files or the master's /agent/<agent-id>/files relay`,
  );
}

export async function handleClusterCall(master: Master, body: unknown, reply: FastifyReply): Promise<unknown> {
  let call;
  try {
    call = Call.validate(body, 'Failed to validate master::Call');
  } catch (e) {
    if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
    throw e;
  }
  switch (call.type) {
    case 'GET_FLAGS':
      return { type: call.type, get_flags: { flags: Object.entries(masterFlags(master)).map(([name, value]) => ({ name, value })) } };
    case 'GET_METRICS': {
      const snapshot = await masterMetricsSnapshot(master);
      return { type: call.type, get_metrics: { metrics: Object.entries(snapshot).map(([name, value]) => ({ name, value })) } };
    }
    case 'GET_LOGGING_LEVEL':
      return { type: call.type, get_logging_level: { level: loggingLevelOf(master).level } };
    case 'SET_LOGGING_LEVEL': {
      const set = part(call.set_logging_level, 'set_logging_level');
      loggingLevelOf(master).set(set.level, set.duration.nanoseconds / 1e6);
      return reply.code(200).send();
    }
    case 'LIST_FILES':
      return noSuchFile(part(call.list_files, 'list_files').path);
    case 'READ_FILE':
      return noSuchFile(part(call.read_file, 'read_file').path);
    case 'GET_EXECUTORS':
      // The master knows no executors: command tasks' executors are the agent's own, and a task
      // group's executor is not kept after its launch (model.ts keptTaskInfo).
      return { type: call.type, get_executors: { executors: [], orphan_executors: [] } };
    case 'GET_OPERATIONS':
      // Offer operations are applied at ACCEPT and their status sent then: none is pending.
      return { type: call.type, get_operations: { operations: [] } };
    case 'GET_MAINTENANCE_SCHEDULE':
      return { type: call.type, get_maintenance_schedule: { schedule: await scheduleOf(master).get() } };
    case 'GET_MAINTENANCE_STATUS':
      return { type: call.type, get_maintenance_status: { status: await scheduleOf(master).status() } };
    case 'UPDATE_MAINTENANCE_SCHEDULE':
      await scheduleOf(master).update(toSchedule(part(call.update_maintenance_schedule, 'update_maintenance_schedule').schedule), '/update_maintenance_schedule/schedule');
      return reply.code(200).send();
    case 'START_MAINTENANCE':
      await scheduleOf(master).down(part(call.start_maintenance, 'start_maintenance').machines, '/start_maintenance/machines');
      return reply.code(200).send();
    case 'STOP_MAINTENANCE':
      await scheduleOf(master).up(part(call.stop_maintenance, 'stop_maintenance').machines, '/stop_maintenance/machines');
      return reply.code(200).send();
    case 'TEARDOWN': {
      const id = part(call.teardown, 'teardown').framework_id.value;
      await tearDownFramework(master, id);
      return reply.code(200).send();
    }
    case 'MARK_AGENT_GONE': {
      // Mesos: the agent is gone for good — its tasks TASK_GONE, its id refused from now on. With
      // TLS and auth that is also the revocation of its certificate and its token: the guard
      // refuses any connection whose certificate binds a gone agent id (src/iam/guard.ts).
      const id = part(call.mark_agent_gone, 'mark_agent_gone').agent_id.value;
      if (master.goneAgents.has(id)) return reply.code(200).send();
      const agent = master.agents.get(id);
      if (agent === undefined) throw new DroverError('NOT_FOUND', `Agent '${id.slice(0, 200)}' not found`);
      await master.confirmLeadership();
      await master.removeAgentAsGone(agent, 'marked gone by an operator (MARK_AGENT_GONE): its certificate and token are revoked');
      return reply.code(200).send();
    }
  }
}

/** Operator teardown (TEARDOWN, `/master/teardown`): the framework and its tasks go, as on its own TEARDOWN. */
export async function tearDownFramework(master: Master, id: string): Promise<void> {
  const framework = master.frameworks.get(id);
  // Mesos: "No framework found with specified ID" is a 400 on both APIs.
  if (framework === undefined) throw new DroverError('MALFORMED', 'No framework found with specified ID', { details: [{ path: '/framework_id', errors: [`unknown framework ${id}`] }] });
  await master.confirmLeadership();
  teardown(master, framework);
}
