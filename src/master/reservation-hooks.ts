/**
 * Where reservations meet an agent's (re-)registration: its declared resources, the master's
 * ledger for it and the agent's own checkpoint. Kept apart so agent-calls.ts carries one call.
 */
import type { Resources } from '../resources/index.ts';
import type { ResourceJson } from '../protocol/mesos/scheduler.ts';
import type { Master } from './master.ts';
import type { AgentRecord } from './model.ts';
import { applyLedger, ledgerFromJson, ledgerToJson } from './reservations.ts';

/**
 * At (re-)registration: the master's ledger for the agent wins (it is in the store); an agent the
 * master has none for (a store that lost it) brings its own checkpoint, which is adopted and
 * stored. Either way the agent is told the ledger, so its checkpoint and volume directories match.
 */
export function registeredTotal(master: Master, agent: AgentRecord, declared: Resources, checkpointed: readonly ResourceJson[] | undefined): Resources {
  const known = agent.reservations ?? [];
  const adopt = known.length === 0 && checkpointed !== undefined && checkpointed.length > 0;
  const ledger = adopt ? ledgerFromJson(checkpointed) : known;
  if (ledger.length === 0) {
    delete agent.reservations;
    return declared;
  }
  const { total, applied, dropped } = applyLedger(declared, ledger);
  if (dropped.length > 0) master.log.warn({ agentId: agent.id, dropped: dropped.map((e) => e.value.format()) }, 'reservations-no-longer-fit');
  agent.reservations = applied;
  const json = ledgerToJson(applied);
  if (adopt || dropped.length > 0) {
    master.registry.putReservations(agent.id, json).catch((error: unknown) => master.log.error({ agentId: agent.id, error }, 'registry-write-failed'));
  }
  master.sendToAgent(agent.id, { type: 'CHECKPOINT_RESOURCES', checkpoint_resources: { resources: json } });
  return total;
}
