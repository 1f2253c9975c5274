/**
 * The services framework's side of placement (src/placement): an App as a PlacementSpec, built
 * once per app version — an App is replaced, never changed, when its definition changes, so a
 * WeakMap keyed by it parses the scalars and compiles the constraints' patterns once, however many
 * instances are placed (parsing per instance was a fifth of handleOffers at 50,000 launches:
 * docs/architecture/006-scale.md).
 */
import { placeOn, placementSpec, type OfferView, type PlacementResult, type PlacementSpec, type Spot } from '../../placement/index.ts';
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
