/**
 * Process identity on Linux. A pid alone is not an identity: after the agent restarts, the pid it
 * checkpointed may belong to a new process (pid_max is often 32768). A pid plus its start time
 * (/proc/<pid>/stat field 22) and the kernel boot id is. Where /proc does not exist we fall back
 * to `kill(pid, 0)`, which is all a non-Linux system offers.
 */
import { readFileSync } from 'node:fs';

/** procfs lives in the kernel: read synchronously (microseconds), not behind fsyncs in the thread pool. */
const readFile = async (path: string, _encoding: 'utf8'): Promise<string> => readFileSync(path, 'utf8');

export interface ProcStat {
  state: string;
  pgrp: number;
  startTime: number;
}

/** Parses /proc/<pid>/stat; comm (field 2) may contain spaces and ')' so split after the last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = Number(fields[19]);
  if (state === undefined || !Number.isFinite(pgrp) || !Number.isFinite(startTime)) return undefined;
  return { state, pgrp, startTime };
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

let bootIdCache: string | undefined | null = null;

export async function readBootId(): Promise<string | undefined> {
  if (bootIdCache === null) {
    try {
      bootIdCache = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    } catch {
      bootIdCache = undefined;
    }
  }
  return bootIdCache;
}

/**
 * Is the process that was `pid` (started at `startTime`, in boot `bootId`) still running? A zombie
 * counts as ended: it has exited and only waits to be reaped.
 */
export async function isSameProcessAlive(pid: number, startTime: number | undefined, bootId: string | undefined): Promise<boolean> {
  const currentBoot = await readBootId();
  if (bootId !== undefined && currentBoot !== undefined && bootId !== currentBoot) return false;
  const stat = await readProcStat(pid);
  if (stat !== undefined) {
    if (stat.state === 'Z' || stat.state === 'X') return false;
    // A record lacks a start time only if its process was gone before it could be read, so any
    // process under that pid now is a stranger.
    return startTime !== undefined && stat.startTime === startTime;
  }
  if (currentBoot !== undefined) return false; // Linux, and /proc/<pid> is gone: it has exited
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals a whole process group; false if the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}
