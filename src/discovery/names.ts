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
