/**
 * What an unprivileged Linux task may do (docs/architecture/009-task-privileges.md). Pure data
 * and one pure function, `seccompFilter`; confine.pl applies them in the task's PID 1 just before
 * it execs, and `task exec` applies them to what it runs inside a task.
 *
 * Every task gets them — root included — unless it is *privileged* (ContainerInfo.docker.privileged,
 * allowed only on an agent started with --allow-privileged). Uid 0 without CAP_SYS_ADMIN and with
 * mount(2) filtered cannot undo the read-only host view; uid 0 with every capability could.
 */

/** Capability numbers (linux/capability.h). */
const CAPABILITY_NUMBERS = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
} as const;
export type Capability = keyof typeof CAPABILITY_NUMBERS;

/**
 * Docker's default set: what a root task keeps (bounding, effective, permitted). Inheritable and
 * ambient stay empty (as moby since CVE-2022-24769), so nothing is passed on through an exec but
 * what the bounding set allows a root exec anyway.
 */
export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

/** Pure: the bit mask of a capability set (as /proc/<pid>/status shows CapEff). */
export function capabilityMask(caps: readonly Capability[]): bigint {
  return caps.reduce((mask, cap) => mask | (1n << BigInt(CAPABILITY_NUMBERS[cap])), 0n);
}

/** Pure: the names in a CapEff-style hex mask (unknown bits as `bit N`). */
export function capabilityNames(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  const names = new Map<number, string>(Object.entries(CAPABILITY_NUMBERS).map(([name, nr]) => [nr, name]));
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) out.push(names.get(bit) ?? `bit ${bit}`);
  return out;
}

/** `setpriv --bounding-set` spelling of the default set (the util-linux fallback without perl). */
export const SETPRIV_BOUNDING_SET = `-all,${DEFAULT_CAPABILITIES.map((c) => `+${c.toLowerCase()}`).join(',')}`;

/**
 * Kernel files a task does not see: each file gets /dev/null bound over it, each directory an
 * empty read-only tmpfs (Docker's masked paths). Paths missing on this kernel are skipped.
 */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/interrupts',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/**
 * Kernel files a task sees read-only (Docker's read-only paths). The task's /proc is its own
 * mount and writable (so a task can write /proc/self/…); /proc/sys is the host's sysctls and
 * /proc/sysrq-trigger reboots the machine for anyone who may write it — root with DAC_OVERRIDE.
 */
export const READ_ONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export type SeccompArch = 'x64' | 'arm64';

/**
 * System calls an unprivileged task gets EPERM for: Docker's default profile, which allows these
 * only with capabilities our tasks never have (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_BOOT,
 * CAP_SYS_TIME, CAP_SYS_PACCT, CAP_SYSLOG, CAP_SYS_NICE, CAP_SYS_RAWIO) or never at all. ptrace
 * and process_vm_* stay allowed as in Docker on kernels ≥ 4.8 (same-user only without
 * CAP_SYS_PTRACE, and a task sees only its own pid namespace). Numbers from the kernel's
 * unistd_64.h and asm-generic/unistd.h; a name missing on an architecture has no entry.
 */
const BLOCKED: Record<string, { x64: number; arm64?: number }> = {
  // filesystems and namespaces: the read-only host view must stay read-only
  mount: { x64: 165, arm64: 40 },
  umount2: { x64: 166, arm64: 39 },
  pivot_root: { x64: 155, arm64: 41 },
  open_tree: { x64: 428, arm64: 428 },
  move_mount: { x64: 429, arm64: 429 },
  fsopen: { x64: 430, arm64: 430 },
  fsconfig: { x64: 431, arm64: 431 },
  fsmount: { x64: 432, arm64: 432 },
  fspick: { x64: 433, arm64: 433 },
  mount_setattr: { x64: 442, arm64: 442 },
  unshare: { x64: 272, arm64: 97 },
  setns: { x64: 308, arm64: 268 },
  name_to_handle_at: { x64: 303, arm64: 264 },
  open_by_handle_at: { x64: 304, arm64: 265 },
  quotactl: { x64: 179, arm64: 60 },
  quotactl_fd: { x64: 443, arm64: 443 },
  sysfs: { x64: 139 },
  ustat: { x64: 136 },
  uselib: { x64: 134 },
  nfsservctl: { x64: 180, arm64: 42 },
  vhangup: { x64: 153, arm64: 58 },
  fanotify_init: { x64: 300, arm64: 262 },
  lookup_dcookie: { x64: 212, arm64: 18 },
  // kernel modules, kexec, reboot, swap
  init_module: { x64: 175, arm64: 105 },
  finit_module: { x64: 313, arm64: 273 },
  delete_module: { x64: 176, arm64: 106 },
  create_module: { x64: 174 },
  query_module: { x64: 178 },
  get_kernel_syms: { x64: 177 },
  kexec_load: { x64: 246, arm64: 104 },
  kexec_file_load: { x64: 320, arm64: 294 },
  reboot: { x64: 169, arm64: 142 },
  swapon: { x64: 167, arm64: 224 },
  swapoff: { x64: 168, arm64: 225 },
  acct: { x64: 163, arm64: 89 },
  // the kernel's keyrings, tracing, BPF and io_uring are not namespaced, or a large attack surface
  add_key: { x64: 248, arm64: 217 },
  request_key: { x64: 249, arm64: 218 },
  keyctl: { x64: 250, arm64: 219 },
  bpf: { x64: 321, arm64: 280 },
  perf_event_open: { x64: 298, arm64: 241 },
  userfaultfd: { x64: 323, arm64: 282 },
  io_uring_setup: { x64: 425, arm64: 425 },
  io_uring_enter: { x64: 426, arm64: 426 },
  io_uring_register: { x64: 427, arm64: 427 },
  kcmp: { x64: 312, arm64: 272 },
  syslog: { x64: 103, arm64: 116 },
  _sysctl: { x64: 156 },
  // the clock is the machine's
  clock_settime: { x64: 227, arm64: 112 },
  clock_adjtime: { x64: 305, arm64: 266 },
  settimeofday: { x64: 164, arm64: 170 },
  // I/O ports and NUMA policy (CAP_SYS_RAWIO, CAP_SYS_NICE)
  ioperm: { x64: 173 },
  iopl: { x64: 172 },
  mbind: { x64: 237, arm64: 235 },
  set_mempolicy: { x64: 238, arm64: 237 },
  get_mempolicy: { x64: 239, arm64: 236 },
  move_pages: { x64: 279, arm64: 239 },
  set_mempolicy_home_node: { x64: 450, arm64: 450 },
};

/** Pure: the names blocked on an architecture. */
export function blockedSyscalls(arch: SeccompArch): string[] {
  return Object.entries(BLOCKED)
    .filter(([, nr]) => nr[arch] !== undefined)
    .map(([name]) => name);
}

const SYSCALL = { clone: { x64: 56, arm64: 220 }, clone3: { x64: 435, arm64: 435 } } as const;
const AUDIT_ARCH: Record<SeccompArch, number> = { x64: 0xc000003e, arm64: 0xc00000b7 };
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: clone() may not make namespaces. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** x86-64's x32 ABI: syscall numbers with this bit would slip past a list of x86-64 numbers. */
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;
const ENOSYS = 38;

export const SECCOMP_RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, ALLOW: 0x7fff0000 } as const;
/** Classic BPF opcodes used here. */
export const BPF = { LD_W_ABS: 0x20, JEQ_K: 0x15, JGE_K: 0x35, JSET_K: 0x45, RET_K: 0x06 } as const;

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * Pure: the seccomp program (struct sock_filter[]) for an architecture. Default allow, so a
 * program that calls nothing on the list runs as before; foreign-architecture calls (a 32-bit
 * binary) kill the process instead of running unchecked under other numbers; clone3 answers
 * ENOSYS so libc falls back to clone, whose flags a classic BPF filter can see (clone3's are
 * behind a pointer) — as Docker does.
 *
 * seccomp_data: nr at offset 0, arch at 4, args[0] at 16 (its low 32 bits on little-endian).
 */
export function seccompFilter(arch: SeccompArch): BpfInstruction[] {
  const blocked = Object.values(BLOCKED)
    .map((nr) => nr[arch])
    .filter((nr): nr is number => nr !== undefined)
    .sort((a, b) => a - b);
  const ins = (code: number, k: number, jt = 0, jf = 0): BpfInstruction => ({ code, jt, jf, k });
  const head: BpfInstruction[] = [
    ins(BPF.LD_W_ABS, 4),
    ins(BPF.JEQ_K, AUDIT_ARCH[arch], 1, 0),
    ins(BPF.RET_K, SECCOMP_RET.KILL_PROCESS),
    ins(BPF.LD_W_ABS, 0),
    ins(BPF.JEQ_K, SYSCALL.clone[arch], 0, 4),
    ins(BPF.LD_W_ABS, 16),
    ins(BPF.JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
    ins(BPF.RET_K, SECCOMP_RET.ERRNO | EPERM),
    ins(BPF.RET_K, SECCOMP_RET.ALLOW),
    ins(BPF.JEQ_K, SYSCALL.clone3[arch], 0, 1),
    ins(BPF.RET_K, SECCOMP_RET.ERRNO | ENOSYS),
  ];
  const checks = arch === 'x64' ? [X32_SYSCALL_BIT, ...blocked] : blocked;
  const list: BpfInstruction[] = [];
  checks.forEach((nr, i) => {
    // Jump to the EPERM at the end: past the rest of the list and the ALLOW.
    const toDeny = checks.length - i - 1 + 1;
    if (toDeny > 255) throw new Error('seccomp list too long for 8-bit jumps');
    list.push(arch === 'x64' && i === 0 ? ins(BPF.JGE_K, nr, toDeny, 0) : ins(BPF.JEQ_K, nr, toDeny, 0));
  });
  return [...head, ...list, ins(BPF.RET_K, SECCOMP_RET.ALLOW), ins(BPF.RET_K, SECCOMP_RET.ERRNO | EPERM)];
}

/** Pure: struct sock_filter[] bytes (u16 code, u8 jt, u8 jf, u32 k; little-endian), as hex. */
export function encodeFilter(program: readonly BpfInstruction[]): string {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf.toString('hex');
}

/** This machine's seccomp architecture, or undefined where Drover has no table. */
export function seccompArch(nodeArch: string): SeccompArch | undefined {
  return nodeArch === 'x64' || nodeArch === 'arm64' ? nodeArch : undefined;
}
