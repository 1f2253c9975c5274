/**
 * Chronos' read side (docs/docs/api.md; scheduler/api/*Resource.scala), pure: a Drover job shown as
 * the Chronos job it was posted as (its name kept as given, in the `chronos.name` label), the job
 * summary, search, the dependency graph (dot and csv) and the timing statistics Chronos derives
 * from finished runs. Jobs created through Metronome's API show under their id.
 */
import type { History } from './history.ts';
import type { Job } from './job.ts';
import type { Run } from './run.ts';

/** A job's Chronos name: the name it was posted with, else its id. */
export const chronosName = (job: Job): string => job.labels['chronos.name'] ?? job.id;

const iso = (ms: number | undefined): string => (ms === undefined ? '' : new Date(ms).toISOString());

/** Chronos' last status of a job: `success`, `failure`, or `fresh` (never finished). */
export function lastStatus(h: History): 'success' | 'failure' | 'fresh' {
  if (h.lastSuccessAt === undefined && h.lastFailureAt === undefined) return 'fresh';
  return (h.lastSuccessAt ?? 0) >= (h.lastFailureAt ?? 0) ? 'success' : 'failure';
}

/** Chronos' state: `running` with active tasks, `queued` when waiting for an offer, else `idle`. */
export function currentState(active: readonly Run[]): string {
  const running = active.filter((r) => r.status !== 'INITIAL').length;
  if (running > 0) return `${running} running`;
  return active.length > 0 ? 'queued' : 'idle';
}

/** The job in Chronos' format (the fields of docs/docs/api.md "Job Configuration" and its counters). */
export function toChronos(job: Job, history: History, nameOf: (id: string) => string): Record<string, unknown> {
  const schedule = job.schedules[0];
  const shell = job.run.cmd !== undefined;
  const owner = job.labels['chronos.owner'] ?? '';
  return {
    name: chronosName(job),
    command: shell ? job.run.cmd : (job.run.args?.[0] ?? ''),
    arguments: shell ? [] : (job.run.args ?? []).slice(1),
    shell,
    description: job.description ?? '',
    owner,
    ownerName: '',
    executor: '',
    executorFlags: '',
    retries: job.run.restart.policy === 'ON_FAILURE' ? (job.run.restart.retries ?? 2) : 0,
    successCount: history.successCount,
    errorCount: history.failureCount,
    lastSuccess: iso(history.lastSuccessAt),
    lastError: iso(history.lastFailureAt),
    errorsSinceLastSuccess: history.failedFinishedRuns.filter((r) => r.finishedAt > (history.lastSuccessAt ?? 0)).length,
    cpus: job.run.cpus,
    mem: job.run.mem,
    disk: job.run.disk,
    disabled: schedule !== undefined && !schedule.enabled,
    concurrent: schedule?.concurrencyPolicy === 'ALLOW',
    softError: false,
    dataProcessingJobType: false,
    highPriority: false,
    ...(job.run.user === undefined ? {} : { runAsUser: job.run.user }),
    uris: [],
    fetch: job.run.artifacts.map((a) => ({ uri: a.uri, cache: a.cache, extract: a.extract, executable: a.executable })),
    environmentVariables: Object.entries(job.run.env).flatMap(([name, value]) => (typeof value === 'string' ? [{ name, value }] : [])),
    constraints: job.run.placement.constraints.map((c) => [c.attribute, c.operator === 'IS' ? 'EQUALS' : c.operator, c.value]),
    ...(job.dependencies.length > 0
      ? { parents: job.dependencies.map((d) => nameOf(d.id)) }
      : { schedule: schedule?.cron ?? '', ...(schedule?.timezone === undefined ? {} : { scheduleTimeZone: schedule.timezone }) }),
  };
}

/** At most this many jobs per search page (Chronos' `limit` defaults to 10). */
export const MAX_SEARCH_LIMIT = 1000;

export interface ChronosSearch {
  name?: string;
  command?: string;
  any?: string;
  limit: number;
  offset: number;
}

/**
 * Chronos' search: each term lower-cased, and a job matches when the attribute contains it
 * (`any`: the name or the command). Plain substring tests: nothing reaches a regex.
 */
export function searchJobs(jobs: ReadonlyArray<Record<string, unknown>>, q: ChronosSearch): Array<Record<string, unknown>> {
  const has = (value: unknown, term: string | undefined): boolean =>
    term === undefined ||
    String(value ?? '')
      .toLowerCase()
      .includes(term.toLowerCase());
  return jobs.filter((j) => has(j['name'], q.name) && has(j['command'], q.command) && (q.any === undefined || has(j['name'], q.any) || has(j['command'], q.any))).slice(q.offset, q.offset + q.limit);
}

const quoted = (name: string): string => `"${name.replace(/["\\]/g, '\\$&')}"`;
const COLOURS = { success: 'green', failure: 'red', fresh: 'grey' } as const;

export interface GraphNode {
  name: string;
  parents: string[];
  status: 'success' | 'failure' | 'fresh';
  state: string;
}

/** `/v1/scheduler/graph/dot`: Graphviz, one node per job coloured by its last status, an edge per dependency. */
export function graphDot(nodes: readonly GraphNode[]): string {
  const lines = ['digraph G {', '  node [style=filled];'];
  for (const n of nodes) lines.push(`  ${quoted(n.name)} [fillcolor=${COLOURS[n.status]}];`);
  for (const n of nodes) for (const p of n.parents) lines.push(`  ${quoted(p)} -> ${quoted(n.name)};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** `/v1/scheduler/graph/csv`: `node,<name>,<last status>,<state>` and `link,<parent>,<child>` lines (what Chronos' UI reads). */
export function graphCsv(nodes: readonly GraphNode[]): string {
  const cell = (v: string): string => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines: string[] = [];
  for (const n of nodes) lines.push(['node', n.name, n.status, n.state].map(cell).join(','));
  for (const n of nodes) for (const p of n.parents) lines.push(['link', p, n.name].map(cell).join(','));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Chronos' percentile names (`/v1/scheduler/stats/{percentile}` and the job stat histogram). */
export const PERCENTILES = { median: 0.5, '75thPercentile': 0.75, '95thPercentile': 0.95, '98thPercentile': 0.98, '99thPercentile': 0.99 } as const;

/** Seconds each kept successful run took. */
export function runSeconds(h: History): number[] {
  return h.successfulFinishedRuns.map((r) => (r.finishedAt - r.createdAt) / 1000).sort((a, b) => a - b);
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/** `/v1/scheduler/job/stat/{name}`: Chronos' histogram of run times (seconds) and the task history. */
export function jobStat(h: History): Record<string, unknown> {
  const seconds = runSeconds(h);
  const histogram: Record<string, number> = { count: seconds.length, mean: seconds.length === 0 ? 0 : seconds.reduce((a, b) => a + b, 0) / seconds.length };
  for (const [name, q] of Object.entries(PERCENTILES)) histogram[name] = quantile(seconds, q);
  const taskStatHistory = [...h.successfulFinishedRuns.map((r) => ({ r, status: 'TASK_FINISHED' })), ...h.failedFinishedRuns.map((r) => ({ r, status: 'TASK_FAILED' }))]
    .sort((a, b) => b.r.finishedAt - a.r.finishedAt)
    .map(({ r, status }) => ({ taskId: r.tasks[0] ?? r.id, taskState: status, taskStartTs: iso(r.createdAt), taskEndTs: iso(r.finishedAt) }));
  return { histogram, taskStatHistory };
}

/** `/v1/scheduler/stats/{percentile}`: per job with runs, that percentile of its run time. */
export function statsAt(percentile: keyof typeof PERCENTILES | 'mean', jobs: ReadonlyArray<{ name: string; history: History }>): Array<{ jobNameLabel: string; time: number }> {
  return jobs
    .map(({ name, history }) => ({ name, seconds: runSeconds(history) }))
    .filter((j) => j.seconds.length > 0)
    .map(({ name, seconds }) => ({ jobNameLabel: name, time: percentile === 'mean' ? seconds.reduce((a, b) => a + b, 0) / seconds.length : quantile(seconds, PERCENTILES[percentile]) }))
    .sort((a, b) => b.time - a.time);
}
