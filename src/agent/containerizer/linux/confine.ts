/**
 * The agent's side of confine.pl: the arguments that configure it on this machine, and the exec
 * wrapper form that the command chain and `task exec` run in place of setpriv (launch-command.ts).
 * What the steps are and why: task-privileges.ts, docs/architecture/009-task-privileges.md.
 */
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';
import type { TaskUser } from './task-user.ts';
import { capabilityMask, DEFAULT_CAPABILITIES, encodeFilter, MASKED_PATHS, READ_ONLY_PATHS, seccompArch, seccompFilter } from './task-privileges.ts';

const CONFINE_PL = readFileSync(new URL('./confine.pl', import.meta.url), 'utf8');
/** confine.pl's subroutines; prepended to launcher.pl. */
export const CONFINE_SUBS = CONFINE_PL;
/** `perl -e CONFINE_WRAPPER <config…> -- uid gid groups privileged mask -- argv…` */
export const CONFINE_WRAPPER = `${CONFINE_PL}\n${readFileSync(new URL('./confine-main.pl', import.meta.url), 'utf8')}`;

/** System call numbers per architecture (mount_setattr 442, open_tree 428 and move_mount 429 on all of them). */
export const SYSCALLS: Record<string, Record<string, number>> = {
  x64: { unshare: 272, mount: 165, setns: 308, prctl: 157, capset: 126, setgroups: 116, setresgid: 119, setresuid: 117, pivot_root: 155, umount2: 166, setsid: 112, exit_group: 231, close: 3 },
  arm64: { unshare: 97, mount: 40, setns: 268, prctl: 167, capset: 91, setgroups: 159, setresgid: 149, setresuid: 147, pivot_root: 41, umount2: 39, setsid: 157, exit_group: 94, close: 57 },
};

/** Pure: confine.pl's name=value configuration for an architecture (undefined: no table for it). */
export function confineConfig(nodeArch: string = arch()): string[] | undefined {
  const numbers = SYSCALLS[nodeArch];
  const filterArch = seccompArch(nodeArch);
  if (numbers === undefined || filterArch === undefined) return undefined;
  return [
    ...Object.entries(numbers).map(([name, nr]) => `${name}=${nr}`),
    `caps=${capabilityMask(DEFAULT_CAPABILITIES).toString(10)}`,
    `filter=${encodeFilter(seccompFilter(filterArch))}`,
    `masked=${MASKED_PATHS.join(':')}`,
    `readonly=${READ_ONLY_PATHS.join(':')}`,
  ];
}

/**
 * Pure: the argv prefix that confines what follows it (as root, in the task's namespaces): hide
 * the kernel files when `mask`, then bounding set, user, capabilities, no_new_privs, seccomp.
 */
export function confineArgv(perl: string, config: readonly string[], user: TaskUser, privileged: boolean, mask: boolean, enter?: { mountNamespace: string; workingDir: string }): string[] {
  const groups = (user.groups ?? []).join(',');
  const into = enter === undefined ? [] : [enter.mountNamespace, enter.workingDir];
  return [perl, '-e', CONFINE_WRAPPER, ...config, '--', String(user.uid), String(user.gid), groups, privileged ? '1' : '0', mask ? '1' : '0', ...into, '--'];
}
