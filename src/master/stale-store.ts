/**
 * Is the master's store older than what a re-registering agent knows? (issue 15, item 5.)
 *
 * Every registration is written to the registry (`/drover/master/agents/<id>`) before REGISTERED
 * goes out, and REGISTERED carries the store's cluster id and the revision of that write; the
 * agent checkpoints both and reports them when it re-registers. In a healthy store the agent's
 * record is still there with a modRevision at least that high: revisions only grow, a later
 * registration only rewrites the record at a higher one, and a removed agent's id is refused
 * before this check. So the store is stale when
 *   - its cluster id is not the one the agent was given (a fresh or another cluster's store), or
 *   - the agent's record is missing or older than the reported revision (the store was restored
 *     from a copy taken before that registration, or lost its tail).
 * The check is per agent, against the record's own revision, not the store's current revision:
 * a restored store keeps being written (elections, frameworks) and would soon pass any
 * store-wide figure. It never fires on a healthy store after an agent restart (same record) or an
 * HA leader change (the new leader reads the same records at the same revisions from etcd), and
 * an agent without a marker (new, or checkpointed before markers existed) is not checked.
 */
import type { RegistryMarker } from '../protocol/mesos/agent-link.ts';

export type StaleStoreVerdict =
  | { stale: false }
  | { stale: true; reason: 'other-cluster'; reportedClusterId: string; storeClusterId: string; reportedRevision: number }
  | { stale: true; reason: 'record-missing'; reportedRevision: number }
  | { stale: true; reason: 'record-older'; reportedRevision: number; recordRevision: number };

/**
 * @param reported the agent's marker (absent: nothing to check)
 * @param storeClusterId the cluster id in the master's store
 * @param recordRevision modRevision of the agent's record in the registry, if it has one
 */
export function staleStoreVerdict(reported: RegistryMarker | undefined, storeClusterId: string, recordRevision: number | undefined): StaleStoreVerdict {
  if (reported === undefined) return { stale: false };
  if (reported.cluster_id !== storeClusterId) {
    return { stale: true, reason: 'other-cluster', reportedClusterId: reported.cluster_id, storeClusterId, reportedRevision: reported.revision };
  }
  if (recordRevision === undefined) return { stale: true, reason: 'record-missing', reportedRevision: reported.revision };
  if (recordRevision < reported.revision) return { stale: true, reason: 'record-older', reportedRevision: reported.revision, recordRevision };
  return { stale: false };
}

/** One sentence with the figures, for the refusal, the logs and the operator. */
export function describeStaleStore(agentId: string, verdict: Exclude<StaleStoreVerdict, { stale: false }>): string {
  const what =
    verdict.reason === 'other-cluster'
      ? `agent ${agentId} was registered by cluster ${verdict.reportedClusterId} (at store revision ${verdict.reportedRevision}), but this master's store belongs to cluster ${verdict.storeClusterId}: the store was replaced or is new`
      : verdict.reason === 'record-missing'
        ? `agent ${agentId} was registered at store revision ${verdict.reportedRevision}, but this master's store has no record of it: the store is older than that registration (restored from an older copy, or it lost its latest writes)`
        : `agent ${agentId} was registered at store revision ${verdict.reportedRevision}, but this master's store holds its record only at revision ${verdict.recordRevision}: the store is older than that registration (restored from an older copy, or it lost its latest writes)`;
  return `${what}. The agent is refused and keeps its tasks running. Put the newest copy of the store back, or restart the master with --accept-stale-store to adopt the agent and its tasks on this store.`;
}
