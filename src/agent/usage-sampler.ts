/**
 * Resource usage of the agent's running containers, read from their cgroups: CPU time (v2
 * `cpu.stat` usage/user/system_usec; v1 `cpuacct.stat` in USER_HZ ticks), memory (v2
 * `memory.current`/`memory.max`/`memory.stat`; v1 `memory.usage_in_bytes`/`limit_in_bytes`/`stat`)
 * and I/O (v2 `io.stat`; v1 `blkio.throttle.io_service_bytes`/`io_serviced`).
 *
 * Cheap by construction: one pass over every running container every `intervalMs` (one timer for
 * the agent, none per task), a handful of small reads of kernel files per container, synchronous
 * as cgroups.ts explains (they never wait for a disk). The last pass is kept and served in Mesos'
 * `/monitor/statistics` shape (ResourceStatistics field names) and as Prometheus series; each
 * pass is also handed to `onSample` (the agent pushes it to the master, usage-history.ts there).
 * Counters stay cumulative, as Mesos reports them; rates are the reader's arithmetic.
 *
 * A container without cgroups (the posix containerizer) has no figures and is left out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { every, type Repeating } from '../clock/every.ts';
import type { Clock } from '../clock/clock.ts';

/** Mesos' ResourceStatistics, the fields a cgroup gives us. Times in seconds, sizes in bytes. */
export interface ResourceStatistics {
  /** Seconds since the epoch, when the figures were read. */
  timestamp: number;
  cpus_user_time_secs?: number;
  cpus_system_time_secs?: number;
  cpus_limit?: number;
  cpus_nr_periods?: number;
  cpus_nr_throttled?: number;
  cpus_throttled_time_secs?: number;
  /** Everything the cgroup is charged for (page cache included). */
  mem_total_bytes?: number;
  /** Anonymous memory: what the task itself allocated. */
  mem_rss_bytes?: number;
  mem_cache_bytes?: number;
  mem_limit_bytes?: number;
  blkio_statistics?: { throttling: Array<{ io_service_bytes: IoValue[]; io_serviced: IoValue[] }> };
}

export interface IoValue {
  op: 'READ' | 'WRITE' | 'TOTAL';
  value: number;
}

/** One `/monitor/statistics` entry (Mesos' shape; `task_id` and `container_id` are Drover's). */
export interface ContainerUsage {
  framework_id: string;
  executor_id: string;
  executor_name: string;
  source: string;
  task_id: string;
  container_id: string;
  statistics: ResourceStatistics;
}

/** A running container to sample: what the supervisor knows of it. */
export interface UsageTarget {
  frameworkId: string;
  taskId: string;
  executorId: string;
  containerId: string;
  /** Its cgroup directories (ContainerRecord.cgroups). */
  cgroups: readonly string[];
  /** The cpus the task asked for (cpus_limit, as Mesos reports the allocation). */
  cpus?: number;
}

export interface UsageSamplerOptions {
  clock: Clock;
  intervalMs: number;
  targets(): UsageTarget[];
  /** Called after every pass with its figures. */
  onSample?(usage: readonly ContainerUsage[]): void;
  /** Reads a kernel file; default readFileSync. Undefined when it does not exist. */
  read?(path: string): string | undefined;
}

/** The Linux USER_HZ: cpuacct.stat counts in these ticks (100 on every architecture Linux ships). */
const USER_HZ = 100;

/** Parses `key value` lines (cpu.stat, memory.stat, cpuacct.stat). Pure. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1).trim());
    if (Number.isFinite(value)) out.set(line.slice(0, space), value);
  }
  return out;
}

/** v2 `io.stat` (`8:0 rbytes=… wbytes=… rios=… wios=…` per device), summed over devices. Pure. */
export function parseIoStat(text: string): { rbytes: number; wbytes: number; rios: number; wios: number } {
  const sum = { rbytes: 0, wbytes: 0, rios: 0, wios: 0 };
  for (const line of text.split('\n')) {
    for (const field of line.split(' ').slice(1)) {
      const [key, raw] = field.split('=');
      const value = Number(raw);
      if ((key === 'rbytes' || key === 'wbytes' || key === 'rios' || key === 'wios') && Number.isFinite(value)) sum[key] += value;
    }
  }
  return sum;
}

/** v1 `blkio.throttle.io_service_bytes`/`io_serviced` (`8:0 Read 4096` …, `Total N`): Read and Write summed over devices. Pure. */
export function parseBlkio(text: string): { read: number; write: number } {
  const sum = { read: 0, write: 0 };
  for (const line of text.split('\n')) {
    const [device, op, raw] = line.trim().split(' ');
    if (device === undefined || raw === undefined || !device.includes(':')) continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    if (op === 'Read') sum.read += value;
    else if (op === 'Write') sum.write += value;
  }
  return sum;
}

const defaultRead = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** The statistics of one container from its cgroup directories (v1 or v2, whichever files are there). */
export function readContainerStatistics(cgroups: readonly string[], nowSecs: number, read: (path: string) => string | undefined = defaultRead): ResourceStatistics {
  const stats: ResourceStatistics = { timestamp: nowSecs };
  const first = (file: string): string | undefined => {
    for (const dir of cgroups) {
      const text = read(join(dir, file));
      if (text !== undefined) return text;
    }
    return undefined;
  };
  const cpuStat = first('cpu.stat');
  const cpu = cpuStat === undefined ? undefined : parseFlatKeyed(cpuStat);
  if (cpu?.has('usage_usec') === true) {
    // v2: times in microseconds.
    stats.cpus_user_time_secs = (cpu.get('user_usec') ?? 0) / 1e6;
    stats.cpus_system_time_secs = (cpu.get('system_usec') ?? 0) / 1e6;
    if (cpu.has('throttled_usec')) stats.cpus_throttled_time_secs = (cpu.get('throttled_usec') ?? 0) / 1e6;
  } else {
    const acct = first('cpuacct.stat');
    if (acct !== undefined) {
      const ticks = parseFlatKeyed(acct);
      stats.cpus_user_time_secs = (ticks.get('user') ?? 0) / USER_HZ;
      stats.cpus_system_time_secs = (ticks.get('system') ?? 0) / USER_HZ;
    }
    // v1 cpu.stat: throttling only, throttled_time in nanoseconds.
    if (cpu?.has('throttled_time') === true) stats.cpus_throttled_time_secs = (cpu.get('throttled_time') ?? 0) / 1e9;
  }
  if (cpu?.has('nr_periods') === true) stats.cpus_nr_periods = cpu.get('nr_periods') ?? 0;
  if (cpu?.has('nr_throttled') === true) stats.cpus_nr_throttled = cpu.get('nr_throttled') ?? 0;

  const memStatText = first('memory.stat');
  const memStat = memStatText === undefined ? undefined : parseFlatKeyed(memStatText);
  const current = first('memory.current');
  if (current !== undefined) {
    stats.mem_total_bytes = Number(current.trim());
    const max = first('memory.max')?.trim();
    if (max !== undefined && max !== 'max' && Number.isFinite(Number(max))) stats.mem_limit_bytes = Number(max);
    if (memStat !== undefined) {
      stats.mem_rss_bytes = memStat.get('anon') ?? 0;
      stats.mem_cache_bytes = memStat.get('file') ?? 0;
    }
  } else {
    const usage = first('memory.usage_in_bytes');
    if (usage !== undefined) stats.mem_total_bytes = Number(usage.trim());
    const limit = Number(first('memory.limit_in_bytes')?.trim());
    // v1 reports "no limit" as a page-rounded 2^63-1.
    if (Number.isFinite(limit) && limit < 2 ** 62) stats.mem_limit_bytes = limit;
    if (memStat !== undefined) {
      stats.mem_rss_bytes = memStat.get('total_rss') ?? memStat.get('rss') ?? 0;
      stats.mem_cache_bytes = memStat.get('total_cache') ?? memStat.get('cache') ?? 0;
    }
  }

  const ioStat = first('io.stat');
  if (ioStat !== undefined) {
    const io = parseIoStat(ioStat);
    stats.blkio_statistics = { throttling: [ioEntry(io.rbytes, io.wbytes, io.rios, io.wios)] };
  } else {
    const bytes = first('blkio.throttle.io_service_bytes');
    const ops = first('blkio.throttle.io_serviced');
    if (bytes !== undefined) {
      const b = parseBlkio(bytes);
      const o = ops === undefined ? { read: 0, write: 0 } : parseBlkio(ops);
      stats.blkio_statistics = { throttling: [ioEntry(b.read, b.write, o.read, o.write)] };
    }
  }
  return stats;
}

function ioEntry(readBytes: number, writeBytes: number, readOps: number, writeOps: number): { io_service_bytes: IoValue[]; io_serviced: IoValue[] } {
  return {
    io_service_bytes: [
      { op: 'READ', value: readBytes },
      { op: 'WRITE', value: writeBytes },
      { op: 'TOTAL', value: readBytes + writeBytes },
    ],
    io_serviced: [
      { op: 'READ', value: readOps },
      { op: 'WRITE', value: writeOps },
      { op: 'TOTAL', value: readOps + writeOps },
    ],
  };
}

export class UsageSampler {
  private latest: ContainerUsage[] = [];
  private timer: Repeating | undefined;
  private readonly read: (path: string) => string | undefined;

  constructor(private readonly options: UsageSamplerOptions) {
    this.read = options.read ?? defaultRead;
  }

  start(): void {
    this.timer ??= every(this.options.clock, this.options.intervalMs, () => this.sample());
  }

  stop(): void {
    this.timer?.stop();
    this.timer = undefined;
  }

  get intervalMs(): number {
    return this.options.intervalMs;
  }

  /**
   * One pass over every running container; also what `/monitor/statistics` serves until the next.
   * A pass made because someone asked (`report` false) is not handed to `onSample`.
   */
  sample(report = true): readonly ContainerUsage[] {
    const now = this.options.clock.now() / 1000;
    const out: ContainerUsage[] = [];
    for (const t of this.options.targets()) {
      if (t.cgroups.length === 0) continue;
      const statistics = readContainerStatistics(t.cgroups, now, this.read);
      if (t.cpus !== undefined) statistics.cpus_limit = t.cpus;
      out.push({
        framework_id: t.frameworkId,
        executor_id: t.executorId,
        executor_name: `Command Executor (Task: ${t.taskId})`,
        source: t.taskId,
        task_id: t.taskId,
        container_id: t.containerId,
        statistics,
      });
    }
    this.latest = out;
    if (report) this.options.onSample?.(out);
    return out;
  }

  /** The last pass; without a timer (interval 0) a pass made now, as Mesos samples on request. */
  statistics(): readonly ContainerUsage[] {
    return this.timer === undefined ? this.sample(false) : this.latest;
  }

  /** The last pass as Prometheus text (exposition format 0.0.4). */
  prometheus(): string {
    return usagePrometheusText(this.latest);
  }
}

const SERIES: ReadonlyArray<{ name: string; type: 'counter' | 'gauge'; help: string; value(s: ResourceStatistics): number | undefined }> = [
  { name: 'drover_task_cpu_user_seconds_total', type: 'counter', help: 'CPU time the task spent in user mode', value: (s) => s.cpus_user_time_secs },
  { name: 'drover_task_cpu_system_seconds_total', type: 'counter', help: 'CPU time the task spent in the kernel', value: (s) => s.cpus_system_time_secs },
  { name: 'drover_task_cpu_throttled_seconds_total', type: 'counter', help: 'Time the task was throttled by its CPU quota', value: (s) => s.cpus_throttled_time_secs },
  { name: 'drover_task_cpus_limit', type: 'gauge', help: 'CPUs allocated to the task', value: (s) => s.cpus_limit },
  { name: 'drover_task_memory_bytes', type: 'gauge', help: 'Memory charged to the task, page cache included', value: (s) => s.mem_total_bytes },
  { name: 'drover_task_memory_rss_bytes', type: 'gauge', help: 'Anonymous memory of the task', value: (s) => s.mem_rss_bytes },
  { name: 'drover_task_memory_limit_bytes', type: 'gauge', help: 'Memory limit of the task', value: (s) => s.mem_limit_bytes },
  { name: 'drover_task_io_read_bytes_total', type: 'counter', help: 'Bytes the task read from block devices', value: (s) => ioValue(s, 'io_service_bytes', 'READ') },
  { name: 'drover_task_io_write_bytes_total', type: 'counter', help: 'Bytes the task wrote to block devices', value: (s) => ioValue(s, 'io_service_bytes', 'WRITE') },
];

function ioValue(s: ResourceStatistics, kind: 'io_service_bytes' | 'io_serviced', op: IoValue['op']): number | undefined {
  return s.blkio_statistics?.throttling[0]?.[kind].find((v) => v.op === op)?.value;
}

/** Escapes a Prometheus label value (backslash, quote, newline). */
const label = (value: string): string => value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

/** Pure: the text form of one pass, one family per figure, one series per container. */
export function usagePrometheusText(usage: readonly ContainerUsage[]): string {
  const lines: string[] = [];
  for (const series of SERIES) {
    lines.push(`# HELP ${series.name} ${series.help}`, `# TYPE ${series.name} ${series.type}`);
    for (const u of usage) {
      const value = series.value(u.statistics);
      if (value === undefined) continue;
      lines.push(`${series.name}{framework_id="${label(u.framework_id)}",executor_id="${label(u.executor_id)}",task_id="${label(u.task_id)}"} ${value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
