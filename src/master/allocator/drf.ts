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
import { QuotaCycle, type RoleQuota } from './quota.ts';

export type { RoleQuota } from './quota.ts';

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

export interface AllocationInput<A extends AllocatorAgent = AllocatorAgent> {
  now: number;
  /** Seeds the agent shuffle, so a cycle can be replayed. */
  seed: number;
  /** Everything the cluster has (sum of all agents' totals): the denominator of shares. */
  total: Resources;
  agents: readonly A[];
  frameworks: readonly AllocatorFramework[];
  /** Role weights; absent roles weigh 1. */
  weights?: ReadonlyMap<string, number>;
  /**
   * An agent is offered only if its offerable resources contain at least one of these
   * (Mesos' --min_allocatable_resources; default cpus:0.01 or mem:32).
   */
  minAllocatable?: readonly Resources[];
  /**
   * Per role: guarantees held back for it and limits it may not pass (quota.ts). With any
   * guarantee unmet, roles below theirs are served first over every agent (Mesos' first stage),
   * then everyone, leaving the rest of the unmet guarantees unoffered.
   */
  quotas?: ReadonlyMap<string, RoleQuota>;
  /**
   * Σ of the agents' free scalars per role (`sumFree(agents)`), when the caller keeps it as the
   * agents change (the master's AgentPool); summed here over every agent otherwise. Read only
   * with quotas.
   */
  freeSums?: FreeSums;
}

/** Per role, per scalar name: milli-units. */
export type FreeSums = ReadonlyMap<string, ReadonlyMap<string, number>>;

export interface OfferDecision<A extends AllocatorAgent = AllocatorAgent> {
  frameworkId: string;
  role: string;
  agentId: string;
  /** The input's agent itself: the shell finds its record without a lookup by id per offer. */
  agent: A;
  resources: Resources;
}

export interface AllocationResult<A extends AllocatorAgent = AllocatorAgent> {
  offers: OfferDecision<A>[];
}

export const DEFAULT_MIN_ALLOCATABLE: readonly Resources[] = [Resources.parse('cpus:0.01'), Resources.parse('mem:32')];

/** One (framework, role) pair that may be offered resources this cycle. */
interface Candidate {
  framework: AllocatorFramework;
  role: string;
  /** Milli-units allocated to the pair, per scalar of the cluster total (`Shares.names`). */
  allocated: number[];
  share: number;
}

/** A role's candidates, kept sorted by (share, framework id): the front is the role's choice. */
interface RoleQueue {
  role: string;
  weight: number;
  allocated: number[];
  /** share(allocated) / weight. */
  share: number;
  candidates: Candidate[];
}

export function allocate<A extends AllocatorAgent>(input: AllocationInput<A>): AllocationResult<A> {
  const shares = new Shares(input.total);
  const minimum = input.minAllocatable ?? DEFAULT_MIN_ALLOCATABLE;

  const queues = new Map<string, RoleQueue>();
  const queueOf = (role: string): RoleQueue => {
    let q = queues.get(role);
    if (q === undefined) {
      const weight = input.weights?.get(role) ?? 1;
      queues.set(role, (q = { role, weight, allocated: shares.zero(), share: 0, candidates: [] }));
    }
    return q;
  };
  for (const framework of input.frameworks) {
    // A role's share counts every framework's allocation in it, suppressed or not.
    for (const [role, r] of framework.allocated) shares.addTo(queueOf(role).allocated, r);
    for (const role of new Set(framework.roles)) {
      // Suppression does not change within a cycle: a suppressed pair is never a candidate.
      if (framework.suppressedRoles.has(role)) continue;
      const allocated = shares.zero();
      const own = framework.allocated.get(role);
      if (own !== undefined) shares.addTo(allocated, own);
      queueOf(role).candidates.push({ framework, role, allocated, share: shares.of(allocated) });
    }
  }
  for (const q of queues.values()) {
    q.share = shares.of(q.allocated) / q.weight;
    q.candidates.sort(byCandidate);
  }
  // Roles that can be offered anything, sorted by (share, role).
  const roles = [...queues.values()].filter((q) => q.candidates.length > 0).sort(byRole);

  // Per agent, the choice walks the roles in share order and each role's candidates from the
  // front, skipping only those that refused the agent: O(roles + refusals) per pick instead of
  // a scan of every framework (1,000,000 checks per cycle at 10,000 agents × 100 frameworks).
  // After an offer only the chosen candidate and its role move, each to its new place.
  const offers: OfferDecision<A>[] = [];
  const quota = input.quotas !== undefined && input.quotas.size > 0 ? quotaCycle(input, input.quotas) : undefined;
  const order = shuffled(input.agents, input.seed);
  // A role below its guarantee without a framework to offer to keeps its headroom held, but
  // gives stage 1 nothing to do.
  const servable = (): boolean => quota !== undefined && roles.some((q) => quota.belowGuarantee(q.role));
  const take = (agent: A, free: Resources, stage: Stage): Resources => {
    while (!free.isEmpty) {
      const pick = pickCandidate(roles, input.now, agent.id, free, minimum, stage);
      if (pick === undefined) break;
      const { candidate, offered } = pick;
      offers.push({ frameworkId: candidate.framework.id, role: candidate.role, agentId: agent.id, agent, resources: offered });
      quota?.offered(candidate.role, offered);
      // Whole unreserved agents are the common case: nothing is left, no subtraction needed.
      free = offered === free ? Resources.EMPTY : free.subtract(offered);
      const q = queues.get(candidate.role)!;
      shares.addTo(candidate.allocated, offered, q.allocated);
      candidate.share = shares.of(candidate.allocated);
      moveBack(q.candidates, q.candidates.indexOf(candidate), byCandidate);
      q.share = shares.of(q.allocated) / q.weight;
      moveBack(roles, roles.indexOf(q), byRole);
      if (stage.guarantees && !servable()) break;
    }
    return free;
  };
  // Stage 1 (only while some role with candidates is below its guarantee): those roles, over
  // every agent, take what they miss. What is left of each agent goes to stage 2.
  // What stage 1 left of the agent at each place in `order` (an array: no lookup by id per agent).
  let left: Array<Resources | undefined> | undefined;
  if (quota !== undefined && servable()) {
    left = [];
    const stage: Stage = { quota, guarantees: true };
    for (let i = 0; i < order.length; i++) {
      if (!servable()) break;
      const agent = order[i]!;
      const rest = take(agent, agent.free, stage);
      if (rest !== agent.free) left[i] = rest;
    }
  }
  const stage: Stage = { quota, guarantees: false };
  for (let i = 0; i < order.length; i++) {
    const agent = order[i]!;
    take(agent, left?.[i] ?? agent.free, stage);
  }
  return { offers };
}

/**
 * The lowest (role share, framework share, role, framework id) among candidates that may take
 * `free`, and what they would be offered. Roles are walked in share order; roles tied on share
 * are all looked at, since their frameworks' shares decide between them.
 */
function pickCandidate(
  roles: readonly RoleQueue[],
  now: number,
  agentId: string,
  free: Resources,
  minimum: readonly Resources[],
  stage: Stage,
): { candidate: Candidate; offered: Resources } | undefined {
  let best: Candidate | undefined;
  let bestRoleShare = 0;
  let bestOffered = Resources.EMPTY;
  const quota = stage.quota;
  for (const q of roles) {
    if (best !== undefined && q.share > bestRoleShare) break;
    if (stage.guarantees && !quota!.belowGuarantee(q.role)) continue;
    const offered = quota === undefined ? offerable(free, q.role) : quota.fit(q.role, offerable(free, q.role), stage.guarantees);
    if (!allocatable(offered, minimum)) continue;
    for (const c of q.candidates) {
      const refusals = c.framework.refusals;
      if (refusals.size > 0) {
        const refusedUntil = refusals.get(agentId);
        if (refusedUntil !== undefined && refusedUntil > now) continue;
      }
      if (best === undefined || isLower(c, best)) {
        best = c;
        bestRoleShare = q.share;
        bestOffered = offered;
      }
      break; // the rest of this role sorts after c
    }
  }
  return best === undefined ? undefined : { candidate: best, offered: bestOffered };
}

/** Which allocation stage a pick is in; without quota there is only one. */
interface Stage {
  quota: QuotaCycle | undefined;
  /** Stage 1: only roles below their guarantee, cut to what they miss. */
  guarantees: boolean;
}

/** The cycle's quota bookkeeping: per role, what its frameworks hold, and every agent's free resources. */
function quotaCycle(input: AllocationInput<AllocatorAgent>, quotas: ReadonlyMap<string, RoleQuota>): QuotaCycle {
  const allocated = new Map<string, Resources>();
  for (const f of input.frameworks) {
    for (const [role, r] of f.allocated) if (quotas.has(role)) allocated.set(role, (allocated.get(role) ?? Resources.EMPTY).add(r));
  }
  return new QuotaCycle(quotas, allocated, input.freeSums ?? sumFree(input.agents));
}

/** Per role, per scalar name: Σ free milli-units over `agents`. */
export function sumFree(agents: readonly AllocatorAgent[]): FreeSums {
  const sums = new Map<string, Map<string, number>>();
  for (const a of agents) {
    for (const x of a.free.scalarEntries()) {
      let byName = sums.get(x.role);
      if (byName === undefined) sums.set(x.role, (byName = new Map()));
      byName.set(x.name, (byName.get(x.name) ?? 0) + x.milli);
    }
  }
  return sums;
}

/** Between roles of equal share: (framework share, role, framework id). */
function isLower(c: Candidate, best: Candidate): boolean {
  if (c.share !== best.share) return c.share < best.share;
  if (c.role !== best.role) return c.role < best.role;
  return c.framework.id < best.framework.id;
}

function byCandidate(a: Candidate, b: Candidate): number {
  if (a.share !== b.share) return a.share < b.share ? -1 : 1;
  return a.framework.id < b.framework.id ? -1 : a.framework.id > b.framework.id ? 1 : 0;
}

function byRole(a: RoleQueue, b: RoleQueue): number {
  if (a.share !== b.share) return a.share < b.share ? -1 : 1;
  return a.role < b.role ? -1 : a.role > b.role ? 1 : 0;
}

/**
 * The item at `i` only grew: move it right to its place (binary search, then a shift; no
 * allocation). With equal frameworks the one just offered goes to the back every time, so a
 * step-by-step walk compared it with every other framework per offer.
 */
function moveBack<T>(list: T[], i: number, order: (a: T, b: T) => number): void {
  const item = list[i]!;
  // The first index after i whose element does not sort before item.
  let lo = i + 1;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order(list[mid]!, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (let j = i; j < lo - 1; j++) list[j] = list[j + 1]!;
  list[lo - 1] = item;
}

/**
 * Dominant shares over the scalars of the cluster total, on plain milli-unit arrays: the scan
 * updates them after every offer, and `Resources` math there allocated a bag per step.
 * Computed as `(milli / 1000) / total` so that shares (and their ties) equal those of
 * `Resources.scalar(name).toNumber() / total`.
 */
class Shares {
  readonly names: string[];
  private readonly index: Map<string, number>;
  private readonly totals: number[];

  constructor(total: Resources) {
    this.names = [];
    for (const r of total) if (r.value.type === 'SCALAR' && !this.names.includes(r.name)) this.names.push(r.name);
    this.index = new Map(this.names.map((n, i) => [n, i]));
    this.totals = this.names.map((n) => total.scalar(n).toNumber());
  }

  zero(): number[] {
    return this.names.map(() => 0);
  }

  /** Adds the scalars of `r` (all roles) to `into` (and `alsoInto`); names outside the total do not count. */
  addTo(into: number[], r: Resources, alsoInto?: number[]): void {
    for (const [name, milli] of r.scalarMillis()) {
      const i = this.index.get(name);
      if (i === undefined) continue;
      into[i]! += milli;
      if (alsoInto !== undefined) alsoInto[i]! += milli;
    }
  }

  of(allocated: readonly number[]): number {
    let max = 0;
    for (let i = 0; i < this.totals.length; i++) {
      const total = this.totals[i]!;
      if (total > 0) max = Math.max(max, allocated[i]! / 1000 / total);
    }
    return max;
  }
}

/**
 * min_allocatable is role-blind: an agent whose resources are all reserved for a role (a public
 * agent's `cpus(slave_public):4`) is offered to that role too. Flattened only when needed.
 */
function allocatable(offered: Resources, minimum: readonly Resources[]): boolean {
  // A role at its quota limit is cut to nothing on every agent, often first in share order.
  if (offered.isEmpty) return false;
  // All unreserved (nearly every agent): role-blind or not, the same question.
  if (offered.soleRole() === DEFAULT_ROLE) {
    for (const m of minimum) if (containsFlat(offered, m)) return true;
    return false;
  }
  for (const m of minimum) if (offered.contains(m)) return true;
  let reserved = false;
  for (const r of offered) {
    if (r.role !== DEFAULT_ROLE) {
      reserved = true;
      break;
    }
  }
  if (!reserved) return false;
  for (const m of minimum) if (containsFlat(offered, m)) return true;
  return false;
}

/**
 * `offered.flatten().contains(m)`: for a minimum of unreserved scalars (the usual, and Mesos'
 * default) on the bag's per-name sums over roles, cached per bag, instead of a flattened copy.
 */
function containsFlat(offered: Resources, m: Resources): boolean {
  for (const x of m) if (x.value.type !== 'SCALAR' || x.role !== DEFAULT_ROLE) return offered.flatten().contains(m);
  const have = offered.scalarMillis();
  for (const [name, milli] of m.scalarMillis()) {
    let sum = 0;
    for (const [n, v] of have) if (n === name) sum = v;
    if (sum < milli) return false;
  }
  return true;
}

/** What a framework in `role` may be offered from `free`: unreserved plus `role`'s reservations. */
export function offerable(free: Resources, role: string): Resources {
  // An agent all unreserved (nearly all of them), or all reserved for one role, is answered
  // from the bag's summary, without a look at its entries.
  const sole = free.soleRole();
  if (sole === DEFAULT_ROLE || free.isEmpty) return free;
  if (sole !== undefined) return sole === role ? free : Resources.EMPTY;
  const unreserved = free.filterRole(DEFAULT_ROLE);
  if (role === DEFAULT_ROLE || unreserved === free) return unreserved;
  // Asked per role per agent in every pick: an agent without the role's reservations (nearly
  // all of them) must not cost a filtered copy and a merged bag each time.
  let reserved = false;
  for (const r of free) {
    if (r.role === role) {
      reserved = true;
      break;
    }
  }
  return reserved ? unreserved.add(free.filterRole(role)) : unreserved;
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
