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
import type { AllocatorAgent } from './allocator/drf.ts';
import type { AgentRecord } from './model.ts';

/** Also the allocator's view of the agent, so a settled cycle allocates no object per agent. */
interface FreeEntry extends AllocatorAgent {
  total: Resources;
  used: Resources;
  offered: Resources;
  free: Resources;
}

export class AgentPool {
  private readonly free = new WeakMap<AgentRecord, FreeEntry>();

  /** total − used − offered, as of now. */
  freeOf(agent: AgentRecord): Resources {
    return this.allocatorAgent(agent).free;
  }

  /** `{ id, free }` for allocate(): the same object for as long as the agent's free is the same. */
  allocatorAgent(agent: AgentRecord): AllocatorAgent {
    const e = this.free.get(agent);
    if (e !== undefined && e.total === agent.total && e.used === agent.used && e.offered === agent.offered) return e;
    const free = agent.total.subtract(agent.used).subtract(agent.offered);
    const entry: FreeEntry = { id: agent.id, total: agent.total, used: agent.used, offered: agent.offered, free };
    this.free.set(agent, entry);
    return entry;
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
