/**
 * `drover job …`: jobs (Metronome's /v1/jobs) — add, list, show, run now, kill runs, history,
 * schedules, remove. Task logs of a job's runs are `drover task log JOB` (the run's task ids start
 * with the job id).
 */
import type { Argv, CommandModule } from 'yargs';
import { CliError } from './client.ts';
import { readJsonInput, withClient, type ClientArgs } from './run-command.ts';
import { print, table, when } from './table.ts';

interface RunJson {
  id: string;
  jobId: string;
  status: string;
  createdAt: string;
  completedAt?: string | null;
  tasks: Array<{ id: string; status: string }>;
  reason?: string;
}
interface ScheduleJson {
  id: string;
  cron: string;
  timezone?: string;
  enabled?: boolean;
  concurrencyPolicy?: string;
  nextRunAt?: string;
}
interface FinishedJson {
  id: string;
  createdAt: string;
  finishedAt: string;
  tasks: string[];
  reason?: string;
}
interface HistoryJson {
  successCount: number;
  failureCount: number;
  skippedCount?: number;
  lastSuccessAt?: string | null;
  lastFailureAt?: string | null;
  successfulFinishedRuns?: FinishedJson[];
  failedFinishedRuns?: FinishedJson[];
  skippedRuns?: Array<{ cycle: string; scheduledAt?: string; skippedAt: string; reason: string; count: number }>;
}
interface JobJson {
  id: string;
  description?: string;
  run: { cmd?: string; args?: string[]; cpus: number; mem: number };
  dependencies?: Array<{ id: string }>;
  schedules?: ScheduleJson[];
  activeRuns?: RunJson[];
  history?: HistoryJson;
  historySummary?: HistoryJson;
}

type JobArgs = ClientArgs & { id: string };

const jobPath = (id: string): string => `/v1/jobs/${encodeURIComponent(id.replace(/^\/+/, ''))}`;

/** Seconds between two Metronome timestamps, for the history table. */
function duration(from: string, to: string | null | undefined): string {
  if (!to) return '';
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)}s` : '';
}

export function jobCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  const id = (y: Argv<ClientArgs>) => y.positional('id', { type: 'string', demandOption: true, describe: 'job id' });
  return {
    command: 'job <command>',
    describe: 'Manage jobs (Metronome): cron schedules, runs, history, dependencies',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'add [file]',
          'Create a job from a JSON file (or - for stdin); schedules may be embedded',
          (b) => b.positional('file', { type: 'string' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const created = await c.request<JobJson>('POST', '/v1/jobs', await readJsonInput(a.file));
              print(a.json === true, created, () => `created ${created.id}\n`);
            }),
        )
        .command(
          'list',
          'List jobs with their schedules, active runs and outcomes',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const jobs = await c.get<JobJson[]>('/v1/jobs?embed=activeRuns&embed=schedules&embed=historySummary');
              print(a.json === true, jobs, () =>
                table(
                  ['ID', 'SCHEDULE', 'ACTIVE', 'OK', 'FAILED', 'LAST SUCCESS', 'CMD'],
                  jobs.map((j) => [
                    j.id,
                    (j.schedules ?? []).map((s) => `${s.cron}${s.timezone && s.timezone !== 'UTC' ? ` ${s.timezone}` : ''}${s.enabled === false ? ' (off)' : ''}`).join(', ') ||
                      (j.dependencies?.length ? `after ${j.dependencies.map((d) => d.id).join(',')}` : ''),
                    (j.activeRuns ?? []).length,
                    j.historySummary?.successCount ?? 0,
                    j.historySummary?.failureCount ?? 0,
                    when(j.historySummary?.lastSuccessAt),
                    j.run.cmd ?? (j.run.args ?? []).join(' '),
                  ]),
                ),
              );
            }),
        )
        .command<JobArgs>('show <id>', 'Show a job, its schedules and active runs', id, (a) =>
          withClient(a, setExit, async (c) => {
            const job = await c.get<JobJson>(`${jobPath(a.id)}?embed=activeRuns&embed=schedules&embed=historySummary`);
            print(
              a.json === true,
              job,
              () =>
                `${job.id}${job.description ? `: ${job.description}` : ''}\ncmd: ${job.run.cmd ?? (job.run.args ?? []).join(' ')} (cpus ${job.run.cpus}, mem ${job.run.mem})\n` +
                (job.dependencies?.length ? `after: ${job.dependencies.map((d) => d.id).join(', ')}\n` : '') +
                `runs: ${job.historySummary?.successCount ?? 0} ok, ${job.historySummary?.failureCount ?? 0} failed, ${job.historySummary?.skippedCount ?? 0} skipped\n\n` +
                table(
                  ['SCHEDULE', 'CRON', 'TIMEZONE', 'ENABLED', 'NEXT RUN'],
                  (job.schedules ?? []).map((s) => [s.id, s.cron, s.timezone ?? 'UTC', s.enabled === false ? 'no' : 'yes', when(s.nextRunAt)]),
                ) +
                '\n' +
                table(
                  ['RUN', 'STATUS', 'CREATED', 'TASKS'],
                  (job.activeRuns ?? []).map((r) => [r.id, r.status, when(r.createdAt), r.tasks.map((t) => t.id).join(',')]),
                ),
            );
          }),
        )
        .command<JobArgs>('run <id>', 'Start a run now', id, (a) =>
          withClient(a, setExit, async (c) => {
            const run = await c.request<RunJson>('POST', `${jobPath(a.id)}/runs`, {});
            print(a.json === true, run, () => `started run ${run.id} of ${run.jobId}\n`);
          }),
        )
        .command<JobArgs & { run?: string }>(
          'kill <id> [run]',
          "Stop a job's active runs (or one of them)",
          (b) => id(b).positional('run', { type: 'string', describe: 'run id (default: every active run)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const active = await c.get<RunJson[]>(`${jobPath(a.id)}/runs`);
              const targets = a.run === undefined ? active : active.filter((r) => r.id === a.run);
              if (a.run !== undefined && targets.length === 0) throw new CliError(`job ${a.id} has no active run ${a.run}`);
              for (const r of targets) await c.request('POST', `${jobPath(a.id)}/runs/${encodeURIComponent(r.id)}/actions/stop`, {});
              print(
                a.json === true,
                targets.map((r) => r.id),
                () => `stopped ${targets.length} run(s) of ${a.id}\n`,
              );
            }),
        )
        .command<JobArgs>('history <id>', 'Finished and skipped runs, with durations and outcomes', id, (a) =>
          withClient(a, setExit, async (c) => {
            const job = await c.get<JobJson>(`${jobPath(a.id)}?embed=history`);
            const h = job.history ?? { successCount: 0, failureCount: 0 };
            const rows = [...(h.successfulFinishedRuns ?? []).map((r) => ({ ...r, outcome: 'SUCCESS' })), ...(h.failedFinishedRuns ?? []).map((r) => ({ ...r, outcome: 'FAILED' }))].sort((x, y) =>
              y.finishedAt.localeCompare(x.finishedAt),
            );
            print(
              a.json === true,
              h,
              () =>
                `${job.id}: ${h.successCount} ok, ${h.failureCount} failed, ${h.skippedCount ?? 0} skipped\n\n` +
                table(
                  ['RUN', 'OUTCOME', 'STARTED', 'DURATION', 'TASKS', 'REASON'],
                  rows.map((r) => [r.id, r.outcome, when(r.createdAt), duration(r.createdAt, r.finishedAt), r.tasks.join(','), r.reason ?? '']),
                ) +
                ((h.skippedRuns ?? []).length > 0
                  ? `\n${table(
                      ['SKIPPED TICK', 'COUNT', 'REASON'],
                      (h.skippedRuns ?? []).map((s) => [s.scheduledAt ? when(s.scheduledAt) : s.cycle, s.count, s.reason]),
                    )}`
                  : ''),
            );
          }),
        )
        .command<JobArgs & { stopRuns?: boolean }>(
          'remove <id>',
          'Delete a job (--stop-runs also stops its active runs)',
          (b) => id(b).option('stop-runs', { type: 'boolean', describe: 'stop active runs instead of refusing' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              await c.request('DELETE', `${jobPath(a.id)}${a.stopRuns ? '?stopCurrentJobRuns=true' : ''}`);
              print(a.json === true, { id: a.id }, () => `removed ${a.id}\n`);
            }),
        )
        .command('schedule <command>', "A job's schedules", (s) =>
          s
            .command<JobArgs>('list <id>', "List a job's schedules", id, (a) =>
              withClient(a, setExit, async (c) => {
                const schedules = await c.get<ScheduleJson[]>(`${jobPath(a.id)}/schedules`);
                print(a.json === true, schedules, () =>
                  table(
                    ['SCHEDULE', 'CRON', 'TIMEZONE', 'ENABLED', 'POLICY', 'NEXT RUN'],
                    schedules.map((x) => [x.id, x.cron, x.timezone ?? 'UTC', x.enabled === false ? 'no' : 'yes', x.concurrencyPolicy ?? '', when(x.nextRunAt)]),
                  ),
                );
              }),
            )
            .command<JobArgs & { file?: string }>(
              'add <id> [file]',
              'Add a schedule from a JSON file (or - for stdin)',
              (b) => id(b).positional('file', { type: 'string' }),
              (a) =>
                withClient(a, setExit, async (c) => {
                  const created = await c.request<ScheduleJson>('POST', `${jobPath(a.id)}/schedules`, await readJsonInput(a.file));
                  print(a.json === true, created, () => `added schedule ${created.id} (${created.cron}) to ${a.id}\n`);
                }),
            )
            .command<JobArgs & { schedule: string }>(
              'remove <id> <schedule>',
              'Remove a schedule',
              (b) => id(b).positional('schedule', { type: 'string', demandOption: true }),
              (a) =>
                withClient(a, setExit, async (c) => {
                  await c.request('DELETE', `${jobPath(a.id)}/schedules/${encodeURIComponent(a.schedule)}`);
                  print(a.json === true, { id: a.schedule }, () => `removed schedule ${a.schedule} of ${a.id}\n`);
                }),
            )
            .demandCommand(1, 'Name a schedule command.'),
        )
        .demandCommand(1, 'Name a job command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
