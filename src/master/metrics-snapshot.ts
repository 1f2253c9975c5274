/**
 * `/metrics/snapshot` and GET_METRICS in Mesos' names (docs/monitoring.md, "Master"): a flat map
 * of `master/<name>` to a number, computed from the master's model when asked. Counters Mesos
 * keeps since election (tasks finished, failed, …) come from the Prometheus counters of status
 * updates sent to frameworks, so they count from this master's start as Mesos' do.
 */
import { TASK_STATES } from '../protocol/mesos/enums.ts';
import type { Master } from './master.ts';
import { Resources } from '../resources/index.ts';

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR'];

/** TASK_RUNNING → master/tasks_running. */
const name = (state: string): string => `master/tasks_${state.slice('TASK_'.length).toLowerCase()}`;

function scalar(resources: Resources, name: string): number {
  let sum = 0;
  for (const r of resources) if (r.name === name && r.value.type === 'SCALAR') sum += r.value.toNumber();
  return sum;
}

export async function masterMetricsSnapshot(master: Master): Promise<Record<string, number>> {
  const agents = [...master.agents.values()];
  const frameworks = [...master.frameworks.values()];
  const out: Record<string, number> = {
    'master/uptime_secs': (master.now() - master.startedAt) / 1000,
    // Only the leading master runs a Master; a standby answers with a redirect.
    'master/elected': 1,
    'master/slaves_active': agents.filter((a) => a.status === 'active' && a.maintenance?.deactivated !== true).length,
    'master/slaves_inactive': agents.filter((a) => a.maintenance?.deactivated === true).length,
    'master/slaves_connected': agents.filter((a) => a.status === 'active').length,
    'master/slaves_disconnected': agents.filter((a) => a.status !== 'active').length,
    'master/slaves_unreachable': agents.filter((a) => a.status === 'unreachable').length,
    'master/frameworks_active': frameworks.filter((f) => f.stream?.isOpen === true).length,
    'master/frameworks_inactive': frameworks.filter((f) => f.stream?.isOpen !== true).length,
    'master/frameworks_connected': frameworks.filter((f) => f.stream?.isOpen === true).length,
    'master/frameworks_disconnected': frameworks.filter((f) => f.stream?.isOpen !== true).length,
    'master/outstanding_offers': master.offers.size,
  };
  const live = new Map<string, number>();
  for (const t of master.tasks.values()) live.set(t.state, (live.get(t.state) ?? 0) + 1);
  for (const state of TASK_STATES) if (!TERMINAL.includes(state)) out[name(state)] = live.get(state) ?? 0;
  const updates = await master.metrics.statusUpdates.get();
  for (const state of TERMINAL) out[name(state)] = updates.values.filter((v) => v.labels['state'] === state).reduce((s, v) => s + v.value, 0);
  const total = agents.reduce((s, a) => s.add(a.total), Resources.EMPTY);
  const used = agents.reduce((s, a) => s.add(a.used), Resources.EMPTY);
  for (const resource of ['cpus', 'mem', 'disk', 'gpus']) {
    const t = scalar(total, resource);
    const u = scalar(used, resource);
    out[`master/${resource}_total`] = t;
    out[`master/${resource}_used`] = u;
    out[`master/${resource}_percent`] = t === 0 ? 0 : u / t;
  }
  return out;
}
