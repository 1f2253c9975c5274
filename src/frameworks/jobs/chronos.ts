/**
 * Chronos' job format (docs/docs/api.md, jobs/Jobs.scala) translated to a Metronome job body,
 * pure, so `POST /v1/scheduler/iso8601` and `/v1/scheduler/dependency` reach the same framework.
 * Every Chronos field either maps to a Metronome one, is a read-only counter (ignored, as GET →
 * POST must work), or is refused with a 422 naming it.
 */
import type { ErrorDetail } from '../../errors/errors.ts';
import { invalid } from './job.ts';

/** Chronos job name → Drover job id: lowercase, '_' → '-' (the original stays in a label). */
export function chronosId(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

const READ_ONLY = new Set(['successCount', 'errorCount', 'lastSuccess', 'lastError', 'errorsSinceLastSuccess']);
const MAPPED = new Set([
  'name',
  'command',
  'arguments',
  'shell',
  'schedule',
  'scheduleTimeZone',
  'parents',
  'epsilon',
  'async',
  'retries',
  'owner',
  'ownerName',
  'description',
  'cpus',
  'mem',
  'disk',
  'disabled',
  'concurrent',
  'runAsUser',
  'fetch',
  'uris',
  'environmentVariables',
  'container',
  'constraints',
  'executor',
  'executorFlags',
]);

/** Seconds of an ISO-8601 duration without years or months (Chronos' epsilon), or undefined. */
function seconds(duration: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(duration);
  if (!m || duration === 'P') return undefined;
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60 + Number(m[4] ?? 0);
}

const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

export function fromChronos(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid([{ path: '/', errors: ['expected a JSON object'] }]);
  const c = input as Record<string, unknown>;
  const errors: ErrorDetail[] = [];
  const refuse = (path: string, reason: string): void => void errors.push({ path, errors: [reason] });
  for (const key of Object.keys(c)) if (!MAPPED.has(key) && !READ_ONLY.has(key)) refuse(`/${key}`, 'not supported by Drover');
  if (typeof c['name'] !== 'string' || !/^[\w.-]+$/.test(c['name'])) refuse('/name', 'a Chronos job needs a name of letters, digits, _, . and -');
  if (typeof c['command'] !== 'string' || c['command'] === '') refuse('/command', 'a Chronos job needs a command');
  if (c['async'] === true) refuse('/async', 'async jobs were removed in Chronos 3.0 and are not supported');
  if (c['executor'] !== undefined && c['executor'] !== '') refuse('/executor', 'custom executors are not supported');
  if (c['executorFlags'] !== undefined && c['executorFlags'] !== '') refuse('/executorFlags', 'custom executors are not supported');
  // Types first: a value converted to text below must be text already (an object's own `toString`
  // would run, or throw — a 500 found by the fuzzer).
  const strings = (key: string): void => {
    const v = c[key];
    if (v === undefined) return;
    if (!Array.isArray(v)) return refuse(`/${key}`, 'expected an array of strings');
    v.forEach((x, i) => {
      if (typeof x !== 'string') refuse(`/${key}/${i}`, 'expected a string');
    });
  };
  strings('parents');
  strings('arguments');
  strings('uris');
  // Chronos' own docs send numbers as text ("cpus": "0.5"): both are taken.
  for (const key of ['cpus', 'mem', 'disk']) if (c[key] !== undefined && typeof c[key] !== 'number' && typeof c[key] !== 'string') refuse(`/${key}`, 'expected a number');
  if (Array.isArray(c['fetch'])) {
    (c['fetch'] as unknown[]).forEach((f, i) => {
      if (typeof f !== 'object' || f === null || typeof (f as { uri?: unknown }).uri !== 'string') refuse(`/fetch/${i}/uri`, 'expected a string');
    });
  }
  if (Array.isArray(c['environmentVariables'])) {
    (c['environmentVariables'] as unknown[]).forEach((e, i) => {
      const { name, value } = (typeof e === 'object' && e !== null ? e : {}) as { name?: unknown; value?: unknown };
      if (typeof name !== 'string') refuse(`/environmentVariables/${i}/name`, 'expected a string');
      if (typeof value !== 'string') refuse(`/environmentVariables/${i}/value`, 'expected a string');
    });
  }
  const container = chronosContainer(c['container'], refuse);
  const hasSchedule = typeof c['schedule'] === 'string' && c['schedule'] !== '';
  const parents = Array.isArray(c['parents']) ? (c['parents'] as unknown[]).filter((p): p is string => typeof p === 'string') : [];
  if (hasSchedule === parents.length > 0) refuse('/schedule', "a Chronos job has either a 'schedule' or 'parents'");
  let deadline: number | undefined;
  if (typeof c['epsilon'] === 'string') {
    deadline = seconds(c['epsilon']);
    if (deadline === undefined) refuse('/epsilon', `'${c['epsilon']}' is not an ISO-8601 duration in days, hours, minutes or seconds`);
  }
  if (errors.length > 0) throw invalid(errors);

  const name = c['name'] as string;
  const args = Array.isArray(c['arguments']) ? (c['arguments'] as string[]) : [];
  const shell = c['shell'] !== false;
  const retries = typeof c['retries'] === 'number' ? c['retries'] : 2;
  const num = (v: unknown, fallback: number): number => (v === undefined ? fallback : Number(v));
  const owner = [c['ownerName'], c['owner']].filter((x) => typeof x === 'string' && x !== '').join(' ');
  const fetch: Array<Record<string, unknown>> = [
    ...(Array.isArray(c['fetch']) ? (c['fetch'] as Array<Record<string, unknown>>) : []),
    ...(Array.isArray(c['uris']) ? (c['uris'] as string[]).map((uri) => ({ uri })) : []),
  ];
  const env = Array.isArray(c['environmentVariables']) ? Object.fromEntries((c['environmentVariables'] as Array<{ name: string; value: string }>).map((e) => [e.name, e.value])) : {};
  const constraints = Array.isArray(c['constraints'])
    ? (c['constraints'] as string[][]).map(([attribute, operator, value]) => ({ attribute, operator: operator === 'EQUALS' ? 'IS' : operator, value }))
    : [];
  return {
    id: chronosId(name),
    ...(typeof c['description'] === 'string' ? { description: c['description'] } : {}),
    labels: { 'chronos.name': name, ...(owner ? { 'chronos.owner': owner } : {}) },
    ...(parents.length > 0 ? { dependencies: parents.map((p) => ({ id: chronosId(p) })) } : {}),
    ...(hasSchedule
      ? {
          schedules: [
            {
              id: 'default',
              cron: c['schedule'],
              ...(typeof c['scheduleTimeZone'] === 'string' ? { timezone: c['scheduleTimeZone'] } : {}),
              ...(deadline === undefined ? {} : { startingDeadlineSeconds: Math.max(60, deadline) }),
              concurrencyPolicy: c['concurrent'] === true ? 'ALLOW' : 'FORBID',
              enabled: c['disabled'] !== true,
            },
          ],
        }
      : {}),
    run: {
      ...(shell ? { cmd: [c['command'] as string, ...args.map(quote)].join(' ') } : { args: [c['command'] as string, ...args] }),
      cpus: num(c['cpus'], 0.1),
      mem: num(c['mem'], 128),
      disk: num(c['disk'], 256),
      ...(typeof c['runAsUser'] === 'string' ? { user: c['runAsUser'] } : {}),
      env,
      artifacts: fetch.map((f) => ({
        uri: f['uri'] as string,
        ...(f['extract'] === undefined ? {} : { extract: f['extract'] }),
        ...(f['executable'] === undefined ? {} : { executable: f['executable'] }),
        ...(f['cache'] === undefined ? {} : { cache: f['cache'] }),
      })),
      placement: { constraints },
      ...container,
      restart: retries > 0 ? { policy: 'ON_FAILURE', retries } : { policy: 'NEVER' },
    },
  };
}

const CONTAINER_FIELDS = ['type', 'image', 'forcePullImage', 'network', 'networkName', 'networkInfos', 'portMappings', 'volumes', 'parameters'];

/**
 * Chronos' `container` as Metronome run fields: an image (DOCKER or MESOS, both on the agents'
 * containerizer, no Docker daemon) → run.docker; `network` BRIDGE → the agents' bridge, USER with
 * `networkName` → that CNI network, HOST → nothing; host volumes `{containerPath, hostPath, mode}`
 * → run.volumes (mode RW when absent, as Chronos). docker parameters, external volumes, network
 * infos and port mappings (jobs have no ports) cannot be honoured: refused by path.
 */
function chronosContainer(raw: unknown, refuse: (path: string, reason: string) => void): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    refuse('/container', 'expected an object');
    return {};
  }
  const c = raw as Record<string, unknown>;
  for (const key of Object.keys(c)) if (!CONTAINER_FIELDS.includes(key)) refuse(`/container/${key}`, 'not supported by Drover');
  const type = c['type'] ?? 'DOCKER';
  if (type !== 'DOCKER' && type !== 'MESOS') refuse('/container/type', 'must be DOCKER or MESOS (both run without a Docker daemon)');
  const image = c['image'];
  if (image !== undefined && (typeof image !== 'string' || image === '')) refuse('/container/image', 'expected an image reference');
  if (type === 'DOCKER' && image === undefined) refuse('/container/image', 'a DOCKER container needs an image');
  if (c['forcePullImage'] !== undefined && typeof c['forcePullImage'] !== 'boolean') refuse('/container/forcePullImage', 'expected a boolean');
  const nonEmpty = (key: string, reason: string): void => {
    const v = c[key];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) refuse(`/container/${key}`, reason);
  };
  nonEmpty('parameters', 'docker parameters (docker run options) cannot be honoured: images run without a Docker daemon');
  nonEmpty('networkInfos', 'not supported: use network USER with networkName (a CNI network on the agents)');
  nonEmpty('portMappings', 'jobs have no ports: port mappings are not supported for jobs');
  const network = c['network'] ?? 'HOST';
  let networks: Array<Record<string, unknown>> = [];
  if (network === 'BRIDGE') networks = [{ mode: 'container/bridge' }];
  else if (network === 'USER') {
    if (typeof c['networkName'] !== 'string' || c['networkName'] === '') refuse('/container/networkName', 'network USER needs the name of a CNI network on the agents');
    else networks = [{ mode: 'container', name: c['networkName'] }];
  } else if (network !== 'HOST') refuse('/container/network', 'must be HOST, BRIDGE or USER');
  const volumes: Array<Record<string, unknown>> = [];
  const rawVolumes = c['volumes'];
  if (rawVolumes !== undefined) {
    if (!Array.isArray(rawVolumes) || rawVolumes.length > 64) refuse('/container/volumes', 'expected an array of at most 64 volumes');
    else
      rawVolumes.forEach((v, i) => {
        const volume = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
        if (volume['external'] !== undefined) return refuse(`/container/volumes/${i}/external`, 'external volumes are not supported');
        if (typeof volume['hostPath'] !== 'string' || typeof volume['containerPath'] !== 'string') return refuse(`/container/volumes/${i}`, 'a volume needs containerPath and hostPath');
        volumes.push({ containerPath: volume['containerPath'], hostPath: volume['hostPath'], mode: volume['mode'] ?? 'RW' });
      });
  }
  return {
    ...(typeof image === 'string' && image !== '' ? { docker: { image, ...(c['forcePullImage'] === true ? { forcePullImage: true } : {}) } } : {}),
    ...(networks.length > 0 ? { networks } : {}),
    ...(volumes.length > 0 ? { volumes } : {}),
  };
}
