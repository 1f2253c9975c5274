/**
 * Discovery inside a master process: the zone kept from the master's events (master-source.ts),
 * the DNS server on UDP and TCP (dns-server.ts, in its own thread: dns-thread.ts), and Mesos-DNS' HTTP interface on the master's
 * own server (http-api.ts).
 */
import { networkInterfaces } from 'node:os';
import { isIPv4 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../log/index.ts';
import type { Master } from '../master/master.ts';
import { hostResolvers, type Upstream } from './dns-server.ts';
import { DnsThread } from './dns-thread.ts';
import { registerDnsHttpRoutes } from './http-api.ts';
import { MasterZone } from './master-source.ts';
import { defaultVipAddress } from '../protocol/vip-labels.ts';
import { Zone } from './zone.ts';

export interface DiscoveryOptions {
  /** DNS port (UDP and TCP); 0 picks a free one. */
  port: number;
  /** Address to bind (default: the master's). */
  host: string;
  /** Mesos-DNS `domain` (default `mesos`). */
  domain?: string;
  /** The address the master is known by (`leader.mesos`); default: `host` if it is an address, else the machine's first non-loopback IPv4. */
  advertiseIp?: string;
  ttl?: number;
  upstreams?: Upstream[];
  /** A named VIP's address (the VIP table's); default a hash into 11.0.0.0/8 (names.ts). */
  vipAddress?: (name: string) => string;
}

export const DEFAULT_DNS_DOMAIN = 'mesos';

/** The address to publish for this machine when the bind address says nothing (0.0.0.0). */
export function advertisedIp(host: string): string {
  if (isIPv4(host) && host !== '0.0.0.0') return host;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return '127.0.0.1';
}

export interface Discovery {
  readonly zone: MasterZone;
  /** The DNS server, in its own thread (dns-thread.ts). */
  readonly dns: DnsThread;
  close(): Promise<void>;
}

/**
 * Three steps around the master's start: `prepareDiscovery` registers the HTTP routes (before the
 * server listens); `attach` builds the zone and subscribes to the master's events (after
 * `master.start()`, before the server listens, so no agent re-registration is missed);
 * `listen` binds the DNS port (after the server listens: the master's port is in the records).
 */
/** Follows kill decisions (framework id, task id) until the returned function is called. */
export type DrainFeed = (listener: (frameworkId: string, taskId: string) => void) => () => void;

export function prepareDiscovery(
  app: FastifyInstance,
  options: DiscoveryOptions,
  version: string,
): { attach(master: Master, drains?: DrainFeed): { listen(logger: Logger): Promise<Discovery>; stop(): void } } {
  const domain = options.domain ?? DEFAULT_DNS_DOMAIN;
  let zone: MasterZone | undefined;
  let dns: DnsThread | undefined;
  const empty = new Zone();
  const ip = options.advertiseIp ?? advertisedIp(options.host);
  registerDnsHttpRoutes(app, {
    get zone() {
      // Before start the zone is empty: answers are the not-found ones.
      return zone?.zone ?? empty;
    },
    domain,
    version,
    config: () => ({
      Masters: [ip],
      RefreshSeconds: 0,
      TTL: options.ttl ?? 5,
      Port: dns?.port ?? options.port,
      Domain: domain,
      Resolvers: (options.upstreams ?? []).map((u) => `${u.host}:${u.port}`),
      Timeout: 2,
      Listener: options.host,
      DnsOn: true,
      HttpOn: true,
      ExternalOn: true,
      RecurseOn: true,
      IPSources: ['netinfo', 'host'],
      SOAMname: `ns1.${domain}.`,
      SOARname: `root.ns1.${domain}.`,
      EventDriven: true,
    }),
  });
  return {
    attach(master, drains) {
      const z = new MasterZone(master, { domain, ip, vipAddress: options.vipAddress ?? defaultVipAddress });
      z.start();
      zone = z;
      const unfollow = drains?.((frameworkId, taskId) => z.drain(frameworkId, taskId));
      const stopZone = (): void => {
        unfollow?.();
        z.stop();
      };
      return {
        stop: stopZone,
        async listen(logger) {
          z.refresh();
          const server = new DnsThread(
            {
              zone: z.zone,
              domain,
              recovered: () => z.recovered(),
              port: options.port,
              host: options.host,
              ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
              // The thread reads no files of its own: the host's resolvers are read here.
              upstreams: options.upstreams ?? hostResolvers(),
            },
            logger,
          );
          await server.listen();
          dns = server;
          logger.info({ port: server.port, host: options.host, domain, ip }, 'dns-listening');
          return {
            zone: z,
            dns: server,
            async close() {
              stopZone();
              await server.close();
            },
          };
        },
      };
    },
  };
}
