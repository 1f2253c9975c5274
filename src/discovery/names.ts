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

export { frameworkLabel, label, MAX_LABEL, MAX_NAME } from './labels.ts';
import { label } from './labels.ts';

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
