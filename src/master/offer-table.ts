/**
 * The master's outstanding offers by id, with a running sum per framework and role of their
 * scalar resources (part of the DRF shares), so that an offer cycle does not re-add every
 * outstanding offer (up to one per agent: 10,000 `Resources` additions with port ranges).
 * A Map subclass like TaskTable: `set`, `delete` and `clear` keep the sum, every reader keeps
 * working. An offer never changes once it is stored.
 *
 * No per-agent index: it cost a Map per agent per cycle (offers are made and answered every
 * cycle), more than the rare agent events that would read it (docs/architecture/006-scale.md).
 */
import type { Resources } from '../resources/index.ts';
import { AllocationSums } from './allocation-sums.ts';
import type { OfferRecord } from './model.ts';

export class OfferTable extends Map<string, OfferRecord> {
  private allocation: AllocationSums | undefined;

  override set(id: string, offer: OfferRecord): this {
    // Map's constructor calls set before field initialisers run: the sum is created lazily.
    this.allocation ??= new AllocationSums();
    const previous = super.get(id);
    if (previous !== undefined) this.unindex(previous);
    this.allocation.add(offer.frameworkId, offer.role, offer.resources);
    return super.set(id, offer);
  }

  override delete(id: string): boolean {
    const previous = super.get(id);
    if (previous === undefined) return false;
    this.unindex(previous);
    return super.delete(id);
  }

  override clear(): void {
    this.allocation?.clear();
    super.clear();
  }

  /** Per framework, per role: the scalar resources of its outstanding offers. Read-only view. */
  allocated(): ReadonlyMap<string, ReadonlyMap<string, Resources>> {
    return this.allocation?.view() ?? new Map();
  }

  private unindex(offer: OfferRecord): void {
    this.allocation?.subtract(offer.frameworkId, offer.role, offer.resources);
  }
}
