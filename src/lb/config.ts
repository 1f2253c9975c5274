/**
 * The HAProxy configuration as a pure function of the model and the backends' server slots.
 *
 * Each backend has a fixed number of slots (`s1…sN`): filled ones are `server` lines with the
 * instance's address, the free tail is one `server-template` of disabled servers. Scaling and
 * rolling deploys then fill and free slots through the runtime API (slots.ts) and never reload;
 * `shapeOf` is the config without the servers' addresses — when it changes (an app, a port, a
 * vhost, a label, a slot count), and only then, HAProxy reloads.
 *
 * Every string written here is either ours or a model value the model already checked against a
 * strict pattern (model.ts); names are built from checked app ids and ports.
 */
import type { LbModel, LbServer, LbService } from './model.ts';

/** A backend's slots: index k is server `s{k+1}`; null is free. */
export type SlotTable = ReadonlyArray<LbServer | null>;

export interface ConfigOptions {
  /** The runtime API socket (level admin, exposing listeners for seamless reloads). */
  socketPath: string;
  /** Port of the vhost frontend (marathon-lb: 80); 0: none. */
  httpPort: number;
  /** Port of the TLS vhost frontend (marathon-lb: 443); 0: none. Bound only when some app has a cert. */
  httpsPort: number;
  /** Port of the `X-Marathon-App-Id` frontend (marathon-lb: 9091); 0: none. */
  appIdPort: number;
  /** Address the vhost and app-id frontends bind. */
  bindAddr: string;
  maxconn: number;
}

const INDENT = '    ';

/** HAProxy's bind syntax: `*` is every address, an IPv6 literal needs brackets. */
function bindTo(addr: string, port: number): string {
  if (addr === '*' || addr === '0.0.0.0') return `*:${port}`;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function aclName(s: LbService): string {
  return s.backend.replace(/[^A-Za-z0-9_]/g, '_');
}

function globalSection(o: ConfigOptions): string[] {
  return [
    'global',
    // master-worker: a reload (SIGUSR2 to the master) starts new workers that take the listening
    // sockets over from the old ones; the old ones finish their connections, then exit.
    `${INDENT}master-worker`,
    `${INDENT}stats socket ${o.socketPath} mode 600 level admin expose-fd listeners`,
    `${INDENT}stats timeout 2m`,
    `${INDENT}maxconn ${o.maxconn}`,
    // An old worker still holding a connection after a reload is stopped after this long.
    `${INDENT}hard-stop-after 60s`,
    // Abnormal requests only (errors, retries, aborts) to stderr, which the LB logs.
    `${INDENT}log stderr format raw local0`,
    '',
    'defaults',
    `${INDENT}log global`,
    `${INDENT}option dontlog-normal`,
    `${INDENT}mode http`,
    `${INDENT}timeout connect 5s`,
    `${INDENT}timeout client 50s`,
    `${INDENT}timeout server 50s`,
    `${INDENT}timeout http-request 10s`,
    `${INDENT}timeout http-keep-alive 10s`,
    `${INDENT}timeout queue 10s`,
    // A connection refused or an empty answer from an instance that is going away is tried on
    // another one (every retry redispatches): the window between a task's SIGTERM and the LB
    // hearing of the kill loses no request. Only failures before any answer byte are retried.
    `${INDENT}retries 3`,
    `${INDENT}option redispatch 1`,
    `${INDENT}retry-on conn-failure empty-response`,
    `${INDENT}default-server init-addr none`,
    '',
  ];
}

function serverLines(s: LbService, slots: SlotTable, withAddresses: boolean): string[] {
  const cookie = (k: number): string => (s.sticky ? ` cookie s${k}` : '');
  const lines: string[] = [];
  // Filled slots come first after a reload (slots.ts compacts them); a free slot between filled
  // ones (possible only in a shape compared, never in a written config) is written disabled.
  let lastFilled = 0;
  slots.forEach((v, k) => {
    if (v !== null) lastFilled = k + 1;
  });
  for (let k = 1; k <= lastFilled; k++) {
    const v = slots[k - 1];
    if (v && withAddresses) lines.push(`${INDENT}server s${k} ${v.ip.includes(':') ? `[${v.ip}]` : v.ip}:${v.port}${cookie(k)}`);
    else lines.push(`${INDENT}server s${k} 127.0.0.1:1 disabled${cookie(k)}`);
  }
  const total = slots.length;
  if (total > lastFilled) {
    if (s.sticky) {
      // server-template gives every server of the range one cookie value: sticky backends get one line each.
      for (let k = lastFilled + 1; k <= total; k++) lines.push(`${INDENT}server s${k} 127.0.0.1:1 disabled${cookie(k)}`);
    } else lines.push(`${INDENT}server-template s ${lastFilled + 1}-${total} 127.0.0.1:1 disabled`);
  }
  return lines;
}

function backendSection(s: LbService, slots: SlotTable, withAddresses: boolean): string[] {
  const lines = [`backend ${s.backend}`, `${INDENT}mode ${s.mode}`, `${INDENT}balance ${s.balance}`];
  if (s.mode === 'http') {
    lines.push(`${INDENT}option forwardfor`, `${INDENT}http-request set-header X-Forwarded-Port %[dst_port]`, `${INDENT}http-request add-header X-Forwarded-Proto https if { ssl_fc }`);
    if (s.sticky) lines.push(`${INDENT}cookie mesosphere_server_id insert indirect nocache`);
  } else if (s.sticky) lines.push(`${INDENT}stick-table type ip size 200k expire 30m`, `${INDENT}stick on src`);
  lines.push(...(withAddresses ? serverLines(s, slots, true) : [`${INDENT}# ${slots.length} slots`]), '');
  return lines;
}

function vhostRules(services: readonly LbService[], https: boolean): string[] {
  const lines: string[] = [];
  // Path rules before host-only ones: the more specific route wins, as in marathon-lb.
  const ordered = [...services].sort((a, b) => Number(b.path !== undefined) - Number(a.path !== undefined));
  for (const s of ordered) {
    const acl = aclName(s);
    const conds: string[] = [];
    if (s.vhosts.length > 0) {
      lines.push(`${INDENT}acl host_${acl} hdr(host),field(1,:),lower -m str ${s.vhosts.filter((h) => !h.startsWith('*.')).join(' ') || '-'}`);
      const wild = s.vhosts.filter((h) => h.startsWith('*.')).map((h) => h.slice(1));
      if (wild.length > 0) lines.push(`${INDENT}acl host_${acl} hdr(host),field(1,:),lower -m end ${wild.join(' ')}`);
      conds.push(`host_${acl}`);
    }
    if (s.path !== undefined) {
      lines.push(`${INDENT}acl path_${acl} path_beg ${s.path}`);
      conds.push(`path_${acl}`);
    }
    if (!https && s.redirectToHttps) lines.push(`${INDENT}redirect scheme https code 301 if !{ ssl_fc } ${conds.join(' ')}`);
    lines.push(`${INDENT}use_backend ${s.backend} if ${conds.join(' ')}`);
  }
  return lines;
}

function frontendSections(model: LbModel, o: ConfigOptions): string[] {
  const lines: string[] = [];
  const routed = model.services.filter((s) => s.mode === 'http' && s.vhosts.length > 0);
  if (o.httpPort > 0 && routed.length > 0) {
    lines.push('frontend marathon_http_in', `${INDENT}bind ${bindTo(o.bindAddr, o.httpPort)}`, `${INDENT}mode http`, `${INDENT}option httplog`, ...vhostRules(routed, false), '');
  }
  const certs = [...new Set(routed.flatMap((s) => s.sslCerts))].sort();
  if (o.httpsPort > 0 && certs.length > 0) {
    lines.push(
      'frontend marathon_https_in',
      `${INDENT}bind ${bindTo(o.bindAddr, o.httpsPort)} ssl ${certs.map((c) => `crt ${c}`).join(' ')}`,
      `${INDENT}mode http`,
      `${INDENT}option httplog`,
      ...vhostRules(
        routed.filter((s) => s.sslCerts.length > 0 || !s.redirectToHttps),
        true,
      ),
      '',
    );
  }
  // Every HTTP app on one port by its id, the first HTTP port of each app (marathon-lb's :9091).
  const byAppId = new Map<string, LbService>();
  for (const s of model.services) if (s.mode === 'http' && !byAppId.has(s.appId)) byAppId.set(s.appId, s);
  if (o.appIdPort > 0 && byAppId.size > 0) {
    lines.push('frontend marathon_http_appid_in', `${INDENT}bind ${bindTo(o.bindAddr, o.appIdPort)}`, `${INDENT}mode http`, `${INDENT}option httplog`);
    for (const s of byAppId.values()) {
      lines.push(`${INDENT}acl app_${aclName(s)} hdr(x-marathon-app-id) -m str ${s.appId}`, `${INDENT}use_backend ${s.backend} if app_${aclName(s)}`);
    }
    lines.push('');
  }
  for (const s of model.services) {
    lines.push(`frontend ${s.backend}`, `${INDENT}bind ${bindTo(s.bindAddr, s.servicePort)}`, `${INDENT}mode ${s.mode}`, `${INDENT}option ${s.mode}log`);
    if (s.mode === 'http' && s.redirectToHttps) lines.push(`${INDENT}redirect scheme https code 301 if !{ ssl_fc }`);
    lines.push(`${INDENT}default_backend ${s.backend}`, '');
  }
  return lines;
}

/** The whole config, servers' addresses included. */
export function renderConfig(model: LbModel, slots: ReadonlyMap<string, SlotTable>, o: ConfigOptions): string {
  return render(model, slots, o, true);
}

/** The config without the servers' addresses: a change here needs a reload, any other does not. */
export function shapeOf(model: LbModel, slotCounts: ReadonlyMap<string, number>, o: ConfigOptions): string {
  const empty = new Map<string, SlotTable>();
  for (const [b, n] of slotCounts) empty.set(b, new Array<null>(n).fill(null));
  return render(model, empty, o, false);
}

function render(model: LbModel, slots: ReadonlyMap<string, SlotTable>, o: ConfigOptions, withAddresses: boolean): string {
  const lines = [...globalSection(o), ...frontendSections(model, o)];
  for (const s of model.services) lines.push(...backendSection(s, slots.get(s.backend) ?? [], withAddresses));
  return `${lines.join('\n')}\n`;
}
