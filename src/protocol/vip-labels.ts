/**
 * `VIP_n` port labels, as DC/OS' L4LB reads them (dcos-net `dcos_l4lb_mesos_poller.erl key/3`):
 * a label whose key starts with `VIP` (any case) on a port, valued `<name-or-IPv4>:<port>`, split
 * on the last `:`. `"/mygroup/myapp:80"` is a named VIP (its address comes from `vipAddress`),
 * `"10.0.0.1:80"` an address VIP. Everything here is bounded: a value over 256 characters, a name
 * segment outside `[a-z0-9_.-]`, or more than 8 VIP labels on one port is refused with a reason.
 */

import { createHash } from 'node:crypto';

export const MAX_VIP_LABEL_LENGTH = 256;
export const MAX_VIPS_PER_PORT = 8;
const MAX_NAME_SEGMENTS = 16;
const SEGMENT = /^[a-z0-9_][a-z0-9_.-]{0,62}$/;

export type VipProtocol = 'tcp' | 'udp';

/** A parsed label value: a name (normalized: lower case, leading `/`) or an IPv4 literal. */
export type VipTarget = { kind: 'named'; name: string; port: number } | { kind: 'address'; ip: string; port: number };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Whether a port label key declares a VIP (`VIP_0`, `vip_1`, … — dcos-net matches the prefix). */
export function isVipLabelKey(key: string): boolean {
  return key.length >= 3 && key.slice(0, 3).toUpperCase() === 'VIP';
}

/** IPv4 dotted quad to a 32-bit unsigned number, or undefined. */
export function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const byte = Number(part);
    if (byte > 255) return undefined;
    n = n * 256 + byte;
  }
  return n;
}

export function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Addresses a VIP may not take: 0/8, loopback, link-local, multicast and above. */
function unusableAddress(n: number): string | undefined {
  const first = n >>> 24;
  if (first === 0) return 'is in 0.0.0.0/8';
  if (first === 127) return 'is a loopback address';
  if (first === 169 && ((n >>> 16) & 255) === 254) return 'is a link-local address';
  if (first >= 224) return 'is a multicast or reserved address';
  return undefined;
}

/** The label's value as a VIP target, or the reason it is not one. */
export function parseVipLabel(value: string): Parsed<VipTarget> {
  if (value.length > MAX_VIP_LABEL_LENGTH) return { ok: false, reason: `longer than ${MAX_VIP_LABEL_LENGTH} characters` };
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return { ok: false, reason: 'must be <name>:<port> or <IPv4>:<port>' };
  const left = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  if (!/^[1-9][0-9]{0,4}$/.test(portText) || Number(portText) > 65535) return { ok: false, reason: `port ${JSON.stringify(portText.slice(0, 16))} is not an integer in 1..65535` };
  const port = Number(portText);
  const ip = ipv4ToNumber(left);
  if (ip !== undefined) {
    const bad = unusableAddress(ip);
    return bad === undefined ? { ok: true, value: { kind: 'address', ip: left, port } } : { ok: false, reason: `${left} ${bad}` };
  }
  if (left.includes(':')) return { ok: false, reason: 'IPv6 VIPs are not supported' };
  const segments = left
    .toLowerCase()
    .split('/')
    .filter((s) => s !== '');
  if (segments.length === 0) return { ok: false, reason: 'the name is empty' };
  if (segments.length > MAX_NAME_SEGMENTS) return { ok: false, reason: `the name has more than ${MAX_NAME_SEGMENTS} segments` };
  for (const s of segments) if (!SEGMENT.test(s)) return { ok: false, reason: `name segment ${JSON.stringify(s.slice(0, 64))} must match [a-z0-9_][a-z0-9_.-]{0,62}` };
  return { ok: true, value: { kind: 'named', name: `/${segments.join('/')}`, port } };
}

/** DC/OS' DNS form of a named VIP: slashes dropped (`/mygroup/myapp` → `mygroupmyapp`). */
export function vipDnsLabel(name: string): string {
  return name.split('/').join('');
}

export interface PortLabelError {
  /** JSON pointer under the port, e.g. `/labels/VIP_0`. */
  path: string;
  reason: string;
}

/** Every VIP label of one port's labels, parsed, with the errors of the bad ones. */
export function portVips(labels: Readonly<Record<string, string>>): { targets: VipTarget[]; errors: PortLabelError[] } {
  const targets: VipTarget[] = [];
  const errors: PortLabelError[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!isVipLabelKey(key)) continue;
    const path = `/labels/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (targets.length >= MAX_VIPS_PER_PORT) {
      errors.push({ path, reason: `more than ${MAX_VIPS_PER_PORT} VIP labels on one port` });
      continue;
    }
    const parsed = parseVipLabel(value);
    if (parsed.ok) targets.push(parsed.value);
    else errors.push({ path, reason: parsed.reason });
  }
  return { targets, errors };
}

/**
 * VIP label errors of a Marathon app definition (`portDefinitions[n].labels`,
 * `container.portMappings[n].labels`), as `{path, errors}` for a 422 — for the API edge.
 */
export function appVipErrors(app: unknown): Array<{ path: string; errors: string[] }> {
  const out: Array<{ path: string; errors: string[] }> = [];
  if (typeof app !== 'object' || app === null) return out;
  const a = app as { portDefinitions?: unknown; container?: { portMappings?: unknown } | null };
  const lists: Array<[string, unknown]> = [
    ['/portDefinitions', a.portDefinitions],
    ['/container/portMappings', a.container?.portMappings],
  ];
  for (const [base, list] of lists) {
    if (!Array.isArray(list)) continue;
    list.slice(0, 1000).forEach((port: unknown, i) => {
      const labels = (port as { labels?: unknown } | null)?.labels;
      if (typeof labels !== 'object' || labels === null) return;
      const strings = Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string'));
      for (const e of portVips(strings).errors) out.push({ path: `${base}/${i}${e.path}`, errors: [e.reason] });
    });
  }
  return out;
}

/**
 * Whether a TaskInfo's `discovery` declares a VIP on any port: such a task is taken out of the
 * VIPs (TASK_KILLING) and given time to leave them before it is signalled (task-supervisor.ts).
 */
export function declaresVips(discovery: unknown): boolean {
  const ports = (discovery as { ports?: { ports?: unknown } } | undefined)?.ports?.ports;
  if (!Array.isArray(ports)) return false;
  return ports.slice(0, 64).some((p: unknown) => {
    const labels = (p as { labels?: { labels?: unknown } } | null)?.labels?.labels;
    return Array.isArray(labels) && labels.slice(0, 64).some((l: unknown) => typeof (l as { key?: unknown } | null)?.key === 'string' && isVipLabelKey((l as { key: string }).key));
  });
}

/** The range named VIPs take their addresses from unless an agent is told otherwise (DC/OS: 11.0.0.0/8). */
export const DEFAULT_VIP_RANGE = '11.0.0.0/8';

/** A named VIP's place in its range: a hash of the name (sha256's first 32 bits). */
export function vipNameHash(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0);
}

/**
 * The address a named VIP (`/mygroup/myapp`, as parseVipLabel names it) gets in a range of
 * `size` addresses from `base`, probe 0: the first and last address are never handed out. The VIP
 * data plane (src/agent/vip/table.ts) probes further only when two names collide on one address
 * and port; DNS (src/discovery) answers this one.
 */
export function vipAddressInRange(name: string, base: number, size: number, probe = 0): string {
  const usable = size - 2;
  return numberToIpv4(base + 1 + ((vipNameHash(name) + probe) % usable));
}

/** vipAddressInRange in DEFAULT_VIP_RANGE. */
export function defaultVipAddress(name: string): string {
  return vipAddressInRange(name, ipv4ToNumber('11.0.0.0')!, 2 ** 24);
}
