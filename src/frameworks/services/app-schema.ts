/**
 * Marathon's app definition (`/v2/apps`), as JSON Schema. Field names, defaults and limits follow
 * Marathon's RAML (types/app.raml) and AppDefinition.scala. Features Drover does not run yet are
 * accepted by the schema but refused by `unsupportedFields` with a 422 naming the field, never
 * silently ignored. Fields Marathon does not know either are ignored, as Marathon ignores them
 * (`ignoredFields`), and named in the answer.
 */
import { volumeErrors } from './stateful-schema.ts';
import Type, { type Static } from 'typebox';
import { patternProblem } from '../../placement/index.ts';
import { envSecretErrors, secretDeclarationErrors, type SecretDecls } from '../sdk/secrets.ts';
import { appVipErrors } from '../../protocol/vip-labels.ts';
import { containerFieldErrors, imageReferenceProblem } from '../sdk/container-image.ts';
import { hostVolumeErrors } from '../sdk/host-volumes.ts';

const Str = (max = 4096) => Type.String({ maxLength: max });
const Num = (min = 0) => Type.Number({ minimum: min });
/** Per-field counts: the body limit (1 MiB) bounds the total; these bound what one map may hold. */
export const MAX_LABELS = 256;
export const MAX_ENV = 1024;

export const PortDefinition = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  protocol: Type.Optional(Type.Enum(['tcp', 'udp', 'udp,tcp', 'tcp,udp'])),
  name: Type.Optional(Type.String({ pattern: '^[a-z0-9-]+$', maxLength: 63 })),
  labels: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Str(), { maxProperties: MAX_LABELS })),
});

export const HealthCheck = Type.Object({
  protocol: Type.Optional(Type.Enum(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP'])),
  path: Type.Optional(Str()),
  portIndex: Type.Optional(Type.Integer({ minimum: 0 })),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  command: Type.Optional(Type.Object({ value: Str(65536) })),
  gracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
  intervalSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
  maxConsecutiveFailures: Type.Optional(Type.Integer({ minimum: 0 })),
  delaySeconds: Type.Optional(Type.Integer({ minimum: 0 })),
  ignoreHttp1xx: Type.Optional(Type.Boolean()),
  ipProtocol: Type.Optional(Type.Enum(['IPv4', 'IPv6'])),
});

/** Marathon's readiness check (types/readinessCheck.raml); at most one per app, as Marathon. */
export const ReadinessCheck = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 256 })),
  protocol: Type.Optional(Type.Enum(['HTTP', 'HTTPS'])),
  path: Type.Optional(Type.String({ maxLength: 4096 })),
  portName: Type.Optional(Type.String({ maxLength: 63 })),
  intervalSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  httpStatusCodesForReady: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { maxItems: 100 })),
  preserveLastResponse: Type.Optional(Type.Boolean()),
});

export const Constraint = Type.Array(Str(1024), { minItems: 2, maxItems: 3 });

export const AppDefinition = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 1024 }),
  cmd: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 1024 * 1024 }), Type.Null()])),
  args: Type.Optional(Type.Union([Type.Array(Str(65536), { maxItems: 4096 }), Type.Null()])),
  user: Type.Optional(Type.Union([Str(256), Type.Null()])),
  env: Type.Optional(Type.Record(Type.String({ maxLength: 4096 }), Type.Union([Str(1024 * 1024), Type.Object({ secret: Str() })]), { maxProperties: MAX_ENV })),
  labels: Type.Optional(Type.Record(Type.String({ maxLength: 4096 }), Str(65536), { maxProperties: MAX_LABELS })),
  instances: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  cpus: Type.Optional(Num(0.001)),
  mem: Type.Optional(Num(0)),
  disk: Type.Optional(Num(0)),
  gpus: Type.Optional(Type.Integer({ minimum: 0 })),
  portDefinitions: Type.Optional(Type.Array(PortDefinition, { maxItems: 1000 })),
  ports: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }), { maxItems: 1000 })),
  requirePorts: Type.Optional(Type.Boolean()),
  constraints: Type.Optional(Type.Array(Constraint, { maxItems: 100 })),
  acceptedResourceRoles: Type.Optional(Type.Array(Str(256), { maxItems: 100 })),
  role: Type.Optional(Str(256)),
  healthChecks: Type.Optional(Type.Array(HealthCheck, { maxItems: 10 })),
  readinessChecks: Type.Optional(Type.Array(ReadinessCheck, { maxItems: 1 })),
  upgradeStrategy: Type.Optional(
    Type.Object({ minimumHealthCapacity: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })), maximumOverCapacity: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })) }),
  ),
  backoffSeconds: Type.Optional(Num(0)),
  backoffFactor: Type.Optional(Num(1)),
  maxLaunchDelaySeconds: Type.Optional(Num(0)),
  killSelection: Type.Optional(Type.Enum(['YOUNGEST_FIRST', 'OLDEST_FIRST'])),
  unreachableStrategy: Type.Optional(Type.Union([Type.Literal('disabled'), Type.Object({ inactiveAfterSeconds: Type.Optional(Num(0)), expungeAfterSeconds: Type.Optional(Num(0)) })])),
  taskKillGracePeriodSeconds: Type.Optional(Type.Union([Num(0), Type.Null()])),
  fetch: Type.Optional(
    Type.Array(
      Type.Object({ uri: Str(8192), extract: Type.Optional(Type.Boolean()), executable: Type.Optional(Type.Boolean()), cache: Type.Optional(Type.Boolean()), destPath: Type.Optional(Str()) }),
      { maxItems: 100 },
    ),
  ),
  uris: Type.Optional(Type.Array(Str(8192), { maxItems: 100 })),
  dependencies: Type.Optional(Type.Array(Str(1024), { maxItems: 100 })),
  networks: Type.Optional(
    Type.Array(
      Type.Object({
        mode: Type.Optional(Type.Enum(['host', 'container', 'container/bridge'])),
        name: Type.Optional(Str(256)),
        labels: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Str(), { maxProperties: MAX_LABELS })),
      }),
      { maxItems: 16 },
    ),
  ),
  container: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  secrets: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  executor: Type.Optional(Str()),
  version: Type.Optional(Str(64)),
  versionInfo: Type.Optional(Type.Unknown()),
  residency: Type.Optional(Type.Unknown()),
  tty: Type.Optional(Type.Boolean()),
  // Drover extension (Hydrogen's lesson): stop relaunching after this many failures in a row.
  maxConsecutiveFailures: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type AppDefinition = Static<typeof AppDefinition>;

/** Marathon's PathId segment rule (AppDefinition id validation). */
const SEGMENT = /^(\.\.|\.|[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/;

/** Absolute, normalized app id ('/prod/web'), or a reason it is invalid. */
export function normalizeId(raw: string, base = '/'): string | { error: string } {
  const joined = raw.startsWith('/') ? raw : `${base.replace(/\/$/, '')}/${raw}`;
  const out: string[] = [];
  for (const segment of joined.split('/').filter((s) => s !== '')) {
    if (!SEGMENT.test(segment)) {
      return { error: `'${segment}' is not a valid path segment: use lowercase letters, digits and '-', not at the start or end` };
    }
    if (segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return { error: 'the id goes above the root group' };
      out.pop();
      continue;
    }
    out.push(segment);
  }
  if (out.length === 0) return { error: 'an app id cannot be the root group' };
  return `/${out.join('/')}`;
}

/** Read-only fields of Marathon's app representation: accepted (and ignored) so GET → PUT works. */
const READ_ONLY = new Set([
  'tasksStaged',
  'tasksRunning',
  'tasksHealthy',
  'tasksUnhealthy',
  'deployments',
  'tasks',
  'lastTaskFailure',
  'taskStats',
  'readinessCheckResults',
  'counts',
  'ipAddress',
  'storeUrls',
  'upgradeStrategy',
  'versionInfo',
]);
const KNOWN = new Set([...Object.keys(AppDefinition.properties), ...READ_ONLY]);

/**
 * Top-level fields Marathon does not know, which it ignores: its readers (generated from the RAML)
 * read each known field by name (`json \\ "cmd"`) and never look at the rest, and AppsResource
 * takes the body as `Json.parse(body).as[raml.App]`. Drover ignores them too (they are not kept),
 * and names them in the answer's `Drover-Ignored-Fields` header and its log, so a typo is seen
 * (015-anchor-apis.md). Nested unknown fields are ignored the same way by the schema.
 */
export function ignoredFields(input: unknown): string[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return [];
  // `check` Marathon knows (Mesos checks): refused by unsupportedFields, not ignored.
  return Object.keys(input).filter((key) => !KNOWN.has(key) && key !== 'check');
}

/** Fields Drover does not run yet: refused with a reason instead of ignored. */
export function unsupportedFields(app: AppDefinition): Array<{ path: string; errors: string[] }> {
  const out: Array<{ path: string; errors: string[] }> = [];
  for (const key of Object.keys(app)) {
    if (key === 'check') out.push({ path: '/check', errors: ['Mesos checks (non-killing) are not supported yet; use healthChecks'] });
  }
  const container = app.container ?? undefined;
  if (container) out.push(...containerErrors(container, app.secrets as SecretDecls | undefined, effectiveNetworks(app)));
  if (container) {
    // Secret volumes (a file in the sandbox) and persistent ones (stateful.ts); host and external ones not yet.
    const docker = container['docker'] as { image?: unknown } | null | undefined;
    out.push(...volumeErrors(container['volumes'], app.secrets as SecretDecls | undefined, '/container/volumes', { image: typeof docker?.image === 'string' }));
    out.push(...hostVolumeErrors(container['volumes'], '/container/volumes', typeof docker?.image === 'string'));
  }
  out.push(...secretDeclarationErrors(app.secrets, ''), ...envSecretErrors(app.env, app.secrets as SecretDecls | undefined, ''));
  if ((app.gpus ?? 0) > 0) out.push({ path: '/gpus', errors: ['gpus are not supported yet'] });
  if (app.executor !== undefined && app.executor !== '' && app.executor !== '//cmd') out.push({ path: '/executor', errors: ['custom executors are not supported'] });
  const networks = app.networks ?? [];
  for (const [i, n] of networks.entries()) {
    // Named container networks are CNI networks on the agent; container/bridge is the agents' mesos-bridge (agent/network/cni-bridge.ts).
    if (n.mode === 'container/bridge' && n.name) out.push({ path: `/networks/${i}/name`, errors: ['a container/bridge network has no name'] });
    if (n.mode === 'container' && !n.name) out.push({ path: `/networks/${i}/name`, errors: ['a container network needs a name (a CNI network on the agents)'] });
  }
  if (networks.some((n) => (n.mode ?? 'host') === 'host') && networks.length > 1) out.push({ path: '/networks', errors: ['host networking cannot be combined with other networks'] });
  if (networks.some((n) => n.mode === 'container/bridge') && networks.length > 1) out.push({ path: '/networks', errors: ['bridge networking cannot be combined with other networks'] });
  const dockerNetwork = (container?.['docker'] as { network?: unknown } | null | undefined)?.network;
  if (networks.length > 0 && dockerNetwork !== undefined && (dockerNetwork === 'BRIDGE') !== networks.some((n) => n.mode === 'container/bridge'))
    out.push({ path: '/container/docker/network', errors: ['docker.network (deprecated) disagrees with networks; give networks only'] });
  return out;
}

const DOCKER_FIELDS = ['image', 'forcePullImage', 'pullConfig', 'privileged', 'network', 'portMappings'];
const CONTAINER_FIELDS = ['type', 'docker', 'volumes', 'portMappings'];

/**
 * Marathon's `container`: MESOS and DOCKER both run on the agents' containerizer (there is no
 * Docker daemon), with `docker.image`, `forcePullImage`, `pullConfig` (a declared secret holding a
 * Docker config.json) and `privileged`. `container.portMappings` on host networking: each is a
 * host port the task gets (containerPort 0 = the allocated host port). What cannot be honoured —
 * docker parameters, bridge/user networks, a containerPort other than the host port — is a 422
 * naming the field.
 */
export function containerErrors(container: Record<string, unknown>, secrets: SecretDecls | undefined, networks: ReadonlyArray<{ mode?: string }>): Array<{ path: string; errors: string[] }> {
  const out: Array<{ path: string; errors: string[] }> = [];
  const type = container['type'];
  if (type !== undefined && type !== 'MESOS' && type !== 'DOCKER')
    out.push({ path: '/container/type', errors: [`container type ${String(type).slice(0, 40)} is not supported; use MESOS or DOCKER (both run without a Docker daemon)`] });
  out.push(...containerFieldErrors(container, '/container', CONTAINER_FIELDS));
  const docker = container['docker'];
  if (docker !== undefined && docker !== null) {
    if (typeof docker !== 'object' || Array.isArray(docker)) out.push({ path: '/container/docker', errors: ['must be an object'] });
    else {
      const d = docker as Record<string, unknown>;
      out.push(...containerFieldErrors(d, '/container/docker', DOCKER_FIELDS));
      if (d['image'] !== undefined) {
        const problem = imageReferenceProblem(d['image']);
        if (problem !== undefined) out.push({ path: '/container/docker/image', errors: [problem] });
      } else if (type === 'DOCKER') out.push({ path: '/container/docker/image', errors: ['a DOCKER container needs an image'] });
      for (const flag of ['privileged', 'forcePullImage']) {
        if (d[flag] !== undefined && typeof d[flag] !== 'boolean') out.push({ path: `/container/docker/${flag}`, errors: ['must be a boolean'] });
      }
      const pull = d['pullConfig'];
      if (pull !== undefined && pull !== null) {
        const secret = (pull as { secret?: unknown }).secret;
        if (typeof pull !== 'object' || typeof secret !== 'string') out.push({ path: '/container/docker/pullConfig/secret', errors: ['must name a secret of the app'] });
        else if (!Object.hasOwn(secrets ?? {}, secret)) out.push({ path: '/container/docker/pullConfig/secret', errors: [`references an undefined secret named '${secret.slice(0, 100)}'`] });
        if (d['image'] === undefined) out.push({ path: '/container/docker/pullConfig', errors: ['needs docker.image'] });
      }
      const network = d['network'];
      if (network !== undefined && network !== 'HOST' && network !== 'BRIDGE')
        out.push({
          path: '/container/docker/network',
          errors: [`docker network ${String(network).slice(0, 20)} is not supported: tasks use HOST or BRIDGE networking, or named CNI networks (app networks)`],
        });
      if (Array.isArray(d['portMappings']) && d['portMappings'].length > 0) {
        if (network !== 'BRIDGE') out.push({ path: '/container/docker/portMappings', errors: ['docker.portMappings (deprecated) need docker.network BRIDGE; use container.portMappings'] });
        else if (Array.isArray(container['portMappings'])) out.push({ path: '/container/docker/portMappings', errors: ['give container.portMappings or docker.portMappings (deprecated), not both'] });
        else out.push(...portMappingErrors(d['portMappings'], '/container/docker/portMappings', true));
      }
    }
  }
  const mappings = container['portMappings'];
  if (mappings !== undefined && mappings !== null) {
    const bridge = networks.some((n) => n.mode === 'container/bridge');
    if (networks.some((n) => n.mode === 'container')) out.push({ path: '/container/portMappings', errors: ['port mappings are supported with host and container/bridge networking only'] });
    else out.push(...portMappingErrors(mappings, '/container/portMappings', bridge));
  }
  return out;
}

/**
 * Port mappings. On the host's network the task listens on the port it was given, so a
 * containerPort must be 0 (= that port) and hostPorts are dynamic. On the bridge, each
 * containerPort is forwarded from a host port: 0 (the default) is any free one, a number is that
 * port (Marathon's fixed hostPort); an app's mappings are all one or the other.
 */
export function portMappingErrors(mappings: unknown, at: string, bridge: boolean): Array<{ path: string; errors: string[] }> {
  const out: Array<{ path: string; errors: string[] }> = [];
  if (!Array.isArray(mappings) || mappings.length > 100) return [{ path: at, errors: ['must be an array of at most 100 port mappings'] }];
  let fixed: boolean | undefined;
  for (const [i, m] of (mappings as unknown[]).entries()) {
    const mapping = (m && typeof m === 'object' && !Array.isArray(m) ? m : undefined) as Record<string, unknown> | undefined;
    if (mapping === undefined) {
      out.push({ path: `${at}/${i}`, errors: ['must be an object'] });
      continue;
    }
    out.push(...containerFieldErrors(mapping, `${at}/${i}`, ['containerPort', 'hostPort', 'servicePort', 'protocol', 'name', 'labels', 'networkNames']));
    let numbers = true;
    for (const key of ['containerPort', 'hostPort', 'servicePort']) {
      const v = mapping[key];
      if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535)) {
        out.push({ path: `${at}/${i}/${key}`, errors: ['must be a port number (0 to 65535)'] });
        numbers = false;
      }
    }
    const containerPort = mapping['containerPort'] ?? 0;
    const hostPort = mapping['hostPort'] ?? 0;
    if (!bridge) {
      // On the host's network the task listens on the port it was given: it cannot be remapped.
      if (hostPort !== 0)
        out.push({ path: `${at}/${i}/hostPort`, errors: ['fixed host ports need container/bridge networking; on the host network leave hostPort 0 or use portDefinitions with requirePorts'] });
      if (containerPort !== 0) out.push({ path: `${at}/${i}/containerPort`, errors: ['with host networking the task listens on its allocated host port ($PORT0…): containerPort must be 0'] });
    } else if (numbers) {
      if (fixed !== undefined && fixed !== (hostPort !== 0))
        out.push({ path: `${at}/${i}/hostPort`, errors: ['an app’s port mappings are either all fixed hostPorts or all dynamic (0); a mix is not supported yet'] });
      fixed ??= hostPort !== 0;
    }
    const protocol = mapping['protocol'];
    if (protocol !== undefined && !['tcp', 'udp', 'udp,tcp', 'tcp,udp'].includes(protocol as string)) out.push({ path: `${at}/${i}/protocol`, errors: ['must be tcp, udp or udp,tcp'] });
    const name = mapping['name'];
    if (name !== undefined && (typeof name !== 'string' || !/^[a-z0-9-]{1,63}$/.test(name))) out.push({ path: `${at}/${i}/name`, errors: ['must match ^[a-z0-9-]+$ (at most 63)'] });
  }
  return out;
}

/** The app's networks, with the deprecated `docker.network: BRIDGE` as `container/bridge` when `networks` is absent. */
export function effectiveNetworks(app: AppDefinition): ReadonlyArray<{ mode?: string; name?: string }> {
  if (app.networks !== undefined) return app.networks;
  const network = (app.container?.['docker'] as { network?: unknown } | null | undefined)?.network;
  return network === 'BRIDGE' ? [{ mode: 'container/bridge' }] : [];
}

/** Semantic checks the schema cannot express. */
export function semanticErrors(app: AppDefinition): Array<{ path: string; errors: string[] }> {
  const out: Array<{ path: string; errors: string[] }> = [];
  const hasCmd = typeof app.cmd === 'string';
  const hasArgs = Array.isArray(app.args) && app.args.length > 0;
  if (hasCmd && hasArgs) out.push({ path: '/cmd', errors: ["'cmd' and 'args' cannot both be set"] });
  const hasImage = typeof (app.container?.['docker'] as { image?: unknown } | undefined)?.image === 'string';
  if (!hasCmd && !hasArgs && !hasImage) out.push({ path: '/', errors: ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."] });
  if (app.portDefinitions && app.ports) out.push({ path: '/ports', errors: ['You cannot specify both ports and port definitions'] });
  // VIP_n port labels are read by every agent's VIP process: a bad one is refused here, with its path.
  out.push(...appVipErrors(app));
  const ops = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS'];
  for (const [i, c] of (app.constraints ?? []).entries()) {
    const [, op, value] = c;
    if (!op || !ops.includes(op)) out.push({ path: `/constraints/${i}`, errors: [`Constraint operator must be one of ${ops.join(', ')}`] });
    else if ((op === 'LIKE' || op === 'UNLIKE' || op === 'MAX_PER' || op === 'IS') && value === undefined) out.push({ path: `/constraints/${i}`, errors: [`${op} requires a value`] });
    else if (op === 'UNIQUE' && value !== undefined) out.push({ path: `/constraints/${i}`, errors: ['UNIQUE does not take a value'] });
    else if ((op === 'MAX_PER' || op === 'GROUP_BY') && value !== undefined && !/^\d+$/.test(value)) out.push({ path: `/constraints/${i}`, errors: [`${op} value must be an integer`] });
    else if ((op === 'LIKE' || op === 'UNLIKE') && value !== undefined) {
      // Matched against every offer's field in the placement hot path: refused here unless the
      // linear-time engine takes it within its bounds (src/placement/pattern.ts).
      const problem = patternProblem(value);
      if (problem !== undefined) out.push({ path: `/constraints/${i}`, errors: [problem] });
    }
  }
  const names = (app.portDefinitions ?? []).map((p) => p.name).filter((n): n is string => n !== undefined);
  for (const [i, r] of (app.readinessChecks ?? []).entries()) {
    const portName = r.portName ?? 'http-api';
    if (!names.includes(portName)) out.push({ path: `/readinessChecks/${i}/portName`, errors: [`no port definition is named '${portName}'`] });
    if ((r.timeoutSeconds ?? 10) >= (r.intervalSeconds ?? 30)) out.push({ path: `/readinessChecks/${i}/timeoutSeconds`, errors: ['must be less than intervalSeconds'] });
  }
  if (new Set(names).size !== names.length) out.push({ path: '/portDefinitions', errors: ['Port names must be unique.'] });
  // Marathon: a service port other than 0 appears once per app (0s are assigned distinct ones).
  const fixedPorts = (app.portDefinitions ?? [])
    .map((p) => p.port ?? 0)
    .concat(app.ports ?? [])
    .filter((p) => p !== 0);
  if (new Set(fixedPorts).size !== fixedPorts.length) out.push({ path: app.portDefinitions ? '/portDefinitions' : '/ports', errors: ['Ports must be unique.'] });
  return out;
}
