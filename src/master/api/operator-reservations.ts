/**
 * The operator's reservation calls on `POST /api/v1` (Mesos' master::Call): RESERVE_RESOURCES,
 * UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES. They act on the agent's resources that no
 * task uses: outstanding offers on the agent are rescinded first (Mesos does the same), then the
 * operation is validated and applied as an offer operation would be (offer-operations.ts), stored,
 * and sent to the agent. Answers: 202 Accepted once stored; 400 for an invalid request (with the
 * field path); 409 when the agent is not active or the resources are not available (in use, not
 * reserved, a volume in use).
 *
 * Principals: with HTTP authentication on, a reservation's principal (and a volume's persistence
 * principal) must be the authenticated principal, as in Mesos.
 */
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { ResourceJson } from '../../protocol/mesos/scheduler.ts';
import type { Master } from '../master.ts';
import { applyOperation, commit, Conflict, workingState, type ReservationOperation } from '../offer-operations.ts';

export const RESERVATION_CALLS = ['RESERVE_RESOURCES', 'UNRESERVE_RESOURCES', 'CREATE_VOLUMES', 'DESTROY_VOLUMES'] as const;
export type ReservationCall = (typeof RESERVATION_CALLS)[number];

const AgentId = Type.Object({ value: Type.String({ minLength: 1, maxLength: 512 }) });
const List = Type.Array(ResourceJson, { maxItems: 1024 });

/** The call-specific fields of operator-v1.ts' schema. */
export const RESERVATION_CALL_FIELDS = {
  reserve_resources: Type.Optional(Type.Object({ agent_id: AgentId, source: Type.Optional(List), resources: List })),
  unreserve_resources: Type.Optional(Type.Object({ agent_id: AgentId, resources: List })),
  create_volumes: Type.Optional(Type.Object({ agent_id: AgentId, volumes: List })),
  destroy_volumes: Type.Optional(Type.Object({ agent_id: AgentId, volumes: List })),
};

interface Body {
  reserve_resources?: { agent_id: { value: string }; source?: ResourceJson[]; resources: ResourceJson[] };
  unreserve_resources?: { agent_id: { value: string }; resources: ResourceJson[] };
  create_volumes?: { agent_id: { value: string }; volumes: ResourceJson[] };
  destroy_volumes?: { agent_id: { value: string }; volumes: ResourceJson[] };
}

export function isReservationCall(type: string): type is ReservationCall {
  return (RESERVATION_CALLS as readonly string[]).includes(type);
}

/** Runs the call; resolves once the change is stored (the caller answers 202). */
export async function reservationCall(master: Master, type: ReservationCall, call: Body, principal: string | undefined): Promise<void> {
  const field = type.toLowerCase() as keyof Body;
  const body = call[field];
  if (body === undefined) throw new DroverError('MALFORMED', `Expecting '${field}' to be present`, { details: [{ path: `/${field}`, errors: ['required for this call type'] }] });
  const listField = 'volumes' in body ? 'volumes' : 'resources';
  const steps: Array<[ReservationOperation, ResourceJson[], string]> = [];
  const list = (body as { volumes?: ResourceJson[]; resources?: ResourceJson[] })[listField] ?? [];
  switch (type) {
    case 'RESERVE_RESOURCES': {
      // `source`: re-reserve — what is reserved now goes first, then the new reservation.
      const source = call.reserve_resources?.source ?? [];
      if (source.length > 0) steps.push(['UNRESERVE', source, 'source']);
      steps.push(['RESERVE', list, listField]);
      break;
    }
    case 'UNRESERVE_RESOURCES':
      steps.push(['UNRESERVE', list, listField]);
      break;
    case 'CREATE_VOLUMES':
      steps.push(['CREATE', list, listField]);
      break;
    case 'DESTROY_VOLUMES':
      steps.push(['DESTROY', list, listField]);
      break;
  }
  const agentId = body.agent_id.value;
  const agent = master.agents.get(agentId);
  if (agent === undefined) {
    throw new DroverError('MALFORMED', `No agent found with specified ID ${agentId}`, { details: [{ path: `/${field}/agent_id/value`, errors: ['unknown agent'] }] });
  }
  if (agent.status !== 'active') throw new DroverError('CONFLICT', `Agent ${agentId} is ${agent.status}: its resources cannot change now`);
  await master.confirmLeadership();
  // What no task uses, offers included: they are withdrawn so the operation can use them.
  master.rescindOffersOn(agent.id);
  const state = workingState(master, agent, agent.total.subtract(agent.used));
  for (const [op, resources, at] of steps) {
    const refusal = applyOperation(state, op, resources, { kind: 'operator', ...(principal === undefined ? {} : { principal }) });
    if (refusal === undefined) continue;
    if (refusal instanceof Conflict) throw new DroverError('CONFLICT', refusal.message, { details: [{ path: `/${field}/${at}`, errors: [refusal.message] }] });
    const index = /^resources\[(\d+)\]: /.exec(refusal);
    const path = index === null ? `/${field}/${at}` : `/${field}/${at}/${index[1]}`;
    throw new DroverError('MALFORMED', refusal, { details: [{ path, errors: [refusal] }] });
  }
  await commit(master, agent, state);
  master.scheduleAllocation();
}
