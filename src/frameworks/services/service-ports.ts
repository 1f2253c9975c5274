/**
 * Marathon's service ports: one cluster-unique port per port definition (or per port mapping of a
 * container app), the port a load balancer binds for the app (Marathon-LB) — not a host port.
 *
 * - `port: 0` (`servicePort: 0`) asks for one: taken from the range (`--local_port_min..max`,
 *   10000–20000 by default), lowest free first. An update that asks again for 0 gets back the
 *   ports its previous version held (Marathon's AssignDynamicServiceLogic does the same), so a
 *   `PUT` of the same definition does not move the app's load-balancer ports.
 * - An explicit port is kept as given, inside or outside the range. Two apps cannot hold the same
 *   one: the second is refused with 409, as Marathon's `/v2/groups` (and `/v2/apps` before 1.0)
 *   did ("Requested service port X conflicts with a service port in app /y"). Marathon's later
 *   `/v2/apps` let duplicates through and documented the user's duty to avoid them; Drover keeps
 *   the check everywhere (a load balancer cannot bind one port for two apps).
 * - The ports are part of the stored app, so they survive restarts and failovers; deleting the
 *   app frees them.
 *
 * `assignServicePorts` is pure (given the index); `ServicePortIndex` holds which app has which port.
 */
import { DroverError } from '../../errors/errors.ts';
import type { App } from './app.ts';

export interface ServicePortRange {
  min: number;
  max: number;
}

/** Marathon's `--local_port_min` / `--local_port_max` defaults. */
export const DEFAULT_SERVICE_PORT_RANGE: ServicePortRange = { min: 10000, max: 20000 };

/** A container port mapping as far as service ports go (the container fields belong to the images work). */
interface ServicePortMapping {
  servicePort?: number;
}

function portMappingsOf(app: App): ServicePortMapping[] | undefined {
  const mappings = (app.container as { portMappings?: unknown } | undefined)?.portMappings;
  return Array.isArray(mappings) && mappings.length > 0 ? (mappings as ServicePortMapping[]) : undefined;
}

/** The app's service ports in order: its port mappings' `servicePort` if it has mappings, else its port definitions' `port` (Marathon's `servicePorts`). */
export function servicePortsOf(app: App): number[] {
  const mappings = portMappingsOf(app);
  if (mappings) return mappings.map((m) => m.servicePort ?? 0);
  return app.portDefinitions.map((p) => p.port);
}

function withServicePorts(app: App, ports: number[]): App {
  const mappings = portMappingsOf(app);
  if (mappings) {
    const container = { ...(app.container as object), portMappings: mappings.map((m, i) => ({ ...m, servicePort: ports[i] ?? 0 })) };
    return { ...app, container: container as unknown as App['container'] };
  }
  return { ...app, portDefinitions: app.portDefinitions.map((p, i) => ({ ...p, port: ports[i] ?? 0 })) };
}

function portsPath(app: App, i: number): string {
  return portMappingsOf(app) ? `/container/portMappings/${i}/servicePort` : `/portDefinitions/${i}/port`;
}

/** Which app holds which service port. */
export class ServicePortIndex {
  private readonly owners = new Map<number, string>();
  private readonly byApp = new Map<string, number[]>();

  constructor(readonly range: ServicePortRange = DEFAULT_SERVICE_PORT_RANGE) {
    if (!Number.isInteger(range.min) || !Number.isInteger(range.max) || range.min < 1 || range.max > 65535 || range.min > range.max) {
      throw new DroverError('VALIDATION', `Invalid service port range ${range.min}-${range.max}`, { details: [{ path: '/servicePorts', errors: ['expected 1 <= min <= max <= 65535'] }] });
    }
  }

  /** The app holding `port`, if any. */
  owner(port: number): string | undefined {
    return this.owners.get(port);
  }

  portsOf(appId: string): readonly number[] {
    return this.byApp.get(appId) ?? [];
  }

  /** Record the app's (assigned) ports, replacing what it held before. */
  hold(app: App): void {
    this.release(app.id);
    const ports = servicePortsOf(app).filter((p) => p !== 0);
    this.byApp.set(app.id, ports);
    for (const p of ports) this.owners.set(p, app.id);
  }

  release(appId: string): void {
    for (const p of this.byApp.get(appId) ?? []) if (this.owners.get(p) === appId) this.owners.delete(p);
    this.byApp.delete(appId);
  }

  get size(): number {
    return this.owners.size;
  }
}

/**
 * `app` with every 0 service port replaced by a free one; explicit ports checked against the
 * other apps. `previous` is the app's current version (its ports are offered back first);
 * `alsoTaken` are ports other apps of the same request were just given. Throws 409 (a port
 * another app holds, or the range exhausted); nothing is recorded here (ServicePortIndex.hold).
 */
export function assignServicePorts(app: App, previous: App | undefined, index: ServicePortIndex, alsoTaken: ReadonlyMap<number, string> = new Map()): App {
  const wanted = servicePortsOf(app);
  const takenBy = (port: number): string | undefined => {
    const held = index.owner(port);
    if (held !== undefined && held !== app.id) return held;
    const given = alsoTaken.get(port);
    return given !== undefined && given !== app.id ? given : undefined;
  };
  const conflicts = wanted.flatMap((port, i) => {
    const owner = port === 0 ? undefined : takenBy(port);
    return owner === undefined ? [] : [{ path: portsPath(app, i), errors: [`Requested service port ${port} conflicts with a service port in app ${owner}`] }];
  });
  if (conflicts.length > 0) throw new DroverError('CONFLICT', conflicts.map((c) => c.errors[0]).join(', '), { details: conflicts });
  if (!wanted.includes(0)) return app;
  const { min, max } = index.range;
  const explicit = new Set(wanted.filter((p) => p !== 0));
  // First the ports the previous version held in the range and this one does not name, then the lowest free.
  const reusable = (previous ? servicePortsOf(previous) : []).filter((p) => p >= min && p <= max && !explicit.has(p) && takenBy(p) === undefined);
  let next = min;
  const fresh = (): number | undefined => {
    const reused = reusable.shift();
    if (reused !== undefined) return reused;
    while (next <= max && (takenBy(next) !== undefined || explicit.has(next))) next++;
    return next <= max ? next++ : undefined;
  };
  const given = new Set<number>();
  const ports = wanted.map((port, i) => {
    if (port !== 0) return port;
    let p = fresh();
    while (p !== undefined && given.has(p)) p = fresh();
    if (p === undefined) {
      throw new DroverError('CONFLICT', `All service ports in [${min}, ${max}] are in use`, { details: [{ path: portsPath(app, i), errors: [`no free service port left in [${min}, ${max}]`] }] });
    }
    given.add(p);
    return p;
  });
  return withServicePorts(app, ports);
}

/**
 * Ports for several apps of one request (a group, `PUT /v2/apps` with many): all or none. Each
 * app replaces its current version (`current(id)`); the ports one app of the batch gets or keeps
 * are not given to another.
 */
export function assignServicePortsAll(apps: readonly App[], current: (id: string) => App | undefined, index: ServicePortIndex): App[] {
  const taken = new Map<number, string>();
  // Explicit ports of the batch first, so a dynamic port of an earlier app never takes a later app's explicit one.
  for (const a of apps) for (const p of servicePortsOf(a)) if (p !== 0) taken.set(p, taken.get(p) ?? a.id);
  const out: App[] = [];
  for (const a of apps) {
    const assigned = assignServicePorts(a, current(a.id), index, taken);
    for (const p of servicePortsOf(assigned)) taken.set(p, a.id);
    out.push(assigned);
  }
  return out;
}
