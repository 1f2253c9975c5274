/**
 * Bridge networking (Marathon's `container/bridge`, Docker's BRIDGE, Chronos' `network: BRIDGE`):
 * Mesos' convention is a CNI network named `mesos-bridge` (Marathon's --mesos_bridge_name) with the
 * task's port mappings in its NetworkInfo. When no config of that name is in the CNI config dir,
 * the agent brings its own: the `bridge` plugin (a Linux bridge, the task's veth on it, an address
 * from host-local IPAM, the bridge as the task's gateway, outgoing traffic masqueraded) chained
 * with `portmap` (each host port DNATed to the task's address and container port, from other
 * hosts and from the agent's own loopback alike). Both plugins are containernetworking-plugins'.
 *
 * Port mappings reach every plugin of the chain that declares `capabilities.portMappings` as CNI's
 * `runtimeConfig.portMappings`, on ADD and on DEL (so the DNAT rules go with the task).
 * A task may map only host ports it was given (its `ports` resources): the agent checks that
 * before anything runs.
 */
import { posix } from 'node:path';

export const MESOS_BRIDGE = 'mesos-bridge';

export interface BridgeOptions {
  /** The Linux bridge's name; default drover-br0. */
  bridgeName: string;
  /** IPv4 CIDR the tasks' addresses come from; default 172.30.0.0/16. */
  subnet: string;
  /** host-local's lease dir (under the agent's work dir). */
  ipamDir: string;
}

export const DEFAULT_BRIDGE_NAME = 'drover-br0';
export const DEFAULT_BRIDGE_SUBNET = '172.30.0.0/16';

export interface PortMapping {
  /** The network (by name) whose interface the container port is on. */
  network: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** The agent's own mesos-bridge conflist (see the file comment). */
export function bridgeConfList(options: BridgeOptions): { cniVersion: string; name: string; plugins: Array<Record<string, unknown> & { type: string }> } {
  return {
    cniVersion: '0.4.0',
    name: MESOS_BRIDGE,
    plugins: [
      {
        type: 'bridge',
        bridge: options.bridgeName,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', subnet: options.subnet, dataDir: posix.normalize(options.ipamDir), routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** Why a bridge option is unusable (flags), or undefined. */
export function bridgeOptionsProblem(options: Pick<BridgeOptions, 'bridgeName' | 'subnet'>): string | undefined {
  // Linux interface names: at most 15 bytes, no '/', no whitespace.
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(options.bridgeName)) return `bridge name '${options.bridgeName.slice(0, 40)}' must be 1 to 15 of [A-Za-z0-9_.-]`;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(options.subnet);
  if (m === null || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) < 8 || Number(m[5]) > 30) return `bridge subnet '${options.subnet.slice(0, 40)}' must be an IPv4 CIDR from /8 to /30`;
  return undefined;
}

type Loose = Record<string, unknown> | undefined;
const object = (value: unknown): Loose => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** Mesos NetworkInfo.port_mappings of a TaskInfo.container, or why they are invalid (pure). */
export function requestedPortMappings(container: unknown): { mappings: PortMapping[] } | { error: string } {
  const infos = object(container)?.['network_infos'];
  if (!Array.isArray(infos)) return { mappings: [] };
  const mappings: PortMapping[] = [];
  for (const [i, info] of infos.entries()) {
    const raw = object(info)?.['port_mappings'];
    if (raw === undefined) continue;
    const name = object(info)?.['name'];
    if (typeof name !== 'string' || name === '') return { error: `container.network_infos[${i}]: port mappings need a named network` };
    if (!Array.isArray(raw) || raw.length > 100) return { error: `container.network_infos[${i}].port_mappings must be an array of at most 100` };
    for (const [j, m] of raw.entries()) {
      const at = `container.network_infos[${i}].port_mappings[${j}]`;
      const mapping = object(m);
      if (!isPort(mapping?.['host_port']) || !isPort(mapping?.['container_port'])) return { error: `${at}: host_port and container_port must be ports (1 to 65535)` };
      const protocol = mapping['protocol'] ?? 'tcp';
      if (protocol !== 'tcp' && protocol !== 'udp') return { error: `${at}.protocol must be tcp or udp` };
      mappings.push({ network: name, hostPort: mapping['host_port'], containerPort: mapping['container_port'], protocol });
    }
  }
  const seen = new Set<string>();
  for (const m of mappings) {
    const key = `${m.protocol}/${m.hostPort}`;
    if (seen.has(key)) return { error: `host port ${m.hostPort}/${m.protocol} is mapped twice` };
    seen.add(key);
  }
  return { mappings };
}

/** The host ports in a TaskInfo's `ports` resources (pure). */
export function taskHostPorts(resources: unknown): (port: number) => boolean {
  const ranges: Array<[number, number]> = [];
  if (Array.isArray(resources)) {
    for (const r of resources as Array<{ name?: unknown; ranges?: { range?: Array<{ begin?: unknown; end?: unknown }> } }>) {
      if (r?.name !== 'ports') continue;
      for (const range of r.ranges?.range ?? []) if (typeof range.begin === 'number' && typeof range.end === 'number') ranges.push([range.begin, range.end]);
    }
  }
  return (port) => ranges.some(([b, e]) => port >= b && port <= e);
}

/** Why the task may not map these host ports (not its own), or undefined (pure). */
export function portMappingsProblem(mappings: readonly PortMapping[], resources: unknown, networks: readonly string[]): string | undefined {
  const owns = taskHostPorts(resources);
  for (const m of mappings) {
    if (!networks.includes(m.network)) return `a port mapping names the network ${m.network.slice(0, 100)}, which the task does not join`;
    if (!owns(m.hostPort)) return `host port ${m.hostPort} is mapped but is not among the task's ports resources`;
  }
  return undefined;
}

/** CNI runtimeConfig.portMappings of one network, for plugins that ask for them. */
export function runtimePortMappings(mappings: readonly PortMapping[], network: string): Array<{ hostPort: number; containerPort: number; protocol: string }> {
  return mappings.filter((m) => m.network === network).map((m) => ({ hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol }));
}
