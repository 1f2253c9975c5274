/**
 * CNI networks for Linux tasks (the Mesos `network/cni` isolator, small): a task that names
 * networks in `container.network_infos` gets a network namespace of its own, `drover-<containerId>`
 * (made with `ip netns add`, so it is a file under /run/netns that outlives any process and a
 * restarted agent can still delete it), with one interface per network, eth0, eth1, … in the
 * order asked. The plugins run per the CNI spec: CNI_COMMAND ADD/DEL, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_PATH in the environment, the network config on stdin, the result on stdout.
 *
 * Configs are `*.conf` (one plugin) and `*.conflist` (a chain) files in the config dir, keyed by
 * their `name`; they are read at each attach so an operator can add a network without a restart.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { DroverError } from '../../errors/errors.ts';
import { bridgeConfList, MESOS_BRIDGE, runtimePortMappings, type BridgeOptions, type PortMapping } from './cni-bridge.ts';

export interface CniOptions {
  /** Default /etc/drover/cni. */
  configDir: string;
  /** Default /usr/lib/cni (Debian's containernetworking-plugins). */
  pluginsDir: string;
  /** The agent's own `mesos-bridge` network when the config dir has none of that name (cni-bridge.ts). */
  bridge?: BridgeOptions;
}

export const DEFAULT_CNI_OPTIONS: CniOptions = { configDir: '/etc/drover/cni', pluginsDir: '/usr/lib/cni' };

/** One attached network, as checkpointed (so DEL can run after an agent restart). */
export interface AttachedNetwork {
  name: string;
  ifname: string;
  ipAddresses: string[];
  /** Host port → container port forwards made on this network (cni-bridge.ts), given again to DEL. */
  portMappings?: Array<{ hostPort: number; containerPort: number; protocol: string }>;
}

interface NetworkConfList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string }>;
}

const IP = '/usr/sbin/ip';

export function netnsName(containerId: string): string {
  // netns names are file names under /run/netns; container ids are UUIDs, but be strict anyway.
  return `drover-${containerId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 200)}`;
}

export function netnsPath(containerId: string): string {
  return `/run/netns/${netnsName(containerId)}`;
}

/** Every network config in the dir by name; a file that is not a valid config is skipped. */
export async function loadNetworkConfigs(dir: string): Promise<Map<string, NetworkConfList>> {
  const configs = new Map<string, NetworkConfList>();
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.conf') || f.endsWith('.conflist')).sort();
  for (const file of files) {
    try {
      const json = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
      const name = json['name'];
      const cniVersion = typeof json['cniVersion'] === 'string' ? json['cniVersion'] : '0.4.0';
      if (typeof name !== 'string' || configs.has(name)) continue;
      // A .conf is a one-plugin list; the spec's conflist form is what we run.
      const plugins = file.endsWith('.conflist') ? json['plugins'] : [json];
      if (!Array.isArray(plugins) || plugins.length === 0 || !plugins.every((p) => typeof (p as { type?: unknown })?.type === 'string')) continue;
      configs.set(name, { cniVersion, name, plugins: plugins as NetworkConfList['plugins'] });
    } catch {
      // Unreadable or not JSON: not a network we can offer.
    }
  }
  return configs;
}

function run(file: string, args: string[], env: Record<string, string> | undefined, stdin: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env, timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${(stdout.trim() || stderr.trim() || err.message).slice(0, 500)}`));
      else resolve(stdout);
    });
    // A plugin that exits without reading its config (e.g. on a bad env) must not crash us with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin ?? '');
  });
}

export class CniNetworks {
  constructor(private readonly options: CniOptions) {}

  /**
   * Creates the namespace and ADDs every network; on any failure undoes what it did and throws,
   * so a launch either has all its networks or none.
   */
  async attach(containerId: string, names: readonly string[], portMappings: readonly PortMapping[] = []): Promise<{ netns: string; networks: AttachedNetwork[]; gateways: string[] }> {
    const configs = await this.configs();
    const missing = names.filter((n) => !configs.has(n));
    if (missing.length > 0) throw new DroverError('MALFORMED', `Unknown CNI network(s): ${missing.join(', ')} (configs in ${this.options.configDir})`);
    await run(IP, ['netns', 'add', netnsName(containerId)], undefined, undefined);
    const networks: AttachedNetwork[] = [];
    /** The plugins' gateways, first network first (where the task's resolver may be reached). */
    const gateways: string[] = [];
    try {
      await run(IP, ['-n', netnsName(containerId), 'link', 'set', 'lo', 'up'], undefined, undefined);
      for (const [i, name] of names.entries()) {
        const ifname = `eth${i}`;
        const ports = runtimePortMappings(portMappings, name);
        const result = await this.chain('ADD', containerId, ifname, configs.get(name)!, ports);
        networks.push({ name, ifname, ipAddresses: ipsOf(result), ...(ports.length === 0 ? {} : { portMappings: ports }) });
        for (const gateway of gatewaysOf(result)) if (!gateways.includes(gateway)) gateways.push(gateway);
      }
      return { netns: netnsPath(containerId), networks, gateways };
    } catch (err) {
      await this.detach(
        containerId,
        names.map((name, i) => ({ name, ifname: `eth${i}`, ipAddresses: [], portMappings: runtimePortMappings(portMappings, name) })),
      ).catch(() => undefined);
      throw err;
    }
  }

  /** DELs every network (last first) and deletes the namespace; tolerant of half-done state. */
  async detach(containerId: string, networks: readonly AttachedNetwork[]): Promise<void> {
    const configs = await this.configs();
    const errors: string[] = [];
    for (const network of [...networks].reverse()) {
      const config = configs.get(network.name);
      if (config === undefined) continue; // config removed since: nothing we can call
      await this.chain('DEL', containerId, network.ifname, config, network.portMappings ?? []).catch((err: Error) => errors.push(err.message));
    }
    await run(IP, ['netns', 'delete', netnsName(containerId)], undefined, undefined).catch((err: Error) => {
      if (!/No such file/.test(err.message)) errors.push(err.message);
    });
    if (errors.length > 0) throw new Error(`CNI cleanup of ${containerId}: ${errors.join('; ')}`);
  }

  /** Runs a conflist per the spec: ADD in order passing prevResult along, DEL in reverse. */
  /** The config dir's networks, and the agent's own mesos-bridge unless the dir defines one. */
  private async configs(): Promise<Map<string, NetworkConfList>> {
    const configs = await loadNetworkConfigs(this.options.configDir);
    if (this.options.bridge !== undefined && !configs.has(MESOS_BRIDGE)) configs.set(MESOS_BRIDGE, bridgeConfList(this.options.bridge));
    return configs;
  }

  private async chain(
    command: 'ADD' | 'DEL',
    containerId: string,
    ifname: string,
    list: NetworkConfList,
    portMappings: ReadonlyArray<{ hostPort: number; containerPort: number; protocol: string }>,
  ): Promise<unknown> {
    const env = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netnsPath(containerId),
      CNI_IFNAME: ifname,
      CNI_PATH: this.options.pluginsDir,
    };
    const plugins = command === 'ADD' ? list.plugins : [...list.plugins].reverse();
    let prevResult: unknown;
    for (const plugin of plugins) {
      // Plugin types are bare names resolved in CNI_PATH only: a config cannot run an arbitrary path.
      if (!/^[A-Za-z0-9_-]+$/.test(plugin.type)) throw new Error(`CNI plugin type '${plugin.type}' is not a plain name`);
      const wantsPorts = (plugin['capabilities'] as { portMappings?: unknown } | undefined)?.portMappings === true && portMappings.length > 0;
      const config = {
        ...plugin,
        cniVersion: list.cniVersion,
        name: list.name,
        ...(prevResult === undefined ? {} : { prevResult }),
        ...(wantsPorts ? { runtimeConfig: { portMappings } } : {}),
      };
      const out = await run(join(this.options.pluginsDir, plugin.type), [], env, JSON.stringify(config));
      if (command === 'ADD') prevResult = JSON.parse(out) as unknown;
    }
    return prevResult;
  }
}

/** "10.99.1.2/24" → "10.99.1.2", from a CNI result (0.4.0 / 1.0.0: `ips[].address`). */
function ipsOf(result: unknown): string[] {
  const ips = (result as { ips?: Array<{ address?: unknown }> } | undefined)?.ips ?? [];
  return ips.map((ip) => (typeof ip.address === 'string' ? ip.address.split('/')[0]! : '')).filter((a) => a !== '');
}

/** The IPv4 gateways of a CNI result (`ips[].gateway`), as plugins report them. */
export function gatewaysOf(result: unknown): string[] {
  const ips = (result as { ips?: Array<{ gateway?: unknown }> } | undefined)?.ips;
  if (!Array.isArray(ips)) return [];
  return ips
    .slice(0, 16)
    .map((ip) => ip?.gateway)
    .filter((g): g is string => typeof g === 'string' && isIPv4(g));
}

/** The network names a TaskInfo.container asks for (Mesos ContainerInfo.network_infos[].name). */
export function requestedNetworks(container: unknown): string[] {
  const infos = (container as { network_infos?: Array<{ name?: unknown }> } | undefined)?.network_infos;
  if (!Array.isArray(infos)) return [];
  return infos.map((n) => n?.name).filter((n): n is string => typeof n === 'string' && n !== '');
}

/** Mesos' ContainerStatus.network_infos for the attached networks. */
export function networkInfosStatus(networks: readonly AttachedNetwork[]): Array<{ name: string; ip_addresses: Array<{ ip_address: string; protocol: 'IPv4' | 'IPv6' }> }> {
  return networks.map((n) => ({ name: n.name, ip_addresses: n.ipAddresses.map((ip) => ({ ip_address: ip, protocol: ip.includes(':') ? 'IPv6' : 'IPv4' })) }));
}
