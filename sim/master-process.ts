/**
 * The master under test, as its own process (`drover master --store sqlite:…`), so its memory
 * and CPU are its own: peak RSS from /proc/<pid>/status (VmHWM), CPU from /proc/<pid>/stat.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DROVER_LAUNCHER, launcherEnv, listeningUrl } from '../devkit/process.ts';

/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export interface MasterProcessOptions {
  /** `sqlite:/path/master.db` or `memory:`. */
  store: string;
  allocationIntervalSeconds: number;
  agentHeartbeatIntervalSeconds: number;
  /** Extra `drover master` flags (e.g. --max-missed-heartbeats 4, --agent-removal-guard 0.4). */
  args?: string[];
  /** Extra node flags for the master (e.g. --cpu-prof --cpu-prof-dir=DIR, --max-old-space-size=4096). */
  nodeArgs?: string[];
  /** Master stdout/stderr go here when set. */
  logFile?: string;
  logLevel?: string;
}

export interface ProcessFigures {
  /** Peak resident set (VmHWM), MB. */
  peakRssMb: number;
  rssMb: number;
  cpuSeconds: number;
}

export class MasterProcess {
  private constructor(
    readonly url: string,
    readonly child: ChildProcess,
  ) {}

  static async start(options: MasterProcessOptions): Promise<MasterProcess> {
    const args = [
      'master',
      '--port',
      '0',
      '--store',
      options.store,
      '--allocation-interval',
      String(options.allocationIntervalSeconds),
      '--agent-heartbeat-interval',
      String(options.agentHeartbeatIntervalSeconds),
      ...(options.args ?? []),
    ];
    // Through the product's launcher (bin/drover), so the master runs with the malloc settings users get.
    const child = spawn(DROVER_LAUNCHER, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...launcherEnv(options.nodeArgs), DROVER_LOG_LEVEL: options.logLevel ?? 'warn' },
    });
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    if (options.logFile !== undefined) {
      const log = createWriteStream(options.logFile);
      child.stdout!.pipe(log);
      child.stderr!.pipe(log);
    }
    child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    // A master that never said where it listens is nobody's to stop: left running, it kept the
    // runner (and a test file) alive, and one stuck in a loop kept a core busy for good.
    const url = await listeningUrl(child, 'drover master', 60_000, () => out).catch((error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    });
    child.stdout!.resume();
    return new MasterProcess(url, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async figures(): Promise<ProcessFigures> {
    const [status, stat] = await Promise.all([readFile(`/proc/${this.pid}/status`, 'utf8'), readFile(`/proc/${this.pid}/stat`, 'utf8')]);
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { peakRssMb: round(kb('VmHWM') / 1024), rssMb: round(kb('VmRSS') / 1024), cpuSeconds: round(ticks / CLOCK_TICKS) };
  }

  /** SIGTERM (a graceful stop, which also writes --cpu-prof profiles), SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
