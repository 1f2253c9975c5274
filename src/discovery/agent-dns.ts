/**
 * The resolver an agent's tasks use (`drover agent --dns`, on in `drover dev`): a DNS server on
 * the agent that sends the discovery zones' names (`<domain>`, `thisdcos.directory`) to the
 * master's DNS and every other name to the host's resolvers, and the resolv.conf its tasks get
 * (bound over /etc/resolv.conf in their mount namespace or image root by the task launcher).
 *
 * Why a forwarder and not a second copy of the zone: the master's zone is computed from the
 * master's own task table in the same turn as each event, with the drain of a killed instance
 * and the "no NXDOMAIN before the agents are back" rule; a copy fed by the operator stream would
 * lag it by one hop and have to repeat both rules. Forwarded answers are never cached here, so a
 * task sees a name the moment the master answers it. The cost is one loopback/LAN round trip per
 * query.
 *
 * resolv.conf has no port: tasks can only use a resolver on port 53. It listens on a loopback
 * address of its own by default (127.0.0.153: any 127/8 address is the host's), reachable by
 * tasks that share the host's network namespace. On another port it still answers (tests,
 * `dig -p`), but writes no resolv.conf.
 *
 * A task in CNI networks (bridge networking included) has a loopback of its own: 127.0.0.153 is
 * not the host's there. Its way to the host is its network's gateway, which for the bridge plugin
 * (`isGateway`, the agent's own mesos-bridge) is an address of this host on the bridge. So the
 * resolver listens on that address too (port 53, once per address, on the first task that needs
 * it) and the task gets a resolv.conf naming it (`resolv-<gateway>.conf`). Chosen over a DNAT
 * rule in each task's namespace: a DNAT from the task's 127.0.0.153 to the host must still land
 * on an address the host listens on (the gateway again), with route_localnet and an SNAT beside
 * it, and a rule set per task to make and remove; listening on the gateway needs nothing per task
 * and nothing in the kernel's tables. A network whose gateway is not an address of this host
 * (macvlan, a routed network) cannot reach the agent's resolver at all: its tasks keep the host's
 * resolv.conf. The files name the addresses served: a restarted agent listens on them again
 * before its recovered tasks ask.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log/index.ts';
import { DnsServer, hostResolvers, parseResolvConf, type Upstream } from './dns-server.ts';
import { Zone } from './zone.ts';

export { DEFAULT_AGENT_DNS, parseHostPort } from './agent-dns-flags.ts';

export interface AgentDnsOptions {
  /** Where to listen (UDP and TCP). */
  listen: Upstream;
  /** The master's DNS (several for HA: tried in order). */
  masters: Upstream[];
  /** Mesos-DNS `domain` (default `mesos`). */
  domain?: string;
  /** Where the tasks' resolv.conf is written: `<dir>/resolv.conf`. */
  dir: string;
  /** The host's resolv.conf (its nameservers get the other names; its search and options lines are kept). */
  hostResolvConf?: string;
  /** Where other names go instead of the host resolv.conf's nameservers (tests: a server on another port). */
  upstreams?: Upstream[];
  logger?: Logger;
}

/** Pure: the tasks' resolv.conf — this resolver first and only; the host's search and options lines kept. */
export function taskResolvConf(listen: Upstream, hostText: string): string {
  const kept = hostText
    .split('\n')
    .slice(0, 1000)
    .map((l) => l.slice(0, 512).trim())
    .filter((l) => /^(search|domain|options)\s/.test(l));
  return `# written by the drover agent: its resolver (--dns) answers .mesos and .thisdcos.directory names and forwards the rest\nnameserver ${listen.host}\n${kept.map((l) => `${l}\n`).join('')}`;
}

/** `resolv-<address>.conf`: the tasks' resolv.conf naming the resolver at a network gateway. */
const GATEWAY_FILE = /^resolv-(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\.conf$/;

/** Whether `address` is an IPv4 address of one of this host's interfaces. */
function isHostAddress(address: string): boolean {
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && i.address === address) return true;
  return false;
}

export class AgentDns {
  private server: DnsServer | undefined;
  /** The same resolver on network gateways (see the file comment), by address; a failed one is remembered as such. */
  private readonly gatewayServers = new Map<string, Promise<DnsServer | undefined>>();
  private hostText = '';
  /** The file tasks get as /etc/resolv.conf, once listening on port 53. */
  resolvConf: string | undefined;

  constructor(private readonly options: AgentDnsOptions) {}

  get port(): number {
    return this.server?.port ?? 0;
  }

  get counters(): DnsServer['counters'] | undefined {
    return this.server?.counters;
  }

  private newServer(host: string, port: number): DnsServer {
    const hostPath = this.options.hostResolvConf ?? '/etc/resolv.conf';
    return new DnsServer({
      // Empty: every name of the zones goes to the master (zoneUpstreams).
      zone: new Zone(),
      domain: this.options.domain ?? 'mesos',
      recovered: () => true,
      host,
      port,
      upstreams: this.options.upstreams ?? (this.hostText === '' ? hostResolvers(hostPath) : parseResolvConf(this.hostText)),
      zoneUpstreams: this.options.masters,
      ...(this.options.logger === undefined ? {} : { logger: this.options.logger }),
    });
  }

  async start(): Promise<void> {
    const hostPath = this.options.hostResolvConf ?? '/etc/resolv.conf';
    this.hostText = await readFile(hostPath, 'utf8')
      .then((t) => t.slice(0, 64 * 1024))
      .catch(() => '');
    const server = this.newServer(this.options.listen.host, this.options.listen.port);
    await server.listen();
    this.server = server;
    if (server.port === 53) {
      await mkdir(this.options.dir, { recursive: true });
      this.resolvConf = await this.writeResolvConf('resolv.conf', this.options.listen.host);
      // The gateways served before a restart: their tasks may still be running.
      const files = await readdir(this.options.dir).catch(() => [] as string[]);
      for (const file of files.slice(0, 1000)) {
        const gateway = GATEWAY_FILE.exec(file)?.[1];
        if (gateway !== undefined && isIPv4(gateway) && isHostAddress(gateway)) await this.serveGateway(gateway);
      }
    }
    this.options.logger?.info({ listen: `${this.options.listen.host}:${server.port}`, masters: this.options.masters, resolvConf: this.resolvConf }, 'agent-dns-listening');
  }

  /**
   * The resolv.conf for a task in networks with these gateways (first first): the first that is an
   * address of this host, where this resolver then listens too; undefined if none is (or this
   * resolver writes no resolv.conf: not on port 53).
   */
  async resolvConfForGateways(gateways: readonly string[]): Promise<string | undefined> {
    if (this.resolvConf === undefined) return undefined;
    for (const gateway of gateways.slice(0, 16)) {
      if (!isIPv4(gateway) || !isHostAddress(gateway)) continue;
      if ((await this.serveGateway(gateway)) === undefined) continue;
      return this.writeResolvConf(`resolv-${gateway}.conf`, gateway);
    }
    return undefined;
  }

  private serveGateway(address: string): Promise<DnsServer | undefined> {
    let served = this.gatewayServers.get(address);
    if (served === undefined) {
      const server = this.newServer(address, 53);
      served = server.listen().then(
        () => {
          this.options.logger?.info({ listen: `${address}:53` }, 'agent-dns-listening-on-gateway');
          return server;
        },
        (err: unknown) => {
          // Taken (another resolver on the address or on 0.0.0.0:53): its tasks keep the host's resolv.conf.
          this.options.logger?.warn({ listen: `${address}:53`, err }, 'agent-dns-gateway-unavailable');
          this.gatewayServers.delete(address);
          return undefined;
        },
      );
      this.gatewayServers.set(address, served);
    }
    return served;
  }

  /** Written whole then renamed: a task bound to the old file keeps a complete one. */
  private async writeResolvConf(name: string, nameserver: string): Promise<string> {
    const file = join(this.options.dir, name);
    await writeFile(`${file}.tmp`, taskResolvConf({ host: nameserver, port: 53 }, this.hostText), { mode: 0o644 });
    await rename(`${file}.tmp`, file);
    return file;
  }

  async close(): Promise<void> {
    const gateways = [...this.gatewayServers.values()];
    this.gatewayServers.clear();
    for (const served of gateways) await (await served)?.close();
    await this.server?.close();
    this.server = undefined;
  }
}
