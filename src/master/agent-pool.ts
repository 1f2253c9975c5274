/**
 * What the offer cycle reads of the agents: each agent's free resources and the cluster's scalar
 * total. Both were recomputed with `Resources` math for every agent every cycle (at 10,000 agents
 * a subtraction of ranges and two bags per agent, plus 10,000 additions of port ranges for a
 * total whose ranges nobody reads) — ≈ 75 ms per cycle (docs/architecture/006-scale.md).
 *
 * `free` is kept per agent and re-made only when `total`, `used` or `offered` is no longer the
 * object it was made from. Those are immutable `Resources` that every launch, task end, offer,
 * decline, rescind and re-registration replaces, so identity is exactly "changed since": no call
 * site has to remember to update a second copy. An unused offer coming back restores the very
 * `Resources.EMPTY` the cached value was made with, so a settled cluster recomputes nothing.
 *
 * The total counts scalars only (summed over roles): it is the denominator of dominant shares,
 * which ignore ranges and sets, as in Mesos.
 */
import { Resources, Scalar } from '../resources/index.ts';
import type { AllocatorAgent, FreeSums } from './allocator/drf.ts';
import type { AgentRecord } from './model.ts';

/** Also the allocator's view of the agent, so a settled cycle allocates no object per agent. */
export interface FreeEntry extends AllocatorAgent {
  /** The agent itself, carried through the allocator's decisions back to the shell. */
  record: AgentRecord;
  total: Resources;
  used: Resources;
  offered: Resources;
  free: Resources;
  /** The last round (`beginRound`) that counted this entry in the pool's free sums; 0: none. */
  round: number;
}

export class AgentPool {
  private readonly free = new WeakMap<AgentRecord, FreeEntry>();
  /**
   * Σ free scalars per role over the agents of the last round (the allocator's quota headroom),
   * kept as entries change rather than summed over every agent each cycle (a pass over 10,000
   * agents' bags; docs/architecture/024-allocator-cycle.md).
   */
  private readonly sums = new Map<string, Map<string, number>>();
  private round = 0;
  private inRound = false;
  /** This round's agents so far, and how many of them were counted in the last round too. */
  private included: FreeEntry[] = [];
  private carried = 0;
  private lastCount = 0;

  /** total − used − offered, as of now. */
  freeOf(agent: AgentRecord): Resources {
    return this.allocatorAgent(agent).free;
  }

  /** `{ id, free }` for allocate(): the same object for as long as the agent's free is the same. */
  allocatorAgent(agent: AgentRecord): FreeEntry {
    const e = this.free.get(agent);
    if (e !== undefined && e.total === agent.total && e.used === agent.used && e.offered === agent.offered) return e;
    const free = agent.total.subtract(agent.used).subtract(agent.offered);
    const entry: FreeEntry = { id: agent.id, record: agent, total: agent.total, used: agent.used, offered: agent.offered, free, round: 0 };
    // Counted in the sums (this round's or, while one is under way, the last one's): they follow.
    if (e !== undefined && (e.round === this.round || (this.inRound && e.round === this.round - 1))) {
      this.addToSums(e.free, -1);
      this.addToSums(free, 1);
      entry.round = e.round;
    }
    this.free.set(agent, entry);
    return entry;
  }

  /** Starts a round: `include` each agent to offer, then `finishRound` gives their free sums. */
  beginRound(): void {
    this.round++;
    this.inRound = true;
    this.included = [];
    this.carried = 0;
  }

  /** `allocatorAgent`, and the agent counted in this round's sums. */
  include(agent: AgentRecord): FreeEntry {
    const entry = this.allocatorAgent(agent);
    if (entry.round === this.round) return entry;
    if (entry.round === this.round - 1) this.carried++;
    else this.addToSums(entry.free, 1);
    entry.round = this.round;
    this.included.push(entry);
    return entry;
  }

  /**
   * Per role, per scalar name: Σ free milli-units over this round's agents. Exact: an agent of
   * the last round missing from this one (removed, deactivated, its stream closed) makes it a
   * recount over this round's agents — rare; otherwise nothing is summed here.
   */
  finishRound(): FreeSums {
    this.inRound = false;
    if (this.carried !== this.lastCount) {
      this.sums.clear();
      for (const e of this.included) this.addToSums(e.free, 1);
    }
    this.lastCount = this.included.length;
    this.included = [];
    return this.sums;
  }

  private addToSums(free: Resources, sign: 1 | -1): void {
    for (const x of free.scalarEntries()) {
      let byName = this.sums.get(x.role);
      if (byName === undefined) this.sums.set(x.role, (byName = new Map()));
      const sum = (byName.get(x.name) ?? 0) + sign * x.milli;
      if (sum === 0) byName.delete(x.name);
      else byName.set(x.name, sum);
      if (byName.size === 0) this.sums.delete(x.role);
    }
  }

  /** The sum of the agents' scalar resources, unreserved (roles summed). */
  scalarTotal(agents: Iterable<AgentRecord>): Resources {
    const sums = new Map<string, number>();
    for (const a of agents) {
      for (const [name, milli] of a.total.scalarMillis()) sums.set(name, (sums.get(name) ?? 0) + milli);
    }
    return Resources.of([...sums].map(([name, milli]) => ({ name, value: Scalar.fromMilli(milli) })));
  }
}
