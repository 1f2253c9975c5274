/**
 * Master metrics in Prometheus format (GET /metrics). One registry per master, so that several
 * masters in one test process do not share counters.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class MasterMetrics {
  readonly registry = new Registry();
  readonly offersMade = new Counter({ name: 'drover_master_offers_made_total', help: 'Offers sent to frameworks', registers: [this.registry] });
  readonly offersDeclined = new Counter({ name: 'drover_master_offers_declined_total', help: 'Offers declined by frameworks', registers: [this.registry] });
  readonly offersRescinded = new Counter({ name: 'drover_master_offers_rescinded_total', help: 'Offers rescinded by the master', registers: [this.registry] });
  readonly tasksLaunched = new Counter({ name: 'drover_master_tasks_launched_total', help: 'Tasks sent to agents', registers: [this.registry] });
  readonly tasksRejected = new Counter({ name: 'drover_master_tasks_rejected_total', help: 'Tasks answered TASK_ERROR or TASK_DROPPED', labelNames: ['state'], registers: [this.registry] });
  readonly statusUpdates = new Counter({ name: 'drover_master_status_updates_total', help: 'Status updates sent to frameworks', labelNames: ['state'], registers: [this.registry] });
  readonly frameworksRemoved = new Counter({ name: 'drover_master_frameworks_removed_total', help: 'Frameworks torn down', registers: [this.registry] });
  readonly agentsUnreachable = new Counter({ name: 'drover_master_agents_unreachable_total', help: 'Agents marked unreachable', registers: [this.registry] });
  readonly agentsRemoved = new Counter({ name: 'drover_master_agents_removed_total', help: 'Agents removed for good (rebooted machines, replaced at their address)', registers: [this.registry] });
  readonly agentsRemovalHeld = new Gauge({
    name: 'drover_master_agents_removal_held',
    help: 'Silent agents held back from being marked unreachable by the removal limits',
    registers: [this.registry],
  });
  readonly agentsRefusedStaleStore = new Counter({
    name: 'drover_master_agent_registrations_refused_stale_store_total',
    help: 'Agent re-registrations refused because the store is older than the agent was registered with (DROVER_ERR_STORE_STALE)',
    registers: [this.registry],
  });
  readonly agentsAcceptedStaleStore = new Counter({
    name: 'drover_master_agent_registrations_accepted_stale_store_total',
    help: 'Agent re-registrations from a newer store adopted under --accept-stale-store',
    registers: [this.registry],
  });
  readonly agentsRegistered = new Gauge({ name: 'drover_master_agents_registered', help: 'Agents currently registered and active', registers: [this.registry] });
  readonly frameworksConnected = new Gauge({ name: 'drover_master_frameworks_connected', help: 'Frameworks with an open subscription', registers: [this.registry] });
  /** Read at scrape time: the soak scenario (sim/soak-scenario.ts) follows it beside the RSS. */
  readonly heapUsed = new Gauge({
    name: 'drover_process_heap_used_bytes',
    help: 'V8 heap in use by this process (process.memoryUsage().heapUsed)',
    registers: [this.registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  readonly allocationSeconds = new Histogram({
    name: 'drover_master_allocation_cycle_seconds',
    help: 'Duration of one offer cycle',
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
}
