/**
 * Marathon's pod JSON (`types/pod.raml`, `podContainer.raml`; m2-anchors §4a) parsed into a Pod:
 * defaults filled in, every problem reported with its JSON path (422, Marathon's
 * `{message, details: [{path, errors}]}`), nothing half-accepted.
 *
 * Supported: containers with `exec` (shell or argv) and/or a DOCKER `image` (its own root
 * filesystem from the agent's image store; without exec the image's Entrypoint/Cmd), resources, endpoints (host ports, fixed or
 * from the offer), environment, user, labels, volumeMounts onto ephemeral or host volumes (at
 * sandbox-relative paths; absolute and read-only ones in image containers), artifacts (fetched into the container's sandbox), HTTP/TCP/command
 * health checks (Mesos-level, run by the agent), lifecycle.killGracePeriodSeconds;
 * networks: `[{mode: host}]`, or named container networks (`{mode: container, name}`: the agent's
 * CNI networks; one namespace for the instance, its endpoints' `containerPort` there and an
 * optional `hostPort` forwarded to it) or `container/bridge` (the agent's `mesos-bridge`); scaling (fixed); scheduling.upgrade (the rolling replace),
 * backoff and killSelection (stored); executorResources; `role` and
 * scheduling.placement.acceptedResourceRoles (podRoleErrors checks them against the framework's roles).
 *
 * Persistent volumes (`persistent: {size}`): each instance reserves its resources and volumes on
 * one agent and is relaunched there, finding its data (pods.ts, PodSlot).
 * Refused with their path until their part exists: APPC images and pull secrets, secret volumes, read-only or absolute mount paths without an
 * image (both need an image's root filesystem), secrets, placement constraints, resourceLimits,
 * linuxInfo, tty, check.
 */
import { DroverError } from '../../errors/errors.ts';
import { normalizeId } from './app-schema.ts';
import { roleErrors } from './placement.ts';

export interface PodEndpoint {
  name: string;
  /** 0: a port from the offer. Absent (container networks only): no host port. */
  hostPort?: number;
  containerPort?: number;
  protocol: string[];
  labels: Record<string, string>;
}

/** Host networking, a named CNI network, or the agent's `mesos-bridge` (Marathon's container/bridge). */
export type PodNetwork = { mode: 'host' } | { mode: 'container'; name: string; labels: Record<string, string> } | { mode: 'container/bridge'; labels: Record<string, string> };

/** The CNI network of the agent that Marathon's `container/bridge` is (Mesos' name). */
export const BRIDGE_NETWORK = 'mesos-bridge';

/** The CNI networks a pod's instances join (none: host networking). */
export function podNetworkNames(pod: Pick<Pod, 'networks'>): string[] {
  return pod.networks.flatMap((n) => (n.mode === 'container' ? [n.name] : n.mode === 'container/bridge' ? [BRIDGE_NETWORK] : []));
}

export interface PodHealthCheck {
  http?: { endpoint: string; path: string; scheme: 'HTTP' | 'HTTPS' };
  tcp?: { endpoint: string };
  exec?: { command: { shell?: string; argv?: string[] } };
  gracePeriodSeconds: number;
  intervalSeconds: number;
  maxConsecutiveFailures: number;
  timeoutSeconds: number;
  delaySeconds: number;
}

export interface PodContainer {
  name: string;
  /** No exec with an image: the image's own Entrypoint and Cmd. */
  exec: { command: { shell?: string; argv?: string[] } };
  /** Marathon's `image` (kind DOCKER): the container runs in its own root filesystem from the agent's image store. */
  image?: { kind: 'DOCKER'; id: string; forcePull: boolean };
  resources: { cpus: number; mem: number; disk: number; gpus: number };
  endpoints: PodEndpoint[];
  environment: Record<string, string>;
  user?: string;
  labels: Record<string, string>;
  /** mountPath: relative to the sandbox, or absolute inside the image (image containers only). */
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  artifacts: Array<{ uri: string; extract: boolean; executable: boolean; cache: boolean; destPath?: string }>;
  healthCheck?: PodHealthCheck;
  lifecycle?: { killGracePeriodSeconds: number };
}

export interface Pod {
  id: string;
  /** The role its tasks run in (Marathon's pod `role`); absent: the framework's default role. */
  role?: string;
  labels: Record<string, string>;
  version: string;
  versionInfo: { lastConfigChangeAt: string; lastScalingAt: string };
  user?: string;
  environment: Record<string, string>;
  containers: PodContainer[];
  /** Ephemeral (neither), a host directory, or persistent (kept with the instance's reservation on its agent). */
  volumes: Array<{ name: string; host?: string; persistent?: { size: number } }>;
  networks: PodNetwork[];
  scaling: { kind: 'fixed'; instances: number; maxInstances?: number };
  scheduling: {
    backoff: { backoff: number; backoffFactor: number; maxLaunchDelay: number };
    upgrade: { minimumHealthCapacity: number; maximumOverCapacity: number };
    killSelection: 'YOUNGEST_FIRST' | 'OLDEST_FIRST';
    /** Which roles' resources it may use (an empty list is no restriction, Marathon's default). */
    placement?: { acceptedResourceRoles: string[] };
    /** As an app's (Marathon's defaults 0/0): when an unreachable instance is replaced, and forgotten. */
    unreachableStrategy: { inactiveAfterSeconds: number; expungeAfterSeconds: number } | 'disabled';
  };
  executorResources: { cpus: number; mem: number; disk: number };
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A CNI network's name (a config's `name`; also the file-system-safe part of Mesos' network names). */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const MAX_STRING = 64 * 1024;
const MAX_ITEMS = 256;

type Json = Record<string, unknown>;

class Checker {
  readonly details: Array<{ path: string; errors: string[] }> = [];
  fail(path: string, error: string): void {
    const d = this.details.find((x) => x.path === path);
    if (d) d.errors.push(error);
    else this.details.push({ path, errors: [error] });
  }
  object(v: unknown, path: string, required = false): Json | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.fail(path, 'must be an object');
      return undefined;
    }
    return v as Json;
  }
  array(v: unknown, path: string, required = false): unknown[] {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required');
      return [];
    }
    if (!Array.isArray(v)) {
      this.fail(path, 'must be an array');
      return [];
    }
    if (v.length > MAX_ITEMS) {
      this.fail(path, `must have at most ${MAX_ITEMS} items`);
      return [];
    }
    return v;
  }
  string(v: unknown, path: string, required = false): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.fail(path, 'must be a string');
      return undefined;
    }
    if (v.length > MAX_STRING) {
      this.fail(path, `must be at most ${MAX_STRING} characters`);
      return undefined;
    }
    return v;
  }
  number(v: unknown, path: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, integer = false): number {
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      this.fail(path, integer ? 'must be an integer' : 'must be a number');
      return fallback;
    }
    if (v < min || v > max) {
      this.fail(path, `must be between ${min} and ${max}`);
      return fallback;
    }
    return v;
  }
  boolean(v: unknown, path: string, fallback: boolean): boolean {
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.fail(path, 'must be a boolean');
      return fallback;
    }
    return v;
  }
  stringMap(v: unknown, path: string): Record<string, string> {
    const o = this.object(v, path);
    const out: Record<string, string> = {};
    if (o === undefined) return out;
    const entries = Object.entries(o);
    if (entries.length > 1024) {
      this.fail(path, 'must have at most 1024 entries');
      return out;
    }
    for (const [k, val] of entries) {
      if (k.length > 4096) this.fail(`${path}/${k.slice(0, 64)}`, 'name is too long');
      else if (typeof val === 'string' && val.length <= MAX_STRING) out[k] = val;
      else if (typeof val === 'object' && val !== null && 'secret' in val) this.fail(`${path}/${k}`, 'secret references are not supported for pods yet');
      else this.fail(`${path}/${k}`, 'must be a string');
    }
    return out;
  }
  /** A field this version cannot honour: present (and not empty) is an error. */
  unsupported(v: unknown, path: string, why: string): void {
    if (v === undefined || v === null || v === false) return;
    if (Array.isArray(v) && v.length === 0) return;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return;
    this.fail(path, why);
  }
}

function command(c: Checker, raw: unknown, path: string): { shell?: string; argv?: string[] } {
  const cmd = c.object(raw, path, true);
  if (cmd === undefined) return {};
  if (cmd['shell'] !== undefined && cmd['argv'] !== undefined) c.fail(path, "must have one of 'shell' or 'argv', not both");
  if (cmd['shell'] !== undefined) {
    const shell = c.string(cmd['shell'], `${path}/shell`);
    if (shell !== undefined && shell.trim() === '') c.fail(`${path}/shell`, 'must not be empty');
    return shell === undefined ? {} : { shell };
  }
  if (cmd['argv'] !== undefined) {
    const argv = c.array(cmd['argv'], `${path}/argv`).map((a, i) => c.string(a, `${path}/argv/${i}`) ?? '');
    if (argv.length === 0) c.fail(`${path}/argv`, 'must not be empty');
    return { argv };
  }
  c.fail(path, "must have 'shell' or 'argv'");
  return {};
}

function healthCheck(c: Checker, raw: unknown, path: string, endpoints: ReadonlySet<string>): PodHealthCheck | undefined {
  const hc = c.object(raw, path);
  if (hc === undefined) return undefined;
  const kinds = ['http', 'tcp', 'exec'].filter((k) => hc[k] !== undefined);
  if (kinds.length !== 1) {
    c.fail(path, "must have exactly one of 'http', 'tcp' or 'exec'");
    return undefined;
  }
  const out: PodHealthCheck = {
    gracePeriodSeconds: c.number(hc['gracePeriodSeconds'], `${path}/gracePeriodSeconds`, 300, 0, 86400, true),
    intervalSeconds: c.number(hc['intervalSeconds'], `${path}/intervalSeconds`, 60, 1, 86400, true),
    maxConsecutiveFailures: c.number(hc['maxConsecutiveFailures'], `${path}/maxConsecutiveFailures`, 3, 0, 1000, true),
    timeoutSeconds: c.number(hc['timeoutSeconds'], `${path}/timeoutSeconds`, 20, 1, 86400, true),
    delaySeconds: c.number(hc['delaySeconds'], `${path}/delaySeconds`, 15, 0, 86400, true),
  };
  const endpoint = (v: unknown, p: string): string => {
    const e = c.string(v, p, true) ?? '';
    if (e !== '' && !endpoints.has(e)) c.fail(p, `must name an endpoint of this container`);
    return e;
  };
  if (hc['http'] !== undefined) {
    const http = c.object(hc['http'], `${path}/http`) ?? {};
    const p = c.string(http['path'], `${path}/http/path`) ?? '/';
    if (!p.startsWith('/')) c.fail(`${path}/http/path`, "must start with '/'");
    const scheme = http['scheme'] ?? 'HTTP';
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') c.fail(`${path}/http/scheme`, "must be 'HTTP' or 'HTTPS'");
    out.http = { endpoint: endpoint(http['endpoint'], `${path}/http/endpoint`), path: p, scheme: scheme === 'HTTPS' ? 'HTTPS' : 'HTTP' };
  } else if (hc['tcp'] !== undefined) {
    const tcp = c.object(hc['tcp'], `${path}/tcp`) ?? {};
    out.tcp = { endpoint: endpoint(tcp['endpoint'], `${path}/tcp/endpoint`) };
  } else {
    const exec = c.object(hc['exec'], `${path}/exec`) ?? {};
    out.exec = { command: command(c, exec['command'], `${path}/exec/command`) };
  }
  return out;
}

/** A container's `image` (Marathon's podContainer.raml Image): DOCKER only, pulled by the agent. */
function podImage(c: Checker, raw: unknown, path: string): PodContainer['image'] {
  const image = c.object(raw, path);
  if (image === undefined) return undefined;
  const kind = image['kind'] ?? 'DOCKER';
  if (kind !== 'DOCKER') c.fail(`${path}/kind`, `'${String(kind).slice(0, 32)}' images are not supported: only DOCKER (OCI and Docker registries)`);
  const id = c.string(image['id'], `${path}/id`, true);
  if (id !== undefined && (id === '' || id.length > 512 || /\s/.test(id))) c.fail(`${path}/id`, 'must be an image reference of 1 to 512 characters, without spaces');
  c.unsupported(image['pullConfig'], `${path}/pullConfig`, 'pull secrets are not supported for pods yet');
  const forcePull = c.boolean(image['forcePull'], `${path}/forcePull`, false);
  return { kind: 'DOCKER', id: id ?? '', forcePull };
}

/** The pod, or DROVER_ERR_VALIDATION (422) with every problem's path. `now` dates the version. */
export function parsePod(raw: unknown, now: Date, fixedId?: string): Pod {
  const c = new Checker();
  const body = c.object(raw, '/', true);
  if (body === undefined) throw new DroverError('VALIDATION', 'Object is not valid', { details: c.details });
  let id = '/';
  const rawId = fixedId ?? body['id'];
  const idString = c.string(rawId, '/id', true);
  if (idString !== undefined) {
    const n = normalizeId(idString);
    if (typeof n === 'string') id = n;
    else c.fail('/id', n.error);
  }
  const version = now.toISOString();

  const volumes: Pod['volumes'] = [];
  const volumeNames = new Set<string>();
  c.array(body['volumes'], '/volumes').forEach((v, i) => {
    const p = `/volumes/${i}`;
    const vol = c.object(v, p, true);
    if (vol === undefined) return;
    const name = c.string(vol['name'], `${p}/name`, true) ?? '';
    if (name !== '' && !NAME.test(name)) c.fail(`${p}/name`, 'must be lowercase letters, digits and dashes (at most 63)');
    if (volumeNames.has(name)) c.fail(`${p}/name`, 'must be unique in the pod');
    volumeNames.add(name);
    // Persistent (Marathon's `persistent: {size}`, MiB of the root disk): reserved with the instance on one agent (pods.ts).
    let persistent: { size: number } | undefined;
    if (vol['persistent'] !== undefined) {
      const po = c.object(vol['persistent'], `${p}/persistent`, true);
      if (po !== undefined) {
        const size = c.number(po['size'], `${p}/persistent/size`, 0, 1, 16 * 1024 * 1024, true);
        if (!Number.isInteger(size)) c.fail(`${p}/persistent/size`, 'must be a whole number of MiB');
        if (po['type'] !== undefined && po['type'] !== 'root') c.fail(`${p}/persistent/type`, "only 'root' disks are supported");
        c.unsupported(po['maxSize'], `${p}/persistent/maxSize`, 'mount disks (maxSize) are not supported');
        c.unsupported(po['constraints'], `${p}/persistent/constraints`, 'persistent volume constraints are not supported');
        c.unsupported(po['profileName'], `${p}/persistent/profileName`, 'disk profiles are not supported');
        persistent = { size };
      }
      if (vol['host'] !== undefined) c.fail(`${p}/host`, 'a volume is either a host volume or persistent');
    }
    c.unsupported(vol['secret'], `${p}/secret`, 'secret volumes are not supported for pods yet');
    const host = c.string(vol['host'], `${p}/host`);
    if (host !== undefined && !host.startsWith('/')) c.fail(`${p}/host`, 'must be an absolute path on the agent');
    if (host !== undefined && host.split('/').includes('..')) c.fail(`${p}/host`, "must not contain '..'");
    volumes.push({ name, ...(host === undefined ? {} : { host }), ...(persistent === undefined ? {} : { persistent }) });
  });

  const networks: PodNetwork[] = [];
  const rawNetworks = c.array(body['networks'], '/networks');
  rawNetworks.forEach((n, i) => {
    const p = `/networks/${i}`;
    const net = c.object(n, p, true);
    if (net === undefined) return;
    const mode = net['mode'] ?? 'container';
    const labels = c.stringMap(net['labels'], `${p}/labels`);
    if (mode === 'host') {
      if (net['name'] !== undefined) c.fail(`${p}/name`, 'must not be set for host networking');
      networks.push({ mode: 'host' });
    } else if (mode === 'container') {
      const name = c.string(net['name'], `${p}/name`, true) ?? '';
      if (name !== '' && !NETWORK_NAME.test(name)) c.fail(`${p}/name`, 'must be 1 to 63 of [A-Za-z0-9_.-], starting with a letter or digit');
      if (networks.some((x) => x.mode === 'container' && x.name === name)) c.fail(`${p}/name`, 'must be unique in the pod');
      networks.push({ mode: 'container', name, labels });
    } else if (mode === 'container/bridge') {
      if (net['name'] !== undefined) c.fail(`${p}/name`, 'must not be set for container/bridge networking');
      networks.push({ mode: 'container/bridge', labels });
    } else c.fail(`${p}/mode`, "must be 'host', 'container' or 'container/bridge'");
  });
  if (rawNetworks.length === 0) c.fail('/networks', 'is required: [{"mode": "host"}], or container networks by name');
  if (networks.length > 1 && networks.some((n) => n.mode !== 'container')) c.fail('/networks', 'host and container/bridge networking cannot be combined with other networks');
  if (networks.length > 8) c.fail('/networks', 'at most 8 networks');
  const onContainerNetworks = networks.some((n) => n.mode !== 'host');
  const bridged = networks.some((n) => n.mode === 'container/bridge');
  const containerPorts = new Set<number>();

  const containers: PodContainer[] = [];
  const containerNames = new Set<string>();
  const endpointNames = new Set<string>();
  const fixedPorts = new Set<number>();
  const rawContainers = c.array(body['containers'], '/containers', true);
  if (body['containers'] !== undefined && rawContainers.length === 0) c.fail('/containers', 'must have at least one container');
  rawContainers.forEach((r, i) => {
    const p = `/containers/${i}`;
    const ct = c.object(r, p, true);
    if (ct === undefined) return;
    const name = c.string(ct['name'], `${p}/name`, true) ?? '';
    if (name !== '' && !NAME.test(name)) c.fail(`${p}/name`, 'must be lowercase letters, digits and dashes (at most 63)');
    if (containerNames.has(name)) c.fail(`${p}/name`, 'must be unique in the pod');
    containerNames.add(name);
    const image = podImage(c, ct['image'], `${p}/image`);
    c.unsupported(ct['resourceLimits'], `${p}/resourceLimits`, 'is not supported for pods yet');
    c.unsupported(ct['linuxInfo'], `${p}/linuxInfo`, 'is not supported for pods yet');
    c.unsupported(ct['tty'], `${p}/tty`, 'is not supported for pods yet');
    c.unsupported(ct['check'], `${p}/check`, 'is not supported for pods yet');
    c.unsupported(ct['secrets'], `${p}/secrets`, 'is not supported for pods yet');
    // An image says what to run when exec does not (its Entrypoint and Cmd).
    const exec = c.object(ct['exec'], `${p}/exec`, image === undefined);
    const cmd = exec === undefined ? {} : command(c, exec['command'], `${p}/exec/command`);
    const res = c.object(ct['resources'], `${p}/resources`, true) ?? {};
    const resources = {
      cpus: c.number(res['cpus'], `${p}/resources/cpus`, 1, 0.001, 1024),
      mem: c.number(res['mem'], `${p}/resources/mem`, 128, 1, 16 * 1024 * 1024),
      disk: c.number(res['disk'], `${p}/resources/disk`, 0, 0, 1024 * 1024 * 1024),
      gpus: c.number(res['gpus'], `${p}/resources/gpus`, 0, 0, 0, true),
    };
    const endpoints: PodEndpoint[] = [];
    c.array(ct['endpoints'], `${p}/endpoints`).forEach((e, j) => {
      const ep = `${p}/endpoints/${j}`;
      const eo = c.object(e, ep, true);
      if (eo === undefined) return;
      const en = c.string(eo['name'], `${ep}/name`, true) ?? '';
      if (en !== '' && !NAME.test(en)) c.fail(`${ep}/name`, 'must be lowercase letters, digits and dashes (at most 63)');
      if (endpointNames.has(en)) c.fail(`${ep}/name`, 'must be unique in the pod');
      endpointNames.add(en);
      // On container networks an endpoint has a host port only when it asks for one (0: any).
      const noHostPort = onContainerNetworks && (eo['hostPort'] === undefined || eo['hostPort'] === null);
      const hostPort = noHostPort ? undefined : c.number(eo['hostPort'], `${ep}/hostPort`, 0, 0, 65535, true);
      if (hostPort !== undefined && hostPort !== 0 && fixedPorts.has(hostPort)) c.fail(`${ep}/hostPort`, 'is used by another endpoint of the pod');
      if (hostPort !== undefined && hostPort !== 0) fixedPorts.add(hostPort);
      const containerPort = eo['containerPort'] === undefined || eo['containerPort'] === null ? undefined : c.number(eo['containerPort'], `${ep}/containerPort`, 0, 1, 65535, true);
      if (onContainerNetworks) {
        // One namespace for the whole instance: its containers share one port space.
        if (containerPort === undefined && (bridged || hostPort !== undefined))
          c.fail(`${ep}/containerPort`, 'is required on a container network when the endpoint has a host port (or on container/bridge)');
        if (containerPort !== undefined && containerPorts.has(containerPort)) c.fail(`${ep}/containerPort`, 'is used by another endpoint of the pod');
        if (containerPort !== undefined) containerPorts.add(containerPort);
      }
      const protocol = c.array(eo['protocol'], `${ep}/protocol`).map((x, k) => {
        const s = c.string(x, `${ep}/protocol/${k}`) ?? 'tcp';
        if (s !== 'tcp' && s !== 'udp') c.fail(`${ep}/protocol/${k}`, "must be 'tcp' or 'udp'");
        return s;
      });
      endpoints.push({
        name: en,
        ...(hostPort === undefined ? {} : { hostPort }),
        ...(containerPort === undefined ? {} : { containerPort }),
        protocol: protocol.length === 0 ? ['tcp'] : protocol,
        labels: c.stringMap(eo['labels'], `${ep}/labels`),
      });
    });
    const volumeMounts: PodContainer['volumeMounts'] = [];
    c.array(ct['volumeMounts'], `${p}/volumeMounts`).forEach((m, j) => {
      const mp = `${p}/volumeMounts/${j}`;
      const mo = c.object(m, mp, true);
      if (mo === undefined) return;
      const vn = c.string(mo['name'], `${mp}/name`, true) ?? '';
      if (vn !== '' && !volumeNames.has(vn)) c.fail(`${mp}/name`, 'must name a volume of the pod');
      const mountPath = c.string(mo['mountPath'], `${mp}/mountPath`, true) ?? '';
      // Without an image the container sees the host's tree: a mount can only go in its sandbox,
      // and only a bind mount inside its own root filesystem can be read-only.
      if (mountPath.startsWith('/') && image === undefined) c.fail(`${mp}/mountPath`, 'an absolute mount path needs a container image: give a path relative to the sandbox, or an image');
      else if (mountPath === '' || mountPath === '/' || mountPath.split('/').includes('..')) c.fail(`${mp}/mountPath`, "must be a non-empty path other than '/' (no '..')");
      const readOnly = c.boolean(mo['readOnly'], `${mp}/readOnly`, false);
      if (readOnly && image === undefined) c.fail(`${mp}/readOnly`, 'a read-only mount needs a container image');
      volumeMounts.push({ name: vn, mountPath, ...(readOnly ? { readOnly } : {}) });
    });
    const artifacts: PodContainer['artifacts'] = [];
    c.array(ct['artifacts'], `${p}/artifacts`).forEach((a, j) => {
      const ap = `${p}/artifacts/${j}`;
      const ao = c.object(a, ap, true);
      if (ao === undefined) return;
      const uri = c.string(ao['uri'], `${ap}/uri`, true) ?? '';
      const destPath = c.string(ao['destPath'], `${ap}/destPath`);
      if (destPath !== undefined && (destPath.startsWith('/') || destPath.split('/').includes('..'))) c.fail(`${ap}/destPath`, 'must be a path inside the sandbox');
      artifacts.push({
        uri,
        extract: c.boolean(ao['extract'], `${ap}/extract`, true),
        executable: c.boolean(ao['executable'], `${ap}/executable`, false),
        cache: c.boolean(ao['cache'], `${ap}/cache`, false),
        ...(destPath === undefined ? {} : { destPath }),
      });
    });
    const ownEndpoints = new Set(endpoints.map((e) => e.name));
    const hc = healthCheck(c, ct['healthCheck'], `${p}/healthCheck`, ownEndpoints);
    const lifecycle = c.object(ct['lifecycle'], `${p}/lifecycle`);
    const user = c.string(ct['user'], `${p}/user`);
    containers.push({
      name,
      exec: { command: cmd },
      ...(image === undefined ? {} : { image }),
      resources,
      endpoints,
      environment: c.stringMap(ct['environment'], `${p}/environment`),
      ...(user === undefined ? {} : { user }),
      labels: c.stringMap(ct['labels'], `${p}/labels`),
      volumeMounts,
      artifacts,
      ...(hc === undefined ? {} : { healthCheck: hc }),
      ...(lifecycle === undefined ? {} : { lifecycle: { killGracePeriodSeconds: c.number(lifecycle['killGracePeriodSeconds'], `${p}/lifecycle/killGracePeriodSeconds`, 3, 0, 3600) } }),
    });
  });

  const scalingRaw = c.object(body['scaling'], '/scaling') ?? {};
  if (scalingRaw['kind'] !== undefined && scalingRaw['kind'] !== 'fixed') c.fail('/scaling/kind', "must be 'fixed'");
  const instances = c.number(scalingRaw['instances'], '/scaling/instances', 1, 0, 10000, true);
  const maxInstances = scalingRaw['maxInstances'] === undefined || scalingRaw['maxInstances'] === null ? undefined : c.number(scalingRaw['maxInstances'], '/scaling/maxInstances', 0, 0, 100000, true);
  if (maxInstances !== undefined && instances > maxInstances) c.fail('/scaling/instances', `must not exceed maxInstances (${maxInstances})`);

  const sched = c.object(body['scheduling'], '/scheduling') ?? {};
  const backoff = c.object(sched['backoff'], '/scheduling/backoff') ?? {};
  const upgrade = c.object(sched['upgrade'], '/scheduling/upgrade') ?? {};
  const placement = c.object(sched['placement'], '/scheduling/placement') ?? {};
  c.unsupported(placement['constraints'], '/scheduling/placement/constraints', 'placement constraints are not supported for pods yet');
  // Whether the roles are the framework's is checked where its roles are known (podRoleErrors).
  const acceptedResourceRoles = c
    .array(placement['acceptedResourceRoles'], '/scheduling/placement/acceptedResourceRoles')
    .map((r, i) => c.string(r, `/scheduling/placement/acceptedResourceRoles/${i}`, true) ?? '');
  const killSelection = sched['killSelection'] ?? 'YOUNGEST_FIRST';
  if (killSelection !== 'YOUNGEST_FIRST' && killSelection !== 'OLDEST_FIRST') c.fail('/scheduling/killSelection', "must be 'YOUNGEST_FIRST' or 'OLDEST_FIRST'");
  const unreachable = sched['unreachableStrategy'];
  let unreachableStrategy: Pod['scheduling']['unreachableStrategy'] = { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 };
  if (unreachable === 'disabled') unreachableStrategy = 'disabled';
  else if (unreachable !== undefined && unreachable !== null) {
    const u = c.object(unreachable, '/scheduling/unreachableStrategy') ?? {};
    const inactiveAfterSeconds = c.number(u['inactiveAfterSeconds'], '/scheduling/unreachableStrategy/inactiveAfterSeconds', 0, 0, 31536000);
    const expungeAfterSeconds = c.number(u['expungeAfterSeconds'], '/scheduling/unreachableStrategy/expungeAfterSeconds', 0, 0, 31536000);
    if (expungeAfterSeconds < inactiveAfterSeconds) c.fail('/scheduling/unreachableStrategy/expungeAfterSeconds', 'must be greater than or equal to inactiveAfterSeconds');
    unreachableStrategy = { inactiveAfterSeconds, expungeAfterSeconds };
  }
  c.unsupported(body['secrets'], '/secrets', 'secrets are not supported for pods yet');
  const role = c.string(body['role'], '/role');
  if (role !== undefined && role.length > 1024) c.fail('/role', 'must be at most 1024 characters');
  const exe = c.object(body['executorResources'], '/executorResources') ?? {};
  const user = c.string(body['user'], '/user');
  const labels = c.stringMap(body['labels'], '/labels');
  const environment = c.stringMap(body['environment'], '/environment');
  const scheduling: Pod['scheduling'] = {
    backoff: {
      backoff: c.number(backoff['backoff'], '/scheduling/backoff/backoff', 1, 0, 86400),
      backoffFactor: c.number(backoff['backoffFactor'], '/scheduling/backoff/backoffFactor', 1.15, 1, 100),
      maxLaunchDelay: c.number(backoff['maxLaunchDelay'], '/scheduling/backoff/maxLaunchDelay', 300, 0, 86400),
    },
    upgrade: {
      minimumHealthCapacity: c.number(upgrade['minimumHealthCapacity'], '/scheduling/upgrade/minimumHealthCapacity', 1, 0, 1),
      maximumOverCapacity: c.number(upgrade['maximumOverCapacity'], '/scheduling/upgrade/maximumOverCapacity', 1, 0, 1),
    },
    killSelection: killSelection === 'OLDEST_FIRST' ? 'OLDEST_FIRST' : 'YOUNGEST_FIRST',
    unreachableStrategy,
    ...(acceptedResourceRoles.length === 0 ? {} : { placement: { acceptedResourceRoles } }),
  };
  const executorResources = {
    cpus: c.number(exe['cpus'], '/executorResources/cpus', 0.1, 0.01, 64),
    mem: c.number(exe['mem'], '/executorResources/mem', 32, 1, 65536),
    disk: c.number(exe['disk'], '/executorResources/disk', 10, 1, 1024 * 1024),
  };

  if (c.details.length > 0) throw new DroverError('VALIDATION', 'Object is not valid', { details: c.details });
  return {
    id,
    ...(role === undefined ? {} : { role }),
    labels,
    version,
    versionInfo: { lastConfigChangeAt: version, lastScalingAt: version },
    ...(user === undefined ? {} : { user }),
    environment,
    containers,
    volumes,
    networks,
    scaling: { kind: 'fixed', instances, ...(maxInstances === undefined ? {} : { maxInstances }) },
    scheduling,
    executorResources,
  };
}

/**
 * Marathon's role rules for a pod, as for an app (placement.ts roleErrors): its role one of the
 * framework's, its accepted roles only `*` and its own role; the paths are the pod's.
 */
export function podRoleErrors(pod: Pod, frameworkRoles: readonly string[]): Array<{ path: string; errors: string[] }> {
  const accepted = pod.scheduling.placement?.acceptedResourceRoles;
  return roleErrors({ ...(pod.role === undefined ? {} : { role: pod.role }), ...(accepted === undefined ? {} : { acceptedResourceRoles: accepted }) }, frameworkRoles).map((d) => ({
    ...d,
    path: d.path.replace(/^\/acceptedResourceRoles/, '/scheduling/placement/acceptedResourceRoles'),
  }));
}

/** Same configuration (only scaling may differ): a scale, not a restart. */
export function podConfigEqual(a: Pod, b: Pod): boolean {
  const strip = (p: Pod): unknown => ({ ...p, version: '', versionInfo: undefined, scaling: undefined });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
