/**
 * Starts a real, throw-away etcd for tests and benchmarks: a single member on free loopback
 * ports with a temporary data dir, removed again by `stop()`.
 *
 * The election timeout is small (heartbeat 25 ms, election 250 ms) because etcd raises any lease
 * TTL below ~1.5 × election timeout to that minimum: with the defaults (1 s election) a 1 s TTL
 * silently becomes 2 s and lease tests get slow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdOptions {
  /** Directory under which the data dir is created (default: the OS temp dir). */
  parentDir?: string;
  /** etcd binary (default /usr/bin/etcd, or $DROVER_ETCD). */
  binary?: string;
  /** How long to wait for /health (default 15 s). */
  startTimeoutMs?: number;
}

export interface EtcdProcess {
  /** `http://127.0.0.1:PORT`, for etcd clients. */
  readonly endpoint: string;
  /** `etcd://127.0.0.1:PORT`, for openStore(). */
  readonly storeUrl: string;
  readonly dataDir: string;
  /** Current process id (changes on restart). */
  readonly pid: number;
  /** Kills etcd (SIGKILL: a crash) and starts it again on the same ports and data dir. */
  restart(): Promise<void>;
  /** Kills etcd and removes its data dir. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// A test runner that dies mid-suite must not leave etcd processes behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** One etcd member; `cluster` is its --initial-cluster (itself alone by default). */
export function spawnEtcd(binary: string, dataDir: string, endpoint: string, peer: string, name = 'default', cluster = `${name}=${peer}`): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    binary,
    [
      '--name',
      name,
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      cluster,
      '--initial-cluster-state',
      'new',
      '--heartbeat-interval',
      '25',
      '--election-timeout',
      '250',
      '--logger',
      'zap',
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  // Keep the tail of stderr so a failed start can say why (port taken, bad flag).
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  return { child, stderr: () => tail };
}

export async function waitHealthy(child: ChildProcess, endpoint: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await healthy(endpoint)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

export async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited(child);
  clearTimeout(timer);
}

async function startOnce(options: EtcdOptions): Promise<EtcdProcess> {
  const binary = options.binary ?? process.env['DROVER_ETCD'] ?? '/usr/bin/etcd';
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const dataDir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'drover-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let current = spawnEtcd(binary, dataDir, endpoint, peer);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await kill(current.child, 'SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  };
  const restart = async (): Promise<void> => {
    await kill(current.child, 'SIGKILL');
    current = spawnEtcd(binary, dataDir, endpoint, peer);
    if (!(await waitHealthy(current.child, endpoint, timeoutMs))) {
      throw new Error(`etcd did not come back on ${endpoint}: ${current.stderr().trim() || 'no output'}`);
    }
  };
  if (!(await waitHealthy(current.child, endpoint, timeoutMs))) {
    const why = current.stderr().trim() || 'no output';
    await stop();
    throw new Error(`etcd did not become healthy on ${endpoint}: ${why}`);
  }
  return {
    endpoint,
    storeUrl: `etcd://127.0.0.1:${clientPort}`,
    dataDir,
    get pid() {
      return current.child.pid ?? 0;
    },
    restart,
    stop,
  };
}

/** Starts etcd; retries with fresh ports if a port was taken between probing and binding. */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
