/**
 * Discovery and load balancing, one JSON line (issue 18's goals in `goals`):
 *
 *   - `propagation`: from the master's TASK_RUNNING to the first DNS answer for the task's
 *     instance name, over `--tasks` tasks;
 *   - `dns`: queries/s of Drover's DNS against dnsmasq serving the same records from a hosts
 *     file (and --srv-host), both under the same bounded loopback load from dnsperf (time-limited,
 *     at most `--outstanding` queries in flight);
 *   - `lb`: failed requests through HAProxy during rolling deploys replacing `--steps` instances
 *     (bench/lb.ts, run as a part: a real `drover dev` and `drover lb`), and its throughput window;
 *   - `vip`: VIP latency against a direct connection in network namespaces (bench/vip.ts).
 *
 * `--parts=dns,lb,vip` picks parts (default all); a part that cannot run (no HAProxy, no
 * namespaces) reports its error under its key and the others still run.
 *
 * The cluster is a real master (services framework, DNS) in this process with hollow agents
 * (sim/hollow-agent.ts, in a worker thread) speaking the real agent protocol over HTTP. Propagation is measured by a
 * listener on the master's operator events registered after the DNS zone's: at each
 * TASK_RUNNING it starts a clock and tells the prober, a process of its own
 * (bench/discovery-prober.mjs), which asks the DNS server (real UDP) for the instance's name, again
 * on every negative answer, until the name answers. The time it reads is when an answer reached a
 * client outside the master's process; the message to it is counted (`first_query_sent_p50_ms`).
 *
 * Flags: --seconds=10 (dnsperf run per server; the LB's throughput window) --outstanding=100
 * --tasks=1000 --agents=4 --steps=50 (LB) --n=200 --rounds=5 --vips=1000 (VIP) --parts=dns,lb,vip
 * Needs dnsperf and dnsmasq (apt-get install dnsperf dnsmasq-base), haproxy, nft and ip.
 */
import { type ChildProcess, execFile, fork, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMasterServer } from '../src/cluster/master.ts';
import { silentLogger } from '../src/log/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { QueueSink } from '../src/master/stream.ts';
import { instanceLabel, label } from '../src/discovery/names.ts';
import { startFleets, type Fleets } from '../sim/fleets.ts';
import { eventually } from '../devkit/process.ts';
import { freeDnsPort } from '../devkit/dns-port.ts';
import { testAuth } from '../devkit/credentials.ts';
import lbBench from './lb.ts';
import vipBench from './vip.ts';

const run = promisify(execFile);

function flag(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

async function dnsperf(port: number, queries: string, seconds: number, outstanding: number): Promise<{ qps: number; completed: number; lost: number }> {
  const { stdout } = await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', queries, '-l', String(seconds), '-q', String(outstanding), '-c', '4', '-t', '2'], {
    timeout: (seconds + 30) * 1000,
  });
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(stdout)?.[1]);
  const completed = Number(/Queries completed:\s+(\d+)/.exec(stdout)?.[1]);
  const lost = Number(/Queries lost:\s+(\d+)/.exec(stdout)?.[1]);
  if (!Number.isFinite(qps)) throw new Error(`dnsperf printed no rate:\n${stdout}`);
  return { qps, completed, lost };
}

const PARTS = ['dns', 'lb', 'vip'] as const;

/** The calling thread's CPU time in ms (utime + stime of /proc/thread-self/stat, 10 ms ticks). Read synchronously: an asynchronous read runs in libuv's pool, and thread-self would be a pool thread. */
function threadCpuMs(): number {
  let stat = '';
  try {
    stat = readFileSync('/proc/thread-self/stat', 'latin1');
  } catch {
    return Number.NaN;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export default async function discovery(args: string[]): Promise<Record<string, unknown>> {
  const raw = args.find((a) => a.startsWith('--parts='))?.slice(8);
  const parts = raw === undefined ? [...PARTS] : raw.split(',');
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--parts: unknown part '${p}' (known: ${PARTS.join(', ')})`);
  const part = async (name: string, body: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown> | null> => {
    if (!parts.includes(name)) return null;
    process.stderr.write(`discovery bench: part ${name}\n`);
    try {
      return await body();
    } catch (e) {
      return { error: (e as Error).message.slice(0, 2000) };
    }
  };
  const dns = await part('dns', () => dnsPart(args));
  const lb = await part('lb', () => lbBench(args));
  const vip = await part('vip', () => vipBench(args));
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const d = dns as { dns?: { ratio?: number }; propagation?: { p99_ms?: number } } | null;
  const l = lb as { failedDuringRolling?: number; rollingSteps?: number } | null;
  const v = vip as { fresh?: { overheadP50?: number }; keepAlive?: { overheadP50?: number } } | null;
  const goal = (value: number | undefined, ok: (x: number) => boolean): boolean | null => (value === undefined ? null : ok(value));
  return {
    bench: 'discovery',
    dns: d?.dns ?? (dns && 'error' in dns ? dns : null),
    propagation: d?.propagation ?? null,
    service_ports: (dns as { service_ports?: unknown } | null)?.service_ports ?? null,
    lb:
      lb && !('error' in lb)
        ? {
            rolling_steps: lb['rollingSteps'],
            rolling_deploys: lb['rollingDeploys'],
            requests_during_rolling: lb['requestsDuringRolling'],
            failed_during_rolling: lb['failedDuringRolling'],
            reloads_during_rolling: lb['reloadsDuringRolling'],
            rps_through_haproxy: lb['requestsPerSecondThroughHaproxy'],
            rps_direct_same_instances: lb['requestsPerSecondDirect'],
            rps_direct_one_instance: lb['requestsPerSecondDirectOneInstance'],
            cpus_per_instance: lb['cpusPerInstance'],
            ...(lb['error'] === undefined ? {} : { error: lb['error'] }),
          }
        : lb,
    vip:
      vip && !('error' in vip)
        ? { overhead_p50_fresh: v?.fresh?.overheadP50, overhead_p50_keepalive: v?.keepAlive?.overheadP50, fresh: vip['fresh'], keep_alive: vip['keepAlive'], failed: vip['failed'], nft: vip['nft'] }
        : vip,
    goals: {
      dns_ratio_at_least_0_5: goal(num(d?.dns?.ratio), (x) => x >= 0.5),
      propagation_p99_at_most_200_ms: goal(num(d?.propagation?.p99_ms), (x) => x <= 200),
      lb_0_failed: goal(num(l?.failedDuringRolling), (x) => x === 0 && (l?.rollingSteps ?? 0) > 0),
      vip_overhead_at_most_10_percent: goal(num(v?.fresh?.overheadP50) === undefined ? undefined : Math.max(v!.fresh!.overheadP50!, v?.keepAlive?.overheadP50 ?? 0), (x) => x <= 0.1),
    },
  };
}

async function dnsPart(args: string[]): Promise<Record<string, unknown>> {
  const seconds = flag(args, 'seconds', 10);
  const outstanding = flag(args, 'outstanding', 100);
  const taskCount = flag(args, 'tasks', 1000);
  const agentCount = flag(args, 'agents', 4);
  const loadAtStart = Number((await readFile('/proc/loadavg', 'utf8').catch(() => '')).split(' ')[0]);
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-dns-'));
  const dnsPort = await freeDnsPort();
  const server = await startMasterServer({
    store: createMemoryStore(),
    logger: silentLogger(),
    port: 0,
    host: '127.0.0.1',
    jobs: false,
    ui: false,
    allocationIntervalMs: 50,
    auth: testAuth(),
    dns: { port: dnsPort, upstreams: [] },
  });
  let fleets: Fleets | undefined;
  let dnsmasq: ReturnType<typeof spawn> | undefined;
  let baselineMasq: ReturnType<typeof spawn> | undefined;
  let prober: ChildProcess | undefined;
  try {
    // The agents in a worker thread: the master's event loop (and its DNS) is not theirs.
    const per = Math.ceil(taskCount / agentCount) + 10;
    fleets = await startFleets({ masterUrl: server.url, resources: `cpus:${per};mem:${per * 16};ports:[31000-32000]`, behaviour: { runningAfterMs: 5 } }, agentCount, 1);
    await eventually(() => server.master.agents.size >= agentCount || undefined, 'hollow agents registered', 60_000);
    const master = server.master;
    const services = server.services!;

    // ---- propagation: TASK_RUNNING → first answer ---------------------------------------
    const frameworkName = 'marathon';
    // The prober runs in its own process: the time it reads is when the answer reached a client,
    // not when this (busy) process got round to reading a socket. Clocks: timeOrigin + now() is
    // the same wall clock in both processes.
    // dnsmasq with one static name, asked by the prober at each TASK_RUNNING beside Drover (discovery-prober.mjs).
    const baselinePort = await freeDnsPort();
    const baselineHosts = join(dir, 'baseline-hosts');
    await writeFile(baselineHosts, '127.0.0.9 static.baseline.test\n');
    // At the prober's priority (discovery-prober.mjs): the baseline is not starved where Drover's DNS thread is not.
    baselineMasq = spawn(
      'nice',
      [
        '-n',
        '-10',
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        `--port=${baselinePort}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        `--addn-hosts=${baselineHosts}`,
        '--pid-file=',
        '--user=root',
      ],
      { stdio: 'ignore' },
    );
    await eventually(
      async () => (await run('dig', ['@127.0.0.1', '-p', String(baselinePort), 'static.baseline.test', '+short', '+time=1', '+tries=1']).catch(() => ({ stdout: '' }))).stdout.trim() !== '',
      'the baseline dnsmasq answering',
      30_000,
    );
    // The prober is a process of its own (bench/discovery-prober.mjs says why), told each name over IPC.
    prober = fork(
      fileURLToPath(new URL('./discovery-prober.mjs', import.meta.url)),
      [String(dnsPort), String(baselinePort), 'static.baseline.test', createRequire(import.meta.url).resolve('dns-packet')],
      {
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    let proberNice: number | undefined;
    const proberReady = new Promise<void>((resolve, reject) => {
      prober!.once('message', (m: { nice?: number }) => {
        proberNice = m.nice;
        resolve();
      });
      prober!.once('exit', (code) => reject(new Error(`the prober exited (${code}) before it was ready`)));
    });
    const proc = prober;
    const latencies: number[] = [];
    /** dnsmasq's answer to a name it always had, asked at the same moments (the machine's share of `latencies`). */
    const baselines: number[] = [];
    /** Time to the first reply of any kind, and negative replies: separates a busy answer path from a late zone. */
    const firstReplies: number[] = [];
    let negatives = 0;
    let resent = 0;
    /** From the event to the prober's first query (the message between processes), and that query's round trip. */
    const firstSent: number[] = [];
    const firstRtt: number[] = [];
    await proberReady;
    proc.on('message', (m: { baseline?: number; latency: number; firstReply: number; firstSent: number; firstRtt: number; negatives: number; resent: number }) => {
      if (m.baseline !== undefined) {
        baselines.push(m.baseline);
        return;
      }
      latencies.push(m.latency);
      firstReplies.push(m.firstReply);
      firstSent.push(m.firstSent);
      firstRtt.push(m.firstRtt);
      negatives += m.negatives;
      resent += m.resent;
    });
    const ask = (name: string): void => void proc.send({ name, started: performance.timeOrigin + performance.now() });
    const probe = new QueueSink(
      (event) => {
        const e = event as { type?: string; task_updated?: { framework_id?: { value?: string }; state?: string; status?: { task_id?: { value?: string }; agent_id?: { value?: string } } } };
        if (e.type !== 'TASK_UPDATED' || e.task_updated?.state !== 'TASK_RUNNING') return;
        const taskId = e.task_updated.status?.task_id?.value;
        const frameworkId = e.task_updated.framework_id?.value;
        if (!taskId || !frameworkId) return;
        const task = master.tasks.get(frameworkId, taskId);
        if (!task) return;
        const t = label(task.info.name ?? '');
        ask(`${instanceLabel(t, taskId, task.agentId)}.${frameworkName}.mesos`);
      },
      () => undefined,
    );
    master.operatorStreams.add(probe);
    const post = async (id: string, instances: number): Promise<void> => {
      const created = await fetch(`${server.url}/v2/apps`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, cmd: 'serve', cpus: 0.5, mem: 8, instances, portDefinitions: [{ port: 0, name: 'http' }] }),
      });
      if (created.status !== 201) throw new Error(`app not created: ${created.status} ${await created.text()}`);
    };
    // Warm-up (not counted): the first launch loads and compiles code paths nothing ran before.
    const phase = (what: string): void => void process.stderr.write(`discovery bench: ${what}\n`);
    phase('warm-up');
    await post('/bench/warm', 10);
    await eventually(() => latencies.length >= 10 || undefined, 'warm-up names answered', 120_000);
    await fetch(`${server.url}/v2/apps/bench/warm?force=true`, { method: 'DELETE' });
    await eventually(() => [...master.tasks.values()].length === 0 || undefined, 'warm-up tasks gone', 120_000);
    phase(`propagation over ${taskCount} tasks`);
    const postedBefore = server.discovery!.dns.changesPosted;
    const threadBefore = await server.discovery!.dns.counters();
    const masterBefore = threadCpuMs();
    latencies.length = 0;
    baselines.length = 0;
    firstReplies.length = 0;
    firstSent.length = 0;
    firstRtt.length = 0;
    negatives = 0;
    await post('/bench/web', taskCount);
    await eventually(() => latencies.length >= taskCount || undefined, `${taskCount} names answered`, 600_000);
    master.operatorStreams.delete(probe);
    const masterCpuMs = threadCpuMs() - masterBefore;
    const zoneChanges = server.discovery!.dns.changesPosted - postedBefore;
    const dnsThread = await server.discovery!.dns.counters();
    // The baseline's last answers may still be on their way.
    await eventually(() => baselines.length >= taskCount || undefined, 'the baseline answers', 30_000).catch(() => undefined);
    proc.disconnect();
    await new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
    baselineMasq.kill();
    for (const list of [latencies, baselines, firstReplies, firstSent, firstRtt]) list.sort((x, y) => x - y);

    // ---- queries/s: Drover vs dnsmasq, same records, same load ------------------------------
    const names: Array<{ name: string; type: string }> = [];
    const hosts: string[] = [];
    const srvHosts: string[] = [];
    const zone = server.discovery!.zone.zone;
    for (const name of zone.names()) {
      const records = zone.lookup(name)!;
      if (!name.endsWith('.mesos')) continue;
      for (const ip of records.a) hosts.push(`${ip} ${name}`);
      if (records.a.length > 0 && names.length < 2000) names.push({ name, type: 'A' });
      for (const r of records.srv) srvHosts.push(`--srv-host=${name},${r.target},${r.port},${r.priority},${r.weight}`);
      if (records.srv.length > 0 && records.srv.length <= 8 && names.length < 2000) names.push({ name, type: 'SRV' });
    }
    const queries = join(dir, 'queries.txt');
    await writeFile(queries, `${names.map((n) => `${n.name} ${n.type}`).join('\n')}\n`);
    const hostsFile = join(dir, 'hosts');
    await writeFile(hostsFile, `${hosts.join('\n')}\n`);
    phase('queries/s: drover');
    const drover = await dnsperf(dnsPort, queries, seconds, outstanding);
    const masqPort = await freeDnsPort();
    dnsmasq = spawn(
      'dnsmasq',
      [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        `--port=${masqPort}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        `--addn-hosts=${hostsFile}`,
        '--cache-size=10000',
        '--pid-file=',
        '--user=root',
        ...srvHosts.slice(0, 5000),
      ],
      { stdio: 'ignore' },
    );
    // Up once it answers.
    await eventually(
      async () => {
        const r = await run('dig', ['@127.0.0.1', '-p', String(masqPort), 'leader.mesos', '+short', '+time=1', '+tries=1']).catch(() => ({ stdout: '' }));
        return r.stdout.trim() !== '';
      },
      'dnsmasq answering',
      30_000,
    );
    phase('queries/s: dnsmasq');
    const masq = await dnsperf(masqPort, queries, seconds, outstanding);
    return {
      dns: {
        tool: 'dnsperf',
        seconds,
        outstanding,
        names: names.length,
        drover_qps: round(drover.qps),
        dnsmasq_qps: round(masq.qps),
        ratio: round(drover.qps / masq.qps, 3),
        drover_lost: drover.lost,
        dnsmasq_lost: masq.lost,
      },
      propagation: {
        tasks: latencies.length,
        p50_ms: round(percentile(latencies, 50)),
        p99_ms: round(percentile(latencies, 99)),
        max_ms: round(latencies[latencies.length - 1] ?? Number.NaN),
        // The same prober process asking dnsmasq for a name it always had, at each TASK_RUNNING: what the loaded machine costs any server.
        dnsmasq_static_p50_ms: round(percentile(baselines, 50)),
        dnsmasq_static_p99_ms: round(percentile(baselines, 99)),
        dnsmasq_static_answers: baselines.length,
        first_reply_p50_ms: round(percentile(firstReplies, 50)),
        first_query_sent_p50_ms: round(percentile(firstSent, 50)),
        first_query_rtt_p50_ms: round(percentile(firstRtt, 50)),
        negative_replies: negatives,
        zone_changes: zoneChanges,
        // The DNS thread's CPU time during the burst (zone changes applied, queries answered), per change: load changes it little.
        dns_thread_cpu_ms: round(dnsThread.cpuMs - threadBefore.cpuMs),
        dns_thread_cpu_us_per_zone_change: zoneChanges > 0 ? round(((dnsThread.cpuMs - threadBefore.cpuMs) * 1000) / zoneChanges) : null,
        // The master's main thread (everything it does for the burst: offers, launches, status updates, the zone), per task.
        master_thread_cpu_ms: masterCpuMs,
        master_thread_cpu_us_per_task: round((masterCpuMs * 1000) / taskCount),
        dns_thread_loop_delay_p99_ms: round(dnsThread.loopDelayP99Ms),
        dns_thread_loop_delay_max_ms: round(dnsThread.loopDelayMaxMs),
        resent_queries: resent,
        agents: agentCount,
        prober: 'process',
        prober_nice: proberNice,
        loadavg_1m_at_start: loadAtStart,
      },
      service_ports: { app: (services.apps.get('/bench/web')?.portDefinitions ?? []).map((p) => p.port) },
    };
  } finally {
    dnsmasq?.kill();
    baselineMasq?.kill();
    if (prober?.exitCode === null && prober.signalCode === null) prober.kill();
    await fleets?.stop();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
