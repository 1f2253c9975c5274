/**
 * What the load balancer serves, as a pure function of Marathon's `/v2/apps?embed=apps.tasks`:
 * one `LbService` per exposed app port (its frontends, its backend settings and the instances
 * that may take traffic), and the labels refused with their reasons.
 *
 * Every label value that reaches the HAProxy config is checked here first, against a length bound
 * and then a strict pattern (nothing from a label reaches a regex engine unbounded): a newline, a
 * space or a quote in a vhost, path, balance or certificate would otherwise write its own
 * directives into the config. A refused label takes its port out (or, for HAPROXY_GROUP, the app),
 * never the whole config.
 */
import { isIP } from 'node:net';

/** The parts of a Marathon app (and its embedded tasks) the load balancer reads. */
export interface MarathonApp {
  id: string;
  labels?: Record<string, string>;
  portDefinitions?: Array<{ port?: number; protocol?: string; name?: string }>;
  container?: { portMappings?: Array<{ servicePort?: number; containerPort?: number; hostPort?: number }> | null } | null;
  servicePorts?: number[];
  healthChecks?: unknown[];
  tasks?: MarathonTask[];
}

export interface MarathonTask {
  id: string;
  host: string;
  ports?: number[];
  state?: string;
  healthCheckResults?: Array<{ alive?: boolean }>;
}

export type LbMode = 'http' | 'tcp';
export const BALANCE_ALGORITHMS = ['roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'random'] as const;
export type Balance = (typeof BALANCE_ALGORITHMS)[number];

/** One instance that may take traffic: its address (an IP, resolved by the shell) and port. */
export interface LbServer {
  taskId: string;
  ip: string;
  port: number;
}

export interface LbService {
  appId: string;
  portIndex: number;
  /** The port its own frontend binds (the service port, or HAPROXY_{n}_PORT). */
  servicePort: number;
  bindAddr: string;
  mode: LbMode;
  balance: Balance;
  vhosts: string[];
  path?: string;
  sticky: boolean;
  redirectToHttps: boolean;
  sslCerts: string[];
  /** HAProxy backend name: the app id with `/` → `_`, then the service port (marathon-lb's names). */
  backend: string;
  servers: LbServer[];
}

export interface Refusal {
  appId: string;
  label: string;
  reason: string;
}

export interface LbModel {
  services: LbService[];
  refused: Refusal[];
}

export interface ModelOptions {
  /** HAPROXY_GROUP values served; `*` serves every app, with or without a group. */
  groups: readonly string[];
  /** The address service-port frontends bind unless HAPROXY_{n}_BIND_ADDR says otherwise. */
  bindAddr: string;
  /** marathon-lb's `--strict-mode` (the package's `strict-mode`): a port is served only with HAPROXY_{n}_ENABLED=true. */
  strictMode?: boolean;
  /** Ports the LB itself binds (vhost, app-id, admin): a service port among them is refused. */
  reservedPorts: readonly number[];
  /** Agent host name → IP (resolved by the shell); tasks on hosts missing here get no traffic. */
  hostIps: ReadonlyMap<string, string>;
}

/** Longest label value read at all; anything longer is refused before any pattern sees it. */
export const MAX_LABEL_LENGTH = 1024;
export const MAX_VHOSTS = 32;
export const MAX_CERTS = 8;

const GROUP = /^[A-Za-z0-9_.-]{1,64}$/;
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const VHOST = new RegExp(`^(?:\\*\\.)?${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
// RFC 3986 path characters, minus the ones HAProxy's config reads specially (space, quotes, `#`, `\`, `$`).
const PATH = /^\/[A-Za-z0-9._~!&()*+,;=:@%/-]{0,254}$/;
const CERT = /^\/[A-Za-z0-9._/-]{1,254}$/;
const PER_PORT = /^HAPROXY_(\d{1,3})_([A-Z_]{1,40})$/;
const KNOWN_PER_PORT = new Set(['GROUP', 'VHOST', 'PATH', 'MODE', 'BALANCE', 'STICKY', 'REDIRECT_TO_HTTPS', 'SSL_CERT', 'BIND_ADDR', 'ENABLED', 'PORT']);

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (reason: string): Parsed<never> => ({ ok: false, reason });

export function parseGroup(v: string): Parsed<string> {
  return GROUP.test(v) ? ok(v) : bad('a group is 1–64 letters, digits, _ . or -');
}

export function parseVhosts(v: string): Parsed<string[]> {
  const hosts = v.split(',').map((h) => h.trim().toLowerCase());
  if (hosts.length > MAX_VHOSTS) return bad(`at most ${MAX_VHOSTS} virtual hosts`);
  for (const h of hosts) if (h.length > 253 || !VHOST.test(h)) return bad(`'${printable(h)}' is not a host name (letters, digits, - and dots; an optional leading *.)`);
  return ok([...new Set(hosts)]);
}

export function parsePath(v: string): Parsed<string> {
  return PATH.test(v) ? ok(v) : bad('a path starts with / and has at most 255 URL path characters (no spaces, quotes, # or \\)');
}

export function parseMode(v: string): Parsed<LbMode> {
  return v === 'http' || v === 'tcp' ? ok(v) : bad("the mode is 'http' or 'tcp'");
}

export function parseBalance(v: string): Parsed<Balance> {
  return (BALANCE_ALGORITHMS as readonly string[]).includes(v) ? ok(v as Balance) : bad(`the balance is one of ${BALANCE_ALGORITHMS.join(', ')}`);
}

export function parseBool(v: string): Parsed<boolean> {
  const l = v.toLowerCase();
  return l === 'true' ? ok(true) : l === 'false' ? ok(false) : bad("'true' or 'false'");
}

export function parseCerts(v: string): Parsed<string[]> {
  const certs = v.split(',').map((c) => c.trim());
  if (certs.length > MAX_CERTS) return bad(`at most ${MAX_CERTS} certificates`);
  for (const c of certs) if (!CERT.test(c) || c.split('/').includes('..')) return bad(`'${printable(c)}' is not an absolute file path (letters, digits, . _ - /; no ..)`);
  return ok(certs);
}

export function parseBindAddr(v: string): Parsed<string> {
  return v === '*' || isIP(v) !== 0 ? ok(v) : bad("an IPv4 or IPv6 address, or '*'");
}

export function parsePort(v: string): Parsed<number> {
  return /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? ok(Number(v)) : bad('a port from 1 to 65535');
}

/** A refused value as it appears in a reason: short, one line, no control characters. */
function printable(v: string): string {
  const s = v.replace(/[^\x20-\x7e]/g, '?');
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Marathon-LB's backend name: `/prod/web` on service port 10000 → `prod_web_10000`. */
export function backendName(appId: string, servicePort: number): string {
  return `${appId
    .replace(/^\/+/, '')
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .slice(0, 200)}_${servicePort}`;
}

/** The service port of port index i: servicePorts[i], else the port mapping's, else the port definition's. */
export function servicePortOf(app: MarathonApp, i: number): number | undefined {
  const candidates = [app.servicePorts?.[i], app.container?.portMappings?.[i]?.servicePort, app.portDefinitions?.[i]?.port];
  for (const p of candidates) if (typeof p === 'number' && Number.isInteger(p) && p > 0 && p <= 65535) return p;
  return undefined;
}

/**
 * Instances that may take traffic: RUNNING (not KILLING, which is how a kill starts), and with
 * health checks, every result alive (marathon-lb's `--health-check`).
 */
export function takesTraffic(app: MarathonApp, task: MarathonTask): boolean {
  if (task.state !== undefined && task.state !== 'TASK_RUNNING') return false;
  if ((app.healthChecks?.length ?? 0) === 0) return true;
  const results = task.healthCheckResults ?? [];
  return results.length > 0 && results.every((r) => r.alive === true);
}

function portCount(app: MarathonApp): number {
  return Math.max(app.portDefinitions?.length ?? 0, app.container?.portMappings?.length ?? 0, app.servicePorts?.length ?? 0);
}

/** The LB's view of every app, in app id then port order (the config is then the same for the same apps). */
export function buildModel(apps: readonly MarathonApp[], options: ModelOptions): LbModel {
  const services: LbService[] = [];
  const refused: Refusal[] = [];
  const usedPorts = new Map<string, string>();
  const everyGroup = options.groups.includes('*');
  for (const app of [...apps].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const labels = app.labels ?? {};
    const refuse = (label: string, reason: string): void => {
      refused.push({ appId: app.id, label, reason });
    };
    /** A label's value; null: present but refused already (too long to read). */
    const get = (label: string): string | null | undefined => {
      const v = labels[label];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v.length > MAX_LABEL_LENGTH) {
        refuse(label, `not a string of at most ${MAX_LABEL_LENGTH} characters`);
        return null;
      }
      return v;
    };
    for (const key of Object.keys(labels)) {
      if (!key.startsWith('HAPROXY_') || key === 'HAPROXY_GROUP' || key.startsWith('HAPROXY_DEPLOYMENT_')) continue;
      const m = PER_PORT.exec(key.length <= 64 ? key : '');
      // marathon-lb's template labels (HAPROXY_HEAD, HAPROXY_{n}_BACKEND_HEAD, …) write raw config:
      // not taken, and said so.
      if (!m || !KNOWN_PER_PORT.has(m[2]!)) refuse(printable(key), 'not supported (config template labels are not taken); ignored');
    }
    let appGroup: string | undefined;
    const g = get('HAPROXY_GROUP');
    if (g === null) continue;
    if (g !== undefined) {
      const p = parseGroup(g);
      if (!p.ok) {
        refuse('HAPROXY_GROUP', p.reason);
        continue;
      }
      appGroup = p.value;
    }
    const tasks = (app.tasks ?? []).filter((t) => takesTraffic(app, t));
    for (let i = 0; i < portCount(app); i++) {
      const problems: Array<[string, string]> = [];
      let tooLong = false;
      const read = <T>(name: string, parse: (v: string) => Parsed<T>): T | undefined => {
        const v = get(`HAPROXY_${i}_${name}`);
        if (v === null) tooLong = true;
        if (v === undefined || v === null) return undefined;
        const p = parse(v);
        if (p.ok) return p.value;
        problems.push([`HAPROXY_${i}_${name}`, p.reason]);
        return undefined;
      };
      const enabled = read('ENABLED', parseBool);
      const group = read('GROUP', parseGroup) ?? appGroup;
      const vhosts = read('VHOST', parseVhosts) ?? [];
      const path = read('PATH', parsePath);
      const mode = read('MODE', parseMode);
      const balance = read('BALANCE', parseBalance);
      const sticky = read('STICKY', parseBool);
      const redirect = read('REDIRECT_TO_HTTPS', parseBool);
      const certs = read('SSL_CERT', parseCerts) ?? [];
      const bindAddr = read('BIND_ADDR', parseBindAddr);
      const portLabel = read('PORT', parsePort);
      if (problems.length > 0 || tooLong) {
        for (const [label, reason] of problems) refuse(label, reason);
        continue;
      }
      if (enabled === false || (options.strictMode === true && enabled !== true)) continue;
      if (!(everyGroup || (group !== undefined && options.groups.includes(group)))) continue;
      const servicePort = portLabel ?? servicePortOf(app, i);
      if (servicePort === undefined) continue;
      const addr = bindAddr ?? options.bindAddr;
      if (options.reservedPorts.includes(servicePort)) {
        refuse(`HAPROXY_${i}_PORT`, `service port ${servicePort} is one the load balancer binds itself`);
        continue;
      }
      const holder = usedPorts.get(String(servicePort));
      if (holder !== undefined) {
        refuse(`HAPROXY_${i}_PORT`, `service port ${servicePort} is already bound for ${holder}`);
        continue;
      }
      usedPorts.set(String(servicePort), app.id);
      const resolvedMode: LbMode = mode ?? (vhosts.length > 0 || path !== undefined ? 'http' : 'tcp');
      if (resolvedMode === 'tcp' && (vhosts.length > 0 || path !== undefined)) {
        refuse(`HAPROXY_${i}_MODE`, 'a vhost or path needs mode http');
        usedPorts.delete(String(servicePort));
        continue;
      }
      const servers: LbServer[] = [];
      for (const t of tasks) {
        const ip = options.hostIps.get(t.host);
        const port = t.ports?.[i];
        if (ip === undefined || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
        servers.push({ taskId: t.id, ip, port });
      }
      servers.sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
      services.push({
        appId: app.id,
        portIndex: i,
        servicePort,
        bindAddr: addr,
        mode: resolvedMode,
        balance: balance ?? 'roundrobin',
        vhosts,
        ...(path === undefined ? {} : { path }),
        sticky: sticky ?? false,
        redirectToHttps: redirect ?? false,
        sslCerts: certs,
        backend: backendName(app.id, servicePort),
        servers,
      });
    }
  }
  return { services, refused };
}
