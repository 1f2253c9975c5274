/**
 * `--user-namespace-range HOSTID:SIZE`: the host ids a task's user namespace maps its own
 * 0…SIZE-1 onto (uid and gid alike, as /etc/subuid and /etc/subgid ranges do for rootless
 * Podman). Pure, so the CLI checks the flag before anything starts.
 *
 * One range per agent, shared by its tasks: root in any task is HOSTID on the host, never 0. The
 * range should be ids no host user or file owns (like a subuid range); 65,536 ids cover every
 * uid a task may name, `nobody` (65534) included.
 */
import type { UserNamespaceRange } from './launcher.ts';

export const DEFAULT_USER_NAMESPACE_RANGE = '1000000:65536';

/** Largest id + 1 the kernel maps (uid_t is 32 bits; 4294967295 is the invalid id). */
const ID_LIMIT = 4_294_967_295;

/** The range, or a message saying what is wrong with `text`. */
export function parseUserNamespaceRange(text: string): UserNamespaceRange | string {
  const match = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(text.trim());
  if (!match) return `--user-namespace-range must be HOSTID:SIZE such as '${DEFAULT_USER_NAMESPACE_RANGE}', got '${text.slice(0, 100)}'`;
  const base = Number(match[1]);
  const size = Number(match[2]);
  if (base < 1) return '--user-namespace-range: HOSTID must be at least 1 (mapping a task’s root to host uid 0 is what user namespaces exist to avoid)';
  if (size < 1) return '--user-namespace-range: SIZE must be at least 1';
  if (base + size > ID_LIMIT) return `--user-namespace-range: HOSTID + SIZE must stay below ${ID_LIMIT}`;
  return { hostUid: base, hostGid: base, size };
}
