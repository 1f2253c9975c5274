/**
 * Quota in one offer cycle (Mesos 1.9+ `QuotaConfig`): per role, `guarantees` (resources held
 * back for the role while it is below them) and `limits` (the most it may consume). Pure; the
 * allocator (drf.ts) asks it, per pick, how much of an agent a role may be offered, and tells it
 * what was offered.
 *
 * Vocabulary (Mesos' hierarchical allocator):
 * - consumed(role): what the role's tasks use and its outstanding offers hold (reserved or not)
 *   plus its reservations that nobody holds — a reservation counts whether used or not;
 * - unsatisfied(role): guarantee − consumed, per guaranteed scalar, at least 0;
 * - required headroom: Σ unsatisfied over all roles — unreserved resources kept back for them;
 * - available headroom: unreserved resources on the agents of this cycle that nobody holds.
 *
 * Only unreserved scalars are cut to fit: a role's reservations are its own and were counted as
 * consumed already. Limits and guarantees name scalars (cpus, mem, disk, gpus); other names are
 * refused at the edge (operator-quota.ts).
 */
import { DEFAULT_ROLE, type Resource, Resources, Scalar } from '../../resources/index.ts';

/**
 * Scalar name → amount (`{cpus: 1, mem: 1024}`), as Mesos' QuotaConfig maps. Not a `Resources`
 * bag: a limit of 0 is a limit (nothing), where a bag drops zero scalars.
 */
export interface RoleQuota {
  guarantees: ReadonlyMap<string, number>;
  limits: ReadonlyMap<string, number>;
}

const milli = (value: number): number => Math.round(value * 1000);

/** Milli-units per scalar name. */
type Amounts = Map<string, number>;

export class QuotaCycle {
  private readonly consumed = new Map<string, Amounts>();
  private readonly unsatisfied = new Map<string, Amounts>();
  private readonly required: Amounts = new Map();
  private readonly available: Amounts = new Map();
  private readonly caps = new Map<string, Amounts | typeof NONE>();
  private readonly stageCaps = new Map<string, Amounts | typeof NONE>();

  /**
   * @param allocated per role: what its tasks use plus its outstanding offers (all frameworks)
   * @param freeByRole Σ of the agents' free scalars per role (drf.ts `sumFree`): reservations
   *        nobody holds count as consumed by their role; the unreserved sums are the available
   *        headroom
   */
  constructor(
    private readonly quotas: ReadonlyMap<string, RoleQuota>,
    allocated: ReadonlyMap<string, Resources>,
    freeByRole: ReadonlyMap<string, ReadonlyMap<string, number>>,
  ) {
    for (const role of quotas.keys()) this.consumed.set(role, new Map());
    for (const [role, r] of allocated) {
      const c = this.consumed.get(role);
      if (c !== undefined) addScalars(c, r);
    }
    const needHeadroom = [...quotas.values()].some((q) => q.guarantees.size > 0);
    for (const [role, byName] of freeByRole) {
      const into = role === DEFAULT_ROLE ? (needHeadroom ? this.available : undefined) : this.consumed.get(role);
      if (into === undefined) continue;
      for (const [name, milli] of byName) into.set(name, (into.get(name) ?? 0) + milli);
    }
    for (const [role, q] of quotas) {
      if (q.guarantees.size === 0) continue;
      const c = this.consumed.get(role)!;
      const u: Amounts = new Map();
      for (const [name, amount] of q.guarantees) {
        const missing = Math.max(0, milli(amount) - (c.get(name) ?? 0));
        if (missing > 0) {
          u.set(name, missing);
          this.required.set(name, (this.required.get(name) ?? 0) + missing);
        }
      }
      if (u.size > 0) this.unsatisfied.set(role, u);
    }
  }

  /** Roles still below their guarantee (Mesos' first allocation stage serves these first). */
  belowGuarantee(role: string): boolean {
    return this.unsatisfied.has(role);
  }

  /**
   * What `role` may take of `offerable` now: unreserved scalars cut to the role's limit headroom
   * and to what the required headroom of other roles leaves; in the guarantee stage, guaranteed
   * scalars also cut to what the role still misses. Returns `offerable` itself when nothing is
   * cut, and EMPTY when no scalar is left (min_allocatable names scalars only).
   */
  fit(role: string, offerable: Resources, guaranteeStage: boolean): Resources {
    const caps = this.capsOf(role, guaranteeStage);
    if (caps === undefined) return offerable;
    // A first pass without allocating: is anything cut, and does any scalar remain? A role at
    // its limit is asked this for every agent of the cycle and nearly always gets nothing.
    let cut = false;
    let scalars = 0;
    for (const x of offerable.scalarEntries()) {
      const limit = x.role === DEFAULT_ROLE ? caps.get(x.name) : undefined;
      if (limit !== undefined && x.milli > limit) {
        cut = true;
        if (limit > 0) scalars++;
      } else scalars++;
    }
    if (!cut) return offerable;
    if (scalars === 0) return Resources.EMPTY;
    const out: Array<{ name: string; role: string; value: Resource['value'] }> = [];
    for (const x of offerable) {
      const limit = x.role === DEFAULT_ROLE && x.value.type === 'SCALAR' ? caps.get(x.name) : undefined;
      if (limit === undefined || x.value.type !== 'SCALAR' || x.value.milli <= limit) out.push(x);
      else if (limit > 0) out.push({ name: x.name, role: x.role, value: Scalar.fromMilli(limit) });
    }
    return Resources.of(out);
  }

  /**
   * Per role (and stage), the caps on its unreserved scalars, or undefined for none. Cached: they
   * change only when the role is offered something, or — while guarantees are unmet — when
   * anyone is (the available headroom moves); `offered` drops what went stale.
   */
  private capsOf(role: string, guaranteeStage: boolean): Amounts | undefined {
    // A role without quota has caps only while some guarantee is unmet (computeCaps): answered
    // without the cache, which `offered` would empty and refill for it after each of its offers
    // (a delete and a set per offer, and the map's table re-made every few).
    if (this.required.size === 0 && !this.quotas.has(role)) return undefined;
    const cache = guaranteeStage ? this.stageCaps : this.caps;
    const cached = cache.get(role);
    if (cached !== undefined) return cached === NONE ? undefined : cached;
    const caps = this.computeCaps(role, guaranteeStage);
    cache.set(role, caps ?? NONE);
    return caps;
  }

  private computeCaps(role: string, guaranteeStage: boolean): Amounts | undefined {
    const quota = this.quotas.get(role);
    if (quota === undefined && this.required.size === 0) return undefined;
    const caps: Amounts = new Map();
    if (quota !== undefined) {
      const c = this.consumed.get(role)!;
      for (const [name, limit] of quota.limits) capAt(caps, name, milli(limit) - (c.get(name) ?? 0));
    }
    const own = this.unsatisfied.get(role);
    if (guaranteeStage && own !== undefined) for (const [name, missing] of own) capAt(caps, name, missing);
    // Others' unsatisfied guarantees stay unoffered: what this role takes beyond its own missing
    // part must leave the required headroom in place.
    for (const [name, required] of this.required) {
      const others = required - (own?.get(name) ?? 0);
      if (others > 0) capAt(caps, name, (this.available.get(name) ?? 0) - others);
    }
    return caps.size === 0 ? undefined : caps;
  }

  /** `role` was offered `resources`: its consumption, guarantee and the headrooms move. */
  offered(role: string, resources: Resources): void {
    // Its caps are stale; with guarantees unmet, everyone's are (the available headroom moves).
    if (this.required.size > 0) {
      this.caps.clear();
      this.stageCaps.clear();
    } else if (this.quotas.has(role)) {
      this.caps.delete(role);
      this.stageCaps.delete(role);
    }
    const c = this.consumed.get(role);
    const own = this.unsatisfied.get(role);
    for (const x of resources.scalarEntries()) {
      // Its own reservations were counted as consumed when the cycle began.
      if (x.role !== DEFAULT_ROLE) continue;
      const amount = x.milli;
      if (c !== undefined) c.set(x.name, (c.get(x.name) ?? 0) + amount);
      if (this.available.has(x.name)) this.available.set(x.name, this.available.get(x.name)! - amount);
      const missing = own?.get(x.name);
      if (missing !== undefined) {
        const met = Math.min(missing, amount);
        own!.set(x.name, missing - met);
        this.required.set(x.name, this.required.get(x.name)! - met);
        if (missing - met <= 0) own!.delete(x.name);
        if (this.required.get(x.name)! <= 0) this.required.delete(x.name);
      }
    }
    if (own !== undefined && own.size === 0) this.unsatisfied.delete(role);
  }
}

/** Cached "no caps". */
const NONE: Amounts = new Map();

function capAt(caps: Amounts, name: string, milliCap: number): void {
  const have = caps.get(name);
  caps.set(name, Math.max(0, have === undefined ? milliCap : Math.min(have, milliCap)));
}

function addScalars(into: Amounts, r: Resources): void {
  for (const [name, milli] of r.scalarMillis()) into.set(name, (into.get(name) ?? 0) + milli);
}
