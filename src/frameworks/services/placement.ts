/**
 * Placement of an app's instances on one offer, as a pipeline of small checks (resources, ports,
 * then each constraint), pure. Every refusal carries its reason, which `/v2/queue` shows.
 */
import { DEFAULT_ROLE, RangeSet, Resources } from '../../resources/index.ts';
import type { App } from './app.ts';

export interface OfferView {
  agentId: string;
  hostname: string;
  attributes: Record<string, string>;
  resources: Resources;
}

/** Where an instance of the app already runs (or was just placed). */
export interface Spot {
  agentId: string;
  hostname: string;
  attributes: Record<string, string>;
}

export interface PlacementResult {
  /** Host ports for each instance placed on this offer. */
  launches: Array<{ ports: number[]; resources: Resources }>;
  /** Why (more) instances could not be placed here; undefined when all wanted were placed. */
  reason?: string;
  /** The offer's resources left after these launches. */
  remaining: Resources;
}

export function place(app: App, offer: OfferView, existing: readonly Spot[], wanted: number): PlacementResult {
  const launches: PlacementResult['launches'] = [];
  const spots = [...existing];
  let remaining = offer.resources;
  for (let i = 0; i < wanted; i++) {
    const refusal = constraintRefusal(app, offer, spots);
    if (refusal) return { launches, reason: refusal, remaining };
    const scalars = scalarsOf(app);
    const short = shortfall(remaining, scalars);
    if (short) return { launches, reason: short, remaining };
    const ports = pickPorts(app, remaining.ports());
    if (typeof ports === 'string') return { launches, reason: ports, remaining };
    const portResources = ports.length === 0 ? Resources.EMPTY : Resources.of([{ name: 'ports', value: RangeSet.of(ports.map((p) => [p, p] as [number, number])) }]);
    const needed = takeFrom(remaining, scalars.add(portResources));
    remaining = remaining.subtract(needed);
    launches.push({ ports, resources: needed });
    spots.push({ agentId: offer.agentId, hostname: offer.hostname, attributes: offer.attributes });
  }
  return { launches, remaining };
}

/**
 * An app's cpus/mem/disk as Resources, parsed once per app version (an App is replaced, never
 * changed, when its definition changes). Parsing the text per instance placed was a fifth of
 * handleOffers at 50,000 launches (docs/architecture/006-scale.md).
 */
const parsedScalars = new WeakMap<App, Resources>();

export function scalarsOf(app: App): Resources {
  let scalars = parsedScalars.get(app);
  if (scalars === undefined) {
    scalars = Resources.parse(`cpus:${app.cpus};mem:${app.mem}${app.disk > 0 ? `;disk:${app.disk}` : ''}`);
    parsedScalars.set(app, scalars);
  }
  return scalars;
}

/** `needed` expressed in the offer's own roles (unreserved first), so the master accepts it. */
function takeFrom(offered: Resources, needed: Resources): Resources {
  // The usual offer is all unreserved: `needed` (unreserved) is then already in its roles.
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

/** Scalars summed over roles (Resources.scalar), without building a flattened copy per instance. */
function allUnreserved(resources: Resources): boolean {
  for (const r of resources) if (r.role !== DEFAULT_ROLE) return false;
  return true;
}

function shortfall(have: Resources, need: Resources): string | undefined {
  for (const name of ['cpus', 'mem', 'disk']) {
    const h = have.scalar(name).toNumber();
    const n = need.scalar(name).toNumber();
    if (h < n) return `insufficient ${name}: ${h} < ${n}`;
  }
  return undefined;
}

function pickPorts(app: App, free: RangeSet): number[] | string {
  const count = app.portDefinitions.length;
  if (count === 0) return [];
  if (app.requirePorts) {
    const fixed = app.portDefinitions.map((p) => p.port);
    const missing = fixed.filter((p) => p === 0 || !free.contains(p));
    return missing.length === 0 ? fixed : `required ports unavailable: ${missing.join(', ')}`;
  }
  if (free.size < count) return `insufficient ports: need ${count}, ${free.size} free`;
  return [...free.allocate(count).allocated.values()];
}

/** The value of a constraint field on an agent: `hostname`/`@hostname`, or an attribute. */
export function fieldValue(field: string, spot: Spot): string | undefined {
  if (field === 'hostname' || field === '@hostname') return spot.hostname;
  if (field === '@region' || field === '@zone') return spot.attributes[field.slice(1)];
  return spot.attributes[field];
}

function constraintRefusal(app: App, offer: OfferView, spots: Spot[]): string | undefined {
  for (const [field = '', op = '', value] of app.constraints) {
    const here = fieldValue(field, offer);
    const label = `constraint ${[field, op, value].filter((x) => x !== undefined).join(' ')}`;
    const counts = new Map<string, number>();
    for (const s of spots) {
      const v = fieldValue(field, s);
      if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    const count = here === undefined ? 0 : (counts.get(here) ?? 0);
    if (op === 'UNLIKE') {
      if (here !== undefined && fullMatch(value ?? '', here)) return `${label}: ${field} is ${here}`;
      continue;
    }
    if (here === undefined) return `${label}: agent has no ${field}`;
    switch (op) {
      case 'UNIQUE':
        if (count > 0) return `${label}: ${field} ${here} already runs an instance`;
        break;
      case 'CLUSTER': {
        const target = value ?? [...counts.keys()][0];
        if (target !== undefined && here !== target) return `${label}: ${field} is ${here}, not ${target}`;
        break;
      }
      case 'LIKE':
        if (!fullMatch(value ?? '', here)) return `${label}: ${field} is ${here}`;
        break;
      case 'IS':
        if (here !== value) return `${label}: ${field} is ${here}`;
        break;
      case 'MAX_PER':
        if (count >= Number(value)) return `${label}: ${field} ${here} already runs ${count}`;
        break;
      case 'GROUP_BY': {
        const expected = value === undefined ? 0 : Number(value);
        if (count === 0) break;
        if (counts.size < expected) return `${label}: waiting for other ${field} values (${counts.size} of ${expected} used)`;
        const least = Math.min(...counts.values());
        if (count > least) return `${label}: ${field} ${here} has ${count}, others have ${least}`;
        break;
      }
    }
  }
  return undefined;
}

function fullMatch(pattern: string, value: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(value);
}
