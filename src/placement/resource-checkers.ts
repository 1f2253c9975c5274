/**
 * The checkers on what is left of the offer: scalars (cpus, mem, disk) and host ports. Scalars
 * are summed over the offer's roles (unreserved and reserved for the framework's role alike); the
 * claim (claim.ts) then takes them in those roles.
 */
import type { Resources } from '../resources/index.ts';
import type { PlacementSpec, Refusal } from './types.ts';

const SCALARS = ['cpus', 'mem', 'disk'] as const;

/** `insufficient mem: 64 < 128` — the first of cpus, mem, disk the offer has less of than one instance needs. */
export function scalarShortfall(spec: PlacementSpec, remaining: Resources): Refusal | undefined {
  for (const resource of SCALARS) {
    const need = spec.scalars.scalar(resource).toNumber();
    if (need === 0) continue;
    const have = remaining.scalar(resource).toNumber();
    if (have < need) return { checker: 'resources', resource, have, need, message: `insufficient ${resource}: ${have} < ${need}` };
  }
  return undefined;
}

/** Enough free host ports: `count` of any, or every fixed one (`requirePorts`; port 0 is never free). */
export function portShortfall(spec: PlacementSpec, remaining: Resources): Refusal | undefined {
  const request = spec.ports;
  if (request.kind === 'any' && request.count === 0) return undefined;
  const free = remaining.ports();
  if (request.kind === 'fixed') {
    const unavailable = request.ports.filter((p) => p === 0 || !free.contains(p));
    if (unavailable.length === 0) return undefined;
    return { checker: 'ports', wanted: request.ports.length, free: free.size, unavailable, message: `required ports unavailable: ${unavailable.join(', ')}` };
  }
  if (free.size >= request.count) return undefined;
  return { checker: 'ports', wanted: request.count, free: free.size, unavailable: [], message: `insufficient ports: need ${request.count}, ${free.size} free` };
}
