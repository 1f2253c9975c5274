/**
 * The VIP table: a pure function of the tasks the master knows → `{vip:port/proto → backends}`.
 * Every agent computes it alone from the same state, so a named VIP's address must follow from
 * the name only: a hash of the name into the range (as dcos-net's `dcos_l4lb_config`), probed
 * linearly only when another name already holds the same address AND port AND protocol — names
 * that share an address on different ports do not conflict. Conflicts are settled in (hash, name)
 * order, so every agent settles them the same way.
 *
 * Backends (dcos-net `backends/3`, `get_weight`): a TASK_RUNNING task whose latest health is not
 * `false`; a task on a CNI network is reached at its container IP and port, any other at its
 * agent's address and host port. TASK_KILLING is out: that is how a killed instance leaves the
 * backend set before its process is signalled (docs/architecture/011-vips.md).
 */
import { DEFAULT_VIP_RANGE, ipv4ToNumber, portVips, vipAddressInRange, vipNameHash, type VipProtocol } from '../../protocol/vip-labels.ts';

export interface VipTaskPort {
  number: number;
  /** Marathon's `tcp`, `udp` or `udp,tcp`. */
  protocol: string;
  labels: Readonly<Record<string, string>>;
}

/** What the table needs of one task (src/agent/vip/task-view.ts builds it from operator JSON). */
export interface VipTask {
  taskId: string;
  state: string;
  /** The latest status' `healthy`, if the task has been checked. */
  healthy?: boolean;
  /** The agent's IPv4 address (resolved from its hostname by the shell). */
  agentIp?: string;
  /** The task's own address on a CNI network, if it has one. */
  containerIp?: string;
  ports: readonly VipTaskPort[];
}

export interface VipRange {
  /** First address of the range, as a number. */
  base: number;
  size: number;
}

export interface VipBackend {
  ip: string;
  port: number;
}

export interface VipEntry {
  ip: string;
  port: number;
  protocol: VipProtocol;
  /** The names that resolve here (`/acme`), empty for an address VIP. */
  names: string[];
  /** Sorted by address then port; empty means the VIP exists but refuses connections. */
  backends: VipBackend[];
}

export interface VipProblem {
  taskId: string;
  path: string;
  reason: string;
}

export interface VipTable {
  /** Sorted by address, port, protocol. */
  entries: VipEntry[];
  problems: VipProblem[];
}

export { DEFAULT_VIP_RANGE };

/** `a.b.c.d/n` (n in 8..30) as a range, or the reason it is not one. */
export function parseVipRange(text: string): VipRange | string {
  const match = /^([0-9.]{7,15})\/([0-9]{1,2})$/.exec(text);
  const base = match ? ipv4ToNumber(match[1]!) : undefined;
  const bits = match ? Number(match[2]) : Number.NaN;
  if (base === undefined || !(bits >= 8 && bits <= 30)) return `VIP range ${JSON.stringify(text.slice(0, 40))} must be an IPv4 CIDR a.b.c.d/n with n in 8..30`;
  const size = 2 ** (32 - bits);
  if (base % size !== 0) return `VIP range ${text} has host bits set`;
  return { base, size };
}

function protocols(text: string): VipProtocol[] {
  const out = new Set<VipProtocol>();
  for (const p of text.toLowerCase().split(',')) if (p === 'tcp' || p === 'udp') out.add(p);
  return out.size === 0 ? ['tcp'] : [...out];
}

const keyOf = (ip: string, port: number, protocol: string) => `${ip}:${port}/${protocol}`;

function isBackend(task: VipTask): boolean {
  return task.state === 'TASK_RUNNING' && task.healthy !== false;
}

export function vipTable(tasks: readonly VipTask[], range: VipRange): VipTable {
  const problems: VipProblem[] = [];
  // Address VIPs, and named VIPs by name → their (port, protocol) → backends.
  const byAddress = new Map<string, VipEntry>();
  const named = new Map<string, Map<string, { port: number; protocol: VipProtocol; backends: VipBackend[] }>>();
  for (const task of tasks) {
    task.ports.forEach((port, i) => {
      const { targets, errors } = portVips(port.labels);
      for (const e of errors) problems.push({ taskId: task.taskId, path: `/discovery/ports/${i}${e.path}`, reason: e.reason });
      if (targets.length === 0) return;
      const ip = task.containerIp ?? task.agentIp;
      const live = isBackend(task) && ip !== undefined;
      if (isBackend(task) && ip === undefined) problems.push({ taskId: task.taskId, path: `/discovery/ports/${i}`, reason: 'no address known for its agent' });
      for (const target of targets)
        for (const protocol of protocols(port.protocol)) {
          const backends = live ? [{ ip: ip!, port: port.number }] : [];
          if (target.kind === 'address') {
            const k = keyOf(target.ip, target.port, protocol);
            const entry = byAddress.get(k) ?? { ip: target.ip, port: target.port, protocol, names: [], backends: [] };
            entry.backends.push(...backends);
            byAddress.set(k, entry);
          } else {
            const ports = named.get(target.name) ?? new Map();
            const pk = `${target.port}/${protocol}`;
            const slot = ports.get(pk) ?? { port: target.port, protocol, backends: [] };
            slot.backends.push(...backends);
            ports.set(pk, slot);
            named.set(target.name, ports);
          }
        }
    });
  }
  const taken = new Map(byAddress);
  const order = [...named.keys()].map((name) => ({ name, hash: vipNameHash(name) })).sort((a, b) => a.hash - b.hash || (a.name < b.name ? -1 : 1));
  // The range's first and last address are never handed out (network and broadcast forms).
  const usable = range.size - 2;
  for (const { name } of order) {
    const slots = [...named.get(name)!.values()];
    for (let probe = 0; probe < usable; probe++) {
      const ip = vipAddressInRange(name, range.base, range.size, probe);
      if (slots.some((s) => taken.has(keyOf(ip, s.port, s.protocol)))) continue;
      for (const s of slots) taken.set(keyOf(ip, s.port, s.protocol), { ip, port: s.port, protocol: s.protocol, names: [name], backends: s.backends });
      break;
    }
  }
  const entries = [...taken.values()].map((e) => ({ ...e, backends: uniqueSorted(e.backends) }));
  entries.sort((a, b) => ipv4ToNumber(a.ip)! - ipv4ToNumber(b.ip)! || a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
  return { entries, problems };
}

function uniqueSorted(backends: VipBackend[]): VipBackend[] {
  const seen = new Map<string, VipBackend>();
  for (const b of backends) seen.set(`${b.ip}:${b.port}`, b);
  return [...seen.values()].sort((a, b) => ipv4ToNumber(a.ip)! - ipv4ToNumber(b.ip)! || a.port - b.port);
}

/** The address a named VIP got, e.g. for DNS (`<name>.marathon.l4lb.thisdcos.directory`). */
export function vipAddressOf(table: VipTable, name: string): string | undefined {
  return table.entries.find((e) => e.names.includes(name))?.ip;
}
