/**
 * OFFERS events as JSON text, built from cached fragments. An offer cycle at 10,000 agents sends
 * 10,000 offers; as objects (`offerToJson` in views.ts) they were 10,000 small object trees per
 * cycle for `JSON.stringify` to walk and the collector to sweep. Most of an offer is the agent
 * (hostname, url, attributes) and its resources, and between cycles both are usually the same
 * objects as last time (an unused offer comes back as the same free `Resources`), so their JSON
 * is cached: per agent, re-made when the agent's hostname, port or attributes change; per
 * `Resources` (immutable) and role. Only the ids are new per offer.
 *
 * The text is exactly `JSON.stringify(offerToJson(offer, agent))` (offer-json.test.ts checks it).
 */
import { EncodedJson } from '../protocol/encoded-json.ts';
import type { Resources } from '../resources/index.ts';
import type { AgentRecord, OfferRecord } from './model.ts';
import { allocatedResourcesJson } from './views.ts';

interface AgentFragment {
  hostname: string;
  port: number;
  attributes: AgentRecord['attributes'];
  /** `"agent_id":…,"hostname":…,"url":…` */
  head: string;
  /** `"attributes":…` */
  tail: string;
}

export class OfferJson {
  private readonly agents = new WeakMap<AgentRecord, AgentFragment>();
  private readonly resources = new WeakMap<Resources, Map<string, string>>();

  /** One offer's JSON text. */
  offer(offer: OfferRecord, agent: AgentRecord): string {
    const a = this.agentFragment(agent);
    const role = JSON.stringify(offer.role);
    return (
      `{"id":{"value":${JSON.stringify(offer.id)}},"framework_id":{"value":${JSON.stringify(offer.frameworkId)}},${a.head},` +
      `"resources":${this.resourcesJson(offer.resources, offer.role)},${a.tail},"allocation_info":{"role":${role}}}`
    );
  }

  /** `{"type":"OFFERS","offers":{"offers":[…]}}` from offers' JSON texts. */
  static event(offers: readonly string[]): EncodedJson {
    return new EncodedJson(`{"type":"OFFERS","offers":{"offers":[${offers.join(',')}]}}`);
  }

  private agentFragment(agent: AgentRecord): AgentFragment {
    const cached = this.agents.get(agent);
    if (cached !== undefined && cached.hostname === agent.hostname && cached.port === agent.port && cached.attributes === agent.attributes) {
      return cached;
    }
    const url = { scheme: 'http', address: { hostname: agent.hostname, ip: '127.0.0.1', port: agent.port }, path: '/slave(1)' };
    const fragment: AgentFragment = {
      hostname: agent.hostname,
      port: agent.port,
      attributes: agent.attributes,
      head: `"agent_id":{"value":${JSON.stringify(agent.id)}},"hostname":${JSON.stringify(agent.hostname)},"url":${JSON.stringify(url)}`,
      tail: `"attributes":${JSON.stringify(agent.attributes)}`,
    };
    this.agents.set(agent, fragment);
    return fragment;
  }

  private resourcesJson(resources: Resources, role: string): string {
    let byRole = this.resources.get(resources);
    if (byRole === undefined) this.resources.set(resources, (byRole = new Map()));
    let text = byRole.get(role);
    if (text === undefined) byRole.set(role, (text = JSON.stringify(allocatedResourcesJson(resources, role))));
    return text;
  }
}
