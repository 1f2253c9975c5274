/**
 * The master's tasks as the VIP table needs them, kept from the operator API's SUBSCRIBE stream
 * (Mesos v1: SUBSCRIBED with the full state, then TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
 * AGENT_REMOVED). Pure bookkeeping: `apply(event)` says whether anything the table reads changed;
 * `tasks(agentIps)` builds the table's input. VIP labels travel with each task in its
 * `discovery.ports.ports[].labels` — where Marathon puts port labels, and where dcos-net reads them.
 */
import type { VipTask, VipTaskPort } from './table.ts';

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_LOST']);
const MAX_PORTS = 64;
const MAX_LABELS = 64;

interface Kept {
  taskId: string;
  agentId: string;
  state: string;
  healthy?: boolean;
  containerIp?: string;
  cni: boolean;
  ports: VipTaskPort[];
  /** Kept from before a re-subscription, until its agent re-registers (see SUBSCRIBED). */
  kept?: boolean;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function portsOf(task: Json): VipTaskPort[] {
  return arr(obj(obj(task['discovery'])['ports'])['ports'])
    .slice(0, MAX_PORTS)
    .map((p) => {
      const port = obj(p);
      const labels: Record<string, string> = {};
      for (const l of arr(obj(port['labels'])['labels']).slice(0, MAX_LABELS)) {
        const key = str(obj(l)['key']);
        const value = str(obj(l)['value']);
        if (key !== undefined && value !== undefined) labels[key] = value;
      }
      const number = port['number'];
      return { number: typeof number === 'number' && Number.isInteger(number) ? number : 0, protocol: str(port['protocol']) ?? 'tcp', labels };
    })
    .filter((p) => p.number > 0 && p.number < 65536);
}

function containerIpOf(status: Json): string | undefined {
  const info = obj(arr(obj(status['container_status'])['network_infos'])[0]);
  return str(obj(arr(info['ip_addresses'])[0])['ip_address']);
}

function applyStatus(kept: Kept, status: Json, state: string | undefined): void {
  kept.state = state ?? str(status['state']) ?? kept.state;
  const healthy = status['healthy'];
  if (typeof healthy === 'boolean') kept.healthy = healthy;
  const ip = containerIpOf(status);
  if (ip !== undefined) kept.containerIp = ip;
}

export class VipTaskView {
  private readonly byId = new Map<string, Kept>();
  /** agent id → hostname (as the agent registered it). */
  readonly agents = new Map<string, string>();
  /** Agents the master lists as not active (recovered from its registry, or unreachable). */
  private readonly recovering = new Set<string>();
  /** Whether the full state (SUBSCRIBED) has been seen: before it, nothing is programmed. */
  synced = false;

  /** Takes one operator event; true if the VIP table may have changed. */
  apply(event: unknown): boolean {
    const e = obj(event);
    switch (e['type']) {
      case 'SUBSCRIBED': {
        const previous = this.synced ? [...this.byId.values()] : [];
        this.byId.clear();
        this.agents.clear();
        this.recovering.clear();
        const state = obj(obj(e['subscribed'])['get_state']);
        for (const a of arr(obj(state['get_agents'])['agents'])) this.addAgent(a);
        const tasks = obj(state['get_tasks']);
        for (const t of arr(tasks['tasks'])) this.addTask(t);
        // A master that has just restarted knows its agents (the registry) but not yet their
        // tasks: those come back as each agent re-registers. Until then, the tasks we knew on
        // such an agent stay — serving an empty VIP after a master failover was dcos-net's bug
        // (dcos/dcos#6267). Tasks the master lists as unreachable are not kept.
        const listed = new Set(arr(tasks['unreachable_tasks']).map((t) => str(obj(obj(t)['task_id'])['value'])));
        for (const t of previous) if (this.recovering.has(t.agentId) && !this.byId.has(t.taskId) && !listed.has(t.taskId)) this.byId.set(t.taskId, { ...t, kept: true });
        this.synced = true;
        return true;
      }
      case 'TASK_ADDED':
        return this.addTask(obj(e['task_added'])['task']);
      case 'TASK_UPDATED': {
        const u = obj(e['task_updated']);
        const status = obj(u['status']);
        const id = str(obj(status['task_id'])['value']);
        const kept = id === undefined ? undefined : this.byId.get(id);
        if (kept === undefined || id === undefined) return false;
        const state = str(u['state']);
        if (state !== undefined && TERMINAL.has(state)) {
          this.byId.delete(id);
          return kept.ports.length > 0;
        }
        applyStatus(kept, status, state);
        return kept.ports.length > 0;
      }
      case 'AGENT_ADDED': {
        const id = this.addAgent(obj(e['agent_added'])['agent']);
        // Re-registered: its live tasks came as TASK_ADDED just before; the kept ones that did
        // not have ended meanwhile.
        if (id !== undefined && !this.recovering.has(id)) this.dropKept(id);
        return true;
      }
      case 'AGENT_REMOVED': {
        const id = str(obj(obj(e['agent_removed'])['agent_id'])['value']);
        if (id !== undefined) {
          this.agents.delete(id);
          this.recovering.delete(id);
          for (const [taskId, t] of this.byId) if (t.agentId === id) this.byId.delete(taskId);
        }
        return true;
      }
      default:
        return false;
    }
  }

  private addAgent(raw: unknown): string | undefined {
    const agent = obj(raw);
    const info = obj(agent['agent_info']);
    const id = str(obj(info['id'])['value']);
    const hostname = str(info['hostname']);
    if (id === undefined) return undefined;
    if (hostname !== undefined) this.agents.set(id, hostname);
    if (agent['active'] === false) this.recovering.add(id);
    else this.recovering.delete(id);
    return id;
  }

  private dropKept(agentId: string): void {
    for (const [taskId, t] of this.byId) if (t.agentId === agentId && t.kept === true) this.byId.delete(taskId);
  }

  private addTask(raw: unknown): boolean {
    const t = obj(raw);
    const taskId = str(obj(t['task_id'])['value']);
    const agentId = str(obj(t['agent_id'])['value']);
    const state = str(t['state']) ?? 'TASK_STAGING';
    if (taskId === undefined || agentId === undefined || TERMINAL.has(state)) return false;
    const kept: Kept = { taskId, agentId, state, cni: arr(obj(t['container'])['network_infos']).length > 0, ports: portsOf(t) };
    const statuses = arr(t['statuses']);
    for (const s of statuses) applyStatus(kept, obj(s), undefined);
    kept.state = state;
    this.byId.set(taskId, kept);
    return kept.ports.length > 0;
  }

  /** Hostnames of agents that run a task with ports (the shell resolves them). */
  hostnames(): string[] {
    const out = new Set<string>();
    for (const t of this.byId.values()) if (t.ports.length > 0) out.add(this.agents.get(t.agentId) ?? '');
    out.delete('');
    return [...out];
  }

  /** The table's input; `agentIps` maps hostnames to IPv4 addresses. */
  tasks(agentIps: ReadonlyMap<string, string>): VipTask[] {
    const out: VipTask[] = [];
    for (const t of this.byId.values()) {
      if (t.ports.length === 0) continue;
      const hostname = this.agents.get(t.agentId);
      const agentIp = hostname === undefined ? undefined : agentIps.get(hostname);
      out.push({
        taskId: t.taskId,
        state: t.state,
        ...(t.healthy === undefined ? {} : { healthy: t.healthy }),
        ...(agentIp === undefined ? {} : { agentIp }),
        ...(t.cni && t.containerIp !== undefined ? { containerIp: t.containerIp } : {}),
        ports: t.ports,
      });
    }
    return out;
  }
}
