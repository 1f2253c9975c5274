/**
 * Discovery: DNS queries/s of Drover's DNS against dnsmasq serving the same records from a hosts
 * file (and --srv-host), both under the same bounded loopback load from dnsperf (time-limited,
 * at most `--outstanding` queries in flight); then name propagation: from the master's
 * TASK_RUNNING to the first DNS answer for the task's instance name, over `--tasks` tasks.
 *
 * The cluster is a real master (services framework, DNS) in this process with hollow agents
 * (sim/hollow-agent.ts, in a worker thread) speaking the real agent protocol over HTTP. Propagation is measured by a
 * listener on the master's operator events registered after the DNS zone's: at each
 * TASK_RUNNING it starts a clock and asks the DNS server (UDP) for the instance's name, again on
 * every negative answer, until the name answers.
 *
 * The load balancer's and the VIPs' numbers are other benches' (keys `lb`, `vip` left null here).
 *
 * Flags: --seconds=10 (dnsperf run per server) --outstanding=100 --tasks=1000 --agents=4
 * Needs dnsperf and dnsmasq (apt-get install dnsperf dnsmasq-base).
 */
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { startMasterServer } from '../src/cluster/master.ts';
import { silentLogger } from '../src/log/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { QueueSink } from '../src/master/stream.ts';
import { instanceLabel, label } from '../src/discovery/names.ts';
import { startFleets, type Fleets } from '../sim/fleets.ts';
import { eventually } from '../devkit/process.ts';
import { freeDnsPort } from '../devkit/dns-port.ts';
import { testAuth } from '../devkit/credentials.ts';

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

export default async function discovery(args: string[]): Promise<Record<string, unknown>> {
  const seconds = flag(args, 'seconds', 10);
  const outstanding = flag(args, 'outstanding', 100);
  const taskCount = flag(args, 'tasks', 1000);
  const agentCount = flag(args, 'agents', 4);
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
  try {
    // The agents in a worker thread: the master's event loop (and its DNS) is not theirs.
    const per = Math.ceil(taskCount / agentCount) + 10;
    fleets = await startFleets({ masterUrl: server.url, resources: `cpus:${per};mem:${per * 16};ports:[31000-32000]`, behaviour: { runningAfterMs: 5 } }, agentCount, 1);
    await eventually(() => server.master.agents.size >= agentCount || undefined, 'hollow agents registered', 60_000);
    const master = server.master;
    const services = server.services!;

    // ---- propagation: TASK_RUNNING → first answer ---------------------------------------
    const frameworkName = 'marathon';
    const latencies: number[] = [];
    /** Time to the first reply of any kind, and negative replies: separates a busy event loop from a late zone. */
    const firstReplies: number[] = [];
    let negatives = 0;
    const client = createSocket('udp4');
    const pending = new Map<number, { name: string; started: number; tries: number; sent: number }>();
    let nextId = 1;
    let resent = 0;
    const ask = (name: string, started: number, tries: number): void => {
      const id = nextId++ & 0xffff || 1;
      pending.set(id, { name, started, tries, sent: performance.now() });
      client.send(dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name }] }), dnsPort, '127.0.0.1');
    };
    client.on('message', (msg) => {
      const id = msg.readUInt16BE(0);
      const p = pending.get(id);
      if (!p) return;
      pending.delete(id);
      if (p.tries === 0) firstReplies.push(performance.now() - p.started);
      const answered = (msg[3]! & 0x0f) === 0 && msg.readUInt16BE(6) > 0;
      if (answered) latencies.push(performance.now() - p.started);
      else {
        negatives++;
        if (p.tries < 10_000) ask(p.name, p.started, p.tries + 1);
      }
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    // UDP may drop a query in a burst: one unanswered for 1 s is asked again, as a resolver would (the time counts).
    const resend = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of pending) {
        if (now - p.sent < 1000) continue;
        pending.delete(id);
        resent++;
        ask(p.name, p.started, p.tries + 1);
      }
    }, 50);
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
        ask(`${instanceLabel(t, taskId, task.agentId)}.${frameworkName}.mesos`, performance.now(), 0);
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
    latencies.length = 0;
    firstReplies.length = 0;
    negatives = 0;
    await post('/bench/web', taskCount);
    await eventually(() => latencies.length >= taskCount || undefined, `${taskCount} names answered`, 600_000);
    master.operatorStreams.delete(probe);
    clearInterval(resend);
    client.close();
    latencies.sort((x, y) => x - y);
    firstReplies.sort((x, y) => x - y);

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
      bench: 'discovery',
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
        first_reply_p50_ms: round(percentile(firstReplies, 50)),
        negative_replies: negatives,
        resent_queries: resent,
        agents: agentCount,
      },
      service_ports: { app: (services.apps.get('/bench/web')?.portDefinitions ?? []).map((p) => p.port) },
      lb: null,
      vip: null,
    };
  } finally {
    dnsmasq?.kill();
    await fleets?.stop();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
