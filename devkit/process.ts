/**
 * Real `drover` processes for integration tests: spawn, wait for the "listening on URL" line,
 * stop with SIGTERM (or kill -9 to simulate a crash).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
// Clusters these processes start run with auth on; the harness holds their bootstrap credentials.
import './credentials.ts';

export const DROVER_BIN = join(import.meta.dirname, '..', 'bin', 'drover.cjs');
/**
 * The product's launcher (package.json "bin"): sets glibc's malloc thresholds, then runs
 * DROVER_BIN with DROVER_NODE. Long-running processes (masters, agents, `drover dev`) start
 * through it, so tests and benchmarks measure them as users run them.
 */
export const DROVER_LAUNCHER = join(import.meta.dirname, '..', 'bin', 'drover');

/** The environment that makes DROVER_LAUNCHER run this node, with extra node flags. */
export function launcherEnv(nodeArgs: readonly string[] = []): Record<string, string> {
  return { DROVER_NODE: process.execPath, ...(nodeArgs.length ? { DROVER_NODE_ARGS: nodeArgs.join(' ') } : {}) };
}

export interface DroverProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout + stderr), for failure messages. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const START_TIMEOUT_MS = 60_000;

/**
 * `prefix` runs the process under a wrapper that execs it, e.g. `ip netns exec NS` (devkit/netns.ts):
 * the child's pid is then drover's own, so signals (SIGSTOP, kill -9) reach it.
 */
export async function startDrover(args: string[], options: { timeoutMs?: number; env?: Record<string, string>; prefix?: readonly string[] } = {}): Promise<DroverProcess> {
  const [command, ...wrapperArgs] = [...(options.prefix ?? []), DROVER_LAUNCHER];
  const child = spawn(command!, [...wrapperArgs, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...launcherEnv(), DROVER_LOG_LEVEL: process.env['DROVER_LOG_LEVEL'] ?? 'warn', ...options.env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let url: string;
  try {
    // A bound on "it never started", not a performance check: under the suite's four files at
    // once on two cores a start (tsx compiling the server) took 13–17 s, too close to 20 s.
    url = await listeningUrl(child, `drover ${args.join(' ')}`, options.timeoutMs ?? START_TIMEOUT_MS, () => out);
  } catch (error) {
    // A process that never said where it listens is nobody's to stop: left running, it kept the
    // test file alive until the runner's 10-minute timeout.
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      // A process that does not stop within 15 s is killed: a stuck shutdown must not hang the suite.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await once(child, 'exit')) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * The URL a drover process prints on stdout once it serves ("… listening on URL"). Rejects if
 * the process exits first or prints none within `timeoutMs`; `output` supplies what it wrote so
 * far, for the message. Shared by the tests, the simulator and the benchmarks.
 */
export function listeningUrl(child: ChildProcess, label: string, timeoutMs: number, output: () => string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(seen);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(match[1]);
    };
    const timer = setTimeout(() => reject(new Error(`${label}: no URL within ${timeoutMs} ms\n${output()}`)), timeoutMs);
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${String(code)}\n${output()}`));
    });
  });
}

/** Poll `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A stream read that gives up at `deadline` (ms since epoch) instead of waiting forever. */
export async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, deadline: number): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>> | 'timeout'> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return 'timeout';
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([reader.read(), new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), remaining)))]);
  } finally {
    clearTimeout(timer);
  }
}
