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
 * tasks that share the host's network namespace; tasks in a CNI network keep the host's
 * resolv.conf. On another port it still answers (tests, `dig -p`), but writes no resolv.conf.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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

export class AgentDns {
  private server: DnsServer | undefined;
  /** The file tasks get as /etc/resolv.conf, once listening on port 53. */
  resolvConf: string | undefined;

  constructor(private readonly options: AgentDnsOptions) {}

  get port(): number {
    return this.server?.port ?? 0;
  }

  get counters(): DnsServer['counters'] | undefined {
    return this.server?.counters;
  }

  async start(): Promise<void> {
    const hostPath = this.options.hostResolvConf ?? '/etc/resolv.conf';
    const hostText = await readFile(hostPath, 'utf8')
      .then((t) => t.slice(0, 64 * 1024))
      .catch(() => '');
    const server = new DnsServer({
      // Empty: every name of the zones goes to the master (zoneUpstreams).
      zone: new Zone(),
      domain: this.options.domain ?? 'mesos',
      recovered: () => true,
      host: this.options.listen.host,
      port: this.options.listen.port,
      upstreams: this.options.upstreams ?? (hostText === '' ? hostResolvers(hostPath) : parseResolvConf(hostText)),
      zoneUpstreams: this.options.masters,
      ...(this.options.logger === undefined ? {} : { logger: this.options.logger }),
    });
    await server.listen();
    this.server = server;
    if (server.port === 53) {
      await mkdir(this.options.dir, { recursive: true });
      const file = join(this.options.dir, 'resolv.conf');
      // Written whole then renamed: a task bound to the old file keeps a complete one.
      await writeFile(`${file}.tmp`, taskResolvConf(this.options.listen, hostText), { mode: 0o644 });
      await rename(`${file}.tmp`, file);
      this.resolvConf = file;
    }
    this.options.logger?.info({ listen: `${this.options.listen.host}:${server.port}`, masters: this.options.masters, resolvConf: this.resolvConf }, 'agent-dns-listening');
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
