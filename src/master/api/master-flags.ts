/** The master's flags by Mesos' names and text forms (`/master/flags`, GET_FLAGS, `/master/state`'s `flags`). */
import type { Master } from '../master.ts';

export function masterFlags(master: Master): Record<string, string> {
  const o = master.options;
  return {
    allocation_interval: `${o.allocationIntervalMs / 1000}secs`,
    agent_ping_timeout: `${o.agentHeartbeatIntervalMs / 1000}secs`,
    max_agent_ping_timeouts: String(o.agentMaxMissedHeartbeats),
    ...(o.offerTimeoutMs === undefined ? {} : { offer_timeout: `${o.offerTimeoutMs / 1000}secs` }),
    ...(o.weights.size === 0 ? {} : { weights: [...o.weights].map(([role, w]) => `${role}=${w}`).join(',') }),
    ...(o.agentRemovalRate === undefined ? {} : { agent_removal_rate_limit: `${o.agentRemovalRate.agents}/${o.agentRemovalRate.perMs / 1000}secs` }),
    agent_removal_guard_fraction: String(o.agentRemovalGuardFraction),
    max_completed_frameworks: String(o.maxCompletedFrameworks),
    max_completed_tasks_per_framework: String(o.completedTasksPerFramework),
    port: String(master.port),
  };
}
