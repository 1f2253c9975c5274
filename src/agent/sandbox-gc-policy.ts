/**
 * Which finished sandboxes to delete now: the pure half of sandbox garbage collection
 * (sandbox-gc.ts is the shell that scans the disk, applies the answer and keeps the timer).
 *
 * Mesos' rule: a finished sandbox lives `gcDelay × max(0, 1 − diskHeadroom − diskUsage)`, so on an
 * empty disk it lives the whole delay (a week by default) and the fuller the disk the sooner the
 * oldest go; over `1 − diskHeadroom` every finished sandbox goes. One rule of our own on top:
 * never before `minAgeMs` — an operator reading a task's logs right after it ended must still find
 * them, however full the disk (Mesos can delete at once at ≥ 90 % usage).
 * (No separate "delete by size until it fits" pass: over the headroom the age limit is already
 * the floor, so every sandbox it could pick is picked by age.)
 * Running sandboxes are never candidates: the shell leaves them out, and so does this function.
 */

export interface SandboxEntry {
  path: string;
  /** When its task ended (ms since epoch); for sandboxes found on disk, their last write. */
  finishedAt: number;
  /** Bytes on disk under it. */
  bytes: number;
  /** A task still runs (or awaits acknowledgement) in it. */
  active: boolean;
}

export interface DiskUsage {
  totalBytes: number;
  usedBytes: number;
}

export interface GcPolicy {
  gcDelayMs: number;
  /** Fraction of the disk to keep free, 0..1 (Mesos' --gc_disk_headroom, default 0.1). */
  diskHeadroom: number;
  /** Floor on any sandbox's life; default min(gcDelayMs, 5 min). */
  minAgeMs?: number;
}

export interface GcPlan {
  /** Oldest first. */
  remove: Array<{ path: string; ageMs: number; bytes: number }>;
  freedBytes: number;
  /** The age limit the disk usage gave (ms): finished sandboxes older than this go. */
  maxAgeMs: number;
  /** When the next finished sandbox reaches that age, for the shell's timer; undefined if none. */
  nextDueAt: number | undefined;
}

export const DEFAULT_GC_DELAY_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_GC_DISK_HEADROOM = 0.1;
const DEFAULT_MIN_AGE_MS = 5 * 60 * 1000;

export function planSandboxGc(sandboxes: readonly SandboxEntry[], disk: DiskUsage, now: number, policy: GcPolicy): GcPlan {
  const minAgeMs = policy.minAgeMs ?? Math.min(policy.gcDelayMs, DEFAULT_MIN_AGE_MS);
  const usage = disk.totalBytes > 0 ? disk.usedBytes / disk.totalBytes : 0;
  const maxAgeMs = Math.max(minAgeMs, policy.gcDelayMs * Math.max(0, 1 - policy.diskHeadroom - usage));
  const finished = sandboxes.filter((s) => !s.active).sort((a, b) => a.finishedAt - b.finishedAt || (a.path < b.path ? -1 : 1));
  const remove: GcPlan['remove'] = [];
  let nextDueAt: number | undefined;
  for (const s of finished) {
    const ageMs = now - s.finishedAt;
    if (ageMs >= maxAgeMs) remove.push({ path: s.path, ageMs, bytes: s.bytes });
    else nextDueAt ??= s.finishedAt + maxAgeMs;
  }
  return { remove, freedBytes: remove.reduce((sum, r) => sum + r.bytes, 0), maxAgeMs, nextDueAt };
}
