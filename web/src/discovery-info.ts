/**
 * What an app is found by (pure, from its definition): its Mesos-DNS and DC/OS names, its VIPs
 * (`VIP_n` port labels) and its load balancer routes (`HAPROXY_*` labels) — the names the DNS
 * server (src/discovery) answers and the routes `drover lb` (src/lb) serves. The live addresses
 * are read from the master's Mesos-DNS HTTP API by the component (app-discovery.tsx).
 */
import { label, marathonTaskName } from '../../src/discovery/labels.ts';

/** The parts of an app read here (`/v2/apps/{id}`). */
export interface DiscoveryApp {
  id: string;
  labels?: Record<string, string>;
  portDefinitions?: Array<{ port?: number; name?: string; protocol?: string; labels?: Record<string, string> }>;
  container?: { portMappings?: Array<{ servicePort?: number; name?: string; protocol?: string; labels?: Record<string, string> }> | null } | null;
}

export interface DnsName {
  kind: 'A' | 'SRV';
  name: string;
  /** What it is, in words. */
  what: string;
}

export interface VipInfo {
  /** The label value as written (`/web:80`, `10.1.2.3:80`). */
  value: string;
  /** The DNS name (named VIPs) and the port. */
  name?: string;
  ip?: string;
  port: number;
  protocol: string;
}

export interface LbRoute {
  portIndex: number;
  servicePort: number | undefined;
  group: string | undefined;
  vhosts: string[];
  path: string | undefined;
  mode: string;
  redirectToHttps: boolean;
}

export interface DiscoveryInfo {
  dns: DnsName[];
  vips: VipInfo[];
  routes: LbRoute[];
}

const FRAMEWORK = 'marathon';
const MAX_PORTS = 64;

function ports(app: DiscoveryApp): Array<{ servicePort: number | undefined; name?: string; protocol: string; labels: Record<string, string> }> {
  const mappings = app.container?.portMappings;
  const list = Array.isArray(mappings) && mappings.length > 0 ? mappings.map((m) => ({ ...m, port: m.servicePort })) : (app.portDefinitions ?? []);
  return list.slice(0, MAX_PORTS).map((p) => ({
    servicePort: typeof p.port === 'number' && p.port > 0 ? p.port : undefined,
    ...(typeof p.name === 'string' && p.name !== '' ? { name: p.name } : {}),
    protocol: p.protocol ?? 'tcp',
    labels: p.labels ?? {},
  }));
}

/** A VIP label's value (`<name>:<port>` or `<IPv4>:<port>`), or undefined when it is not one. */
function vipOf(value: string, protocol: string): VipInfo | undefined {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || value.length > 256 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const left = value.slice(0, colon);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(left)) return { value, ip: left, port, protocol };
  const name = left
    .toLowerCase()
    .split('/')
    .filter((s) => s !== '')
    .join('');
  return name === '' ? undefined : { value, name: `${name}.${FRAMEWORK}.l4lb.thisdcos.directory`, port, protocol };
}

export function discoveryInfo(app: DiscoveryApp): DiscoveryInfo {
  const task = label(marathonTaskName(app.id));
  const dns: DnsName[] = [];
  if (task !== '') {
    dns.push({ kind: 'A', name: `${task}.${FRAMEWORK}.mesos`, what: 'every running instance (Mesos-DNS)' });
    dns.push({ kind: 'SRV', name: `_${task}._tcp.${FRAMEWORK}.mesos`, what: 'instances with their ports' });
    for (const p of ports(app)) if (p.name !== undefined && label(p.name) !== '') dns.push({ kind: 'SRV', name: `_${label(p.name)}._${task}._tcp.${FRAMEWORK}.mesos`, what: `port ${p.name}` });
    dns.push({ kind: 'A', name: `${task}.${FRAMEWORK}.autoip.dcos.thisdcos.directory`, what: 'DC/OS: container address, else the agent’s' });
  }
  const vips: VipInfo[] = [];
  const routes: LbRoute[] = [];
  const labels = app.labels ?? {};
  const group = labels['HAPROXY_GROUP'];
  ports(app).forEach((p, i) => {
    for (const [key, value] of Object.entries(p.labels)) {
      if (!/^vip/i.test(key)) continue;
      const v = vipOf(value, p.protocol);
      if (v) vips.push(v);
    }
    const per = (name: string): string | undefined => labels[`HAPROXY_${i}_${name}`];
    const g = per('GROUP') ?? group;
    if (g === undefined || per('ENABLED') === 'false') return;
    const vhosts = (per('VHOST') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== '');
    const path = per('PATH');
    const port = per('PORT');
    routes.push({
      portIndex: i,
      servicePort: port !== undefined && /^\d{1,5}$/.test(port) ? Number(port) : p.servicePort,
      group: g,
      vhosts,
      path,
      mode: per('MODE') ?? (vhosts.length > 0 || path !== undefined ? 'http' : 'tcp'),
      redirectToHttps: per('REDIRECT_TO_HTTPS') === 'true',
    });
  });
  return { dns, vips, routes };
}
