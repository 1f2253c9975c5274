/**
 * OFFERS events as JSON text, built from cached fragments. An offer cycle at 10,000 agents sends
 * 10,000 offers; as objects (`offerToJson` in views.ts) they were 10,000 small object trees per
 * cycle for `JSON.stringify` to walk and the collector to sweep. Most of an offer is the agent
 * (hostname, url, attributes) and its resources, and between cycles both are usually the same
 * objects as last time (an unused offer comes back as the same free `Resources`), so their JSON
 * is cached per agent, re-made when the offered `Resources` (immutable, so compared by
 * identity), the role, or the agent's hostname, port or attributes change. Only the offer and
 * framework ids are new per offer.
 *
 * The text is exactly `JSON.stringify(offerToJson(offer, agent))` (offer-json.test.ts checks it).
 */
import { EncodedJson } from '../protocol/encoded-json.ts';
import type { RangeSet, Resources, ResourceValue, ValueSet } from '../resources/index.ts';
import type { AgentRecord, OfferRecord } from './model.ts';

interface AgentFragment {
  hostname: string;
  port: number;
  attributes: AgentRecord['attributes'];
  resources: Resources;
  role: string;
  /** Everything after `"framework_id":{…},`, closing brace included. */
  rest: string;
}

export class OfferJson {
  private readonly agents = new WeakMap<AgentRecord, AgentFragment>();

  /** One offer's JSON text. */
  offer(offer: OfferRecord, agent: AgentRecord): string {
    return this.parts(offer, agent, []).join('');
  }

  /**
   * Appends the pieces of one offer's JSON text to `into`. An event is one `join` of flat
   * pieces: a string per offer (made by concatenation) was a rope that the join then had to
   * walk and flatten, offer by offer.
   */
  parts(offer: OfferRecord, agent: AgentRecord, into: string[], frameworkIdJson = JSON.stringify(offer.frameworkId)): string[] {
    into.push('{"id":{"value":', JSON.stringify(offer.id), '},"framework_id":{"value":', frameworkIdJson, '},', this.restOf(agent, offer.resources, offer.role));
    return into;
  }

  /** An OFFERS event to one framework being built: `add` its offers, then `finish`. */
  static event(frameworkId: string): OffersEvent {
    return new OffersEvent(JSON.stringify(frameworkId));
  }

  private restOf(agent: AgentRecord, resources: Resources, role: string): string {
    const c = this.agents.get(agent);
    if (c !== undefined && c.resources === resources && c.role === role && c.hostname === agent.hostname && c.port === agent.port && c.attributes === agent.attributes) {
      return c.rest;
    }
    const url = { scheme: 'http', address: { hostname: agent.hostname, ip: '127.0.0.1', port: agent.port }, path: '/slave(1)' };
    const rest =
      `"agent_id":{"value":${JSON.stringify(agent.id)}},"hostname":${JSON.stringify(agent.hostname)},"url":${JSON.stringify(url)},` +
      `"resources":${this.resourcesText(resources, role)},"attributes":${JSON.stringify(agent.attributes)},` +
      `"allocation_info":{"role":${JSON.stringify(role)}}}`;
    this.agents.set(agent, { hostname: agent.hostname, port: agent.port, attributes: agent.attributes, resources, role, rest });
    return rest;
  }

  private readonly values = new WeakMap<RangeSet | ValueSet, string>();

  /**
   * `JSON.stringify(allocatedResourcesJson(resources, role))` (views.ts), written directly: the
   * object form cost ≈ 12 µs per agent, which every agent pays in the first cycle and again
   * whenever its free resources change. Range and set values are immutable and shared between
   * bags (an agent's ports stay the same object through task launches that use no ports), so
   * their text is cached.
   */
  private resourcesText(resources: Resources, role: string): string {
    const allocation = `"allocation_info":{"role":${JSON.stringify(role)}}}`;
    const items: string[] = [];
    for (const r of resources) {
      items.push(`{"name":${JSON.stringify(r.name)},"type":"${r.value.type}",${this.valueText(r.value)},"role":${JSON.stringify(r.role)},${allocation}`);
    }
    return `[${items.join(',')}]`;
  }

  private valueText(value: ResourceValue): string {
    if (value.type === 'SCALAR') return `"scalar":{"value":${JSON.stringify(value.toNumber())}}`;
    let text = this.values.get(value);
    if (text === undefined) {
      text = value.type === 'RANGES'
        ? `"ranges":${JSON.stringify({ range: value.toArray().map(([begin, end]) => ({ begin, end })) })}`
        : `"set":${JSON.stringify({ item: value.toArray() })}`;
      this.values.set(value, text);
    }
    return text;
  }
}

/** `{"type":"OFFERS","offers":{"offers":[…]}}`, built from the offers' pieces. */
export class OffersEvent {
  private readonly pieces: string[] = ['{"type":"OFFERS","offers":{"offers":['];
  private count = 0;

  /** `frameworkIdJson`: the JSON of the id of the framework every offer added is for. */
  constructor(private readonly frameworkIdJson: string) {}

  add(json: OfferJson, offer: OfferRecord, agent: AgentRecord): void {
    if (this.count++ > 0) this.pieces.push(',');
    json.parts(offer, agent, this.pieces, this.frameworkIdJson);
  }

  finish(): EncodedJson {
    this.pieces.push(']}}');
    return new EncodedJson(this.pieces.join(''));
  }
}
