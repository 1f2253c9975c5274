/**
 * An app as the services framework keeps it: Marathon's definition with every default filled in
 * (AppDefinition.scala), validated at the edge. `parseApp` is the only way in.
 */
import { DroverError, type ErrorDetail } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { AppDefinition, normalizeId, semanticErrors, unsupportedFields } from './app-schema.ts';
import type { EnvValue, SecretDecls, SecretVolume } from '../sdk/secrets.ts';
import { nonPersistentVolumes, persistentVolumesOf, residentDefaults, type PersistentVolume } from './stateful-schema.ts';
import { hostVolumesOf, isHostVolume, type HostVolume } from '../sdk/host-volumes.ts';

export interface PortDef {
  port: number;
  protocol: string;
  name?: string;
  labels?: Record<string, string>;
}

export interface App {
  id: string;
  cmd?: string;
  args?: string[];
  user?: string;
  /** Plain values, and references to `secrets` (`{"secret": "s1"}`): never a secret's value. */
  env: Record<string, EnvValue>;
  /** Marathon's `secrets`: name → store path; present only when the app declares some. */
  secrets?: SecretDecls;
  labels: Record<string, string>;
  instances: number;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
  portDefinitions: PortDef[];
  requirePorts: boolean;
  constraints: string[][];
  acceptedResourceRoles?: string[];
  /** Marathon's `role` (1.9+): the role its tasks run in; absent = the framework's default role. */
  role?: string;
  healthChecks: AppDefinition['healthChecks'] & object;
  readinessChecks: Array<{
    name: string;
    protocol: 'HTTP' | 'HTTPS';
    path: string;
    portName: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    httpStatusCodesForReady: number[];
    preserveLastResponse: boolean;
  }>;
  upgradeStrategy: { minimumHealthCapacity: number; maximumOverCapacity: number };
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
  killSelection: 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
  unreachableStrategy: { inactiveAfterSeconds: number; expungeAfterSeconds: number } | 'disabled';
  taskKillGracePeriodSeconds?: number;
  fetch: Array<{ uri: string; extract?: boolean; executable?: boolean; cache?: boolean; destPath?: string }>;
  dependencies: string[];
  networks: Array<{ mode: string; name?: string }>;
  /**
   * Marathon's `container`: its type as given (both run on the agents' containerizer), the image
   * with forcePullImage and pullConfig (a secret name of the app), `docker.privileged` (the task
   * asks to be privileged; the agent decides), and secret volumes.
   */
  container?: {
    type: 'MESOS' | 'DOCKER';
    docker?: { image?: string; forcePullImage?: boolean; pullConfig?: { secret: string }; privileged?: true };
    /** Secret volumes and host volumes (an absolute hostPath) or sandbox ones (a relative hostPath). */
    volumes?: Array<SecretVolume | HostVolume>;
    /**
     * On container/bridge networking only: each containerPort forwarded from a host port (0: the
     * allocated one, as is a containerPort of 0), servicePort as for portDefinitions.
     */
    portMappings?: BridgePortMapping[];
  };
  /** `container.volumes[].persistent`: the app is resident (stateful.ts). */
  persistentVolumes?: PersistentVolume[];
  /** Failures in a row (without a healthy or long-enough run) after which relaunching stops. */
  maxConsecutiveFailures: number;
  version: string;
  versionInfo: { lastScalingAt: string; lastConfigChangeAt: string };
}

export const DEFAULT_MAX_CONSECUTIVE_FAILURES = 10;
const schema = compileValidator(AppDefinition);

/** Validate a request body as an app; throws 422 with every failing path. */
export function parseApp(input: unknown, now: Date, base = '/'): App {
  // Marathon writes absent optional fields as null (e.g. "acceptedResourceRoles": null).
  const body = input && typeof input === 'object' && !Array.isArray(input) ? Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null)) : input;
  const details: ErrorDetail[] = schema.details(body);
  if (details.length > 0) throw invalid(details);
  const def = body as AppDefinition;
  const id = normalizeId(def.id, base);
  const persistentVolumes = persistentVolumesOf(def.container?.['volumes']);
  const resident = residentDefaults(def, persistentVolumes);
  const more = [...(typeof id === 'string' ? [] : [{ path: '/id', errors: [id.error] }]), ...semanticErrors(def), ...unsupportedFields(def), ...resident.errors];
  if (more.length > 0) throw invalid(more);
  const version = now.toISOString();
  // container.portMappings on host networking are host ports by another name (app-schema.ts); on
  // the bridge each is a host port too, forwarded to its containerPort.
  const bridged = bridgeMappings(def);
  const mappings = (bridged ?? (Array.isArray(def.container?.['portMappings']) ? def.container['portMappings'] : undefined)) as
    | Array<{ servicePort?: number; protocol?: PortDef['protocol']; name?: string; labels?: Record<string, string> }>
    | undefined;
  const portDefinitions: PortDef[] = def.portDefinitions
    ? def.portDefinitions.map((p) => ({ port: p.port ?? 0, protocol: p.protocol ?? 'tcp', ...(p.name ? { name: p.name } : {}), ...(p.labels ? { labels: p.labels } : {}) }))
    : mappings !== undefined && (!def.ports || bridged !== undefined)
      ? mappings.map((m) => ({ port: m.servicePort ?? 0, protocol: m.protocol ?? 'tcp', ...(m.name ? { name: m.name } : {}), ...(m.labels ? { labels: m.labels } : {}) }))
      : def.ports
        ? def.ports.map((port) => ({ port, protocol: 'tcp' }))
        : [{ port: 0, protocol: 'tcp', name: 'default' }];
  return {
    id: id as string,
    ...(typeof def.cmd === 'string' ? { cmd: def.cmd } : {}),
    ...(Array.isArray(def.args) && def.args.length > 0 ? { args: def.args } : {}),
    ...(typeof def.user === 'string' ? { user: def.user } : {}),
    env: Object.fromEntries(Object.entries(def.env ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : { secret: v.secret }])),
    ...(def.secrets && Object.keys(def.secrets).length > 0 ? { secrets: Object.fromEntries(Object.entries(def.secrets as SecretDecls).map(([name, d]) => [name, { source: d.source }])) } : {}),
    labels: def.labels ?? {},
    instances: def.instances ?? 1,
    cpus: def.cpus ?? 1,
    mem: def.mem ?? 128,
    disk: def.disk ?? 0,
    gpus: def.gpus ?? 0,
    portDefinitions,
    requirePorts: def.requirePorts ?? false,
    constraints: def.constraints ?? [],
    ...(def.acceptedResourceRoles ? { acceptedResourceRoles: def.acceptedResourceRoles } : {}),
    ...(typeof def.role === 'string' ? { role: def.role } : {}),
    healthChecks: def.healthChecks ?? [],
    readinessChecks: (def.readinessChecks ?? []).map((r) => ({
      name: r.name ?? 'readinessCheck',
      protocol: r.protocol ?? 'HTTP',
      path: r.path ?? '/',
      portName: r.portName ?? 'http-api',
      intervalSeconds: r.intervalSeconds ?? 30,
      timeoutSeconds: r.timeoutSeconds ?? 10,
      httpStatusCodesForReady: r.httpStatusCodesForReady ?? [200],
      preserveLastResponse: r.preserveLastResponse ?? false,
    })),
    upgradeStrategy: { minimumHealthCapacity: def.upgradeStrategy?.minimumHealthCapacity ?? 1, maximumOverCapacity: def.upgradeStrategy?.maximumOverCapacity ?? 1 },
    backoffSeconds: def.backoffSeconds ?? 1,
    backoffFactor: def.backoffFactor ?? 1.15,
    maxLaunchDelaySeconds: def.maxLaunchDelaySeconds ?? 300,
    killSelection: def.killSelection ?? 'YOUNGEST_FIRST',
    unreachableStrategy:
      def.unreachableStrategy === 'disabled'
        ? 'disabled'
        : { inactiveAfterSeconds: def.unreachableStrategy?.inactiveAfterSeconds ?? 0, expungeAfterSeconds: def.unreachableStrategy?.expungeAfterSeconds ?? 0 },
    ...(typeof def.taskKillGracePeriodSeconds === 'number' ? { taskKillGracePeriodSeconds: def.taskKillGracePeriodSeconds } : {}),
    fetch: def.fetch ?? (def.uris ?? []).map((uri) => ({ uri })),
    dependencies: def.dependencies ?? [],
    networks: (def.networks ?? (bridged !== undefined ? [{ mode: 'container/bridge' }] : [{ mode: 'host' }])).map((n) => ({ mode: n.mode ?? 'host', ...(n.name ? { name: n.name } : {}) })),
    maxConsecutiveFailures: def.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ...appContainer(def),
    ...(persistentVolumes.length === 0 ? {} : { persistentVolumes }),
    ...(resident.unreachableStrategy === undefined ? {} : { unreachableStrategy: resident.unreachableStrategy }),
    ...(resident.upgradeStrategy === undefined ? {} : { upgradeStrategy: resident.upgradeStrategy }),
    version,
    versionInfo: { lastScalingAt: version, lastConfigChangeAt: version },
  };
}

/** The container Drover runs: an image, `docker.privileged`, and secret volumes. */
function appContainer(def: AppDefinition): { container?: NonNullable<App['container']> } {
  const d = def.container?.['docker'] as { image?: unknown; forcePullImage?: unknown; pullConfig?: { secret?: unknown } | null; privileged?: unknown } | undefined;
  const privileged = d?.privileged === true;
  const image = typeof d?.image === 'string' ? d.image : undefined;
  const raw = nonPersistentVolumes(def.container?.['volumes']);
  const mappings = bridgeMappings(def)?.map((m) => ({
    containerPort: m.containerPort ?? 0,
    hostPort: m.hostPort ?? 0,
    servicePort: m.servicePort ?? 0,
    protocol: m.protocol ?? 'tcp',
    ...(m.name === undefined ? {} : { name: m.name }),
    ...(m.labels === undefined ? {} : { labels: m.labels }),
  }));
  const volumes: Array<SecretVolume | HostVolume> = Array.isArray(raw)
    ? raw.map((v) => (isHostVolume(v) ? hostVolumesOf([v])[0]! : { containerPath: (v as SecretVolume).containerPath, secret: (v as SecretVolume).secret }))
    : [];
  if (!privileged && volumes.length === 0 && image === undefined && mappings === undefined) return {};
  const docker = {
    ...(image === undefined ? {} : { image }),
    ...(image !== undefined && d?.forcePullImage === true ? { forcePullImage: true } : {}),
    ...(image !== undefined && typeof d?.pullConfig?.secret === 'string' ? { pullConfig: { secret: d.pullConfig.secret } } : {}),
    ...(privileged ? { privileged: true as const } : {}),
  };
  return {
    container: {
      type: def.container?.['type'] === 'DOCKER' ? 'DOCKER' : 'MESOS',
      ...(Object.keys(docker).length > 0 ? { docker } : {}),
      ...(volumes.length > 0 ? { volumes } : {}),
      ...(mappings === undefined ? {} : { portMappings: mappings }),
    },
  };
}

export interface BridgePortMapping {
  containerPort: number;
  hostPort: number;
  servicePort: number;
  protocol: PortDef['protocol'];
  name?: string;
  labels?: Record<string, string>;
}

type RawMapping = Partial<BridgePortMapping>;

/** On bridge networking (networks or the deprecated docker.network): its port mappings, container.portMappings or docker.portMappings; else undefined. */
function bridgeMappings(def: AppDefinition): RawMapping[] | undefined {
  const docker = def.container?.['docker'] as { network?: unknown; portMappings?: unknown } | null | undefined;
  const bridge = def.networks !== undefined ? def.networks.some((n) => n.mode === 'container/bridge') : docker?.network === 'BRIDGE';
  if (!bridge) return undefined;
  const mappings = def.container?.['portMappings'] ?? docker?.portMappings;
  // Marathon: no mappings on the bridge is one dynamic port named default.
  return Array.isArray(mappings) ? (mappings as RawMapping[]) : [{ containerPort: 0, hostPort: 0, name: 'default' }];
}

function invalid(details: ErrorDetail[]): DroverError {
  return new DroverError('VALIDATION', 'Object is not valid', { details });
}

/** True when only `instances` differs: a scale, not a configuration change (no restart). */
export function isScaleOnly(before: App, after: App): boolean {
  const strip = (a: App) => ({ ...a, instances: 0, version: '', versionInfo: undefined });
  return JSON.stringify(strip(before)) === JSON.stringify(strip(after));
}

/** Mesos task name: the app id reversed with dots (`/prod/web` → `web.prod`), as Marathon. */
export function taskName(appId: string): string {
  return appId.split('/').filter(Boolean).reverse().join('.');
}

/** Marathon's task id form: `prod_web.instance-<uuid>._app.1`. */
export function taskId(appId: string, uuid: string): string {
  let prefix = taskIdPrefixes.get(appId);
  if (prefix === undefined) {
    prefix = appId.split('/').filter(Boolean).join('_');
    // One entry per app id ever launched: bounded by the apps, not by the tasks.
    taskIdPrefixes.set(appId, prefix);
  }
  return `${prefix}.instance-${uuid}._app.1`;
}

const taskIdPrefixes = new Map<string, string>();

export function appIdOfTask(task: string): string | undefined {
  const match = /^(.+)\.instance-[0-9a-f-]+\._app\.\d+$/.exec(task);
  return match?.[1] ? `/${match[1].split('_').join('/')}` : undefined;
}
