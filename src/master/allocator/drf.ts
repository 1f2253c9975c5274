/**
 * The allocator's choice for one offer cycle, as a pure function over a snapshot (Mesos'
 * HierarchicalDRF, in one pass): for each agent with free resources, in a seeded shuffled order,
 * pick the role furthest below its weighted fair share, then the framework in that role with the
 * lowest dominant share, skipping frameworks that suppressed the role or refused the agent; offer
 * it everything on the agent that the role may use (unreserved plus the role's reservations).
 * Shares are updated after every offer, so one cycle spreads agents fairly.
 *
 * Why whole agents: an agent's free resources go to one framework at a time (Mesos semantics);
 * what it does not use returns at the next cycle, after its refusal filter.
 *
 * Dominant share (DRF): max over scalar resources r of allocated_r / total_r; a role's share is
 * divided by its weight. Ports and sets do not count, as in Mesos.
 */
import { DEFAULT_ROLE, Resources } from '../../resources/index.ts';

export interface AllocatorAgent {
  id: string;
  /** What is neither used by tasks nor out in offers. */
  free: Resources;
}

export interface AllocatorFramework {
  id: string;
  roles: readonly string[];
  suppressedRoles: ReadonlySet<string>;
  /** Agent id → time (ms) until which this framework declined the agent (`refuse_seconds`). */
  refusals: ReadonlyMap<string, number>;
  /** Per role: resources in use by its tasks plus its outstanding offers. */
  allocated: ReadonlyMap<string, Resources>;
}

export interface AllocationInput {
  now: number;
  /** Seeds the agent shuffle, so a cycle can be replayed. */
  seed: number;
  /** Everything the cluster has (sum of all agents' totals): the denominator of shares. */
  total: Resources;
  agents: readonly AllocatorAgent[];
  frameworks: readonly AllocatorFramework[];
  /** Role weights; absent roles weigh 1. */
  weights?: ReadonlyMap<string, number>;
  /**
   * An agent is offered only if its offerable resources contain at least one of these
   * (Mesos' --min_allocatable_resources; default cpus:0.01 or mem:32).
   */
  minAllocatable?: readonly Resources[];
}

export interface OfferDecision {
  frameworkId: string;
  role: string;
  agentId: string;
  resources: Resources;
}

export interface AllocationResult {
  offers: OfferDecision[];
}

export const DEFAULT_MIN_ALLOCATABLE: readonly Resources[] = [Resources.parse('cpus:0.01'), Resources.parse('mem:32')];

interface Candidate {
  framework: AllocatorFramework;
  role: string;
}

export function allocate(input: AllocationInput): AllocationResult {
  const scalarNames = new Set(input.total.toArray().filter((r) => r.value.type === 'SCALAR').map((r) => r.name));
  const totals = new Map([...scalarNames].map((n) => [n, input.total.scalar(n).toNumber()]));
  const share = (r: Resources): number => {
    let max = 0;
    for (const [name, total] of totals) {
      if (total > 0) max = Math.max(max, r.scalar(name).toNumber() / total);
    }
    return max;
  };
  const weightOf = (role: string): number => input.weights?.get(role) ?? 1;
  const minimum = input.minAllocatable ?? DEFAULT_MIN_ALLOCATABLE;

  // Running allocations, updated as offers are made in this cycle.
  const roleAllocated = new Map<string, Resources>();
  const frameworkAllocated = new Map<string, Resources>(); // key: role \0 frameworkId
  for (const f of input.frameworks) {
    for (const [role, r] of f.allocated) {
      roleAllocated.set(role, (roleAllocated.get(role) ?? Resources.EMPTY).add(r));
      frameworkAllocated.set(keyOf(role, f.id), r);
    }
  }
  const roleShare = new Map<string, number>();
  const frameworkShare = new Map<string, number>();
  const shareOfRole = (role: string): number => {
    let s = roleShare.get(role);
    if (s === undefined) roleShare.set(role, (s = share(roleAllocated.get(role) ?? Resources.EMPTY) / weightOf(role)));
    return s;
  };
  const shareOfFramework = (role: string, id: string): number => {
    const key = keyOf(role, id);
    let s = frameworkShare.get(key);
    if (s === undefined) frameworkShare.set(key, (s = share(frameworkAllocated.get(key) ?? Resources.EMPTY)));
    return s;
  };

  const offers: OfferDecision[] = [];
  for (const agent of shuffled(input.agents, input.seed)) {
    let free = agent.free;
    for (;;) {
      const chosen = pickCandidate(input, agent.id, free, minimum, shareOfRole, shareOfFramework);
      if (!chosen) break;
      const offered = offerable(free, chosen.role);
      offers.push({ frameworkId: chosen.framework.id, role: chosen.role, agentId: agent.id, resources: offered });
      free = free.subtract(offered);
      const fKey = keyOf(chosen.role, chosen.framework.id);
      roleAllocated.set(chosen.role, (roleAllocated.get(chosen.role) ?? Resources.EMPTY).add(offered));
      frameworkAllocated.set(fKey, (frameworkAllocated.get(fKey) ?? Resources.EMPTY).add(offered));
      roleShare.delete(chosen.role);
      frameworkShare.delete(fKey);
    }
  }
  return { offers };
}

/** The lowest (role share, framework share, role, id) among frameworks that may take `free`. */
function pickCandidate(
  input: AllocationInput,
  agentId: string,
  free: Resources,
  minimum: readonly Resources[],
  shareOfRole: (role: string) => number,
  shareOfFramework: (role: string, id: string) => number,
): Candidate | undefined {
  let best: Candidate | undefined;
  let bestKey: [number, number, string, string] | undefined;
  const offerableByRole = new Map<string, boolean>();
  for (const framework of input.frameworks) {
    const refusedUntil = framework.refusals.get(agentId);
    if (refusedUntil !== undefined && refusedUntil > input.now) continue;
    for (const role of framework.roles) {
      if (framework.suppressedRoles.has(role)) continue;
      let ok = offerableByRole.get(role);
      if (ok === undefined) {
        const r = offerable(free, role);
        offerableByRole.set(role, (ok = minimum.some((m) => r.contains(m))));
      }
      if (!ok) continue;
      const key: [number, number, string, string] = [shareOfRole(role), shareOfFramework(role, framework.id), role, framework.id];
      if (!bestKey || compareKeys(key, bestKey) < 0) {
        best = { framework, role };
        bestKey = key;
      }
    }
  }
  return best;
}

/** What a framework in `role` may be offered from `free`: unreserved plus `role`'s reservations. */
export function offerable(free: Resources, role: string): Resources {
  const unreserved = free.filterRole(DEFAULT_ROLE);
  return role === DEFAULT_ROLE ? unreserved : unreserved.add(free.filterRole(role));
}

function compareKeys(a: [number, number, string, string], b: [number, number, string, string]): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] !== b[1]) return a[1] - b[1];
  if (a[2] !== b[2]) return a[2] < b[2] ? -1 : 1;
  return a[3] < b[3] ? -1 : a[3] > b[3] ? 1 : 0;
}

function keyOf(role: string, frameworkId: string): string {
  return `${role}\u0000${frameworkId}`;
}

/** Fisher–Yates with mulberry32: no agent is always first, yet a cycle replays from its seed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
