/**
 * What authentication and TLS cost a launch (issue 16's benchmark): the same launch scenario
 * (default launch-50k: 1,000 hollow agents, 50 apps × 1,000 instances) twice in one run —
 *   off: `drover master --auth off --tls off`, agents and the runner on plain HTTP;
 *   on:  auth and TLS on — hollow agents join by TLS bootstrap (bootstrap token + CSR) and then
 *        use mTLS with their own certificate and connections, the runner's POSTs and polls go
 *        over HTTPS trusting the cluster CA with the admin token —
 * and reports seconds from the first POST until every task runs, for each, and on/off (goal ≤ 1.10).
 *
 * Also the CPU of the launch alone (the master's, and the runner's: the hollow agents and the API
 * client), which a shared machine's load does not change as it changes seconds.
 *
 * Flags: --scenario=launch-50k --agents=N --tasks=N --apps=N --workers=N --order=off-first|on-first
 *        --rounds=N (pairs, alternating the order) --master-cpu-prof=DIR (each master writes a CPU
 *        profile there when it stops)
 */
import { loadScenario, type Overrides } from '../sim/scenario.ts';
import { runLaunchScenario, type LaunchSummary } from '../sim/launch-scenario.ts';

const value = (args: string[], name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

export default async function tls(args: string[]): Promise<Record<string, unknown>> {
  const name = value(args, 'scenario') ?? 'launch-50k';
  const overrides: Overrides = {};
  for (const key of ['agents', 'tasks', 'apps', 'workers'] as const) {
    const raw = value(args, key);
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} must be a whole number`);
    overrides[key] = n;
  }
  const base = await loadScenario(name, overrides);
  if (base.kind !== 'launch') throw new Error(`${name} is a ${base.kind} scenario; this benchmark runs launch scenarios`);
  const off = { ...base, master: { ...base.master, args: [...(base.master.args ?? []), '--auth', 'off', '--tls', 'off'] } };
  const on = { ...base, master: { ...base.master, tls: true } };
  // The machine is shared (load 10+ from other work): one off run and one on run minutes apart
  // measure the load as much as TLS. Rounds alternate the order (off,on / on,off / …), so a
  // load that rises or falls through the run weighs on both sides; the ratio is of the sums.
  const rounds = Number(value(args, 'rounds') ?? '1');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) throw new Error('--rounds must be 1..10');
  const first = value(args, 'order') ?? 'off-first';
  if (first !== 'off-first' && first !== 'on-first') throw new Error('--order must be off-first or on-first');
  const cpuProf = value(args, 'master-cpu-prof');
  const masterNodeArgs = cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`];
  const progress = (line: string): void => void process.stderr.write(`${line}\n`);
  const runs: Record<'off' | 'on', LaunchSummary[]> = { off: [], on: [] };
  for (let round = 0; round < rounds; round++) {
    const offFirst = (first === 'off-first') === (round % 2 === 0);
    for (const which of offFirst ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      progress(`--- round ${round + 1}/${rounds} ${which}: auth and TLS ${which}`);
      runs[which].push(await runLaunchScenario(which === 'on' ? on : off, { progress, masterNodeArgs }));
    }
  }
  const pick = (r: LaunchSummary) => ({
    seconds: r.seconds,
    secondsTo90: r['secondsTo90'],
    tasks: r.tasks,
    agents: r.agents,
    complete: r['complete'],
    tasksPerSecond: r.tasksPerSecond,
    p50LaunchMs: r.p50LaunchMs,
    p99LaunchMs: r.p99LaunchMs,
    // All of the master's CPU (TLS bootstrap of every agent included), and the launch's alone.
    masterCpuSeconds: r.masterCpuSeconds,
    masterCpuLaunchSeconds: r['masterCpuLaunchSeconds'],
    masterRssMb: r.masterRssMb,
    // The runner's process over the launch: the hollow agents (their TLS too) and the API client.
    agentsCpuSeconds: r['agentsCpuSeconds'],
    // Resent updates and failed calls show as updatesSent above 2 per task, and in warnings.
    updatesSent: (r['agentStats'] as { updatesSent?: number } | undefined)?.updatesSent,
    agentWarnings: (r['agentStats'] as { warnings?: Record<string, number> } | undefined)?.warnings,
  });
  const sum = (rs: LaunchSummary[], f: (r: LaunchSummary) => unknown): number => rs.reduce((n, r) => n + Number(f(r) ?? Number.NaN), 0);
  const ratioOf = (f: (r: LaunchSummary) => unknown): number => Math.round((sum(runs.on, f) / sum(runs.off, f)) * 1000) / 1000;
  const ratio = ratioOf((r) => r.seconds);
  return {
    bench: 'tls',
    scenario: name,
    order: first,
    rounds,
    off: runs.off.map(pick),
    on: runs.on.map(pick),
    // Seconds from the first POST until every task runs: on / off, over all rounds.
    ratio,
    roundRatios: runs.on.map((r, i) => Math.round((r.seconds / runs.off[i]!.seconds) * 1000) / 1000),
    ratio90: ratioOf((r) => r['secondsTo90']),
    // CPU over the launch: the master's, and the master's plus the runner's (hollow agents) —
    // what the launch costs, whatever else the machine was doing meanwhile.
    masterCpuLaunchRatio: ratioOf((r) => r['masterCpuLaunchSeconds']),
    launchCpuRatio: ratioOf((r) => Number(r['masterCpuLaunchSeconds']) + Number(r['agentsCpuSeconds'])),
    masterCpuRatio: ratioOf((r) => r.masterCpuSeconds),
    goal: 'ratio ≤ 1.10',
    met: ratio <= 1.1,
  };
}
