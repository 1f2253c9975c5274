/**
 * Real launches on one local agent (issue 4 item 8): N `sleep 600` tasks through a real master and
 * agent (processes, Linux containerizer when run as root), then the same count through podman and
 * through a bare `unshare` loop (the floor). Reports launches per second and per-launch latency
 * for each, and Drover's rate relative to the other two.
 *
 * - Drover: a framework on the SDK's HTTP transport launches every task it can fit in each offer
 *   (one ACCEPT per offer, at most `--batch` tasks) and acknowledges each update; a task's latency
 *   is ACCEPT sent → TASK_RUNNING received. The rate is N / (first ACCEPT → last RUNNING).
 * - podman: `podman run -d --rm … sleep 600` with `--podman-parallel` commands in flight; latency
 *   is the command's run time (with -d it returns once the container runs). `--rootfs /` does not
 *   work here (runc cannot mount the cgroup v1 hierarchies over the host's own /sys/fs/cgroup), so
 *   the rootfs is an empty directory with the host's /usr bound read-only and the usrmerge links.
 * - unshare: `unshare --pid --fork --mount-proc --mount --ipc --uts sleep 600` spawned detached,
 *   all at once; latency is spawn() → the 'spawn' event.
 *
 * Flags: --n=500 --batch=0 (0: no limit per ACCEPT) --skip-podman --podman-parallel=4
 * --containerizer=linux|posix (default: the agent's choice) --log-dir=DIR (master.log and agent.log
 * there; set DROVER_LOG_LEVEL=debug for a timeline).
 * --user-namespaces: the agent runs with --user-namespaces. --compare-user-namespaces --rounds=3:
 * instead of the podman run, Drover without and with user namespaces, alternating (the order
 * flips every round) with the `unshare` floor in each round, so load swings hit both alike.
 * Everything started is killed before the result is returned.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpSchedulerTransport } from '../src/frameworks/sdk/http-transport.ts';
import type { OfferJson, SchedulerConnection } from '../src/frameworks/sdk/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { DROVER_LAUNCHER, launcherEnv, listeningUrl } from '../devkit/process.ts';

const run = promisify(execFile);
const TASK = Resources.parse('cpus:0.01;mem:4');
const PODMAN_GLOBAL = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];

interface Rate {
  launchesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
  launched: number;
}

function flag(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
  return value;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function rate(latenciesMs: number[], seconds: number): Rate {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const round = (x: number): number => Number(x.toFixed(1));
  return {
    launchesPerSecond: round(latenciesMs.length / seconds),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    seconds: Number(seconds.toFixed(3)),
    launched: latenciesMs.length,
  };
}

const now = (): number => performance.now();

/** `drover …` as a child process, resolved with its URL once it prints "listening on URL". */
async function startDrover(args: string[], logFile?: string): Promise<{ url: string; child: ChildProcess }> {
  const prof = process.env['DROVER_BENCH_CPU_PROF'];
  const child = spawn(DROVER_LAUNCHER, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...launcherEnv(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), DROVER_LOG_LEVEL: process.env['DROVER_LOG_LEVEL'] ?? 'warn' },
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  if (logFile !== undefined) {
    const log = createWriteStream(logFile);
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
  }
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  // A bound on "it never started" (60 s: at a load of 30 a start took over 20 s), not a measurement.
  const url = await listeningUrl(child, `drover ${args[0]}`, 60_000, () => out).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  child.stdout!.resume();
  return { url, child };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Launchers (`unshare` in the host namespace) whose command line names a path under `root`. */
async function launchersUnder(root: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if ((cmdline.split('\0')[0] ?? '').endsWith('unshare') && cmdline.includes(root)) found.push(Number(entry));
  }
  return found;
}

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `limit` calls in flight at most. */
async function inParallel<T>(items: T[], limit: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await each(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
}

/** A host id range of this run's own for --user-namespaces (parallel runs never share one). */
const USERNS_RANGE = `${4_000_000 + (process.pid % 1000) * 65_536}:65536`;

async function benchDrover(
  n: number,
  batch: number,
  containerizer: string,
  logDir: string | undefined,
  userNamespaces = false,
): Promise<Rate & { containerizer: unknown; failed: number; userNamespaces: boolean; uidMap?: string }> {
  const root = await mkdtemp(join(tmpdir(), 'drover-bench-launch-'));
  // Traversable: a task in a user namespace is not host root, so it reaches its sandbox as others do.
  await chmod(root, 0o755);
  const processes: ChildProcess[] = [];
  let connection: SchedulerConnection | undefined;
  try {
    const master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.1'], logDir && join(logDir, 'master.log'));
    processes.push(master.child);
    const agent = await startDrover(
      [
        'agent',
        '--master',
        master.url,
        '--port',
        '0',
        '--work-dir',
        join(root, 'agent'),
        '--hostname',
        'bench',
        ...(containerizer ? ['--containerizer', containerizer] : []),
        ...(userNamespaces ? ['--user-namespaces', '--user-namespace-range', USERNS_RANGE] : []),
        '--resources',
        `cpus:${Math.max(1, n * 0.01 + 1)};mem:${n * 4 + 1024};disk:1024;ports:[31000-32000]`,
      ],
      logDir && join(logDir, 'agent.log'),
    );
    processes.push(agent.child);
    const used = ((await (await fetch(`${agent.url}/state`)).json()) as { containerizer: unknown }).containerizer;

    connection = await new HttpSchedulerTransport(master.url).subscribe({ user: 'root', name: 'bench-launch-real' });
    const conn = connection;
    const acceptedAt = new Map<string, number>();
    const runningMs: number[] = [];
    const terminal = new Set<string>();
    let failed = 0;
    let nextTask = 0;
    let firstAccept = 0;
    let lastRunning = 0;

    const launchInto = async (offer: OfferJson): Promise<void> => {
      let left = Resources.fromJSON(offer.resources as never);
      const tasks = [];
      while (nextTask < n && (batch === 0 || tasks.length < batch) && left.contains(TASK)) {
        const id = `t${nextTask++}`;
        left = left.subtract(TASK);
        tasks.push({ name: id, task_id: { value: id }, agent_id: offer.agent_id, resources: TASK.toJSON(), command: { value: 'exec sleep 600', shell: true } });
      }
      if (tasks.length === 0) {
        await conn.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 3600 } } });
        return;
      }
      const t = now();
      if (firstAccept === 0) firstAccept = t;
      for (const task of tasks) acceptedAt.set(task.task_id.value, t);
      await conn.call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: tasks as never } }], filters: { refuse_seconds: 0.05 } } });
    };

    const pump = (async () => {
      for await (const event of conn.events()) {
        if (event.type === 'OFFERS') {
          for (const offer of event.offers.offers) void launchInto(offer).catch((e: unknown) => process.stderr.write(`accept failed: ${String(e)}\n`));
        } else if (event.type === 'UPDATE') {
          const s = event.update.status;
          const id = s.task_id.value;
          if (s.state === 'TASK_RUNNING' && acceptedAt.has(id)) {
            lastRunning = now();
            runningMs.push(lastRunning - acceptedAt.get(id)!);
            acceptedAt.delete(id);
          } else if (['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'].includes(s.state)) {
            if (s.state !== 'TASK_KILLED') failed++;
            if (acceptedAt.delete(id) && failed <= 3) process.stderr.write(`task ${id}: ${s.state} ${s.message ?? ''}\n`);
            terminal.add(id);
          }
          if (s.uuid && s.agent_id) {
            void conn.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } }).catch(() => undefined);
          }
        }
      }
    })();

    await until(() => runningMs.length + failed >= n, `${n} tasks RUNNING (have ${runningMs.length})`, Math.max(60_000, n * 400));
    const result = rate(runningMs, (lastRunning - firstAccept) / 1000);
    // Evidence of what ran: one task's uid_map as the host sees it ("0 0 4294967295" without).
    const sample = ((await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ pid: number | null }> }).tasks.find((t) => t.pid !== null)?.pid;
    const uidMap = sample === undefined || sample === null ? undefined : (await readFile(`/proc/${sample}/uid_map`, 'utf8').catch(() => '')).trim().replace(/\s+/g, ' ');

    // Tear down through the framework, so the agent reports every end.
    const ids = Array.from({ length: nextTask }, (_, i) => `t${i}`).filter((id) => !terminal.has(id));
    await inParallel(ids, 16, (id) => conn.call({ type: 'KILL', kill: { task_id: { value: id } } }).catch(() => undefined));
    await until(() => terminal.size >= nextTask, 'every task to end', Math.max(60_000, n * 200)).catch((e: unknown) => process.stderr.write(`${String(e)}\n`));
    await conn.close();
    await pump.catch(() => undefined);
    return { ...result, containerizer: used, failed, userNamespaces, ...(uidMap === undefined ? {} : { uidMap }) };
  } finally {
    await connection?.close().catch(() => undefined);
    for (const child of processes.reverse()) await stopProcess(child);
    for (const pid of await launchersUnder(root)) process.kill(pid, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
}

async function benchUnshare(n: number): Promise<Rate> {
  const children: ChildProcess[] = [];
  const latencies: number[] = [];
  try {
    const started = now();
    let last = started;
    const spawned = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--mount', '--ipc', '--uts', 'sleep', '600'], { detached: true, stdio: 'ignore' });
      children.push(child);
      spawned.push(
        once(child, 'spawn').then(() => {
          last = now();
          latencies.push(last - t);
        }),
      );
    }
    await Promise.all(spawned);
    return rate(latencies, (last - started) / 1000);
  } finally {
    // unshare --fork leaves sleep in unshare's process group: one signal to the group ends both.
    for (const child of children) {
      if (child.pid === undefined) continue;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

async function podmanRootfs(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['usr', 'etc', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(rootfs, d), { recursive: true });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) await symlink(`usr/${l}`, join(rootfs, l));
  return rootfs;
}

async function benchPodman(n: number, parallel: number): Promise<(Rate & { runtime: string; parallel: number }) | { error: string }> {
  try {
    await run('podman', ['--version']);
  } catch {
    return { error: 'podman is not installed (apt-get install -y podman runc)' };
  }
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-podman-'));
  const label = `drover-bench=${process.pid}-${Date.now()}`;
  try {
    const rootfs = await podmanRootfs(dir);
    const runArgs = [
      ...PODMAN_GLOBAL,
      'run',
      '-d',
      '--rm',
      '--label',
      label,
      '--ulimit',
      'nofile=20000:20000',
      '--ulimit',
      'nproc=32768:32768',
      '--network',
      'none',
      '-v',
      '/usr:/usr:ro',
      '--rootfs',
      rootfs,
      'sleep',
      '600',
    ];
    // One probe run first: a setup problem is reported as such, not as N failures.
    try {
      await run('podman', runArgs);
    } catch (e) {
      return { error: `podman run failed: ${String((e as { stderr?: string }).stderr ?? e).trim()}` };
    }
    const latencies: number[] = [];
    const errors: string[] = [];
    const started = now();
    let last = started;
    await inParallel(
      Array.from({ length: n }, (_, i) => i),
      parallel,
      async () => {
        const t = now();
        try {
          await run('podman', runArgs);
          last = now();
          latencies.push(last - t);
        } catch (e) {
          errors.push(String((e as { stderr?: string }).stderr ?? e).trim());
        }
      },
    );
    return { ...rate(latencies, (last - started) / 1000), runtime: 'runc', parallel, ...(errors.length > 0 ? { errors: errors.length, firstError: errors[0] } : {}) };
  } finally {
    const { stdout } = await run('podman', [...PODMAN_GLOBAL, 'ps', '-aq', '--filter', `label=${label}`]).catch(() => ({ stdout: '' }));
    const ids = stdout.split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 50) {
      await run('podman', [...PODMAN_GLOBAL, 'rm', '-f', '-t', '0', ...ids.slice(i, i + 50)], { maxBuffer: 1 << 24 }).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

export default async function launchReal(args: string[]): Promise<Record<string, unknown>> {
  const n = Math.max(1, flag(args, 'n', 500));
  const batch = flag(args, 'batch', 0);
  const parallel = Math.max(1, flag(args, 'podman-parallel', 4));
  const containerizer = args.find((a) => a.startsWith('--containerizer='))?.slice('--containerizer='.length) ?? '';
  const logDir = args.find((a) => a.startsWith('--log-dir='))?.slice('--log-dir='.length);
  if (args.includes('--compare-user-namespaces')) return compareUserNamespaces(n, batch, containerizer, Math.max(1, flag(args, 'rounds', 3)));
  const drover = await benchDrover(n, batch, containerizer, logDir, args.includes('--user-namespaces'));
  const unshare = await benchUnshare(n);
  const podman = args.includes('--skip-podman') ? { skipped: true } : await benchPodman(n, parallel);
  const ratio = (a: number, b: unknown): number | null => (typeof b === 'number' && b > 0 ? Number((a / b).toFixed(3)) : null);
  return {
    bench: 'launch-real',
    n,
    drover,
    podman,
    unshare,
    ratios: {
      droverVsPodman: ratio(drover.launchesPerSecond, (podman as { launchesPerSecond?: number }).launchesPerSecond),
      droverVsUnshare: ratio(drover.launchesPerSecond, unshare.launchesPerSecond),
    },
    goals: { launchesPerSecond: 100, droverVsPodman: 5 },
    batch,
    node: process.version,
  };
}

/**
 * Drover without and with --user-namespaces, alternating, the floor in between: on a shared,
 * loaded machine only figures taken side by side compare.
 */
async function compareUserNamespaces(n: number, batch: number, containerizer: string, rounds: number): Promise<Record<string, unknown>> {
  const results = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? [false, true] : [true, false];
    const byMode: Record<string, unknown> = {};
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0];
    for (const on of order) byMode[on ? 'userns' : 'plain'] = await benchDrover(n, batch, containerizer, undefined, on);
    const unshare = await benchUnshare(n);
    const plain = byMode['plain'] as Rate;
    const userns = byMode['userns'] as Rate;
    results.push({
      round,
      order: order.map((on) => (on ? 'userns' : 'plain')),
      loadAtStart: Number(load),
      ...byMode,
      unshare,
      usernsVsPlain: Number((userns.launchesPerSecond / plain.launchesPerSecond).toFixed(3)),
    });
  }
  return { bench: 'launch-real', mode: 'compare-user-namespaces', n, rounds: results, batch, node: process.version };
}
