/**
 * The operator's per-role settings for the allocator: weights (UPDATE_WEIGHTS) and quota
 * (UPDATE_QUOTA's QuotaConfig: guarantees and limits). Kept in the registry
 * (`/drover/master/weights/<role>`, `/drover/master/quota/<role>`), so they survive a master
 * restart and an HA failover: the next leader loads them in Master.start. The store is written
 * first; memory changes only once the write succeeded.
 *
 * Weights given by flag (`--weights`) are defaults: a stored weight for the same role wins, as
 * Mesos' registry weights override its deprecated flag.
 */
import { DroverError } from '../../errors/errors.ts';
import type { Store } from '../../store/store.ts';
import type { RoleQuota } from './quota.ts';

const WEIGHTS = '/drover/master/weights/';
const QUOTA = '/drover/master/quota/';

/** The names a quota may limit or guarantee: Mesos' scalar resources. */
export const QUOTA_RESOURCES = ['cpus', 'mem', 'disk', 'gpus'] as const;

interface StoredQuota {
  guarantees: Record<string, number>;
  limits: Record<string, number>;
}

export class RoleConfig {
  private readonly stored = new Map<string, number>();
  private readonly merged = new Map<string, number>();
  private readonly quotaMap = new Map<string, RoleQuota>();

  constructor(
    private readonly store: Store,
    private readonly flagWeights: ReadonlyMap<string, number> = new Map(),
  ) {
    this.remerge();
  }

  async load(): Promise<void> {
    const [weights, quotas] = await Promise.all([this.store.range(WEIGHTS), this.store.range(QUOTA)]);
    this.stored.clear();
    for (const kv of weights.kvs) {
      const w = Number(kv.value);
      if (w > 0 && Number.isFinite(w)) this.stored.set(kv.key.slice(WEIGHTS.length), w);
    }
    this.remerge();
    this.quotaMap.clear();
    for (const kv of quotas.kvs) {
      const q = JSON.parse(kv.value) as StoredQuota;
      this.quotaMap.set(kv.key.slice(QUOTA.length), { guarantees: new Map(Object.entries(q.guarantees)), limits: new Map(Object.entries(q.limits)) });
    }
  }

  /** Role → weight (absent roles weigh 1): what the allocator reads every cycle. */
  get weights(): ReadonlyMap<string, number> {
    return this.merged;
  }

  get quotas(): ReadonlyMap<string, RoleQuota> {
    return this.quotaMap;
  }

  weightOf(role: string): number {
    return this.merged.get(role) ?? 1;
  }

  /** Sets weights, all or none: every value was validated by the caller. */
  async updateWeights(weights: ReadonlyArray<{ role: string; weight: number }>): Promise<void> {
    if (weights.length === 0) return;
    await this.store.txn({ success: weights.map((w) => ({ type: 'put' as const, key: WEIGHTS + w.role, value: String(w.weight) })) });
    for (const w of weights) this.stored.set(w.role, w.weight);
    this.remerge();
  }

  /** Sets quotas, all or none; a config with neither guarantees nor limits removes the role's quota. */
  async updateQuotas(configs: ReadonlyArray<{ role: string; quota: RoleQuota }>): Promise<void> {
    if (configs.length === 0) return;
    const ops = configs.map(({ role, quota }) =>
      quota.guarantees.size === 0 && quota.limits.size === 0
        ? { type: 'delete' as const, key: QUOTA + role }
        : { type: 'put' as const, key: QUOTA + role, value: JSON.stringify({ guarantees: Object.fromEntries(quota.guarantees), limits: Object.fromEntries(quota.limits) } satisfies StoredQuota) },
    );
    const result = await this.store.txn({ success: ops });
    if (!result.succeeded) throw new DroverError('CONFLICT', 'quota update was not applied; retry');
    for (const { role, quota } of configs) {
      if (quota.guarantees.size === 0 && quota.limits.size === 0) this.quotaMap.delete(role);
      else this.quotaMap.set(role, quota);
    }
  }

  private remerge(): void {
    this.merged.clear();
    for (const [role, w] of this.flagWeights) this.merged.set(role, w);
    for (const [role, w] of this.stored) this.merged.set(role, w);
  }
}
