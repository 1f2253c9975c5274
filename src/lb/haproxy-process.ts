/**
 * One HAProxy in master-worker mode (`-W`), our child: started on a config, reloaded by SIGUSR2 to
 * its master (the master re-execs, new workers take the listening sockets from the old ones over
 * a socket pair, old workers finish their connections and exit — no connection refused, none
 * cut), stopped with SIGTERM. Every config is checked with `haproxy -c` before it is used, so a
 * bad one never replaces a good one.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../log/index.ts';
import { showInfo } from './runtime-api.ts';

const START_TIMEOUT_MS = 60_000;

export interface HaproxyOptions {
  bin: string;
  configPath: string;
  socketPath: string;
  logger: Logger;
}

export class HaproxyError extends Error {}

function check(bin: string, file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(bin, ['-c', '-q', '-f', file], { timeout: 60_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      resolve(error ? `${stderr}${stdout}`.trim().slice(0, 4000) || error.message : undefined);
    });
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, exited: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone !== undefined) throw new HaproxyError(gone);
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new HaproxyError(`HAProxy: ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class HaproxyProcess {
  private output = '';
  reloads = 0;

  private constructor(
    private readonly options: HaproxyOptions,
    private readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-8000);
      for (const line of d.toString().split('\n')) if (line.trim()) options.logger.info({ haproxy: line.trim() }, 'haproxy-said');
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** Write and check `config`, start HAProxy on it, and wait until its runtime API answers. */
  static async start(options: HaproxyOptions, config: string): Promise<HaproxyProcess> {
    await stopLeftover(options);
    await writeChecked(options, config);
    const child = spawn(options.bin, ['-W', '-f', options.configPath, '-p', `${options.configPath}.pid`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const process_ = new HaproxyProcess(options, child);
    try {
      await process_.workerPid(START_TIMEOUT_MS);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    return process_;
  }

  get masterPid(): number | undefined {
    return this.child.pid;
  }

  private exited(): string | undefined {
    if (this.child.exitCode === null && this.child.signalCode === null) return undefined;
    return `HAProxy exited (${this.child.exitCode ?? this.child.signalCode}): ${this.output.trim()}`;
  }

  /** The current worker's pid (from `show info`): it changes on a reload and only then. */
  workerPid(timeoutMs = 10_000): Promise<number> {
    return until(
      'no answer on the runtime API',
      timeoutMs,
      async () => {
        const pid = Number((await showInfo(this.options.socketPath)).get('Pid'));
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
      },
      () => this.exited(),
    );
  }

  /** Check `config`, put it in place and reload; resolves once a new worker answers. */
  async reload(config: string): Promise<void> {
    await writeChecked(this.options, config);
    const before = await this.workerPid();
    this.child.kill('SIGUSR2');
    await until(
      'no new worker after a reload',
      START_TIMEOUT_MS,
      async () => {
        const pid = Number((await showInfo(this.options.socketPath)).get('Pid'));
        return Number.isInteger(pid) && pid > 0 && pid !== before ? pid : undefined;
      },
      () => this.exited(),
    );
    this.reloads++;
  }

  async stop(): Promise<void> {
    if (this.exited() !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await once(this.child, 'exit');
    clearTimeout(timer);
  }
}

/** `config` in place at `configPath` only if `haproxy -c` accepts it (written beside, then renamed). */
async function writeChecked(options: HaproxyOptions, config: string): Promise<void> {
  const candidate = `${options.configPath}.new`;
  await writeFile(candidate, config, { mode: 0o600 });
  const problem = await check(options.bin, candidate);
  if (problem !== undefined) throw new HaproxyError(`HAProxy refused the config: ${problem}`);
  await rename(candidate, options.configPath);
}

/**
 * An HAProxy a previous LB on this work dir left running (its LB was killed with SIGKILL and
 * could not stop it) still holds the ports: stopped, if its pid file names an HAProxy master
 * running this very config.
 */
async function stopLeftover(options: HaproxyOptions): Promise<void> {
  const pid = Number((await readFile(`${options.configPath}.pid`, 'utf8').catch(() => '')).trim().split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.split('\0').includes(options.configPath) || !cmdline.includes('haproxy')) return;
  options.logger.warn({ pid }, 'lb-stopping-leftover-haproxy');
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) !== '') await new Promise((r) => setTimeout(r, 100));
}
