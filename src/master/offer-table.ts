/**
 * The master's outstanding offers by id, with the running indexes an offer cycle and agent
 * events need instead of a scan of every offer (10,000 are out after each cycle at 10,000 agents):
 *   - per framework, per role: the sum of the offers' scalar resources, part of the DRF shares;
 *   - per agent: its offers, read when the agent is deactivated, drained, unreachable or its
 *     stream closes.
 * A Map subclass like TaskTable: `set`, `delete` and `clear` keep the indexes, every reader keeps
 * working. An offer never changes once it is stored.
 */
import type { Resources } from '../resources/index.ts';
import { AllocationSums } from './allocation-sums.ts';
import type { OfferRecord } from './model.ts';

export class OfferTable extends Map<string, OfferRecord> {
  private byAgent: Map<string, Map<string, OfferRecord>> | undefined;
  private allocation: AllocationSums | undefined;

  override set(id: string, offer: OfferRecord): this {
    // Map's constructor calls set before field initialisers run: indexes are created lazily.
    this.byAgent ??= new Map();
    this.allocation ??= new AllocationSums();
    const previous = super.get(id);
    if (previous !== undefined) this.unindex(id, previous);
    let agent = this.byAgent.get(offer.agentId);
    if (agent === undefined) this.byAgent.set(offer.agentId, (agent = new Map()));
    agent.set(id, offer);
    this.allocation.add(offer.frameworkId, offer.role, offer.resources);
    return super.set(id, offer);
  }

  override delete(id: string): boolean {
    const previous = super.get(id);
    if (previous === undefined) return false;
    this.unindex(id, previous);
    return super.delete(id);
  }

  override clear(): void {
    this.byAgent?.clear();
    this.allocation?.clear();
    super.clear();
  }

  /** The agent's outstanding offers (a fresh array, so callers may remove them as they go). */
  onAgent(agentId: string): OfferRecord[] {
    const offers = this.byAgent?.get(agentId);
    return offers === undefined ? [] : [...offers.values()];
  }

  /** Per framework, per role: the scalar resources of its outstanding offers. Read-only view. */
  allocated(): ReadonlyMap<string, ReadonlyMap<string, Resources>> {
    return this.allocation?.view() ?? new Map();
  }

  private unindex(id: string, offer: OfferRecord): void {
    const agent = this.byAgent?.get(offer.agentId);
    agent?.delete(id);
    if (agent?.size === 0) this.byAgent!.delete(offer.agentId);
    this.allocation?.subtract(offer.frameworkId, offer.role, offer.resources);
  }
}
