/**
 * The records of the discovery zones, as a pure function of the cluster's state: what Mesos-DNS
 * serves under `mesos` (naming.md, records/generator.go) and DC/OS' dcos-dns under
 * `thisdcos.directory` (agentip, containerip, autoip, l4lb). Computed per task and per cluster
 * part, so a change re-computes only what it touched (zone.ts holds the union).
 *
 * Only RUNNING tasks have records, and of those with a health check only the healthy ones (a
 * task whose check has not answered yet is not published: it is not ready for traffic).
 */
import { frameworkLabel, instanceLabel, label } from './names.ts';
import { isVipLabelKey, parseVipLabel, vipDnsLabel } from '../protocol/vip-labels.ts';

export interface ARecord {
  type: 'A';
  /** Lower case, without the final dot. */
  name: string;
  ip: string;
}

export interface SrvRecord {
  type: 'SRV';
  name: string;
  target: string;
  port: number;
  priority: number;
  weight: number;
}

export type ZoneRecord = ARecord | SrvRecord;

export interface DiscoveryPort {
  number: number;
  /** `tcp`, `udp`, or both (`udp,tcp`). */
  protocol: string;
  name?: string;
  labels?: Record<string, string>;
}

/** What discovery needs of a task. */
export interface TaskView {
  id: string;
  frameworkId: string;
  agentId: string;
  /** The DiscoveryInfo name if the task has one, else the task's name (`web.prod`). */
  name: string;
  state: string;
  /** The latest status' health; undefined before a check answered (or without one). */
  healthy?: boolean;
  hasHealthCheck: boolean;
  /** Host ports from the task's `ports` resources. */
  hostPorts: number[];
  /** DiscoveryInfo ports (number, protocol, name, labels such as VIP_0). */
  discoveryPorts: DiscoveryPort[];
  /** Container (network_infos) addresses from the latest status; empty for host networking. */
  ips: string[];
}

export interface AgentView {
  id: string;
  /** IPv4 address the agent is reached at; undefined when not known as an address. */
  ip: string | undefined;
  port: number;
  active: boolean;
}

export interface FrameworkView {
  id: string;
  name: string;
  /** The scheduler's address, when known. */
  ip?: string;
  port?: number;
}

export interface ZoneConfig {
  /** Mesos-DNS' domain, `mesos`. */
  domain: string;
  /** The address of this DNS server (`ns1.<domain>`). */
  nsIp: string;
  /** The address of a named VIP (`mygroupmyapp`). */
  vipAddress: (name: string) => string;
}

export const DCOS_ZONE = 'thisdcos.directory';

/** Published: RUNNING, and healthy where a health check exists. */
export function published(task: TaskView): boolean {
  if (task.state !== 'TASK_RUNNING') return false;
  return task.hasHealthCheck ? task.healthy === true : task.healthy !== false;
}

const a = (name: string, ip: string): ARecord => ({ type: 'A', name, ip });
const srv = (name: string, target: string, port: number): SrvRecord => ({ type: 'SRV', name, target, port, priority: 0, weight: 1 });

function protocols(protocol: string): string[] {
  const out = protocol
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p === 'tcp' || p === 'udp');
  return out.length > 0 ? out : ['tcp'];
}

/** A task's records (none unless published); `agent` and `framework` as they are now. */
export function taskRecords(task: TaskView, agent: AgentView | undefined, framework: FrameworkView | undefined, config: ZoneConfig): ZoneRecord[] {
  if (!published(task) || !framework) return [];
  const agentIp = agent?.ip;
  const ips = task.ips.length > 0 ? task.ips : agentIp ? [agentIp] : [];
  if (ips.length === 0) return [];
  const t = label(task.name);
  const fw = frameworkLabel(framework.name);
  if (t === '' || fw === '') return [];
  const d = config.domain;
  const canonical = instanceLabel(t, task.id, task.agentId);
  const out: ZoneRecord[] = [];
  // Mesos-DNS: the task's address (container first), and the agent's under `.slave.`.
  for (const ip of ips) out.push(a(`${t}.${fw}.${d}`, ip), a(`${canonical}.${fw}.${d}`, ip));
  if (agentIp) out.push(a(`${t}.${fw}.slave.${d}`, agentIp), a(`${canonical}.${fw}.slave.${d}`, agentIp));
  // SRV: DiscoveryInfo ports → the instance's name and that port; named ports get their own
  // `_<port-name>._<task>._<proto>` name too. Without DiscoveryInfo: the host ports on both protocols.
  if (task.discoveryPorts.length > 0) {
    for (const p of task.discoveryPorts) {
      for (const proto of protocols(p.protocol)) {
        out.push(srv(`_${t}._${proto}.${fw}.${d}`, `${canonical}.${fw}.${d}`, p.number));
        const portName = p.name ? label(p.name) : '';
        if (portName !== '') out.push(srv(`_${portName}._${t}._${proto}.${fw}.${d}`, `${canonical}.${fw}.${d}`, p.number));
      }
    }
  } else if (agentIp) {
    for (const port of task.hostPorts) for (const proto of ['tcp', 'udp']) out.push(srv(`_${t}._${proto}.${fw}.${d}`, `${canonical}.${fw}.slave.${d}`, port));
  }
  if (agentIp) for (const port of task.hostPorts) for (const proto of ['tcp', 'udp']) out.push(srv(`_${t}._${proto}.${fw}.slave.${d}`, `${canonical}.${fw}.slave.${d}`, port));
  // DC/OS (dcos-dns): agentip always the agent; containerip the container's address (the agent's
  // for host networking); autoip the container's when it has one of its own, else the agent's.
  const dcos = `${fw}.%.dcos.${DCOS_ZONE}`;
  if (agentIp) out.push(a(`${t}.${dcos.replace('%', 'agentip')}`, agentIp));
  for (const ip of ips) out.push(a(`${t}.${dcos.replace('%', 'containerip')}`, ip), a(`${t}.${dcos.replace('%', 'autoip')}`, ip));
  // VIPs (VIP_n labels on the ports): `<name>.<framework>.l4lb.thisdcos.directory`.
  for (const p of task.discoveryPorts) {
    for (const [key, value] of Object.entries(p.labels ?? {})) {
      if (!isVipLabelKey(key)) continue;
      // The parser the agents' VIP tables use (src/protocol/vip-labels.ts): one name, one address.
      const vip = parseVipLabel(value);
      if (!vip.ok || vip.value.kind !== 'named') continue;
      const name = label(vipDnsLabel(vip.value.name));
      if (name !== '') out.push(a(`${name}.${fw}.l4lb.${DCOS_ZONE}`, config.vipAddress(vip.value.name)));
    }
  }
  return out;
}

export interface MasterView {
  ip: string;
  port: number;
}

/** The cluster's own names: leader, masters, agents (`slave`), framework schedulers, `ns1`. */
export function clusterRecords(leader: MasterView | undefined, masters: readonly MasterView[], agents: Iterable<AgentView>, frameworks: Iterable<FrameworkView>, config: ZoneConfig): ZoneRecord[] {
  const d = config.domain;
  const out: ZoneRecord[] = [a(`ns1.${d}`, config.nsIp)];
  if (leader) {
    out.push(a(`leader.${d}`, leader.ip), srv(`_leader._tcp.${d}`, `leader.${d}`, leader.port), srv(`_leader._udp.${d}`, `leader.${d}`, leader.port));
  }
  for (const m of masters) out.push(a(`master.${d}`, m.ip), srv(`_master._tcp.${d}`, `master.${d}`, m.port), srv(`_master._udp.${d}`, `master.${d}`, m.port));
  for (const agent of agents) {
    if (!agent.active || !agent.ip) continue;
    out.push(a(`slave.${d}`, agent.ip), srv(`_slave._tcp.${d}`, `slave.${d}`, agent.port));
  }
  for (const f of frameworks) {
    const fw = frameworkLabel(f.name);
    if (fw === '' || !f.ip) continue;
    out.push(a(`${fw}.${d}`, f.ip));
    if (f.port) out.push(srv(`_framework._tcp.${fw}.${d}`, `${fw}.${d}`, f.port));
  }
  return out;
}
