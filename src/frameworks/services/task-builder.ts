/**
 * From an app and a placement to a Mesos TaskInfo: command, Marathon's task environment
 * (docs/task-environment-vars.md), the health check translated to Mesos' agent-side form, the
 * kill grace period, labels. Pure.
 */
import { MESOS_BRIDGE, mesosImageContainer } from '../sdk/container-image.ts';
import type { Resources } from '../../resources/index.ts';
import type { App } from './app.ts';
import { taskName } from './app.ts';
import { plainEnv, secretTaskParts, secretVolumesOf } from '../sdk/secrets.ts';
import { hostVolumesOf, mesosHostVolumes } from '../sdk/host-volumes.ts';

export function taskEnvironment(app: App, host: string, ports: number[]): Record<string, string> {
  const env: Record<string, string> = {
    ...plainEnv(app.env),
    MARATHON_APP_ID: app.id,
    MARATHON_APP_VERSION: app.version,
    MARATHON_APP_RESOURCE_CPUS: String(app.cpus),
    MARATHON_APP_RESOURCE_MEM: String(app.mem),
    MARATHON_APP_RESOURCE_DISK: String(app.disk),
    MARATHON_APP_RESOURCE_GPUS: String(app.gpus),
    MARATHON_APP_LABELS: Object.keys(app.labels).map(labelName).join(' '),
    HOST: host,
  };
  for (const [k, v] of Object.entries(app.labels)) env[`MARATHON_APP_LABEL_${labelName(k)}`] = v;
  ports.forEach((port, i) => {
    env[`PORT${i}`] = String(port);
    const name = app.portDefinitions[i]?.name;
    if (name) env[`PORT_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(port);
  });
  if (ports.length > 0) {
    env['PORT'] = String(ports[0]);
    env['PORTS'] = ports.join(',');
  }
  return env;
}

function labelName(key: string): string {
  return key.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** Marathon health check → Mesos HealthCheck (run by the agent, as MESOS_* checks are). */
export function mesosHealthCheck(app: App, ports: number[]): Record<string, unknown> | undefined {
  const hc = app.healthChecks[0];
  if (!hc) return undefined;
  const protocol = hc.protocol ?? 'HTTP';
  const port = hc.port ?? ports[hc.portIndex ?? 0];
  const common = {
    delay_seconds: hc.delaySeconds ?? 15,
    interval_seconds: hc.intervalSeconds ?? 60,
    timeout_seconds: hc.timeoutSeconds ?? 20,
    // When the agent reports the task unhealthy. Marathon's 0 means "never kill", not "no
    // failures": the scheduler reads it (status-updates.ts), the agent reports at the first.
    consecutive_failures: Math.max(1, hc.maxConsecutiveFailures ?? 3),
    grace_period_seconds: hc.gracePeriodSeconds ?? 300,
  };
  if (protocol === 'COMMAND') return { type: 'COMMAND', command: { value: hc.command?.value ?? 'true', shell: true }, ...common };
  if (protocol === 'TCP' || protocol === 'MESOS_TCP') return { type: 'TCP', tcp: { port }, ...common };
  const scheme = protocol.endsWith('HTTPS') ? 'https' : 'http';
  return { type: 'HTTP', http: { port, path: hc.path ?? '/', scheme }, ...common };
}

type Variable = { name: string; type: 'VALUE'; value: string };

/** What every task of one app version shares, built once (an App is replaced, never changed). */
interface AppTaskParts {
  name: string;
  /** The environment without the per-task variables (HOST and the ports); taskEnvironment's keys in its order. */
  head: Variable[];
  labels: Variable[];
  fixed: boolean;
}

const partsByApp = new WeakMap<App, AppTaskParts>();

function appTaskParts(app: App): AppTaskParts {
  let parts = partsByApp.get(app);
  if (parts !== undefined) return parts;
  // The environment with no host and no ports, split where HOST goes. When the app's own env or
  // labels name one of the per-task variables, the cache could reorder or lose it: build per task.
  const base = Object.entries(taskEnvironment(app, '', [])).map(([name, value]): Variable => ({ name, type: 'VALUE', value }));
  const at = base.findIndex((v) => v.name === 'HOST');
  const perTask = (name: string) => name === 'HOST' || name === 'PORT' || name === 'PORTS' || name.startsWith('PORT');
  const names = app.portDefinitions.map((p) => p.name?.toUpperCase().replace(/[^A-Z0-9_]/g, '_')).filter((n) => n !== undefined);
  const fixed = !Object.keys(app.env).some(perTask) && new Set(names).size === names.length;
  parts = { name: taskName(app.id), head: base.slice(0, at), labels: base.slice(at + 1), fixed };
  partsByApp.set(app, parts);
  return parts;
}

function taskVariables(app: App, host: string, ports: number[]): Variable[] {
  const parts = appTaskParts(app);
  if (!parts.fixed) return Object.entries(taskEnvironment(app, host, ports)).map(([name, value]) => ({ name, type: 'VALUE', value }));
  const variables: Variable[] = [...parts.head, { name: 'HOST', type: 'VALUE', value: host }, ...parts.labels];
  ports.forEach((port, i) => {
    variables.push({ name: `PORT${i}`, type: 'VALUE', value: String(port) });
    const name = app.portDefinitions[i]?.name;
    if (name) variables.push({ name: `PORT_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`, type: 'VALUE', value: String(port) });
  });
  if (ports.length > 0) {
    variables.push({ name: 'PORT', type: 'VALUE', value: String(ports[0]) }, { name: 'PORTS', type: 'VALUE', value: ports.join(',') });
  }
  return variables;
}

export function buildTaskInfo(app: App, taskId: string, agentId: string, host: string, ports: number[], resources: Resources): Record<string, unknown> {
  // The per-app parts are shared between tasks: the TaskInfo is only serialised, never changed.
  const plain = taskVariables(app, host, ports);
  // References only: the agent resolves them at launch (src/protocol/mesos/secrets.ts).
  const secretParts = app.secrets === undefined ? undefined : secretTaskParts(app.env, app.secrets, secretVolumesOf(app.container?.volumes ?? []));
  const variables = secretParts === undefined || secretParts.variables.length === 0 ? plain : [...plain, ...secretParts.variables];
  // With an image, `args` go after its Entrypoint and no command at all runs its Entrypoint/Cmd (Mesos' rules).
  const image = app.container?.docker?.image;
  const command =
    app.cmd !== undefined
      ? { value: app.cmd, shell: true }
      : image !== undefined
        ? { shell: false, ...(app.args === undefined ? {} : { arguments: app.args }) }
        : { value: app.args?.[0] ?? '', shell: false, arguments: app.args ?? [] };
  const health = mesosHealthCheck(app, ports);
  return {
    name: appTaskParts(app).name,
    task_id: { value: taskId },
    agent_id: { value: agentId },
    resources: resources.toJSON(),
    command: {
      ...command,
      environment: { variables },
      ...(app.user ? { user: app.user } : {}),
      ...(app.fetch.length > 0
        ? { uris: app.fetch.map((f) => ({ value: f.uri, extract: f.extract ?? true, executable: f.executable ?? false, cache: f.cache ?? false, ...(f.destPath ? { output_file: f.destPath } : {}) })) }
        : {}),
    },
    ...(health ? { health_check: health } : {}),
    ...(app.taskKillGracePeriodSeconds !== undefined ? { kill_policy: { grace_period: { nanoseconds: Math.round(app.taskKillGracePeriodSeconds * 1e9) } } } : {}),
    ...taskContainer(app, [...(secretParts?.volumes ?? []), ...mesosHostVolumes(hostVolumesOf(app.container?.volumes ?? []))], ports),
    labels: { labels: Object.entries(app.labels).map(([key, value]) => ({ key, value })) },
    discovery: {
      visibility: 'FRAMEWORK',
      name: appTaskParts(app).name,
      ports: { ports: ports.map((number, i) => discoveryPort(app.portDefinitions[i], number)) },
    },
  };
}

/** DiscoveryInfo.Port, with the port's labels as Marathon passes them (VIP_n labels reach the agents' VIP tables this way). */
function discoveryPort(def: App['portDefinitions'][number] | undefined, number: number): Record<string, unknown> {
  const labels = def?.labels === undefined ? [] : Object.entries(def.labels);
  return { number, protocol: def?.protocol ?? 'tcp', ...(def?.name ? { name: def.name } : {}), ...(labels.length > 0 ? { labels: { labels: labels.map(([key, value]) => ({ key, value })) } } : {}) };
}

/** The named (CNI) networks an app asks for; empty for host networking. */
export function containerNetworks(app: App): string[] {
  return app.networks.filter((n) => n.mode === 'container' && n.name).map((n) => n.name!);
}

/**
 * TaskInfo.container: the image (mesos.image, whichever container type the app named: there is no
 * Docker daemon), CNI networks, and Mesos' docker.privileged when the app asks (the agent decides
 * whether it may).
 */
function taskContainer(app: App, volumes: Array<Record<string, unknown>>, ports: readonly number[]): { container?: Record<string, unknown> } {
  const networks = containerNetworks(app);
  const docker = app.container?.docker;
  const privileged = docker?.privileged === true;
  const pullSecret = docker?.pullConfig === undefined ? undefined : app.secrets?.[docker.pullConfig.secret]?.source;
  const image =
    docker?.image === undefined
      ? {}
      : mesosImageContainer({ image: docker.image, ...(docker.forcePullImage === true ? { forcePull: true } : {}), ...(pullSecret === undefined ? {} : { pullSecretPath: pullSecret }) });
  const bridge = bridgeNetworkInfo(app, ports);
  if (networks.length === 0 && bridge === undefined && !privileged && volumes.length === 0 && docker?.image === undefined) return {};
  return {
    container: {
      type: 'MESOS',
      ...image,
      ...(networks.length > 0 ? { network_infos: networks.map((name) => ({ name })) } : {}),
      ...(bridge === undefined ? {} : { network_infos: [bridge] }),
      ...(privileged ? { docker: { privileged: true } } : {}),
      ...(volumes.length > 0 ? { volumes } : {}),
    },
  };
}

/**
 * A bridge app's NetworkInfo: each mapping's allocated host port (`ports[i]`) forwarded to its
 * containerPort (0: the same number), one mapping per protocol.
 */
function bridgeNetworkInfo(app: App, ports: readonly number[]): Record<string, unknown> | undefined {
  const mappings = app.container?.portMappings;
  if (mappings === undefined || !app.networks.some((n) => n.mode === 'container/bridge')) return undefined;
  const port_mappings = mappings.flatMap((m, i) => {
    const hostPort = ports[i];
    if (hostPort === undefined) return [];
    return m.protocol.split(',').map((protocol) => ({ host_port: hostPort, container_port: m.containerPort === 0 ? hostPort : m.containerPort, protocol }));
  });
  return { name: MESOS_BRIDGE, ...(port_mappings.length > 0 ? { port_mappings } : {}) };
}
