/**
 * CPU per zone update, one JSON line: the path a TASK_RUNNING takes through discovery, replayed
 * `--tasks` times in this one thread with no sockets, so the figure is CPU time (process.cpuUsage)
 * and hardly moves with the machine's load (wall-clock figures on a loaded machine are noise).
 *
 *   - `master_us_per_update`: the master's side: the task's records (records.ts), the master's
 *     zone (`Zone.set`) and the message to the DNS thread (dns-thread.ts' `changed`: a real
 *     MessagePort, so the structured clone is counted);
 *   - `thread_us_per_update`: the DNS thread's side: the message read (`receiveMessageOnPort`, as
 *     before a query), the replica's `Zone.set` and the server's answer to the new name, plus one
 *     query each for two names the update did not touch (`leader.mesos` and another app's name:
 *     clients keep asking for other names during a deploy) — what dns-thread-body.ts does per task.
 *
 * The tasks are all of one app (`/bench/web`, as in the propagation bench), on `--agents` agents,
 * so the app's own names grow with the burst. Run `--rounds` times after one warm-up round; the
 * figures are the median round. Flags: --tasks=1000 --agents=4 --rounds=5.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import dnsPacket from 'dns-packet';
import { DnsServer } from '../src/discovery/dns-server.ts';
import type { ZoneMessage } from '../src/discovery/dns-thread.ts';
import { instanceLabel } from '../src/discovery/names.ts';
import { type AgentView, clusterRecords, type FrameworkView, taskRecords, type TaskView, type ZoneConfig, type ZoneRecord } from '../src/discovery/records.ts';
import { Zone } from '../src/discovery/zone.ts';

function flag(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const config: ZoneConfig = { domain: 'mesos', nsIp: '127.0.0.1', vipAddress: () => '11.0.0.1' };
const framework: FrameworkView = { id: 'fw-1', name: 'marathon', ip: '127.0.0.1', port: 5050 };
const query = (name: string, type: 'A' | 'SRV', id: number): Buffer => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

interface Round {
  masterUs: number;
  threadUs: number;
  answered: number;
}

async function round(tasks: number, agentCount: number): Promise<Round> {
  const agents: AgentView[] = Array.from({ length: agentCount }, (_, i) => ({ id: `bench-agent-S${i}`, ip: `127.0.1.${i + 1}`, port: 5051, active: true }));
  const master = new Zone();
  master.set('cluster', clusterRecords({ ip: '127.0.0.1', port: 5050 }, [{ ip: '127.0.0.1', port: 5050 }], agents, [framework], config));
  // Another app, untouched by the burst: its name is asked for throughout.
  const other: TaskView = {
    id: 'bench_other.1',
    frameworkId: 'fw-1',
    agentId: agents[0]!.id,
    name: 'other.bench',
    state: 'TASK_RUNNING',
    hasHealthCheck: false,
    hostPorts: [31000],
    discoveryPorts: [],
    ips: [],
  };
  master.set('task\u0000other', taskRecords(other, agents[0], framework, config));

  // dns-thread.ts: the whole zone first, then one message per change on the zone channel.
  const channel = new MessageChannel();
  channel.port1.postMessage({ type: 'zone', changes: master.entries(), recovered: true } satisfies ZoneMessage);
  master.onChange((source, records) => channel.port1.postMessage({ type: 'zone', changes: [[source, records]] } satisfies ZoneMessage));
  const replica = new Zone();
  /** One message from the zone channel, applied (the thread reads them one by one as they come). */
  const applyNext = (): boolean => {
    const m = receiveMessageOnPort(channel.port2);
    if (m === undefined) return false;
    for (const [source, records] of (m.message as ZoneMessage).changes) replica.set(source, records as ZoneRecord[]);
    return true;
  };
  const server = new DnsServer({ zone: replica, domain: 'mesos', recovered: () => true, port: 0, host: '127.0.0.1', upstreams: [] });
  applyNext();

  const views: TaskView[] = Array.from({ length: tasks }, (_, i) => ({
    id: `bench_web.instance-${i}._app.1`,
    frameworkId: 'fw-1',
    agentId: agents[i % agentCount]!.id,
    name: 'web.bench',
    state: 'TASK_RUNNING',
    hasHealthCheck: false,
    hostPorts: [31000 + (i % 1000)],
    discoveryPorts: [{ number: 31000 + (i % 1000), protocol: 'tcp', name: 'http' }],
    ips: [],
  }));
  const fresh = views.map((v, i) => query(`${instanceLabel('web-bench', v.id, v.agentId)}.marathon.mesos`, 'A', i & 0xffff));
  const steady = [query('leader.mesos', 'A', 1), query('other-bench.marathon.mesos', 'A', 2)];
  // The master's side for every task (the messages wait in the channel), then the thread's: one
  // message, then the queries, per task. The thread sees the same sequence as when they
  // alternate; measured apart, the CPU clock is read twice per side instead of twice per task.
  const m0 = cpuUs();
  for (let i = 0; i < tasks; i++) {
    const v = views[i]!;
    master.set(`task\u0000fw-1\u0000${v.id}`, taskRecords(v, agents[i % agentCount], framework, config));
  }
  const m1 = cpuUs();
  let answered = 0;
  for (let i = 0; i < tasks; i++) {
    applyNext();
    const answer = await server.respond(fresh[i]!, 'udp');
    for (const q of steady) await server.respond(q, 'udp');
    if (answer && (answer[3]! & 0x0f) === 0 && answer.readUInt16BE(6) > 0) answered++;
  }
  const m2 = cpuUs();
  const masterUs = m1 - m0;
  const threadUs = m2 - m1;
  channel.port1.close();
  return { masterUs, threadUs, answered };
}

export default async function discoveryZone(args: string[]): Promise<Record<string, unknown>> {
  const tasks = flag(args, 'tasks', 1000);
  const agentCount = flag(args, 'agents', 4);
  const rounds = flag(args, 'rounds', 5);
  await round(tasks, agentCount); // warm-up: code compiled, not counted
  const results: Round[] = [];
  for (let r = 0; r < rounds; r++) results.push(await round(tasks, agentCount));
  const median = (f: (r: Round) => number): number => results.map(f).sort((x, y) => x - y)[Math.floor(results.length / 2)]!;
  const round2 = (n: number): number => Math.round(n * 100) / 100;
  return {
    bench: 'discovery-zone',
    tasks,
    agents: agentCount,
    rounds,
    master_us_per_update: round2(median((r) => r.masterUs) / tasks),
    thread_us_per_update: round2(median((r) => r.threadUs) / tasks),
    // Every new name answered at its first query: a figure from a broken path would not count.
    answered_first_time: Math.min(...results.map((r) => r.answered)),
    loadavg_1m: Number((await import('node:os')).loadavg()[0]!.toFixed(2)),
  };
}
