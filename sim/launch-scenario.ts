/**
 * Runs a `launch` or `churn` scenario end to end: a master process, hollow agents (in worker
 * threads), apps POSTed to /v2/apps, then polling the services framework's own view (GET
 * /v2/apps: tasksRunning) until every task runs. Launch latency is the services framework's
 * stagedAt (offer accepted) → startedAt (TASK_RUNNING seen), read from /v2/apps/ID/tasks.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tlsFetch } from '../src/iam/tls-client.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HollowAgentStats } from './hollow-agent.ts';
import { MasterProcess } from './master-process.ts';
import { startFleets, type Fleets } from './fleets.ts';
import { totalTasks, type Scenario } from './scenario.ts';
import { partitionPhase } from './partition-scenario.ts';

export interface RunOptions {
  /** Node flags for the master process (profiling). */
  masterNodeArgs?: string[];
  masterLogFile?: string;
  /** Progress lines on stderr. */
  progress?: (line: string) => void;
  /** When set, the master writes a heap snapshot here once every task runs (SIGUSR2). */
  heapSnapshotDir?: string;
  /** Called with the master's URL once the run is measured, before anything stops (tests). */
  inspect?: (masterUrl: string) => Promise<Record<string, unknown>>;
}

export interface LaunchSummary {
  scenario: string;
  agents: number;
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  p50LaunchMs: number;
  p99LaunchMs: number;
  masterRssMb: number;
  masterCpuSeconds: number;
  [extra: string]: unknown;
}

interface AppsJson {
  apps: Array<{ id: string; tasksRunning: number; tasksStaged: number }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * How the runner calls the master's API: this process's fetch (plain HTTP on loopback, with the
 * harness's admin token), or — a `tls` scenario — HTTPS trusting the cluster CA, token added here.
 */
let api: typeof fetch = (input, init) => fetch(input, init);

function httpsApi(caPem: string): typeof fetch {
  const secure = tlsFetch({ caPem });
  const token = process.env['DROVER_ADMIN_TOKEN'];
  return (input, init) => secure(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), ...(token ? { authorization: `token=${token}` } : {}) } });
}

export async function runLaunchScenario(s: Scenario, options: RunOptions = {}): Promise<LaunchSummary> {
  const log = options.progress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), `drover-sim-${s.name}-`));
  let master: MasterProcess | undefined;
  let fleets: Fleets | undefined;
  try {
    master = await MasterProcess.start({
      store: s.master.store === 'memory' ? 'memory:' : `sqlite:${join(dir, 'master.db')}`,
      allocationIntervalSeconds: s.master.allocationIntervalSeconds,
      agentHeartbeatIntervalSeconds: s.master.agentHeartbeatIntervalSeconds,
      args: [...(s.master.args ?? []), ...(s.master.tls ? ['--tls', 'on', '--data-dir', dir] : [])],
      nodeArgs: [...(options.masterNodeArgs ?? []), ...(options.heapSnapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${options.heapSnapshotDir}`] : [])],
      ...(options.masterLogFile ? { logFile: options.masterLogFile } : {}),
    });
    let url = master.url;
    let caPem: string | undefined;
    api = (input, init) => fetch(input, init);
    if (s.master.tls) {
      caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
      url = url.replace(/^http:/, 'https:');
      api = httpsApi(caPem);
    }
    log(`master ${url} pid ${master.pid}`);
    fleets = await startFleets(
      {
        masterUrl: url,
        resources: s.agents.resources,
        ...(s.agents.attributes ? { attributes: s.agents.attributes } : {}),
        behaviour: s.agents.behaviour,
        ...(caPem === undefined ? {} : { caPem }),
        ...(s.agents.heartbeatIntervalSeconds === undefined ? {} : { heartbeatIntervalOverride: s.agents.heartbeatIntervalSeconds }),
      },
      s.agents.count,
      s.workers,
    );
    const deadline = Date.now() + s.measure.timeoutSeconds * 1000;
    // Every agent, or — after a grace of 60 s + 20 ms per agent — at least 99 % of them: at
    // 10,000 agents a few may still be in their reconnect backoff, and the run should not hang
    // on them (the summary reports how many registered).
    const graceEnd = Math.min(deadline, Date.now() + 60_000 + 20 * s.agents.count);
    await until(
      async () => {
        const n = (await fleets!.stats()).registered;
        return n === s.agents.count || (Date.now() > graceEnd && n >= 0.99 * s.agents.count);
      },
      deadline,
      'every agent registered',
      log,
      async () => `registered ${(await fleets!.stats()).registered}/${s.agents.count}`,
    );
    const registeredAgents = (await fleets.stats()).registered;
    const atRest = await master.figures();
    log(`agents registered; master rss ${atRest.rssMb} MB`);

    const total = totalTasks(s);
    const started = performance.now();
    const runnerCpu = process.cpuUsage();
    // Up to 8 POSTs in flight, as several clients would: sequential POSTs measure the round trip
    // of a busy master 1,000 times over, not its throughput.
    let nextApp = 0;
    await Promise.all(
      Array.from({ length: Math.min(8, s.apps.count) }, async () => {
        while (nextApp < s.apps.count) await postApp(url, s, nextApp++);
      }),
    );
    log(`posted ${s.apps.count} apps in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    let running = 0;
    let lastLog = 0;
    let secondsTo90: number | undefined;
    while (running < total && Date.now() < deadline) {
      await sleep(running === 0 ? 100 : 250);
      // A saturated master may not answer in time: that is no progress, not the end of the run.
      const apps = await getJson<AppsJson>(`${url}/v2/apps`, Math.max(1000, deadline - Date.now())).catch(() => undefined);
      if (apps) running = apps.apps.reduce((n, a) => n + a.tasksRunning, 0);
      if (secondsTo90 === undefined && running >= 0.9 * total) secondsTo90 = round((performance.now() - started) / 1000);
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        const f = await master.figures();
        log(`t=${((performance.now() - started) / 1000).toFixed(1)}s running ${running}/${total} master rss ${f.rssMb} MB cpu ${f.cpuSeconds} s`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const complete = running >= total;
    // The master's CPU over the launch alone (registration and TLS bootstrap before it excluded).
    const masterCpuLaunchSeconds = round((await master.figures()).cpuSeconds - atRest.cpuSeconds);
    const runnerCpuUsed = process.cpuUsage(runnerCpu);
    // This process runs the hollow agents (all worker threads): if it nears `seconds`, the agents, not the master, set the pace.
    const agentsCpuSeconds = round((runnerCpuUsed.user + runnerCpuUsed.system) / 1e6);
    log(`${complete ? 'all' : 'TIMED OUT:'} ${running}/${total} running after ${seconds.toFixed(1)} s`);

    if (s.measure.requireAcknowledged) {
      await until(
        async () => (await fleets!.stats()).unacknowledged === 0,
        Date.now() + 60_000,
        'every update acknowledged',
        log,
        async () => `unacknowledged ${(await fleets!.stats()).unacknowledged}`,
      ).catch((e: unknown) => log(String(e)));
    }
    if (options.heapSnapshotDir) {
      master.child.kill('SIGUSR2');
      log(`heap snapshot requested into ${options.heapSnapshotDir}`);
      await sleep(20_000);
    }
    const latencies = complete ? await launchLatencies(url, s.measure.latencySample) : [];
    let intervals: unknown[] | undefined;
    if (s.kind === 'churn' && s.churn && complete) intervals = await churn(url, master, fleets, s, log);
    const partition = s.kind === 'partition' && s.partition && complete ? await partitionPhase(url, fleets, s, log) : undefined;
    let rest: Record<string, unknown> | undefined;
    if (s.measure.restSeconds) rest = await atRestFigures(url, master, s.measure.restSeconds, log);
    const figures = await master.figures();
    const stats: HollowAgentStats = await fleets.stats();
    const inspected = options.inspect ? await options.inspect(url) : undefined;
    return {
      scenario: s.name,
      agents: s.agents.count,
      tasks: total,
      seconds: round(seconds),
      tasksPerSecond: round(running / seconds),
      p50LaunchMs: percentile(latencies, 50),
      p99LaunchMs: percentile(latencies, 99),
      masterRssMb: figures.peakRssMb,
      masterCpuSeconds: figures.cpuSeconds,
      masterCpuLaunchSeconds,
      ...(secondsTo90 === undefined ? {} : { secondsTo90 }),
      // A partition run is complete when its phase settled too.
      complete: complete && (partition === undefined || partition['complete'] === true),
      running,
      masterRssNowMb: figures.rssMb,
      agentsCpuSeconds,
      registeredAgents,
      masterRssAtRestBeforeAppsMb: atRest.rssMb,
      latencySample: latencies.length,
      ...(rest ? { rest } : {}),
      ...(intervals ? { intervals } : {}),
      ...(partition ? { partition } : {}),
      agentStats: stats,
      ...(inspected ? { inspected } : {}),
    };
  } finally {
    await fleets?.stop().catch(() => undefined);
    await master?.stop(60_000).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

function appId(s: Scenario, a: number): string {
  return `/sim/${s.name}/app-${String(a).padStart(4, '0')}`;
}

async function postApp(url: string, s: Scenario, a: number): Promise<void> {
  const body = {
    id: appId(s, a),
    cmd: s.apps.cmd ?? 'sleep 3600',
    cpus: s.apps.cpus,
    mem: s.apps.mem,
    instances: s.apps.instances,
    portDefinitions: Array.from({ length: s.apps.ports }, () => ({ port: 0 })),
    ...s.apps.extra,
    ...Object.fromEntries(Object.entries(s.apps.vary ?? {}).map(([field, values]) => [field, values[a % values.length]])),
  };
  // A master saturated by a million launches can drop a kept-alive connection under a POST
  // (ECONNRESET), or answer 408 when its busy event loop did not read the request in time:
  // try again; a 409 then means a lost attempt had created the app.
  for (let attempt = 1; ; attempt++) {
    const response = await api(`${url}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch((e: unknown) => {
      if (attempt >= 5) throw e;
      return undefined;
    });
    if (response === undefined || (response.status === 408 && attempt < 5)) {
      await response?.arrayBuffer();
      await sleep(1000 * attempt);
      continue;
    }
    if (response.status === 201 || (response.status === 409 && attempt > 1)) {
      await response.arrayBuffer();
      return;
    }
    throw new Error(`POST /v2/apps ${body.id}: ${response.status} ${await response.text()}`);
  }
}

async function getJson<T>(url: string, timeoutMs = 120_000): Promise<T> {
  const response = await api(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return (await response.json()) as T;
}

interface TaskJson {
  stagedAt: string;
  startedAt?: string;
}

/** stagedAt → startedAt of up to `sample` running tasks, app by app. */
async function launchLatencies(url: string, sample: number, since?: number): Promise<number[]> {
  const { apps } = await getJson<AppsJson>(`${url}/v2/apps`);
  const out: number[] = [];
  for (const app of apps) {
    if (out.length >= sample) break;
    const { tasks } = await getJson<{ tasks: TaskJson[] }>(`${url}/v2/apps${app.id}/tasks`);
    for (const t of tasks) {
      if (t.startedAt === undefined) continue;
      const startedAt = Date.parse(t.startedAt);
      if (since !== undefined && startedAt < since) continue;
      out.push(startedAt - Date.parse(t.stagedAt));
    }
  }
  return out.sort((a, b) => a - b);
}

/** Tasks keep failing (the agents' exitAfterMs/failRate) and are replaced: figures per interval. */
async function churn(url: string, master: MasterProcess, fleets: Fleets, s: Scenario, log: (l: string) => void): Promise<unknown[]> {
  const { durationSeconds, intervalSeconds } = s.churn!;
  const out: unknown[] = [];
  const total = totalTasks(s);
  let before = await fleets.stats();
  let cpuBefore = (await master.figures()).cpuSeconds;
  const end = Date.now() + durationSeconds * 1000;
  for (let i = 1; Date.now() < end; i++) {
    const from = Date.now();
    let minRunning = Infinity;
    while (Date.now() - from < intervalSeconds * 1000) {
      await sleep(1000);
      const apps = await getJson<AppsJson>(`${url}/v2/apps`);
      minRunning = Math.min(
        minRunning,
        apps.apps.reduce((n, a) => n + a.tasksRunning, 0),
      );
    }
    const after = await fleets.stats();
    const f = await master.figures();
    const lat = await launchLatencies(url, Infinity, from);
    const seconds = (Date.now() - from) / 1000;
    const row = {
      interval: i,
      seconds: round(seconds),
      ended: after.ended - before.ended,
      launched: after.launched - before.launched,
      launchesPerSecond: round((after.launched - before.launched) / seconds),
      minRunning,
      ofTasks: total,
      p50LaunchMs: percentile(lat, 50),
      p99LaunchMs: percentile(lat, 99),
      masterRssMb: f.rssMb,
      masterCpuSeconds: round(f.cpuSeconds - cpuBefore),
      unacknowledged: after.unacknowledged,
    };
    out.push(row);
    log(JSON.stringify(row));
    before = after;
    cpuBefore = f.cpuSeconds;
  }
  return out;
}

/** Sits with every task running: the master's offer-cycle time (its metric) and memory at rest. */
async function atRestFigures(url: string, master: MasterProcess, seconds: number, log: (l: string) => void): Promise<Record<string, unknown>> {
  const metric = async (): Promise<{ sum: number; count: number }> => {
    const text = await (await api(`${url}/metrics/prometheus`)).text();
    const sum = Number(/^drover_master_allocation_cycle_seconds_sum(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
    const count = Number(/^drover_master_allocation_cycle_seconds_count(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
    return { sum, count };
  };
  const a = await metric();
  await sleep(seconds * 1000);
  const b = await metric();
  const f = await master.figures();
  const cycleMs = round(((b.sum - a.sum) / (b.count - a.count)) * 1000);
  log(`at rest: ${b.count - a.count} offer cycles, mean ${cycleMs} ms; rss ${f.rssMb} MB`);
  return { offerCycles: b.count - a.count, offerCycleMs: cycleMs, masterRssMb: f.rssMb };
}

async function until(check: () => Promise<boolean>, deadline: number, what: string, log: (l: string) => void, status: () => Promise<string>): Promise<void> {
  let lastLog = Date.now();
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${await status()}`);
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(await status());
    }
    await sleep(200);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
