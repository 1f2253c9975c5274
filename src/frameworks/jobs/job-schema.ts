/**
 * Metronome's job and schedule specs (`public/api/v1/schema/jobspec.json`, `schedulespec.json`)
 * as JSON Schema, plus the checks a schema cannot say. Fields Drover does not run (container
 * images, secrets, volumes, GPUs, named networks) are accepted by the schema and then refused by
 * `unsupportedFields` with a 422 naming the field — never silently ignored.
 */
import { envSecretErrors, secretDeclarationErrors, secretVolumeErrors, type EnvValue, type SecretDecls } from '../sdk/secrets.ts';
import Type, { type Static } from 'typebox';
import type { ErrorDetail } from '../../errors/errors.ts';
import { patternProblem } from '../../placement/index.ts';
import { containerFieldErrors, imageReferenceProblem } from '../sdk/container-image.ts';
import { hostVolumeErrors } from '../sdk/host-volumes.ts';

/** Metronome's pathType: dot-separated segments of lowercase letters, digits and inner dashes. */
export const JOB_ID = /^([a-z0-9]+(-+[a-z0-9]+)*)(\.([a-z0-9]+(-+[a-z0-9]+)*))*$/;
export const SCHEDULE_ID = /^([a-z0-9]+(-+[a-z0-9]+)*)$/;

const Str = (max = 4096) => Type.String({ maxLength: max });

export const ScheduleSpec = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 256 }),
  cron: Type.String({ minLength: 1, maxLength: 256 }),
  timezone: Type.Optional(Str(64)),
  startingDeadlineSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  concurrencyPolicy: Type.Optional(Type.Enum(['ALLOW', 'FORBID'])),
  enabled: Type.Optional(Type.Boolean()),
  nextRunAt: Type.Optional(Type.Unknown()),
});
export type ScheduleSpec = Static<typeof ScheduleSpec>;

const Constraint = Type.Object({
  attribute: Str(256),
  operator: Str(32),
  value: Type.Optional(Str(1024)),
});

export const RunSpec = Type.Object({
  cpus: Type.Optional(Type.Number({ minimum: 0.01 })),
  mem: Type.Optional(Type.Number({ minimum: 32 })),
  disk: Type.Optional(Type.Number({ minimum: 0 })),
  gpus: Type.Optional(Type.Integer({ minimum: 0 })),
  cmd: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 * 1024 })),
  args: Type.Optional(Type.Array(Str(65536), { maxItems: 4096 })),
  user: Type.Optional(Str(256)),
  env: Type.Optional(Type.Record(Type.String({ maxLength: 4096 }), Type.Union([Str(1024 * 1024), Type.Object({ secret: Str() })]))),
  artifacts: Type.Optional(
    Type.Array(Type.Object({ uri: Str(8192), extract: Type.Optional(Type.Boolean()), executable: Type.Optional(Type.Boolean()), cache: Type.Optional(Type.Boolean()) }), { maxItems: 100 }),
  ),
  placement: Type.Optional(Type.Object({ constraints: Type.Optional(Type.Array(Constraint, { maxItems: 100 })) })),
  maxLaunchDelay: Type.Optional(Type.Integer({ minimum: 1 })),
  taskKillGracePeriodSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  restart: Type.Optional(
    Type.Object({
      policy: Type.Optional(Type.Enum(['NEVER', 'ON_FAILURE'])),
      activeDeadlineSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
      // Drover extension (Chronos' `retries`): at most this many retries under ON_FAILURE.
      retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    }),
  ),
  docker: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  ucr: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  secrets: Type.Optional(Type.Unknown()),
  volumes: Type.Optional(Type.Unknown()),
  networks: Type.Optional(Type.Unknown()),
});
export type RunSpec = Static<typeof RunSpec>;

export const JobSpec = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 512 }),
  description: Type.Optional(Str(65536)),
  labels: Type.Optional(Type.Record(Type.String({ maxLength: 4096 }), Str(65536))),
  dependencies: Type.Optional(Type.Array(Type.Object({ id: Type.String({ maxLength: 512 }) }), { maxItems: 100 })),
  schedules: Type.Optional(Type.Array(ScheduleSpec, { maxItems: 16 })),
  run: RunSpec,
});
export type JobSpec = Static<typeof JobSpec>;

const KNOWN_JOB = new Set(Object.keys(JobSpec.properties));
/** Read-only parts of GET answers (embed=…): accepted and ignored so GET → PUT works. */
const READ_ONLY_JOB = new Set(['activeRuns', 'history', 'historySummary']);
const KNOWN_RUN = new Set(Object.keys(RunSpec.properties));
const KNOWN_SCHEDULE = new Set(Object.keys(ScheduleSpec.properties));

/** Fields Drover does not run yet, or does not know: a reason each, instead of ignoring them. */
export function unsupportedFields(job: Record<string, unknown>): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const key of Object.keys(job)) if (!KNOWN_JOB.has(key) && !READ_ONLY_JOB.has(key)) out.push({ path: `/${key}`, errors: ['unknown property'] });
  const raw = job['run'];
  const run = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  for (const key of Object.keys(run)) if (!KNOWN_RUN.has(key)) out.push({ path: `/run/${key}`, errors: ['unknown property'] });
  out.push(...imageErrors(run));
  // Metronome's run.secrets, env references and secret volumes (src/frameworks/sdk/secrets.ts), host volumes (host-volumes.ts); other volumes not yet.
  const secrets = run['secrets'] as SecretDecls | undefined;
  out.push(...secretDeclarationErrors(run['secrets'], '/run'), ...secretVolumeErrors(run['volumes'], secrets, '/run/volumes', { image: run['docker'] !== undefined || run['ucr'] !== undefined }));
  out.push(...hostVolumeErrors(run['volumes'], '/run/volumes', run['docker'] !== undefined || run['ucr'] !== undefined));
  out.push(...jobNetworkErrors(run['networks']));
  if (typeof run['gpus'] === 'number' && run['gpus'] > 0) out.push({ path: '/run/gpus', errors: ['gpus are not supported yet'] });
  const env = run['env'];
  if (env && typeof env === 'object') {
    const refs = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== null && typeof v === 'object' && typeof (v as { secret?: unknown }).secret === 'string'));
    out.push(...envSecretErrors(refs as Record<string, EnvValue>, secrets, '/run'));
  }
  for (const [i, s] of (Array.isArray(job['schedules']) ? job['schedules'] : []).entries()) {
    if (s && typeof s === 'object') out.push(...scheduleUnknown(s as Record<string, unknown>, `/schedules/${i}`));
  }
  return out;
}

/**
 * Metronome's run.networks (`[{mode: host | container | container/bridge, name?, labels?}]`):
 * named container networks are CNI networks on the agents, container/bridge their mesos-bridge
 * (agent/network/cni-bridge.ts); host is the default. Same mixing rules as Marathon's.
 */
function jobNetworkErrors(networks: unknown): ErrorDetail[] {
  if (networks === undefined || networks === null) return [];
  if (!Array.isArray(networks) || networks.length > 32) return [{ path: '/run/networks', errors: ['must be an array of at most 32 networks'] }];
  const out: ErrorDetail[] = [];
  const modes: string[] = [];
  for (const [i, raw] of networks.entries()) {
    const n = object(raw);
    if (n === undefined) {
      out.push({ path: `/run/networks/${i}`, errors: ['must be an object'] });
      continue;
    }
    for (const key of Object.keys(n)) if (!['mode', 'name', 'labels'].includes(key)) out.push({ path: `/run/networks/${i}/${key}`, errors: ['unknown property'] });
    const mode = n['mode'] ?? 'container';
    if (mode !== 'host' && mode !== 'container' && mode !== 'container/bridge') out.push({ path: `/run/networks/${i}/mode`, errors: ['must be host, container or container/bridge'] });
    else modes.push(mode);
    const name = n['name'];
    if (mode === 'container' && (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(name)))
      out.push({ path: `/run/networks/${i}/name`, errors: ['a container network needs a name (a CNI network on the agents)'] });
    if (mode !== 'container' && name !== undefined) out.push({ path: `/run/networks/${i}/name`, errors: [`a ${String(mode)} network has no name`] });
  }
  if ((modes.includes('host') || modes.includes('container/bridge')) && networks.length > 1)
    out.push({ path: '/run/networks', errors: ['host or bridge networking cannot be combined with other networks'] });
  return out;
}

export function scheduleUnknown(schedule: Record<string, unknown>, base = ''): ErrorDetail[] {
  return Object.keys(schedule)
    .filter((k) => !KNOWN_SCHEDULE.has(k))
    .map((k) => ({ path: `${base}/${k}`, errors: ['unknown property'] }));
}

const object = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/**
 * Metronome's `run.docker` {image, forcePullImage, privileged, parameters} and `run.ucr`
 * {image: {id, kind, forcePull}, privileged}: both run on the agents' containerizer (no Docker
 * daemon); docker parameters and appc images cannot be honoured and are refused by name.
 */
function imageErrors(run: Record<string, unknown>): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (run['docker'] !== undefined && run['ucr'] !== undefined) out.push({ path: '/run/ucr', errors: ['run.docker and run.ucr cannot both be set'] });
  if (run['docker'] !== undefined) {
    const docker = object(run['docker']);
    if (docker === undefined) return [...out, { path: '/run/docker', errors: ['must be an object'] }];
    out.push(...containerFieldErrors(docker, '/run/docker', ['image', 'forcePullImage', 'privileged']));
    const problem = imageReferenceProblem(docker['image']);
    if (problem !== undefined) out.push({ path: '/run/docker/image', errors: [problem] });
    for (const flag of ['forcePullImage', 'privileged']) if (docker[flag] !== undefined && typeof docker[flag] !== 'boolean') out.push({ path: `/run/docker/${flag}`, errors: ['must be a boolean'] });
  }
  if (run['ucr'] !== undefined) {
    const ucr = object(run['ucr']);
    if (ucr === undefined) return [...out, { path: '/run/ucr', errors: ['must be an object'] }];
    out.push(...containerFieldErrors(ucr, '/run/ucr', ['image', 'privileged']));
    if (ucr['privileged'] !== undefined && typeof ucr['privileged'] !== 'boolean') out.push({ path: '/run/ucr/privileged', errors: ['must be a boolean'] });
    const image = object(ucr['image']);
    if (image === undefined) return [...out, { path: '/run/ucr/image', errors: ['must be an object with an id'] }];
    out.push(...containerFieldErrors(image, '/run/ucr/image', ['id', 'kind', 'forcePull']));
    const problem = imageReferenceProblem(image['id']);
    if (problem !== undefined) out.push({ path: '/run/ucr/image/id', errors: [problem] });
    if (image['kind'] !== undefined && image['kind'] !== 'docker')
      out.push({ path: '/run/ucr/image/kind', errors: [`image kind ${String(image['kind']).slice(0, 20)} is not supported: only docker (OCI and Docker registries)`] });
    if (image['forcePull'] !== undefined && typeof image['forcePull'] !== 'boolean') out.push({ path: '/run/ucr/image/forcePull', errors: ['must be a boolean'] });
  }
  return out;
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Placement operators Metronome accepts (EQ is its alias of IS). */
export const OPERATORS = ['IS', 'EQ', 'LIKE', 'UNLIKE'];

/** Checks on the run spec the schema cannot express. */
export function runSemanticErrors(run: RunSpec): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (run.cmd !== undefined && run.args !== undefined && run.args.length > 0) out.push({ path: '/run/cmd', errors: ["'cmd' and 'args' cannot both be set"] });
  const image = run.docker !== undefined || run.ucr !== undefined;
  if (run.cmd === undefined && (run.args === undefined || run.args.length === 0) && !image)
    out.push({ path: '/run', errors: ["a job run needs 'cmd' or 'args', or an image (run.docker or run.ucr)"] });
  for (const [i, c] of (run.placement?.constraints ?? []).entries()) {
    if (!OPERATORS.includes(c.operator)) out.push({ path: `/run/placement/constraints/${i}/operator`, errors: [`operator must be one of ${OPERATORS.join(', ')}`] });
    else if (c.value === undefined) out.push({ path: `/run/placement/constraints/${i}/value`, errors: [`${c.operator} requires a value`] });
    else if (c.operator === 'LIKE' || c.operator === 'UNLIKE') {
      // As for apps: only what the linear-time engine takes within its bounds (src/placement/pattern.ts).
      const problem = patternProblem(c.value);
      if (problem !== undefined) out.push({ path: `/run/placement/constraints/${i}/value`, errors: [problem] });
    }
  }
  return out;
}
