/**
 * What one instance takes from an offer that passed every checker: its host ports, and its
 * resources expressed in the offer's own roles (reserved for the framework's role and unreserved,
 * in the order the offer lists them), so the master accepts the launch.
 */
import { DEFAULT_ROLE, RangeSet, Resources } from '../resources/index.ts';
import type { Launch, PlacementSpec } from './types.ts';

export function claim(spec: PlacementSpec, remaining: Resources): Launch {
  const ports = pickPorts(spec, remaining.ports());
  const portResources = ports.length === 0 ? Resources.EMPTY : Resources.of([{ name: 'ports', value: RangeSet.of(ports.map((p) => [p, p] as [number, number])) }]);
  const needed = portResources.isEmpty ? spec.scalars : spec.scalars.add(portResources);
  return { ports, resources: inOfferRoles(remaining, needed) };
}

/** The lowest free ports (RangeSet.allocate), or the fixed ones, which portShortfall found free. */
function pickPorts(spec: PlacementSpec, free: RangeSet): number[] {
  const request = spec.ports;
  if (request.kind === 'fixed') return [...request.ports];
  if (request.count === 0) return [];
  return [...free.allocate(request.count).allocated.values()];
}

/** `needed` (unreserved) expressed in the offer's own roles (pods take each task's share with it). */
export function inOfferRoles(offered: Resources, needed: Resources): Resources {
  // The usual offer is all unreserved: `needed` is then already in its roles.
  if (allUnreserved(offered)) return needed;
  let out = Resources.EMPTY;
  for (const want of needed) {
    let left = want.value;
    for (const have of offered) {
      if (have.name !== want.name || left.isEmpty) continue;
      if (have.value.type === 'SCALAR' && left.type === 'SCALAR') {
        const take = have.value.milli < left.milli ? have.value : left;
        out = out.add(Resources.of([{ name: have.name, role: have.role, value: take }]));
        left = left.subtract(take);
      } else if (have.value.type === 'RANGES' && left.type === 'RANGES') {
        const take = have.value.intersect(left);
        if (take.isEmpty) continue;
        out = out.add(Resources.of([{ name: have.name, role: have.role, value: take }]));
        left = left.subtract(take);
      }
    }
  }
  return out;
}

function allUnreserved(resources: Resources): boolean {
  for (const r of resources) if (r.role !== DEFAULT_ROLE) return false;
  return true;
}
