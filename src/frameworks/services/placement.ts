/**
 * The services framework's side of placement (src/placement): an App as a PlacementSpec, built
 * once per app version — an App is replaced, never changed, when its definition changes, so a
 * WeakMap keyed by it parses the scalars and compiles the constraints' patterns once, however many
 * instances are placed (parsing per instance was a fifth of handleOffers at 50,000 launches:
 * docs/architecture/006-scale.md).
 */
import type { ErrorDetail } from '../../errors/errors.ts';
import { placeOn, placementSpec, type OfferView, type PlacementResult, type PlacementSpec, type Spot } from '../../placement/index.ts';
import { DEFAULT_ROLE, Resources } from '../../resources/index.ts';
import type { App } from './app.ts';

export type { OfferView, PlacementResult, Spot };

const specs = new WeakMap<App, PlacementSpec>();

export function specOf(app: App): PlacementSpec {
  let spec = specs.get(app);
  if (spec === undefined) {
    spec = placementSpec({
      cpus: app.cpus,
      mem: app.mem,
      disk: app.disk,
      ports: portRequest(app),
      constraints: app.constraints,
    });
    specs.set(app, spec);
  }
  return spec;
}

/** Fixed host ports (requirePorts, or a bridge app's fixed hostPorts) or any `count` of them. */
function portRequest(app: App): PlacementSpec['ports'] {
  const bridged = app.container?.portMappings;
  if (bridged !== undefined && bridged.length > 0 && bridged.every((m) => m.hostPort !== 0)) return { kind: 'fixed', ports: bridged.map((m) => m.hostPort) };
  if (bridged !== undefined) return { kind: 'any', count: bridged.length };
  return app.requirePorts && app.portDefinitions.length > 0 ? { kind: 'fixed', ports: app.portDefinitions.map((p) => p.port) } : { kind: 'any', count: app.portDefinitions.length };
}

/** Up to `wanted` instances of `app` on `offer`, given where its instances run (`existing`). */
export function place(app: App, offer: OfferView, existing: readonly Spot[], wanted: number): PlacementResult {
  return placeOn(specOf(app), offer, existing, wanted);
}

/**
 * Marathon's role rules for an app, given the framework's roles (the first is the default, as
 * Marathon's --mesos_role): `role` must be one of them; `acceptedResourceRoles` may name only
 * `*` and the app's role. Paths as /v2/apps reports them.
 */
export function roleErrors(app: Pick<App, 'role' | 'acceptedResourceRoles'>, frameworkRoles: readonly string[]): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  const role = app.role ?? frameworkRoles[0] ?? DEFAULT_ROLE;
  if (app.role !== undefined && !frameworkRoles.includes(app.role)) {
    errors.push({ path: '/role', errors: [`role '${app.role}' is not one of this framework's roles: ${frameworkRoles.join(', ')}`] });
  }
  const accepted = app.acceptedResourceRoles;
  if (accepted !== undefined) {
    if (accepted.length === 0) errors.push({ path: '/acceptedResourceRoles', errors: ['must not be empty'] });
    accepted.forEach((r, i) => {
      if (r !== DEFAULT_ROLE && r !== role) errors.push({ path: `/acceptedResourceRoles/${i}`, errors: [`acceptedResourceRoles can only contain * and the app's role '${role}'; got '${r}'`] });
    });
  }
  return errors;
}

/** Why an offer cannot serve an app by its roles (Marathon's UnfulfilledRole), if so. */
export interface RoleFit {
  /** What of the offer the app may use: the resources of its accepted roles. */
  usable: Resources;
  /** Set when the offer is for another role, or has nothing of the accepted roles. */
  refusal?: string;
}

/**
 * An app takes only offers allocated to its role (Mesos' multi-role: a task runs in the role its
 * offer was made to), and of those only the resources of its `acceptedResourceRoles` (default:
 * any, Marathon's --default_accepted_resource_roles). Before, a `["slave_public"]` app ran on an
 * agent with only `*` resources.
 */
export function roleFit(app: Pick<App, 'role' | 'acceptedResourceRoles'>, defaultRole: string, offerRole: string, offered: Resources): RoleFit {
  const role = app.role ?? defaultRole;
  if (offerRole !== role) return { usable: Resources.EMPTY, refusal: `offer is for role '${offerRole}', the app's role is '${role}'` };
  const accepted = app.acceptedResourceRoles;
  if (accepted === undefined) return { usable: offered };
  let usable = Resources.EMPTY;
  let all = true;
  for (const r of offered.roles()) {
    if (accepted.includes(r)) usable = usable.add(offered.filterRole(r));
    else all = false;
  }
  if (all) return { usable: offered };
  if (usable.cpus() === 0 && usable.mem() === 0) {
    return { usable, refusal: `no resources of the accepted roles [${accepted.join(', ')}]; the offer has roles [${offered.roles().join(', ')}]` };
  }
  return { usable };
}
