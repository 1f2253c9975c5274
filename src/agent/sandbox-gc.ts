/**
 * Sandbox garbage collection, the shell around sandbox-gc-policy.ts: every `intervalMs` it scans
 * `<workDir>/slaves/<agent>/frameworks/<fw>/executors/<task>/runs/<container>/`, asks the policy
 * which finished sandboxes to delete and deletes them (then the emptied parent folders).
 *
 * "Finished" is "not in use": the agent passes the sandboxes of live and not-yet-acknowledged
 * tasks. A finished sandbox's end time is its latest write (the directory's or a direct entry's
 * mtime, i.e. the task's last log line) — that survives agent restarts without extra state, which
 * is also how Mesos dates sandboxes it finds on disk after recovery.
 */
import { lstat, readdir, rm, rmdir, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../clock/clock.ts';
import type { Logger } from '../log/index.ts';
import { planSandboxGc, type DiskUsage, type GcPolicy, type SandboxEntry } from './sandbox-gc-policy.ts';

export interface SandboxGcOptions {
  /** The agent's work dir. */
  root: string;
  /** Sandboxes that must stay (running or awaiting acknowledgement). */
  inUse(): Iterable<string>;
  policy: GcPolicy;
  /** How often to look; default one minute (and sooner when a sandbox falls due). */
  intervalMs?: number;
  /**
   * Default the system clock. Its `now()` must be wall-clock time: sandbox ages compare it with
   * file mtimes.
   */
  clock?: Clock;
  logger: Logger;
}

export class SandboxGc {
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  private readonly clock: Clock;

  constructor(private readonly options: SandboxGcOptions) {
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.options.intervalMs ?? 60_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    await this.running;
  }

  /** One pass; returns the deleted sandboxes. Passes never overlap. */
  async sweep(): Promise<string[]> {
    while (this.running) await this.running;
    let removed: string[] = [];
    this.running = this.pass().then((r) => {
      removed = r.removed;
      if (!this.stopped) this.schedule(r.nextInMs);
    });
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    return removed;
  }

  private schedule(ms: number): void {
    this.clock.clearTimeout(this.timer);
    this.timer = this.clock
      .setTimeout(() => {
        void this.sweep().catch((err: unknown) => this.options.logger.warn({ err }, 'sandbox-gc-failed'));
      }, ms)
      .unref();
  }

  private async pass(): Promise<{ removed: string[]; nextInMs: number }> {
    const now = this.clock.now();
    const interval = this.options.intervalMs ?? 60_000;
    const inUse = new Set(this.options.inUse());
    const sandboxes: SandboxEntry[] = [];
    for (const path of await findSandboxes(this.options.root)) {
      const active = inUse.has(path);
      // Sizes are only read for finished sandboxes: a running task's tree may be large and busy.
      const info = active ? { finishedAt: now, bytes: 0 } : await describe(path);
      if (info) sandboxes.push({ path, active, ...info });
    }
    const plan = planSandboxGc(sandboxes, await diskUsage(this.options.root), now, this.options.policy);
    const removed: string[] = [];
    for (const { path, ageMs, bytes } of plan.remove) {
      // Checked again right before deleting: a task may have been (re)launched into it meanwhile.
      if (new Set(this.options.inUse()).has(path)) continue;
      await rm(path, { recursive: true, force: true });
      await removeEmptyParents(path, this.options.root);
      removed.push(path);
      this.options.logger.info({ path, ageMs, bytes }, 'removed-sandbox');
    }
    const due = plan.nextDueAt === undefined ? interval : Math.max(10, plan.nextDueAt - now);
    return { removed, nextInMs: Math.min(interval, due) };
  }
}

/** Every `slaves/*\/frameworks/*\/executors/*\/runs/*` directory under the work dir. */
async function findSandboxes(root: string): Promise<string[]> {
  let level = [join(root, 'slaves')];
  for (const step of ['frameworks', 'executors', 'runs', '']) {
    const next: string[] = [];
    for (const dir of level) {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (!entry.isDirectory()) continue;
        next.push(step === '' ? join(dir, entry.name) : join(dir, entry.name, step));
      }
    }
    level = next;
  }
  return level;
}

/** Latest write and total size (lstat: symlinks are not followed out of the sandbox). */
async function describe(sandbox: string): Promise<{ finishedAt: number; bytes: number } | undefined> {
  try {
    let finishedAt = (await lstat(sandbox)).mtimeMs;
    let bytes = 0;
    for (const entry of await readdir(sandbox, { recursive: true })) {
      const s = await lstat(join(sandbox, entry)).catch(() => undefined);
      if (!s) continue;
      bytes += s.blocks * 512;
      if (!entry.includes('/')) finishedAt = Math.max(finishedAt, s.mtimeMs);
    }
    return { finishedAt, bytes };
  } catch {
    return undefined; // gone meanwhile
  }
}

async function diskUsage(root: string): Promise<DiskUsage> {
  const s = await statfs(root);
  // used / (used + available to us), as df computes Use%: root's reserved blocks count as full.
  const used = (s.blocks - s.bfree) * s.bsize;
  return { totalBytes: used + s.bavail * s.bsize, usedBytes: used };
}

/** runs/, executors/<task>/, … up to but not including `slaves/`; stops at the first non-empty. */
async function removeEmptyParents(sandbox: string, root: string): Promise<void> {
  const stop = join(root, 'slaves');
  for (let dir = dirname(sandbox); dir.startsWith(`${stop}/`); dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
  }
}
