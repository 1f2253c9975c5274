/**
 * The zone fed by a master in the same process: built from the master's state at start, then
 * kept current by the master's own operator events (an in-process subscription, like `GET
 * /api/v1 SUBSCRIBE` without the HTTP): a task's names change in the same turn of the event loop
 * as its TASK_RUNNING or its kill. Nothing is polled.
 *
 * Until every agent the master knew before a restart has re-registered (or been given up on), a
 * name it does not know may belong to a task not reported yet: `recovered()` is false and the
 * server answers SERVFAIL (retry) instead of NXDOMAIN (which resolvers cache).
 */
import { isIPv4 } from 'node:net';
import type { Master } from '../master/master.ts';
import type { AgentRecord, FrameworkRecord, TaskRecord } from '../master/model.ts';
import { QueueSink } from '../master/stream.ts';
import { type AgentView, clusterRecords, type DiscoveryPort, type FrameworkView, type MasterView, type TaskView, taskRecords, type ZoneConfig } from './records.ts';
import { Zone } from './zone.ts';

const CLUSTER = 'cluster';
const taskSource = (frameworkId: string, taskId: string): string => `task\u0000${frameworkId}\u0000${taskId}`;

/** An IPv4 address from a socket address (`::ffff:10.0.0.1` → `10.0.0.1`). */
export function ipv4Of(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(plain) ? plain : undefined;
}

export function agentView(agent: AgentRecord): AgentView {
  return { id: agent.id, ip: ipv4Of(agent.address) ?? ipv4Of(agent.hostname), port: agent.port, active: agent.status === 'active' };
}

function portsOf(task: TaskRecord): number[] {
  const out: number[] = [];
  for (const [begin, end] of task.resources.ports().toArray()) {
    // A task's ports are a handful; the bound keeps a hostile range from making a huge list.
    for (let p = begin; p <= end && out.length < 1024; p++) out.push(p);
  }
  return out;
}

function discoveryPortsOf(task: TaskRecord): DiscoveryPort[] {
  const ports = (task.info.discovery as { ports?: { ports?: unknown } } | undefined)?.ports?.ports;
  if (!Array.isArray(ports)) return [];
  const out: DiscoveryPort[] = [];
  for (const raw of ports.slice(0, 1024)) {
    const p = raw as { number?: unknown; protocol?: unknown; name?: unknown; labels?: { labels?: unknown } };
    if (typeof p.number !== 'number') continue;
    const labels = Array.isArray(p.labels?.labels)
      ? Object.fromEntries(
          (p.labels.labels as Array<{ key?: unknown; value?: unknown }>).filter((l) => typeof l.key === 'string' && typeof l.value === 'string').map((l) => [l.key as string, l.value as string]),
        )
      : undefined;
    out.push({ number: p.number, protocol: typeof p.protocol === 'string' ? p.protocol : 'tcp', ...(typeof p.name === 'string' ? { name: p.name } : {}), ...(labels ? { labels } : {}) });
  }
  return out;
}

/** Container addresses from the latest status that has them (Mesos' NetworkInfo `ip_addresses`). */
function containerIps(task: TaskRecord): string[] {
  for (let i = task.statuses.length - 1; i >= 0; i--) {
    const infos = (task.statuses[i]!.container_status as { network_infos?: unknown } | undefined)?.network_infos;
    if (!Array.isArray(infos)) continue;
    const ips: string[] = [];
    for (const info of infos.slice(0, 16)) {
      const addresses = (info as { ip_addresses?: unknown }).ip_addresses;
      if (!Array.isArray(addresses)) continue;
      for (const a of addresses.slice(0, 16)) {
        const ip = ipv4Of((a as { ip_address?: unknown }).ip_address as string | undefined);
        if (ip) ips.push(ip);
      }
    }
    if (ips.length > 0) return ips;
  }
  return [];
}

export function taskView(task: TaskRecord): TaskView {
  const latest = task.statuses[task.statuses.length - 1];
  const discoveryName = (task.info.discovery as { name?: unknown } | undefined)?.name;
  return {
    id: task.id,
    frameworkId: task.frameworkId,
    agentId: task.agentId,
    name: typeof discoveryName === 'string' && discoveryName !== '' ? discoveryName : (task.info.name ?? ''),
    state: task.state,
    ...(latest?.healthy === undefined ? {} : { healthy: latest.healthy }),
    hasHealthCheck: task.info.health_check !== undefined,
    hostPorts: portsOf(task),
    discoveryPorts: discoveryPortsOf(task),
    ips: containerIps(task),
  };
}

export interface MasterZoneOptions {
  domain: string;
  /** The address this master (and its DNS server) is reached at. */
  ip: string;
  vipAddress: (name: string) => string;
}

/** The zone of one master, kept current from its events. */
export class MasterZone {
  readonly zone = new Zone();
  readonly config: ZoneConfig;
  private sink: QueueSink | undefined;
  private wasRecovered = false;
  /** Agents known from before a restart whose re-registration (with their tasks) has not been seen yet. */
  private readonly awaited = new Set<string>();
  /** Tasks their framework is draining (decided to kill, KILL not yet sent): no records any more. */
  private readonly draining = new Set<string>();

  constructor(
    private readonly master: Master,
    private readonly options: MasterZoneOptions,
  ) {
    this.config = { domain: options.domain, nsIp: options.ip, vipAddress: options.vipAddress };
  }

  /**
   * Build from the master's state and follow its events. Called before the master listens, so
   * every re-registration of an agent known from the registry is seen as its AGENT_ADDED (sent
   * once the agent's tasks are in the master's table).
   */
  start(): void {
    for (const agent of this.master.agents.values()) if (agent.status === 'recovering') this.awaited.add(agent.id);
    this.refreshCluster();
    for (const task of this.master.tasks.values()) this.refreshTask(task.frameworkId, task.id);
    this.sink = new QueueSink(
      (event) => this.handle(event),
      () => undefined,
    );
    this.master.operatorStreams.add(this.sink);
  }

  stop(): void {
    if (!this.sink) return;
    this.master.operatorStreams.delete(this.sink);
    this.sink.close();
    this.sink = undefined;
  }

  /** False while agents known before a restart have not re-registered: a missing name may still come. */
  recovered(): boolean {
    if (this.wasRecovered) return true;
    for (const id of this.awaited) {
      const agent = this.master.agents.get(id);
      // Given up on (unreachable after the re-registration window) or removed: not awaited any more.
      if (agent === undefined || agent.status === 'unreachable') this.awaited.delete(id);
    }
    if (this.awaited.size > 0) return false;
    this.wasRecovered = true;
    return true;
  }

  /**
   * A framework decided to kill this task (the services framework's `drover_instance_draining_event`,
   * before its KILL): its names go now, before the task is sent SIGTERM.
   */
  drain(frameworkId: string, taskId: string): void {
    if (!this.master.tasks.get(frameworkId, taskId)) return;
    this.draining.add(taskSource(frameworkId, taskId));
    this.refreshTask(frameworkId, taskId);
  }

  /** The cluster's own names again (after the master's port is known). */
  refresh(): void {
    this.refreshCluster();
  }

  private frameworkView(f: FrameworkRecord): FrameworkView {
    // The built-in frameworks run in this process: their scheduler is this master (Marathon's API on its port).
    const inProcess = f.stream instanceof QueueSink;
    const hostIp = ipv4Of(f.info.hostname);
    if (inProcess) return { id: f.id, name: f.info.name, ip: this.options.ip, port: this.master.port };
    return { id: f.id, name: f.info.name, ...(hostIp ? { ip: hostIp } : {}) };
  }

  private refreshCluster(): void {
    const me: MasterView = { ip: this.options.ip, port: this.master.port };
    const agents = [...this.master.agents.values()].map(agentView);
    const frameworks = [...this.master.frameworks.values()].filter((f) => f.stream?.isOpen || f.unregisteredAt === undefined).map((f) => this.frameworkView(f));
    this.zone.set(CLUSTER, clusterRecords(me, [me], agents, frameworks, this.config));
  }

  private refreshTask(frameworkId: string, taskId: string): void {
    const task = this.master.tasks.get(frameworkId, taskId);
    const source = taskSource(frameworkId, taskId);
    if (!task || this.draining.has(source)) {
      if (!task) this.draining.delete(source);
      this.zone.set(source, []);
      return;
    }
    // Only a running task has records (records.ts' `published`): a task that is not running and
    // had none changes nothing, and most events of a launch (TASK_ADDED, STAGING, STARTING) are
    // that. Its view is not built for them: in a burst of 1,000 launches that was 2 of 3 events.
    if (task.state !== 'TASK_RUNNING' && !this.zone.hasSource(source)) return;
    const agent = this.master.agents.get(task.agentId);
    const framework = this.master.frameworks.get(frameworkId);
    this.zone.set(source, taskRecords(taskView(task), agent ? agentView(agent) : undefined, framework ? this.frameworkView(framework) : undefined, this.config));
  }

  private refreshAgentTasks(agentId: string): void {
    for (const task of this.master.tasks.onAgent(agentId)) this.refreshTask(task.frameworkId, task.id);
  }

  private refreshFrameworkTasks(frameworkId: string): void {
    for (const task of this.master.tasks.ofFramework(frameworkId)) this.refreshTask(task.frameworkId, task.id);
  }

  private handle(event: unknown): void {
    const e = event as {
      type?: string;
      task_added?: { task?: { task_id?: { value?: string }; framework_id?: { value?: string } } };
      task_updated?: { framework_id?: { value?: string }; status?: { task_id?: { value?: string } } };
      agent_added?: { agent?: { agent_info?: { id?: { value?: string } } } };
      agent_removed?: { agent_id?: { value?: string } };
      framework_added?: { framework?: { framework_info?: { id?: { value?: string } } } };
      framework_updated?: { framework?: { framework_info?: { id?: { value?: string } } } };
    };
    switch (e.type) {
      case 'TASK_ADDED': {
        const t = e.task_added?.task;
        if (t?.framework_id?.value && t.task_id?.value) this.refreshTask(t.framework_id.value, t.task_id.value);
        return;
      }
      case 'TASK_UPDATED': {
        const u = e.task_updated;
        const frameworkId = u?.framework_id?.value;
        const taskId = u?.status?.task_id?.value;
        if (frameworkId && taskId) this.refreshTask(frameworkId, taskId);
        return;
      }
      case 'AGENT_ADDED':
      case 'AGENT_REMOVED': {
        this.refreshCluster();
        const id = e.agent_added?.agent?.agent_info?.id?.value ?? e.agent_removed?.agent_id?.value;
        if (id) {
          this.awaited.delete(id);
          this.refreshAgentTasks(id);
        }
        return;
      }
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED':
      case 'FRAMEWORK_REMOVED': {
        this.refreshCluster();
        const id = e.framework_added?.framework?.framework_info?.id?.value ?? e.framework_updated?.framework?.framework_info?.id?.value;
        if (id) this.refreshFrameworkTasks(id);
        return;
      }
      default:
        return;
    }
  }
}
