/**
 * Per framework, per role: a sum of scalar resources (what DRF shares are made of). The task
 * table keeps one running for live tasks, so an offer cycle reads sums instead of re-adding
 * every task; the master sums outstanding offers with one per cycle.
 *
 * The sums are plain milli-unit numbers per scalar name (reservation roles summed: a share counts
 * `cpus` whatever its reservation), so an addition allocates nothing — at 10,000 agents there
 * are up to 10,000 offers out. `view()` turns them into `Resources` once per change.
 * Ranges (ports) are not summed: those of different agents overlap, a union of ranges cannot be
 * subtracted item by item, and shares ignore them anyway.
 */
import { DroverError } from '../errors/errors.ts';
import { Resources, Scalar } from '../resources/index.ts';

export class AllocationSums {
  /** frameworkId → role → scalar name → milli-units. */
  private readonly sums = new Map<string, Map<string, Map<string, number>>>();
  private viewCache: Map<string, Map<string, Resources>> | undefined;

  add(frameworkId: string, role: string, resources: Resources): void {
    const scalars = resources.scalarMillis();
    if (scalars.length === 0) return;
    let roles = this.sums.get(frameworkId);
    if (roles === undefined) this.sums.set(frameworkId, (roles = new Map()));
    let sum = roles.get(role);
    if (sum === undefined) roles.set(role, (sum = new Map()));
    for (const [name, milli] of scalars) sum.set(name, (sum.get(name) ?? 0) + milli);
    this.viewCache = undefined;
  }

  /** Undo an `add` of the same resources. */
  subtract(frameworkId: string, role: string, resources: Resources): void {
    const scalars = resources.scalarMillis();
    if (scalars.length === 0) return;
    const roles = this.sums.get(frameworkId);
    const sum = roles?.get(role);
    if (roles === undefined || sum === undefined) throw new DroverError('RESOURCE_MATH', `no allocation of ${frameworkId} in role ${role} to subtract from`);
    for (const [name, milli] of scalars) {
      if ((sum.get(name) ?? 0) < milli) throw new DroverError('RESOURCE_MATH', `allocation of ${frameworkId} in role ${role} would go below zero on ${name}`);
    }
    for (const [name, milli] of scalars) {
      const rest = sum.get(name)! - milli;
      if (rest === 0) sum.delete(name);
      else sum.set(name, rest);
    }
    if (sum.size === 0) roles.delete(role);
    if (roles.size === 0) this.sums.delete(frameworkId);
    this.viewCache = undefined;
  }

  clear(): void {
    this.sums.clear();
    this.viewCache = undefined;
  }

  /** frameworkId → role → scalar sum (unreserved). Read-only; rebuilt after a change. */
  view(): ReadonlyMap<string, ReadonlyMap<string, Resources>> {
    if (this.viewCache === undefined) {
      this.viewCache = new Map();
      for (const [frameworkId, roles] of this.sums) {
        const out = new Map<string, Resources>();
        for (const [role, sum] of roles) out.set(role, Resources.of([...sum].map(([name, milli]) => ({ name, value: Scalar.fromMilli(milli) }))));
        this.viewCache.set(frameworkId, out);
      }
    }
    return this.viewCache;
  }
}
