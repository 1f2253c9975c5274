/**
 * The command line that starts a Linux task. Three small stages, each exec'ing the next, so the
 * task ends up as a descendant of one process the agent spawned (the pid it records):
 *
 *   1. join (host, root):   sh JOIN_SCRIPT  — writes its own pid into the task's cgroup.procs
 *                           files, then execs stage 2, so every later process is born confined;
 *   2. unshare --pid --fork --kill-child --mount --ipc --uts --mount-proc: new namespaces; the
 *                           unshare process stays behind in the host pid namespace waiting for
 *                           its child and exits with its status (it blocks SIGTERM; if it is
 *                           killed, --kill-child SIGKILLs the namespace);
 *   3. setup (PID 1 inside, root): SETUP_SCRIPT builds the filesystem view, then execs
 *      confine.pl as a wrapper (kernel files masked, bounding set, user, groups, capabilities,
 *      no_new_privs, seccomp; see confine.ts) → the exit-status wrapper (exit-status.ts) → command.
 *      Without perl, setpriv does what it can (bounding set, user, no_new_privs): no seccomp filter
 *      and no masked kernel files — the containerizer says so in its log when it starts.
 *
 * The wrapper is PID 1 of the task's pid namespace. That is what we want: it traps TERM (an init
 * only receives signals it handles), records the command's status in `<sandbox>/.drover-exit`,
 * and when it exits the kernel SIGKILLs everything left in the namespace, so the container ends
 * with its leader even for processes that called setsid.
 */
import { accessSync, constants } from 'node:fs';
import { DroverError } from '../../../errors/errors.ts';
import { WRAPPER_SCRIPT } from '../exit-status.ts';
import type { TaskUser } from './task-user.ts';
import { confineArgv, confineConfig } from './confine.ts';
import { SETPRIV_BOUNDING_SET } from './task-privileges.ts';

/** `sh -c JOIN_SCRIPT drover-join <procs files…> -- <next stage…>` */
export const JOIN_SCRIPT = ['while [ "$1" != -- ]; do', '  echo $$ > "$1" || { echo "drover: cannot join the cgroup $1" >&2; exit 125; }', '  shift', 'done', 'shift', 'exec "$@"'].join('\n');

/**
 * Perl, for SETUP_SCRIPT (no single quotes in it: it sits in a single-quoted shell word).
 * mount_setattr is syscall 442 on every architecture (new syscalls share numbers); struct
 * mount_attr is {attr_set, attr_clr, propagation, userns_fd}, four u64; MOUNT_ATTR_RDONLY is 1,
 * AT_RECURSIVE 0x8000, AT_FDCWD -100. Arguments are copied into variables: syscall() needs
 * writable strings to pass as pointers.
 */
export const RECURSIVE_READ_ONLY = [
  'my ($sandbox, $root, $proc) = ($ARGV[0], "/", "/proc");',
  'my ($set, $clear) = (pack("QQQQ", 1, 0, 0, 0), pack("QQQQ", 0, 1, 0, 0));',
  'syscall(442, -100, $root, 0x8000, $set, 32) == 0 or die "mount_setattr /: $!";',
  'syscall(442, -100, $sandbox, 0x8000, $clear, 32) == 0 or die "mount_setattr sandbox: $!";',
  'syscall(442, -100, $proc, 0, $clear, 32) == 0 or die "mount_setattr /proc: $!";',
].join(' ');

/**
 * `sh -c SETUP_SCRIPT drover-setup <mount> <mkdir> <sandbox> <perl or ""> <next stage…>`, run as root inside
 * the new mount namespace (unshare makes its mounts private, so nothing here reaches the host):
 * - the sandbox is bind-mounted onto itself first, so it is a mount of its own and stays writable;
 * - every other mount is made read-only. Fast path: one perl process (perl-base is part of every
 *   Debian system) calls mount_setattr(2) with AT_RECURSIVE on `/`, then clears read-only on the
 *   sandbox and on /proc (the fresh one --mount-proc made, which stays as it was) — 10 ms per
 *   launch where a `mount -o remount` per mount took ~40 ms on a machine with 21 mounts, and
 *   launch rates are bound by it. Without perl or the syscall (kernels before 5.12), each mount
 *   is remounted read-only one by one, as before;
 * - a fresh tmpfs goes on /tmp and /dev/shm. If the sandbox itself lives under /tmp, the tmpfs
 *   hides it: the working directory still holds it, so it is bind-mounted back from `.` at the
 *   same path (-c: no canonicalisation, so `.` is resolved by the kernel, not by path).
 * A KILL during setup ends it (as PID 1 of the namespace it only gets the SIGTERM it traps).
 * A failed step fails the task (exit 125) with the reason on its stderr, rather than running it
 * with a writable host.
 */
export const SETUP_SCRIPT = [
  'set -e',
  "trap 'exit 143' TERM",
  'mount=$1 mkdir=$2 sandbox=$3 perl=$4; shift 4',
  '"$mount" -c --rbind "$sandbox" "$sandbox"',
  `if [ -n "$perl" ] && "$perl" -e '${RECURSIVE_READ_ONLY}' "$sandbox" 2>/dev/null; then :; else`,
  'while read -r _ _ _ _ mp _; do',
  '  case $mp in *\\\\*) mp=$(printf \'%b\' "$mp");; esac',
  '  case $mp in "$sandbox"|"$sandbox"/*|/proc|/proc/*) continue;; esac',
  '  "$mount" -c -o remount,bind,ro "$mp" 2>/dev/null || "$mount" -c -o remount,bind,ro,nosuid,nodev,noexec "$mp" ||',
  '    { echo "drover: cannot make $mp read-only" >&2; exit 125; }',
  'done < /proc/self/mountinfo',
  'fi',
  'cd "$sandbox"',
  '"$mount" -t tmpfs -o mode=1777,nosuid,nodev drover-tmp /tmp',
  '[ ! -d /dev/shm ] || "$mount" -t tmpfs -o mode=1777,nosuid,nodev drover-shm /dev/shm',
  'if [ ! -d "$sandbox" ]; then "$mkdir" -p "$sandbox"; "$mount" -c --rbind . "$sandbox"; fi',
  'cd "$sandbox"',
  // Tell the agent the command is about to start (see PreparedLaunch.signalsReady); the task
  // does not inherit the pipe.
  'echo ready 2>/dev/null >&3 || :',
  'exec 3>&-',
  'exec "$@"',
].join('\n');

export interface LinuxTools {
  unshare: string;
  setpriv: string;
  mount: string;
  mkdir: string;
  /** Only for tasks with CNI networks; optional so a machine without it still runs the rest. */
  nsenter?: string;
  /** The fast way to a read-only host view (SETUP_SCRIPT); optional: without it, mount by mount. */
  perl?: string;
}

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/** Absolute paths of the util-linux tools (the task's PATH must not decide what runs as root). */
export function findLinuxTools(): LinuxTools {
  const find = (name: string): string => {
    for (const dir of TOOL_DIRS) {
      try {
        accessSync(`${dir}/${name}`, constants.X_OK);
        return `${dir}/${name}`;
      } catch {
        // next
      }
    }
    throw new DroverError('CONFIG', `'${name}' (util-linux) is not installed`);
  };
  const tools: LinuxTools = { unshare: find('unshare'), setpriv: find('setpriv'), mount: find('mount'), mkdir: find('mkdir') };
  try {
    tools.nsenter = find('nsenter');
  } catch {
    // Tasks asking for networks will fail to launch, saying so; all others are unaffected.
  }
  try {
    tools.perl = find('perl');
  } catch {
    // SETUP_SCRIPT remounts mount by mount instead.
  }
  return tools;
}

export interface LaunchCommandInput {
  tools: LinuxTools;
  procsFiles: readonly string[];
  sandbox: string;
  exitFile: string;
  user: TaskUser;
  /** Keep root's capabilities, no seccomp, kernel files unmasked (task-privileges.ts). */
  privileged: boolean;
  /** The task's own argv (see commandArgv). */
  argv: readonly string[];
  /** A network namespace to start in (CNI networks): nsenter joins it before unshare runs. */
  netns?: { nsenter: string; path: string };
}

/** Pure: the argv to spawn (argv[0] is the program). */
export function linuxLaunchArgv(input: LaunchCommandInput): string[] {
  const { tools, user } = input;
  const confine = privilegeArgv(tools, user, input.privileged, true);
  return [
    '/bin/sh',
    '-c',
    JOIN_SCRIPT,
    'drover-join',
    ...input.procsFiles,
    '--',
    // Without networks the task shares the host's network namespace, as before.
    ...(input.netns === undefined ? [] : [input.netns.nsenter, `--net=${input.netns.path}`, '--']),
    tools.unshare,
    '--pid',
    '--fork',
    '--kill-child',
    '--mount',
    '--ipc',
    '--uts',
    '--mount-proc',
    '/bin/sh',
    '-c',
    SETUP_SCRIPT,
    'drover-setup',
    tools.mount,
    tools.mkdir,
    input.sandbox,
    tools.perl ?? '',
    ...confine,
    '/bin/sh',
    '-c',
    WRAPPER_SCRIPT,
    'drover-task',
    input.exitFile,
    ...input.argv,
  ];
}

export interface ExecCommandInput {
  tools: LinuxTools & { nsenter: string };
  /** `cgroup.procs` of the task's cgroups: the exec'd process joins them first. */
  procsFiles: readonly string[];
  /** PID (in the host's namespace) of the task's namespace init: its namespaces are entered. */
  initPid: number;
  sandbox: string;
  user: TaskUser;
  /** The task is privileged (ContainerRecord.privileged): so is what runs in it. */
  privileged: boolean;
  /** The task has its own user namespace (ContainerRecord.userNamespace): it is entered too, first. */
  userNamespace?: boolean;
  /**
   * The task runs in an image (ContainerRecord.image): its root has no perl, so the mount
   * namespace is entered by confine.pl (setns), not by nsenter, and the working directory is the
   * sandbox as the task sees it.
   */
  image?: { workingDir: string };
  argv: readonly string[];
}

/**
 * The command line of `task exec` in a Linux container: join the task's cgroups (so its limits
 * apply and a kill of the task ends this too), enter its pid, mount, ipc, uts and network
 * namespaces (nsenter forks, so the command is a member of the pid namespace and sees only the
 * task's processes), start in the sandbox, and drop to the task's user, capabilities and
 * seccomp filter — the same user and privileges the task itself has (its masked kernel files are
 * in the mount namespace it enters).
 */
export function linuxExecArgv(input: ExecCommandInput): string[] {
  const { tools, user } = input;
  const image = input.image;
  const config = confineConfig();
  if (image !== undefined && (tools.perl === undefined || config === undefined)) throw new DroverError('CONFLICT', 'exec into a task that runs in an image needs perl on the agent');
  const confine =
    image === undefined
      ? privilegeArgv(tools, user, input.privileged, false)
      : confineArgv(tools.perl!, config!, user, input.privileged, false, { mountNamespace: `/proc/${input.initPid}/ns/mnt`, workingDir: image.workingDir });
  return [
    '/bin/sh',
    '-c',
    JOIN_SCRIPT,
    'drover-join',
    ...input.procsFiles,
    '--',
    tools.nsenter,
    `--target=${input.initPid}`,
    // nsenter enters the user namespace first and becomes its root; the rest is as without one.
    ...(input.userNamespace === true ? ['--user'] : []),
    '--pid',
    ...(image === undefined ? ['--mount'] : []),
    '--ipc',
    '--uts',
    '--net',
    ...(image === undefined ? [`--wd=${input.sandbox}`] : []),
    '--',
    ...confine,
    ...input.argv,
  ];
}

/**
 * Pure: the argv prefix (ending in `--`) that takes root's powers away before what follows runs:
 * confine.pl where perl is, else setpriv — which drops every capability on the switch away from
 * uid 0 and limits a root task's to the bounding set, but installs no seccomp filter and masks
 * nothing. no_new_privs keeps setuid binaries (su, sudo, ping) from handing anything back.
 * `mask`: hide the kernel files (a launch; an exec enters a namespace where that is done).
 */
export function privilegeArgv(tools: Pick<LinuxTools, 'perl' | 'setpriv'>, user: TaskUser, privileged: boolean, mask: boolean): string[] {
  const config = confineConfig();
  if (tools.perl !== undefined && config !== undefined) return confineArgv(tools.perl, config, user, privileged, mask);
  const ids = user.uid === 0 ? [] : [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'];
  const caps = privileged ? [] : [`--bounding-set=${SETPRIV_BOUNDING_SET}`, '--inh-caps=-all'];
  return [tools.setpriv, ...ids, ...caps, '--no-new-privs', '--'];
}
