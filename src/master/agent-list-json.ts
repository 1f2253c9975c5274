/**
 * The agents of `/master/state` (`slaves`) kept encoded per agent, so that a request with
 * nothing changed does not make 500 agents' JSON again (issue 21, 022-master-state-json.md).
 *
 * An agent's JSON is used again only when every value `agentToJson` (views.ts) reads is the same,
 * compared by identity. The master changes an agent record only by assigning these fields:
 * `total`, `used`, `offered` are immutable `Resources` replaced per change (master.ts,
 * offer-operations.ts), `attributes` and `reservations` are replaced arrays (agent-calls.ts,
 * reservation-hooks.ts), `maintenance` a replaced object (maintenance.ts saves `{ ...current, … }`)
 * — as offer-json.ts already relies on for the offers' agent part.
 */
import { EncodedItem } from '../protocol/encoded-items.ts';
import type { AgentRecord } from './model.ts';
import { agentToJson } from './views.ts';

/** What `agentToJson` reads, in a fixed order. */
function inputsOf(a: AgentRecord): unknown[] {
  return [a.id, a.hostname, a.port, a.registeredAt, a.reregisteredAt, a.total, a.used, a.offered, a.reservations, a.attributes, a.status, a.maintenance, a.removalHeldSince];
}

function same(x: readonly unknown[], y: readonly unknown[]): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export class AgentListJson {
  private readonly kept = new WeakMap<AgentRecord, { inputs: unknown[]; json: string }>();
  /** The last answer and the JSON strings it was joined from: reused whole when every agent's is the same. */
  private last: { parts: string[]; item: EncodedItem } | undefined;
  /** Agents' JSON made (not reused) so far: tests read it. */
  made = 0;

  /** `JSON.stringify(agents.map(agentToJson))` as one encoded item. */
  of(agents: readonly AgentRecord[]): EncodedItem {
    const parts: string[] = [];
    for (const agent of agents) {
      const inputs = inputsOf(agent);
      let entry = this.kept.get(agent);
      if (entry === undefined || !same(entry.inputs, inputs)) {
        this.made++;
        this.kept.set(agent, (entry = { inputs, json: JSON.stringify(agentToJson(agent)) }));
      }
      parts.push(entry.json);
    }
    const last = this.last;
    if (last !== undefined && last.parts.length === parts.length && same(last.parts, parts)) return last.item;
    const item = new EncodedItem(`[${parts.join(',')}]`);
    this.last = { parts, item };
    return item;
  }
}
