/**
 * Task cgroups: where they go, their limits, and how a whole task is signalled, killed, measured
 * and removed. Two layouts are handled, detected from /proc/self/mountinfo and /proc/self/cgroup
 * (never assumed):
 * - v1 (also "hybrid", where cgroup2 is mounted beside v1 with no controllers): one directory per
 *   controller hierarchy we use — memory, cpu, pids and (for freeze-then-kill) freezer;
 * - v2 (unified only): one directory with memory/cpu/pids controllers and `cgroup.kill`.
 * A task's directories sit under the agent's own cgroup in each hierarchy
 * (`<mount><agent's path>/drover/<containerId>`), so an agent that is itself confined (a systemd
 * unit, a container, a test runner's cgroup) never places tasks outside its own limits.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DroverError } from '../../../errors/errors.ts';

export type CgroupLayout =
  | { version: 1; hierarchies: Map<string, string> } // controller → directory of the agent's own cgroup
  | { version: 2; dir: string };

/**
 * The v1 controllers a task cgroup uses; memory is required, the others are used when mounted.
 * cpuacct and blkio limit nothing: they count the task's CPU time and I/O (usage-sampler.ts).
 */
const V1_CONTROLLERS = ['memory', 'cpu', 'pids', 'freezer', 'cpuacct', 'blkio'] as const;

export interface CgroupLimits {
  /** CPU shares/weight and a CFS quota of `cpus × period`. */
  cpus?: number;
  /** Memory (and memory+swap) limit in MB. */
  memMb?: number;
  /** Maximum number of processes/threads. */
  pidsMax: number;
}

const CFS_PERIOD_US = 100_000;

/** Decodes the octal escapes mountinfo uses for spaces, tabs, newlines and backslashes. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Where a cgroup path (from /proc/self/cgroup) is, given its hierarchy's mount point and root. */
function cgroupDir([mountPoint, root]: [string, string], path: string): string {
  const relative = root !== '/' && (path === root || path.startsWith(`${root}/`)) ? path.slice(root.length) : path;
  return relative === '' || relative === '/' ? mountPoint : join(mountPoint, relative);
}

/** Pure: the layout from the text of /proc/self/mountinfo and /proc/self/cgroup. */
export function parseCgroupLayout(mountinfo: string, procCgroup: string): CgroupLayout | { problem: string } {
  // controller → [mount point, the cgroup path mounted there (not '/' inside a container)]
  const v1Mounts = new Map<string, [string, string]>();
  let v2Mount: [string, string] | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const mount: [string, string] = [unescapeMountField(fields[4] ?? ''), unescapeMountField(fields[3] ?? '/')];
    const [fsType, , superOptions = ''] = right.split(' ');
    if (fsType === 'cgroup2') v2Mount ??= mount;
    if (fsType !== 'cgroup') continue;
    for (const option of superOptions.split(',')) {
      if ((V1_CONTROLLERS as readonly string[]).includes(option) && !v1Mounts.has(option)) v1Mounts.set(option, mount);
    }
  }
  const ownPaths = new Map<string, string>();
  let ownV2Path: string | undefined;
  for (const line of procCgroup.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (match === null) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') ownV2Path = path;
    for (const c of controllers.split(',')) ownPaths.set(c, path);
  }
  if (v1Mounts.has('memory')) {
    const hierarchies = new Map<string, string>();
    for (const [controller, mount] of v1Mounts) {
      const own = ownPaths.get(controller);
      if (own !== undefined) hierarchies.set(controller, cgroupDir(mount, own));
    }
    if (!hierarchies.has('memory')) return { problem: 'this process is in no v1 memory cgroup' };
    return { version: 1, hierarchies };
  }
  if (v2Mount !== undefined && ownV2Path !== undefined) return { version: 2, dir: cgroupDir(v2Mount, ownV2Path) };
  return { problem: 'no cgroup v1 memory hierarchy and no cgroup2 mount found' };
}

/**
 * This machine's layout; throws (with the reason) where task cgroups cannot be made. Synchronous:
 * it runs once, while the agent is being put together.
 */
export function detectCgroupLayout(): CgroupLayout {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  const procCgroup = readFileSync('/proc/self/cgroup', 'utf8');
  const layout = parseCgroupLayout(mountinfo, procCgroup);
  if ('problem' in layout) throw new DroverError('CONFIG', `cgroups unusable: ${layout.problem}`);
  if (layout.version === 2) {
    // v2 forbids processes in a cgroup whose controllers are delegated to children ("no internal
    // processes"): enabling them under the agent's own cgroup fails while the agent is in it.
    // Then the machine needs the agent to run in a leaf of its own (a systemd unit with
    // Delegate=yes); we report that instead of running tasks unlimited.
    const parent = join(layout.dir, 'drover');
    try {
      mkdirSync(parent, { recursive: true });
      writeFileSync(join(layout.dir, 'cgroup.subtree_control'), '+memory +cpu +pids');
      writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory +cpu +pids');
    } catch (err) {
      throw new DroverError('CONFIG', `cgroup v2: cannot delegate memory/cpu/pids below ${layout.dir}: ${(err as Error).message}`, { cause: err });
    }
  }
  return layout;
}

/*
 * Reads and writes of cgroupfs files below are synchronous: the files live in the kernel, an
 * operation takes microseconds and never waits for a disk, while the async versions queued in
 * libuv's thread pool behind fsync'd checkpoints and stalled launches under load. Creating and
 * removing a cgroup directory is different: it takes the kernel's global cgroup mutex, which task
 * migrations (every launch's writes to cgroup.procs) hold for an RCU grace period each; a
 * synchronous mkdir then blocked the agent's event loop for 761 ms of 300 launches. Those stay
 * asynchronous.
 */
const writeFile = async (path: string, data: string): Promise<void> => writeFileSync(path, data);
const readFile = async (path: string, _encoding: 'utf8'): Promise<string> => readFileSync(path, 'utf8');

/** The directories of one task's cgroup: one per v1 hierarchy, or the one v2 directory. */
export function taskCgroupDirs(layout: CgroupLayout, containerId: string): string[] {
  if (layout.version === 2) return [join(layout.dir, 'drover', containerId)];
  // Co-mounted controllers (cpu,cpuacct) share one directory: listed once.
  return [...new Set(layout.hierarchies.values())].map((dir) => join(dir, 'drover', containerId));
}

/** Creates the task's cgroup and writes its limits; on failure removes what it made. */
export async function createTaskCgroup(layout: CgroupLayout, containerId: string, limits: CgroupLimits): Promise<string[]> {
  const dirs = taskCgroupDirs(layout, containerId);
  try {
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    if (layout.version === 2) await writeV2Limits(dirs[0]!, limits);
    else await writeV1Limits(layout, containerId, limits);
  } catch (err) {
    await removeTaskCgroup(dirs).catch(() => undefined);
    throw new DroverError('INTERNAL', `could not set up the task's cgroup: ${(err as Error).message}`, { cause: err });
  }
  return dirs;
}

async function writeV1Limits(layout: Extract<CgroupLayout, { version: 1 }>, containerId: string, limits: CgroupLimits): Promise<void> {
  const dir = (controller: string): string | undefined => {
    const base = layout.hierarchies.get(controller);
    return base === undefined ? undefined : join(base, 'drover', containerId);
  };
  const memory = dir('memory')!;
  if (limits.memMb !== undefined) {
    const bytes = String(Math.max(1, Math.round(limits.memMb)) * 1024 * 1024);
    await writeFile(join(memory, 'memory.limit_in_bytes'), bytes);
    // The limit only bites if the task cannot spill into swap: cap memory+swap at the same value
    // where swap accounting exists, and ask the kernel not to swap this cgroup either way.
    await writeFile(join(memory, 'memory.memsw.limit_in_bytes'), bytes).catch(() => undefined);
    await writeFile(join(memory, 'memory.swappiness'), '0').catch(() => undefined);
  }
  const cpu = dir('cpu');
  if (cpu !== undefined && limits.cpus !== undefined) {
    await writeFile(join(cpu, 'cpu.shares'), String(Math.max(2, Math.round(1024 * limits.cpus))));
    await writeFile(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
  }
  const pids = dir('pids');
  if (pids !== undefined) await writeFile(join(pids, 'pids.max'), String(limits.pidsMax));
}

async function writeV2Limits(dir: string, limits: CgroupLimits): Promise<void> {
  if (limits.memMb !== undefined) {
    await writeFile(join(dir, 'memory.max'), String(Math.max(1, Math.round(limits.memMb)) * 1024 * 1024));
    await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined);
  }
  if (limits.cpus !== undefined) {
    // cpu.weight 1..10000 with 100 = one share of 1024, as runc converts shares.
    const shares = Math.max(2, Math.round(1024 * limits.cpus));
    await writeFile(join(dir, 'cpu.weight'), String(Math.min(10_000, 1 + Math.round(((shares - 2) * 9999) / 262142))));
  }
  await writeFile(join(dir, 'pids.max'), String(limits.pidsMax));
}

/**
 * The CFS quota, `cpus × period`. Written once the task's setup is done (linux-containerizer.ts):
 * the setup is root's work (a mount call per host mount) and at a quota of 0.01 cpus it would
 * take seconds. The task runs unquota'd only for the moment between its start and this write.
 */
export async function applyCpuQuota(dirs: readonly string[], cpus: number): Promise<void> {
  const quota = Math.max(1000, Math.round(cpus * CFS_PERIOD_US));
  for (const dir of dirs) {
    if (await exists(join(dir, 'cpu.cfs_quota_us'))) await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quota));
    else if (await exists(join(dir, 'cpu.max'))) await writeFile(join(dir, 'cpu.max'), `${quota} ${CFS_PERIOD_US}`);
  }
}

/** `cgroup.procs` of each directory: a process written there joins that cgroup. */
export function procsFiles(dirs: readonly string[]): string[] {
  return dirs.map((dir) => join(dir, 'cgroup.procs'));
}

/** Every pid in the task's cgroup (union over its hierarchies; missing directories are empty). */
export async function cgroupPids(dirs: readonly string[]): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of dirs) {
    const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (/^\d+$/.test(line)) pids.add(Number(line));
  }
  return [...pids];
}

/** Sends a signal to every process of the cgroup except `spare` (the launcher, see linux-containerizer.ts). */
export async function signalCgroup(dirs: readonly string[], signal: NodeJS.Signals, spare?: number): Promise<void> {
  for (const pid of await cgroupPids(dirs)) {
    if (pid === spare) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return existsSync(path);
}

/**
 * SIGKILLs every process of the cgroup, including ones that left the task's session or process
 * group. v2 has `cgroup.kill`; in v1 the cgroup is frozen first so nothing can fork between
 * reading the list and signalling it, then thawed so the kills are delivered.
 */
export async function killCgroup(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    if (await exists(join(dir, 'cgroup.kill'))) {
      await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
      return;
    }
  }
  const freezer = await firstWith(dirs, 'freezer.state');
  if (freezer !== undefined) {
    const state = join(freezer, 'freezer.state');
    await writeFile(state, 'FROZEN').catch(() => undefined);
    for (let i = 0; i < 50 && (await readFile(state, 'utf8').catch(() => 'FROZEN')).trim() === 'FREEZING'; i++) await sleep(10);
    await signalCgroup(dirs, 'SIGKILL');
    await writeFile(state, 'THAWED').catch(() => undefined);
    return;
  }
  // No freezer: kill repeatedly until a pass finds nobody (a fork race loses within a few rounds).
  for (let i = 0; i < 20 && (await cgroupPids(dirs)).length > 0; i++) {
    await signalCgroup(dirs, 'SIGKILL');
    await sleep(10);
  }
}

async function firstWith(dirs: readonly string[], file: string): Promise<string | undefined> {
  for (const dir of dirs) if (await exists(join(dir, file))) return dir;
  return undefined;
}

/** How many times the kernel's OOM killer killed a process of this cgroup (0 if unknown). */
export async function oomKills(dirs: readonly string[]): Promise<number> {
  for (const dir of dirs) {
    for (const file of ['memory.oom_control', 'memory.events']) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      const match = text === undefined ? null : /^oom_kill (\d+)$/m.exec(text);
      if (match !== null) return Number(match[1]);
    }
  }
  return 0;
}

/**
 * Removes the task's cgroup directories once they are empty, killing stragglers; a directory that
 * is already gone counts as removed. Resolves false if some directory could not be removed.
 */
export async function removeTaskCgroup(dirs: readonly string[]): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    let left = 0;
    for (const dir of dirs) {
      try {
        await rmdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left++;
      }
    }
    if (left === 0) return true;
    // Exiting processes leave the cgroup a moment after their parent saw them die.
    if (attempt % 10 === 9) await killCgroup(dirs);
    await sleep(20);
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
