/**
 * How Mesos-DNS and DC/OS turn task, framework and VIP names into DNS labels. Pure.
 *
 * - Labels (Mesos-DNS, RFC 1123 mode, its default): lower case, `.` → `-`, anything but
 *   `[a-z0-9-]` dropped, no `-` at either end, at most 63 characters. Marathon names the task of
 *   `/a/b/web` `web.b.a`, so its name is `web-b-a`.
 * - A task's canonical instance name (Mesos-DNS `taskContextRecord`): `<label>-<hash>-<agentTail>`,
 *   where hash is the first 5 characters of zbase32(SHA-1(task id)) and agentTail the last
 *   `-`-separated field of the agent id, lower-cased.
 * - DC/OS VIP names (`VIP_n` labels, `/mygroup/myapp:80`): the name without slashes
 *   (`mygroupmyapp`), under `<framework>.l4lb.thisdcos.directory`.
 */
import { createHash } from 'node:crypto';

/** Longest DNS label (RFC 1035). */
export const MAX_LABEL = 63;
/** Longest name (RFC 1035, in text form without the final dot). */
export const MAX_NAME = 253;

/** A DNS label from a Mesos name: Mesos-DNS' RFC 1123 rules. Empty when nothing is left. */
export function label(name: string): string {
  let out = name
    .toLowerCase()
    .replaceAll('.', '-')
    .replace(/[^a-z0-9-]/g, '');
  if (out.length > MAX_LABEL) out = out.slice(0, MAX_LABEL);
  return out.replace(/^-+/, '').replace(/-+$/, '');
}

/**
 * A framework's part of a name: Mesos-DNS keeps dots in framework names (each part a label), so
 * each dot-separated part is made a label on its own.
 */
export function frameworkLabel(name: string): string {
  return name
    .split('.')
    .map(label)
    .filter((l) => l !== '')
    .join('.');
}

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** zbase32 of bytes (RFC 4648 bit order, z-base-32 alphabet, no padding). */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** Mesos-DNS' 5-character hash of a task id. */
export function taskHash(taskId: string): string {
  return zbase32(createHash('sha1').update(taskId).digest()).slice(0, 5);
}

/** The last `-`-separated field of an agent id, lower-cased (`…-S3` → `s3`). */
export function agentTail(agentId: string): string {
  const fields = agentId.split('-');
  return label(fields[fields.length - 1] ?? '');
}

/** The canonical per-instance label: `<task>-<hash>-<agentTail>`. */
export function instanceLabel(taskLabel: string, taskId: string, agentId: string): string {
  const tail = agentTail(agentId);
  return label(`${taskLabel}-${taskHash(taskId)}${tail === '' ? '' : `-${tail}`}`);
}

/** A VIP declared by a port's `VIP_n` label. */
export interface VipLabel {
  /** `mygroupmyapp` for `/mygroup/myapp`; undefined for an IP VIP. */
  name?: string;
  /** The literal address of an IP VIP (`10.0.0.1:80`). */
  ip?: string;
  port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(text: string): boolean {
  return text.length <= 15 && IPV4.test(text);
}

/** Longest VIP label value looked at (a name of a few segments and a port). */
const MAX_VIP_VALUE = 512;

/**
 * A `VIP_n` label's value (`/name:port` or `ip:port`), as dcos-net reads it: split at the last
 * `:`, the port an integer 1–65535, the left side an IPv4 address or a name (slashes dropped).
 * Undefined when it is neither.
 */
export function parseVipLabel(value: string): VipLabel | undefined {
  if (value.length > MAX_VIP_VALUE) return undefined;
  const at = value.lastIndexOf(':');
  if (at <= 0) return undefined;
  const left = value.slice(0, at);
  const right = value.slice(at + 1);
  if (!/^\d{1,5}$/.test(right)) return undefined;
  const port = Number(right);
  if (port < 1 || port > 65535) return undefined;
  if (isIpv4(left)) return { ip: left, port };
  const name = label(left.replaceAll('/', ''));
  return name === '' ? undefined : { name, port };
}

/** True for a label key that declares a VIP (`VIP_0`, `vip_1`, …: a case-insensitive `VIP` prefix). */
export function isVipKey(key: string): boolean {
  return key.length <= 64 && key.slice(0, 3).toUpperCase() === 'VIP';
}

/**
 * The address a named VIP gets when no VIP table says otherwise: a hash of the name into
 * 11.0.0.0/8 (Minuteman's range). The VIP data plane (src/vip) may pass its own allocation.
 */
export function defaultVipAddress(name: string): string {
  const d = createHash('sha256').update(name).digest();
  // 11.0.0.1 – 11.255.255.254: never the network or broadcast address.
  let host = ((d[0]! << 16) | (d[1]! << 8) | d[2]!) % 0xfffffe;
  host += 1;
  return `11.${(host >>> 16) & 255}.${(host >>> 8) & 255}.${host & 255}`;
}
