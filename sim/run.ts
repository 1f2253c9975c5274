/**
 * `npm run sim -- SCENARIO [--agents N] [--tasks M] [--apps A] [--workers W] [--timeout S] [--duration S]
 *  [--minutes N (soak)] [--master-cpu-prof DIR] [--master-heap-prof DIR] [--master-log FILE]`
 *
 * Runs sim/scenarios/SCENARIO.json, prints progress on stderr and a one-line JSON summary last on
 * stdout, and writes it to bench/results/SCENARIO.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadScenario, type Overrides } from './scenario.ts';
import { runLaunchScenario } from './launch-scenario.ts';
import { runAllocatorScenario } from './allocator-scenario.ts';
import { runSoakScenario } from './soak-scenario.ts';

function option(argv: string[], name: string): string | undefined {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const arg = argv[i]!;
  return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
}

function numberOption(argv: string[], name: string): number | undefined {
  const raw = option(argv, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined || name.startsWith('--')) {
    process.stderr.write('usage: npm run sim -- SCENARIO [--agents N] [--tasks M] [--apps A] [--workers W] [--timeout S] [--duration S]\n');
    return 2;
  }
  const overrides: Overrides = {};
  const set = (key: keyof Overrides, flag: string): void => {
    const v = numberOption(argv, flag);
    if (v !== undefined) overrides[key] = v;
  };
  set('agents', 'agents');
  set('apps', 'apps');
  set('tasks', 'tasks');
  set('workers', 'workers');
  set('timeoutSeconds', 'timeout');
  set('durationSeconds', 'duration');
  set('minutes', 'minutes');
  const scenario = await loadScenario(name, overrides);
  const nodeArgs: string[] = [];
  const cpuProf = option(argv, 'master-cpu-prof');
  const heapProf = option(argv, 'master-heap-prof');
  if (cpuProf) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${cpuProf}`);
  if (heapProf) nodeArgs.push('--heap-prof', `--heap-prof-dir=${heapProf}`);
  const maxOld = option(argv, 'master-max-old-space');
  if (maxOld) nodeArgs.push(`--max-old-space-size=${maxOld}`);
  const progress = (line: string): void => void process.stderr.write(`[sim ${scenario.name}] ${line}\n`);
  const masterLog = option(argv, 'master-log');
  const heapSnapshotDir = option(argv, 'master-heap-snapshot');
  if (scenario.kind === 'soak') {
    // The results file gets the full memory curve; stdout the one-line summary without it.
    const { curve, ...brief } = await runSoakScenario(scenario, {
      progress,
      ...(nodeArgs.length ? { masterNodeArgs: nodeArgs } : {}),
      ...(masterLog ? { masterLogFile: masterLog } : {}),
      ...(heapSnapshotDir ? { heapSnapshotDir } : {}),
    });
    const dir = join(import.meta.dirname, '..', 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${scenario.name}.json`), `${JSON.stringify({ ...brief, curve })}\n`);
    process.stdout.write(`${JSON.stringify(brief)}\n`);
    return 0;
  }
  const summary =
    scenario.kind === 'allocator'
      ? await runAllocatorScenario(scenario, { progress })
      : await runLaunchScenario(scenario, {
          progress,
          ...(nodeArgs.length ? { masterNodeArgs: nodeArgs } : {}),
          ...(masterLog ? { masterLogFile: masterLog } : {}),
          ...(heapSnapshotDir ? { heapSnapshotDir } : {}),
        });
  const line = JSON.stringify(summary);
  const dir = join(import.meta.dirname, '..', 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${scenario.name}.json`), `${line}\n`);
  process.stdout.write(`${line}\n`);
  return summary['complete'] === false ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
// Worker threads and sockets may linger a moment; a run ends by itself.
setTimeout(() => process.exit(), 2000).unref();
