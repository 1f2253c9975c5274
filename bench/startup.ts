/**
 * What a `drover` process costs to start (026-bundle.md): the bundle in dist/ against the sources
 * through tsx (DROVER_BUNDLE=off), alternately (bundle, sources, bundle, …) so a load that changes
 * through the run weighs on both. CPU time (user + system), which the machine's load changes far
 * less than seconds:
 * - a CLI call: `drover version`, and `drover app list` against a running `drover dev`
 *   (bash's `times`: the CPU of the finished command and all it started);
 * - a server's start: `drover dev` and `drover master --store memory:` from spawn until
 *   "listening" (/proc/PID/stat of node, all its threads; the launcher execs node).
 * Needs dist/ fresh (`npm run build:cli`); refuses otherwise. tsx's transform cache in $TMPDIR is
 * warm after the first sources run (as on a developer's machine; a fresh CI clone starts cold).
 *
 * Flags: --rounds=N (pairs per measurement, default 5)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROVER_LAUNCHER, launcherEnv, startDrover } from '../devkit/process.ts';
// @ts-expect-error: plain JavaScript of the launcher's (bin/ has no type declarations).
import { bundleStaleness } from '../bin/bundle.js';

type Mode = 'bundle' | 'sources';
const MODES: readonly Mode[] = ['bundle', 'sources'];
const TICK_MS = 10; // USER_HZ 100: /proc's clock ticks

const value = (args: string[], name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const env = (mode: Mode, extra: Record<string, string> = {}): Record<string, string> => ({
  ...(process.env as Record<string, string>),
  ...launcherEnv(),
  DROVER_BUNDLE: mode === 'bundle' ? 'on' : 'off',
  DROVER_LOG_LEVEL: 'warn',
  ...extra,
});

/** CPU ms of one command run to its end, with everything it started (bash's `times`). */
async function commandCpuMs(mode: Mode, args: string[], extra: Record<string, string> = {}): Promise<number> {
  const child = spawn('bash', ['-c', '"$@" >/dev/null 2>&1; status=$?; times; exit $status', 'bash', DROVER_LAUNCHER, ...args], { env: env(mode, extra), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`drover ${args.join(' ')} (${mode}) exited ${code}`);
  // `times`: the shell's own user/sys, then its children's: "0m0.260s 0m0.140s".
  const children = out.trim().split('\n').at(-1)!;
  const [user, sys] = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60_000 + Number(m[2]) * 1000);
  return user! + sys!;
}

/** CPU ms of a server from spawn until it listens. */
async function startCpuMs(mode: Mode, args: string[]): Promise<number> {
  const server = await startDrover(args, { env: env(mode) });
  try {
    const stat = await readFile(`/proc/${server.child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export default async function startup(args: string[]): Promise<Record<string, unknown>> {
  const stale = (bundleStaleness as (root: string) => string | undefined)(join(import.meta.dirname, '..'));
  if (stale !== undefined) throw new Error(`the bundle is not fresh (${stale}): run npm run build:cli first`);
  const rounds = Number(value(args, 'rounds') ?? '5');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error('--rounds must be 1..50');
  const loadBefore = loadavg();
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-startup-'));
  const cluster = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', join(dir, 'data')]);
  const samples: Record<string, Record<Mode, number[]>> = {};
  const measure = async (name: string, once: (mode: Mode) => Promise<number>): Promise<void> => {
    samples[name] = { bundle: [], sources: [] };
    // Warm-up (tsx's cache, the page cache), not counted.
    for (const mode of MODES) await once(mode);
    for (let i = 0; i < rounds; i++) {
      for (const mode of i % 2 === 0 ? MODES : [...MODES].reverse()) samples[name]![mode].push(await once(mode));
    }
    process.stderr.write(`${name}: ${JSON.stringify(samples[name])}\n`);
  };
  try {
    await measure('version', (mode) => commandCpuMs(mode, ['version']));
    await measure('appList', (mode) => commandCpuMs(mode, ['app', 'list'], { DROVER_MASTER: cluster.url }));
    await measure('masterStart', (mode) => startCpuMs(mode, ['master', '--port', '0', '--store', 'memory:']));
    await measure('devStart', async (mode) => {
      const data = await mkdtemp(join(dir, 'dev-'));
      return startCpuMs(mode, ['dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', data]);
    });
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const cpuMs = Object.fromEntries(
    Object.entries(samples).map(([name, s]) => [name, { bundle: median(s.bundle), sources: median(s.sources), ratio: Math.round((median(s.bundle) / median(s.sources)) * 100) / 100 }]),
  );
  const goal = (name: string): { goal: string; measured: number; met: boolean } => ({ goal: '<= 0.5', measured: cpuMs[name]!.ratio, met: cpuMs[name]!.ratio <= 0.5 });
  return {
    bench: 'startup',
    rounds,
    cpuMsMedian: cpuMs,
    loadavg: { before: loadBefore.map((l) => Math.round(l * 10) / 10), after: loadavg().map((l) => Math.round(l * 10) / 10) },
    goals: { cliCallCpuBundleVsSources: goal('appList'), devStartCpuBundleVsSources: goal('devStart') },
  };
}
