/**
 * The Mesos v1 operator API on the master: `POST /api/v1` with `{"type": "GET_STATE"}` and
 * friends (synchronous JSON answers), and SUBSCRIBE: a RecordIO stream that starts with a full
 * state snapshot and then carries TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
 * FRAMEWORK_ADDED/UPDATED/REMOVED and HEARTBEAT — what UIs and tools follow instead of polling.
 */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { EventStream } from '../stream.ts';
import type { Master } from '../master.ts';
import { v1Agent, v1Framework, v1Task } from '../views-v1.ts';
import { principalOf } from '../../iam/guard.ts';
import { isReservationCall, RESERVATION_CALLS, RESERVATION_CALL_FIELDS, reservationCall } from './operator-reservations.ts';
import { handleQuotaCall, isQuotaCall, registerQuotaRoutes } from './operator-quota.ts';

export const OPERATOR_CALLS = [
  'GET_HEALTH',
  'GET_STATE',
  'GET_AGENTS',
  'GET_TASKS',
  'GET_FRAMEWORKS',
  'GET_VERSION',
  'GET_MASTER',
  'SUBSCRIBE',
  'DRAIN_AGENT',
  'DEACTIVATE_AGENT',
  'REACTIVATE_AGENT',
  'MARK_AGENT_GONE',
  ...RESERVATION_CALLS,
] as const;
const AgentId = Type.Object({ value: Type.String({ minLength: 1, maxLength: 512 }) });
const OperatorCall = compileValidator(
  Type.Object({
    type: Type.Enum(OPERATOR_CALLS),
    drain_agent: Type.Optional(
      Type.Object({
        agent_id: AgentId,
        max_grace_period: Type.Optional(Type.Object({ nanoseconds: Type.Integer({ minimum: 0 }) })),
        mark_gone: Type.Optional(Type.Boolean()),
      }),
    ),
    deactivate_agent: Type.Optional(Type.Object({ agent_id: AgentId })),
    reactivate_agent: Type.Optional(Type.Object({ agent_id: AgentId })),
    mark_agent_gone: Type.Optional(Type.Object({ agent_id: AgentId })),
    ...RESERVATION_CALL_FIELDS,
  }),
);

/** The call's own message (`drain_agent` for DRAIN_AGENT, …), required as Mesos requires it. */
function body<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new DroverError('MALFORMED', `Expecting '${field}' to be present`, { details: [{ path: `/${field}`, errors: ['required for this call type'] }] });
  return value;
}

function getTasks(master: Master): Record<string, unknown> {
  const live = [...master.tasks.values()];
  return {
    tasks: live.filter((t) => t.state !== 'TASK_UNREACHABLE').map(v1Task),
    unreachable_tasks: live.filter((t) => t.state === 'TASK_UNREACHABLE').map(v1Task),
    completed_tasks: [...master.completedTasks.values(), ...master.completedFrameworks.list().map((c) => c.tasks)].flat().map(v1Task),
  };
}

function getAgents(master: Master): Record<string, unknown> {
  return { agents: [...master.agents.values()].map(v1Agent), recovered_agents: [] };
}

function getFrameworks(master: Master): Record<string, unknown> {
  return { frameworks: [...master.frameworks.values()].map(v1Framework), completed_frameworks: master.completedFrameworks.list().map((c) => v1Framework(c.framework)) };
}

export function getState(master: Master): Record<string, unknown> {
  return { get_tasks: getTasks(master), get_executors: { executors: [] }, get_frameworks: getFrameworks(master), get_agents: getAgents(master) };
}

export function registerOperatorV1Routes(app: FastifyInstance, master: Master): void {
  registerQuotaRoutes(app, master);
  app.post('/api/v1', async (request, reply) => {
    // Roles, weights and quota: operator-quota.ts.
    const type = (request.body as { type?: unknown } | null)?.type;
    if (isQuotaCall(type)) return handleQuotaCall(master, request.body as Record<string, unknown>, reply);
    let call;
    try {
      call = OperatorCall.validate(request.body, 'Failed to validate master::Call');
    } catch (e) {
      if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
      throw e;
    }
    if (isReservationCall(call.type)) {
      await reservationCall(master, call.type, call, principalOf(request)?.uid);
      return reply.code(202).send();
    }
    switch (call.type) {
      case 'GET_HEALTH':
        return { type: 'GET_HEALTH', get_health: { healthy: true } };
      case 'GET_VERSION':
        return { type: 'GET_VERSION', get_version: { version_info: { version: '1.11.0' } } };
      case 'GET_MASTER':
        return { type: 'GET_MASTER', get_master: { master_info: { id: master.id, hostname: master.hostname, port: master.port } } };
      case 'GET_STATE':
        return { type: 'GET_STATE', get_state: getState(master) };
      case 'GET_AGENTS':
        return { type: 'GET_AGENTS', get_agents: getAgents(master) };
      case 'GET_TASKS':
        return { type: 'GET_TASKS', get_tasks: getTasks(master) };
      case 'GET_FRAMEWORKS':
        return { type: 'GET_FRAMEWORKS', get_frameworks: getFrameworks(master) };
      // Maintenance answers 200 with no body, as Mesos does.
      case 'DRAIN_AGENT': {
        const drain = body(call.drain_agent, 'drain_agent');
        await master.maintenance.drain(drain.agent_id.value, {
          ...(drain.max_grace_period ? { maxGracePeriodNs: drain.max_grace_period.nanoseconds } : {}),
          ...(drain.mark_gone === undefined ? {} : { markGone: drain.mark_gone }),
        });
        return reply.code(200).send();
      }
      case 'DEACTIVATE_AGENT':
        await master.maintenance.deactivate(body(call.deactivate_agent, 'deactivate_agent').agent_id.value);
        return reply.code(200).send();
      case 'REACTIVATE_AGENT':
        await master.maintenance.reactivate(body(call.reactivate_agent, 'reactivate_agent').agent_id.value);
        return reply.code(200).send();
      case 'MARK_AGENT_GONE': {
        // Mesos: the agent is gone for good — its tasks TASK_GONE, its id refused from now on. With
        // TLS and auth that is also the revocation of its certificate and its token: the guard
        // refuses any connection whose certificate binds a gone agent id (src/iam/guard.ts).
        const id = body(call.mark_agent_gone, 'mark_agent_gone').agent_id.value;
        if (master.goneAgents.has(id)) return reply.code(200).send();
        const agent = master.agents.get(id);
        if (agent === undefined) throw new DroverError('NOT_FOUND', `Agent '${id.slice(0, 200)}' is not registered`);
        await master.removeAgentAsGone(agent, 'marked gone by an operator (MARK_AGENT_GONE): its certificate and token are revoked');
        return reply.code(200).send();
      }
      case 'SUBSCRIBE': {
        const stream = new EventStream(reply.raw);
        reply.hijack();
        stream.open({});
        stream.send({ type: 'SUBSCRIBED', subscribed: { get_state: getState(master), heartbeat_interval_seconds: master.options.frameworkHeartbeatIntervalMs / 1000 } });
        master.operatorStreams.add(stream);
        stream.onClose(() => master.operatorStreams.delete(stream));
        return;
      }
    }
  });
}
