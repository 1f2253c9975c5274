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
  /** keyOf(role, framework id), made once per cycle. */
  key: string;
  /** The framework's dominant share in the role; undefined until computed or after it changed. */
  share: number | undefined;
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
  const shareOfRole = (role: string): number => {
    let s = roleShare.get(role);
    if (s === undefined) roleShare.set(role, (s = share(roleAllocated.get(role) ?? Resources.EMPTY) / weightOf(role)));
    return s;
  };
  // One candidate per (framework, role), built once per cycle: the scan below runs for every
  // agent over every candidate (10,000 × 100 at scale), so it allocates nothing per step.
  const candidates: Candidate[] = [];
  for (const framework of input.frameworks) {
    for (const role of framework.roles) candidates.push({ framework, role, key: keyOf(role, framework.id), share: undefined });
  }
  const shareOf = (c: Candidate): number => (c.share ??= share(frameworkAllocated.get(c.key) ?? Resources.EMPTY));

  const offers: OfferDecision[] = [];
  const offerableByRole = new Map<string, boolean>();
  for (const agent of shuffled(input.agents, input.seed)) {
    let free = agent.free;
    for (;;) {
      offerableByRole.clear();
      const chosen = pickCandidate(candidates, input.now, agent.id, free, minimum, offerableByRole, shareOfRole, shareOf);
      if (!chosen) break;
      const offered = offerable(free, chosen.role);
      offers.push({ frameworkId: chosen.framework.id, role: chosen.role, agentId: agent.id, resources: offered });
      free = free.subtract(offered);
      roleAllocated.set(chosen.role, (roleAllocated.get(chosen.role) ?? Resources.EMPTY).add(offered));
      frameworkAllocated.set(chosen.key, (frameworkAllocated.get(chosen.key) ?? Resources.EMPTY).add(offered));
      roleShare.delete(chosen.role);
      chosen.share = undefined;
    }
  }
  return { offers };
}

/** The lowest (role share, framework share, role, id) among frameworks that may take `free`. */
function pickCandidate(
  candidates: readonly Candidate[],
  now: number,
  agentId: string,
  free: Resources,
  minimum: readonly Resources[],
  offerableByRole: Map<string, boolean>,
  shareOfRole: (role: string) => number,
  shareOf: (c: Candidate) => number,
): Candidate | undefined {
  let best: Candidate | undefined;
  let bestRoleShare = 0;
  let bestShare = 0;
  for (const c of candidates) {
    const framework = c.framework;
    if (framework.refusals.size > 0) {
      const refusedUntil = framework.refusals.get(agentId);
      if (refusedUntil !== undefined && refusedUntil > now) continue;
    }
    const role = c.role;
    if (framework.suppressedRoles.size > 0 && framework.suppressedRoles.has(role)) continue;
    let ok = offerableByRole.get(role);
    if (ok === undefined) {
      const r = offerable(free, role);
      offerableByRole.set(role, (ok = minimum.some((m) => r.contains(m))));
    }
    if (!ok) continue;
    const roleShare = shareOfRole(role);
    if (best !== undefined && roleShare > bestRoleShare) continue;
    const frameworkShare = shareOf(c);
    if (best === undefined || isLower(roleShare, frameworkShare, c, bestRoleShare, bestShare, best)) {
      best = c;
      bestRoleShare = roleShare;
      bestShare = frameworkShare;
    }
  }
  return best;
}

/** (role share, framework share, role, framework id) of `c` sorts before the best so far. */
function isLower(roleShare: number, frameworkShare: number, c: Candidate, bestRoleShare: number, bestShare: number, best: Candidate): boolean {
  if (roleShare !== bestRoleShare) return roleShare < bestRoleShare;
  if (frameworkShare !== bestShare) return frameworkShare < bestShare;
  if (c.role !== best.role) return c.role < best.role;
  return c.framework.id < best.framework.id;
}

/** What a framework in `role` may be offered from `free`: unreserved plus `role`'s reservations. */
export function offerable(free: Resources, role: string): Resources {
  const unreserved = free.filterRole(DEFAULT_ROLE);
  return role === DEFAULT_ROLE ? unreserved : unreserved.add(free.filterRole(role));
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
