/**
 * The cluster's recent resource usage, for the UI's graphs: what agents measure of their running
 * containers (src/agent/usage-sampler.ts, pushed every `--usage-interval`) turned into series per
 * task, per app, per agent and for the cluster, plus the cluster's allocation against its capacity.
 *
 * Memory is bounded whatever the cluster does: every series is a ring of `capacity` points (the
 * oldest overwritten), at most one point per `bucketMs` (a later report in the same bucket replaces
 * it), and at most `maxTasks` task series — a task not reported for `capacity` buckets is dropped
 * first, then the least recently reported. Apps and agents with no live task for as long go too.
 *
 * Pure: no clock, no I/O. The caller passes each report's time; rates (CPU cores, I/O bytes/s)
 * come from two consecutive cumulative counters of one task, never from wall-clock guesses.
 */

/** Columnar points, oldest first (uPlot's data layout): `t` in ms since the epoch. */
export interface Series {
  t: number[];
  [column: string]: Array<number | null>;
}

/** A fixed-size ring of rows with named numeric columns. */
export class Ring {
  private readonly columns: Map<string, Array<number | null>>;
  private readonly times: number[] = [];
  private start = 0;

  constructor(
    private readonly capacity: number,
    names: readonly string[],
  ) {
    this.columns = new Map(names.map((n) => [n, []]));
  }

  get length(): number {
    return this.times.length;
  }

  get lastTime(): number | undefined {
    return this.times.length === 0 ? undefined : this.times[(this.start + this.times.length - 1) % this.capacity];
  }

  /** Appends a row, or replaces the last one when it is in the same bucket. */
  put(time: number, bucketMs: number, row: Readonly<Record<string, number | null>>): void {
    const last = this.lastTime;
    let at: number;
    if (last !== undefined && Math.floor(last / bucketMs) === Math.floor(time / bucketMs)) at = (this.start + this.times.length - 1) % this.capacity;
    else if (this.times.length < this.capacity) at = this.times.length;
    else {
      at = this.start;
      this.start = (this.start + 1) % this.capacity;
    }
    this.times[at] = time;
    for (const [name, column] of this.columns) column[at] = row[name] ?? null;
  }

  toSeries(): Series {
    const order = (column: ReadonlyArray<number | null>): Array<number | null> => {
      const out: Array<number | null> = [];
      for (let i = 0; i < this.times.length; i++) out.push(column[(this.start + i) % this.capacity] ?? null);
      return out;
    };
    const series: Series = { t: order(this.times) as number[] };
    for (const [name, column] of this.columns) series[name] = order(column);
    return series;
  }
}

/** One container's figures as an agent reports them (ResourceStatistics field names). */
export interface ReportedUsage {
  framework_id: string;
  task_id: string;
  statistics: {
    timestamp: number;
    cpus_user_time_secs?: number;
    cpus_system_time_secs?: number;
    cpus_limit?: number;
    mem_total_bytes?: number;
    mem_rss_bytes?: number;
    mem_limit_bytes?: number;
    blkio_statistics?: { throttling: Array<{ io_service_bytes: Array<{ op: string; value: number }> }> };
  };
}

/** What the cluster has and has handed out at one moment (the master's agent table). */
export interface Allocation {
  cpusTotal: number;
  cpusAllocated: number;
  memTotalMb: number;
  memAllocatedMb: number;
}

const USAGE_COLUMNS = ['cpus', 'mem', 'mem_limit', 'cpus_limit', 'io'] as const;
const CLUSTER_COLUMNS = ['cpus_used', 'mem_used', 'cpus_allocated', 'cpus_total', 'mem_allocated', 'mem_total'] as const;

interface TaskSeries {
  id: string;
  frameworkId: string;
  agentId: string;
  appId: string;
  ring: Ring;
  /** The last report, for rates and the latest figures. */
  last: ReportedUsage['statistics'];
  /** The report's time (ms) it was last seen in. */
  seenAt: number;
  live: boolean;
  latest: { cpus: number | null; mem: number | null };
}

interface GroupSeries {
  ring: Ring;
  seenAt: number;
}

export interface UsageHistoryOptions {
  /** Points per series; default 120 (10 minutes at 5 s). */
  capacity?: number;
  /** The width of one point; default 5 s (the agents' default `--usage-interval`). */
  bucketMs?: number;
  /** Task series kept at most; default 10,000. */
  maxTasks?: number;
  /** The app a task belongs to ('/' when none). */
  appOf(taskId: string): string;
}

export class UsageHistory {
  readonly capacity: number;
  readonly bucketMs: number;
  private readonly maxTasks: number;
  private readonly tasks = new Map<string, TaskSeries>();
  private readonly apps = new Map<string, GroupSeries>();
  private readonly agents = new Map<string, GroupSeries>();
  private readonly cluster: Ring;
  /** The task keys each agent reported last. */
  private readonly onAgent = new Map<string, Set<string>>();
  private flushedBucket: number | undefined;

  constructor(private readonly options: UsageHistoryOptions) {
    this.capacity = Math.max(2, options.capacity ?? 120);
    this.bucketMs = Math.max(100, options.bucketMs ?? 5000);
    this.maxTasks = Math.max(1, options.maxTasks ?? 10_000);
    this.cluster = new Ring(this.capacity, CLUSTER_COLUMNS);
  }

  /**
   * One agent's pass: every container it runs now (a task it no longer reports has ended). `now`
   * is when the master received it; `allocation` gives the cluster's, read once per bucket.
   * Cost: the report's size, plus one pass over all tasks at the first report of each bucket
   * (the app and cluster points), so a thousand agents reporting do not make it quadratic.
   */
  record(agentId: string, now: number, usage: readonly ReportedUsage[], allocation: () => Allocation): void {
    const bucket = Math.floor(now / this.bucketMs);
    if (bucket !== this.flushedBucket) {
      this.flushedBucket = bucket;
      this.flush(now, allocation());
    }
    const reported = new Set<string>();
    let agentCpus = 0;
    let agentMem = 0;
    for (const u of usage) {
      const key = `${u.framework_id}\0${u.task_id}`;
      reported.add(key);
      let task = this.tasks.get(key);
      if (task === undefined) {
        task = {
          id: u.task_id,
          frameworkId: u.framework_id,
          agentId,
          appId: this.options.appOf(u.task_id),
          ring: new Ring(this.capacity, USAGE_COLUMNS),
          last: u.statistics,
          seenAt: now,
          live: true,
          latest: { cpus: null, mem: null },
        };
        this.tasks.set(key, task);
      }
      const cpus = cpuRate(task.last, u.statistics);
      const io = ioRate(task.last, u.statistics);
      const mem = u.statistics.mem_total_bytes ?? null;
      task.ring.put(now, this.bucketMs, { cpus, mem, mem_limit: u.statistics.mem_limit_bytes ?? null, cpus_limit: u.statistics.cpus_limit ?? null, io });
      task.last = u.statistics;
      task.seenAt = now;
      task.live = true;
      task.agentId = agentId;
      // A first report has no rate yet: the previous CPU figure stands in the sums.
      task.latest = { cpus: cpus ?? task.latest.cpus, mem };
      agentCpus += task.latest.cpus ?? 0;
      agentMem += mem ?? 0;
    }
    for (const key of this.onAgent.get(agentId) ?? []) {
      const task = this.tasks.get(key);
      if (task !== undefined && !reported.has(key) && task.agentId === agentId) task.live = false;
    }
    this.onAgent.set(agentId, reported);
    this.group(this.agents, agentId, now).ring.put(now, this.bucketMs, { cpus: agentCpus, mem: agentMem });
  }

  /** The app and cluster points: sums of the live tasks' latest figures, whichever agents run them. */
  private flush(now: number, allocation: Allocation): void {
    this.expire(now);
    const appSums = new Map<string, { cpus: number; mem: number }>();
    let clusterCpus = 0;
    let clusterMem = 0;
    for (const task of this.tasks.values()) {
      if (!task.live) continue;
      clusterCpus += task.latest.cpus ?? 0;
      clusterMem += task.latest.mem ?? 0;
      const sum = appSums.get(task.appId) ?? { cpus: 0, mem: 0 };
      sum.cpus += task.latest.cpus ?? 0;
      sum.mem += task.latest.mem ?? 0;
      appSums.set(task.appId, sum);
    }
    for (const [appId, sum] of appSums) this.group(this.apps, appId, now).ring.put(now, this.bucketMs, sum);
    // An app whose tasks all ended drops to zero (and expires a ring's time later).
    for (const [appId, group] of this.apps) if (!appSums.has(appId)) group.ring.put(now, this.bucketMs, { cpus: 0, mem: 0 });
    this.cluster.put(now, this.bucketMs, {
      cpus_used: clusterCpus,
      mem_used: clusterMem,
      cpus_allocated: allocation.cpusAllocated,
      cpus_total: allocation.cpusTotal,
      mem_allocated: allocation.memAllocatedMb * 1024 * 1024,
      mem_total: allocation.memTotalMb * 1024 * 1024,
    });
  }

  private group(groups: Map<string, GroupSeries>, id: string, now: number): GroupSeries {
    let group = groups.get(id);
    if (group === undefined) {
      group = { ring: new Ring(this.capacity, USAGE_COLUMNS), seenAt: now };
      groups.set(id, group);
    }
    group.seenAt = now;
    return group;
  }

  /** Drops what nothing reported for a whole ring's time, then the oldest tasks beyond maxTasks. */
  private expire(now: number): void {
    const horizon = now - this.capacity * this.bucketMs;
    for (const [key, task] of this.tasks) if (task.seenAt < horizon) this.tasks.delete(key);
    for (const groups of [this.apps, this.agents]) for (const [id, group] of groups) if (group.seenAt < horizon) groups.delete(id);
    if (this.tasks.size <= this.maxTasks) return;
    // Map order is insertion order, not report order: sort once, only when over the bound.
    const byAge = [...this.tasks.entries()].sort((a, b) => a[1].seenAt - b[1].seenAt);
    for (const [key] of byAge.slice(0, this.tasks.size - this.maxTasks)) this.tasks.delete(key);
  }

  clusterSeries(): Series {
    return this.cluster.toSeries();
  }

  agentSeries(): Array<{ id: string; series: Series }> {
    return [...this.agents].map(([id, g]) => ({ id, series: g.ring.toSeries() }));
  }

  appSeries(filter?: (appId: string) => boolean): Array<{ id: string; series: Series }> {
    return [...this.apps].filter(([id]) => filter?.(id) ?? true).map(([id, g]) => ({ id, series: g.ring.toSeries() }));
  }

  /** Tasks (live first), optionally only those matching, with their series when `series` is set. */
  taskList(match: (t: { id: string; agentId: string; appId: string }) => boolean, options: { series: boolean; limit: number }): TaskUsageView[] {
    const out: TaskUsageView[] = [];
    for (const task of this.tasks.values()) {
      if (!match(task)) continue;
      out.push({
        id: task.id,
        framework_id: task.frameworkId,
        agent_id: task.agentId,
        app_id: task.appId,
        live: task.live,
        cpus: task.latest.cpus,
        mem: task.latest.mem,
        statistics: task.last,
        ...(options.series ? { series: task.ring.toSeries() } : {}),
      });
    }
    out.sort((a, b) => Number(b.live) - Number(a.live) || a.id.localeCompare(b.id));
    return out.slice(0, options.limit);
  }

  get taskCount(): number {
    return this.tasks.size;
  }
}

export interface TaskUsageView {
  id: string;
  framework_id: string;
  agent_id: string;
  app_id: string;
  live: boolean;
  /** CPU cores used over the last interval (null until two reports). */
  cpus: number | null;
  mem: number | null;
  statistics: ReportedUsage['statistics'];
  series?: Series;
}

/** CPU cores used between two cumulative reports; null when it cannot be told (first report, counter reset). */
export function cpuRate(before: ReportedUsage['statistics'], after: ReportedUsage['statistics']): number | null {
  const cpu = (s: ReportedUsage['statistics']): number | undefined =>
    s.cpus_user_time_secs === undefined && s.cpus_system_time_secs === undefined ? undefined : (s.cpus_user_time_secs ?? 0) + (s.cpus_system_time_secs ?? 0);
  const a = cpu(before);
  const b = cpu(after);
  const dt = after.timestamp - before.timestamp;
  if (a === undefined || b === undefined || !(dt > 0) || b < a) return null;
  return (b - a) / dt;
}

/** Bytes per second of block I/O between two cumulative reports; null when it cannot be told. */
export function ioRate(before: ReportedUsage['statistics'], after: ReportedUsage['statistics']): number | null {
  const total = (s: ReportedUsage['statistics']): number | undefined => s.blkio_statistics?.throttling[0]?.io_service_bytes.find((v) => v.op === 'TOTAL')?.value;
  const a = total(before);
  const b = total(after);
  const dt = after.timestamp - before.timestamp;
  if (a === undefined || b === undefined || !(dt > 0) || b < a) return null;
  return (b - a) / dt;
}
