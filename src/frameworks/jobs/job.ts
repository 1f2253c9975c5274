/**
 * A job as the jobs framework keeps it: Metronome's spec with every default filled in, validated
 * at the edge. `parseJob` and `parseSchedule` are the only ways in; `jobJson` is the way out.
 */
import type { EnvValue, SecretDecls, SecretVolume } from '../sdk/secrets.ts';
import { DroverError, type ErrorDetail } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { cronErrors, nextCronTick } from './cron.ts';
import { isIsoInterval, nextIsoTick, parseIsoInterval } from './iso-interval.ts';
import { JOB_ID, JobSpec, SCHEDULE_ID, ScheduleSpec, runSemanticErrors, scheduleUnknown, unsupportedFields } from './job-schema.ts';
import { hostVolumesOf, isHostVolume, type HostVolume } from '../sdk/host-volumes.ts';

export interface Schedule {
  id: string;
  /** A cron expression, or a Chronos repeating interval `R[n]/<start>/<duration>`. */
  cron: string;
  timezone: string;
  startingDeadlineSeconds: number;
  concurrencyPolicy: 'ALLOW' | 'FORBID';
  enabled: boolean;
}

export interface Constraint {
  attribute: string;
  operator: 'IS' | 'LIKE' | 'UNLIKE';
  value: string;
}

export interface Job {
  id: string;
  description?: string;
  labels: Record<string, string>;
  dependencies: Array<{ id: string }>;
  schedules: Schedule[];
  run: {
    cpus: number;
    mem: number;
    disk: number;
    cmd?: string;
    args?: string[];
    user?: string;
    /** Plain values and references to `secrets` (`{"secret": "s1"}`), never a secret's value. */
    env: Record<string, EnvValue>;
    /** Metronome's run.secrets (name → store path) and secret volumes; present only when declared. */
    secrets?: SecretDecls;
    volumes?: Array<SecretVolume | HostVolume>;
    artifacts: Array<{ uri: string; extract: boolean; executable: boolean; cache: boolean }>;
    placement: { constraints: Constraint[] };
    maxLaunchDelay: number;
    taskKillGracePeriodSeconds?: number;
    restart: { policy: 'NEVER' | 'ON_FAILURE'; activeDeadlineSeconds?: number; retries?: number };
    /** Metronome's run.docker or run.ucr: the image the run's task runs in (no Docker daemon either way). */
    docker?: { image: string; forcePullImage?: boolean; privileged?: boolean };
    ucr?: { image: { id: string; kind?: 'docker'; forcePull?: boolean }; privileged?: boolean };
    /** Metronome's run.networks other than host: named CNI networks, or the agents' bridge; absent = host. */
    networks?: Array<{ mode: 'container' | 'container/bridge'; name?: string }>;
  };
}

/** Metronome's validator (not its schema) requires at least a minute. */
export const MIN_STARTING_DEADLINE_SECONDS = 60;
const jobSchema = compileValidator(JobSpec);
const scheduleSchema = compileValidator(ScheduleSpec);

export function invalid(details: ErrorDetail[]): DroverError {
  return new DroverError('VALIDATION', 'Object is not valid', { details });
}

/** Validate a request body as a job; throws 422 listing every failing path. `now` checks crons. */
export function parseJob(input: unknown, now: number): Job {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid([{ path: '/', errors: ['expected a JSON object'] }]);
  // Unsupported fields are named even when the schema fails too: one answer lists everything.
  const unsupported = unsupportedFields(input as Record<string, unknown>);
  const details = [...jobSchema.details(input)];
  if (details.length > 0) throw invalid([...details, ...unsupported.filter((u) => !details.some((d) => d.path === u.path))]);
  const spec = input as JobSpec;
  details.push(...unsupported);
  if (!JOB_ID.test(spec.id))
    details.push({ path: '/id', errors: [`'${spec.id}' is not a valid job id: dot-separated names of lowercase letters, digits and dashes (not at the start or end of a name)`] });
  details.push(...runSemanticErrors(spec.run));
  for (const [i, d] of (spec.dependencies ?? []).entries()) {
    if (!JOB_ID.test(d.id)) details.push({ path: `/dependencies/${i}/id`, errors: [`'${d.id}' is not a valid job id`] });
  }
  const schedules = spec.schedules ?? [];
  // Metronome: a job is started by its schedule or by its parents, not both.
  if (schedules.length > 0 && (spec.dependencies ?? []).length > 0) details.push({ path: '/dependencies', errors: ['a job cannot have both schedules and dependencies'] });
  if (schedules.length > 1) details.push({ path: '/schedules', errors: ['at most one schedule per job is supported'] });
  for (const [i, s] of schedules.entries()) details.push(...scheduleErrors(s, now, `/schedules/${i}`));
  if (details.length > 0) throw invalid(details);
  const run = spec.run;
  const restartPolicy = run.restart?.policy ?? 'NEVER';
  return {
    id: spec.id,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    labels: spec.labels ?? {},
    dependencies: (spec.dependencies ?? []).map((d) => ({ id: d.id })),
    schedules: schedules.map(scheduleDefaults),
    run: {
      cpus: run.cpus ?? 1,
      mem: run.mem ?? 128,
      disk: run.disk ?? 0,
      ...(run.cmd === undefined ? {} : { cmd: run.cmd }),
      ...(run.args === undefined || run.args.length === 0 ? {} : { args: run.args }),
      ...(run.user === undefined ? {} : { user: run.user }),
      env: Object.fromEntries(Object.entries(run.env ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : { secret: v.secret }])),
      ...(run.secrets !== undefined && run.secrets !== null && Object.keys(run.secrets as object).length > 0
        ? { secrets: Object.fromEntries(Object.entries(run.secrets as SecretDecls).map(([name, d]) => [name, { source: d.source }])) }
        : {}),
      ...(Array.isArray(run.volumes) && run.volumes.length > 0
        ? { volumes: (run.volumes as unknown[]).map((v) => (isHostVolume(v) ? hostVolumesOf([v])[0]! : { containerPath: (v as SecretVolume).containerPath, secret: (v as SecretVolume).secret })) }
        : {}),
      ...jobNetworks(run.networks),
      artifacts: (run.artifacts ?? []).map((a) => ({ uri: a.uri, extract: a.extract ?? true, executable: a.executable ?? false, cache: a.cache ?? false })),
      placement: {
        constraints: (run.placement?.constraints ?? []).map((c) => ({ attribute: c.attribute, operator: c.operator === 'EQ' ? 'IS' : (c.operator as Constraint['operator']), value: c.value ?? '' })),
      },
      maxLaunchDelay: run.maxLaunchDelay ?? 3600,
      ...(run.taskKillGracePeriodSeconds === undefined ? {} : { taskKillGracePeriodSeconds: run.taskKillGracePeriodSeconds }),
      ...runImage(run),
      restart: {
        policy: restartPolicy,
        ...(run.restart?.activeDeadlineSeconds === undefined ? {} : { activeDeadlineSeconds: run.restart.activeDeadlineSeconds }),
        ...(run.restart?.retries === undefined ? {} : { retries: run.restart.retries }),
      },
    },
  };
}

/** run.docker / run.ucr as stored: only the fields job-schema.ts let through. */
function runImage(run: JobSpec['run']): Pick<Job['run'], 'docker' | 'ucr'> {
  const flag = (o: Record<string, unknown> | undefined, key: string): { [k: string]: boolean } => (typeof o?.[key] === 'boolean' ? { [key]: o[key] as boolean } : {});
  if (run.docker !== undefined) {
    const d = run.docker;
    return { docker: { image: d['image'] as string, ...flag(d, 'forcePullImage'), ...flag(d, 'privileged') } };
  }
  if (run.ucr !== undefined) {
    const image = run.ucr['image'] as Record<string, unknown>;
    return { ucr: { image: { id: image['id'] as string, ...(image['kind'] === 'docker' ? { kind: 'docker' as const } : {}), ...flag(image, 'forcePull') }, ...flag(run.ucr, 'privileged') } };
  }
  return {};
}

/** Validate a body posted to `/v1/jobs/{id}/schedules[/{scheduleId}]`. */
export function parseSchedule(input: unknown, now: number): Schedule {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid([{ path: '/', errors: ['expected a JSON object'] }]);
  const details = [...scheduleSchema.details(input)];
  if (details.length > 0) throw invalid(details);
  details.push(...scheduleUnknown(input as Record<string, unknown>), ...scheduleErrors(input as ScheduleSpec, now, ''));
  if (details.length > 0) throw invalid(details);
  return scheduleDefaults(input as ScheduleSpec);
}

function scheduleErrors(s: ScheduleSpec, now: number, base: string): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (!SCHEDULE_ID.test(s.id)) out.push({ path: `${base}/id`, errors: [`'${s.id}' is not a valid schedule id: lowercase letters, digits and dashes, not at the start or end`] });
  if (s.startingDeadlineSeconds !== undefined && s.startingDeadlineSeconds < MIN_STARTING_DEADLINE_SECONDS) {
    out.push({ path: `${base}/startingDeadlineSeconds`, errors: [`must be at least ${MIN_STARTING_DEADLINE_SECONDS} seconds`] });
  }
  const timezone = s.timezone ?? 'UTC';
  if (isIsoInterval(s.cron)) {
    const parsed = parseIsoInterval(s.cron);
    if ('error' in parsed) out.push({ path: `${base}/cron`, errors: [parsed.error] });
    // Not ignored silently: an interval's start carries its own offset.
    if (timezone !== 'UTC')
      out.push({ path: `${base}/timezone`, errors: ['a repeating interval (R/…) is not evaluated in a time zone: give its start an offset instead (e.g. 2026-01-01T02:00:00+01:00)'] });
  } else {
    const errors = cronErrors(s.cron, timezone, now);
    if (errors.length > 0) out.push({ path: errors[0]!.includes('time zone') ? `${base}/timezone` : `${base}/cron`, errors });
  }
  return out;
}

function scheduleDefaults(s: ScheduleSpec): Schedule {
  return {
    id: s.id,
    cron: s.cron.trim(),
    timezone: s.timezone ?? 'UTC',
    startingDeadlineSeconds: s.startingDeadlineSeconds ?? 900,
    concurrencyPolicy: s.concurrencyPolicy ?? 'ALLOW',
    enabled: s.enabled ?? true,
  };
}

/**
 * The first tick of `schedule` strictly after `after`. `storedAt` anchors a repeating interval
 * written without a start (`R/ /PT1H` runs from when the schedule was stored).
 */
export function nextTick(schedule: Schedule, after: number, storedAt: number): number | undefined {
  if (isIsoInterval(schedule.cron)) {
    const parsed = parseIsoInterval(schedule.cron);
    return 'error' in parsed ? undefined : nextIsoTick(parsed, storedAt, after);
  }
  return nextCronTick({ expression: schedule.cron, timezone: schedule.timezone }, after);
}

export function jobJson(job: Job): Record<string, unknown> {
  return { ...job, run: { ...job.run, placement: { constraints: job.run.placement.constraints } } };
}

/** run.networks as the job keeps them (validated before): host networking is the absence of any. */
function jobNetworks(networks: unknown): { networks?: NonNullable<Job['run']['networks']> } {
  if (!Array.isArray(networks)) return {};
  const kept = (networks as Array<{ mode?: string; name?: string }>)
    .map((n) => ({ mode: n.mode ?? 'container', ...(n.name === undefined ? {} : { name: n.name }) }))
    .filter((n): n is { mode: 'container' | 'container/bridge'; name?: string } => n.mode === 'container' || n.mode === 'container/bridge');
  return kept.length === 0 ? {} : { networks: kept };
}
