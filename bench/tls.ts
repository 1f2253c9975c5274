/**
 * What authentication and TLS cost a launch (issue 16's benchmark): the same launch scenario
 * (default launch-50k: 1,000 hollow agents, 50 apps × 1,000 instances) twice in one run —
 *   off: `drover master --auth off --tls off`, agents and the runner on plain HTTP;
 *   on:  auth and TLS on — hollow agents join by TLS bootstrap (bootstrap token + CSR) and then
 *        use mTLS with their own certificate and connections, the runner's POSTs and polls go
 *        over HTTPS trusting the cluster CA with the admin token —
 * and reports seconds from the first POST until every task runs, for each, and on/off (goal ≤ 1.10).
 *
 * Flags: --scenario=launch-50k --agents=N --tasks=N --apps=N --workers=N --order=off-first|on-first
 *        --master-cpu-prof=DIR (each master writes a CPU profile there when it stops)
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
  // Seconds until 90 % of the tasks run, from the runner's progress lines: the last few percent
  // can wait out the services framework's launch timeout (a lost LAUNCH is retried after it),
  // which says nothing about what auth and TLS cost.
  let current: 'off' | 'on' = 'off';
  const to90: Record<'off' | 'on', number | undefined> = { off: undefined, on: undefined };
  const progress = (line: string): void => {
    process.stderr.write(`${line}\n`);
    const m = /^t=([0-9.]+)s running (\d+)\/(\d+)/.exec(line);
    if (m && to90[current] === undefined && Number(m[2]) >= 0.9 * Number(m[3])) to90[current] = Number(m[1]);
  };
  const order = value(args, 'order') ?? 'off-first';
  const cpuProf = value(args, 'master-cpu-prof');
  const masterNodeArgs = cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`];
  const results: Record<'off' | 'on', LaunchSummary | undefined> = { off: undefined, on: undefined };
  for (const which of order === 'on-first' ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
    current = which;
    progress(`--- ${which}: auth and TLS ${which}`);
    results[which] = await runLaunchScenario(which === 'on' ? on : off, { progress, masterNodeArgs });
  }
  const pick = (r: LaunchSummary) => ({
    seconds: r.seconds,
    tasks: r.tasks,
    agents: r.agents,
    tasksPerSecond: r.tasksPerSecond,
    p50LaunchMs: r.p50LaunchMs,
    p99LaunchMs: r.p99LaunchMs,
    masterCpuSeconds: r.masterCpuSeconds,
    masterRssMb: r.masterRssMb,
    agentsCpuSeconds: r['agentsCpuSeconds'],
    // Resent updates and failed calls show as updatesSent above 2 per task, and in warnings.
    updatesSent: (r['agentStats'] as { updatesSent?: number } | undefined)?.updatesSent,
    agentWarnings: (r['agentStats'] as { warnings?: Record<string, number> } | undefined)?.warnings,
  });
  const offR = results.off!;
  const onR = results.on!;
  const ratio = Math.round((onR.seconds / offR.seconds) * 1000) / 1000;
  return {
    bench: 'tls',
    scenario: name,
    order,
    off: pick(offR),
    on: pick(onR),
    ratio,
    secondsTo90: to90,
    ratio90: to90.on !== undefined && to90.off !== undefined ? Math.round((to90.on / to90.off) * 1000) / 1000 : undefined,
    cpuRatio: Math.round((onR.masterCpuSeconds / offR.masterCpuSeconds) * 1000) / 1000,
    goal: 'ratio ≤ 1.10',
    met: ratio <= 1.1,
  };
}
