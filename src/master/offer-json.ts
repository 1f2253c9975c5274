/**
 * OFFERS events as JSON bytes, assembled from cached fragments. An offer cycle at 10,000 agents
 * sends 10,000 offers; as objects (`offerToJson` in views.ts) they were 10,000 small object trees
 * per cycle for `JSON.stringify` to walk, UTF-8 encode and the collector to sweep. Most of an
 * offer is the agent (hostname, url, attributes) and its resources, and between cycles both are
 * usually the same objects as last time (an unused offer comes back as the same free
 * `Resources`), so that part's bytes are cached per agent and re-made when the offered
 * `Resources` (immutable, so compared by identity), the role, or the agent's hostname, port or
 * attributes change. Only the offer and framework ids are new per offer, and an event is one
 * buffer the pieces are copied into (a string join of the same pieces, then its UTF-8 encoding,
 * was the largest cost left in a cycle).
 *
 * The bytes are exactly those of `JSON.stringify` of the object form (offer-json.test.ts checks it).
 */
import { DroverError } from '../errors/errors.ts';
import { EncodedJson } from '../protocol/encoded-json.ts';
import type { RangeSet, Resources, ResourceValue, ValueSet } from '../resources/index.ts';
import type { AgentRecord, OfferRecord } from './model.ts';
import { MadeOffer } from './offer-table.ts';

interface AgentFragment {
  hostname: string;
  port: number;
  attributes: AgentRecord['attributes'];
  /** `"agent_id":{…},"hostname":…,"url":{…},"resources":` as UTF-8. */
  head: Buffer;
  /** `],"attributes":[…],` as UTF-8 (closes the resources array). */
  tail: Buffer;
  /** The bag last offered here and its items (bodyOf): a new bag equal to it reuses them. */
  resources?: Resources;
  body?: Body;
}

/**
 * The resources part of offers with the same resources, whichever agent: its items, and per role
 * the items joined with that role's `allocation_info` (one piece to copy instead of two per item).
 */
interface Body {
  /** Each resource's JSON up to its allocation role (`[{…,` then `,{…,`). */
  items: Buffer[];
  /** How many bags were found with these items: joined pieces are made only for a shared body. */
  bags: number;
  byRole: Map<string, Buffer>;
}

/** Bodies kept at most (then forgotten and found again); roles joined per body at most. */
const MAX_BODIES = 16_384;
const MAX_ROLES_PER_BODY = 64;

const OPEN = Buffer.from('{"type":"OFFERS","offers":{"offers":[');
const CLOSE = Buffer.from(']}}');
const OFFER_ID = Buffer.from('{"id":{"value":');
const COMMA = 0x2c;
const QUOTE = 0x22;
/** Printable ASCII without `"` and `\\`: written between quotes as it is. */
const PLAIN_ID = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const OPEN_BRACKET = Buffer.from('[');

/**
 * The offered resources of an agent with dynamic reservations, as JSON (reservations.ts): each
 * reservation with its principal and labels, each volume on its own; `undefined` for the rest.
 */
export type ReservedResourcesJson = (agent: AgentRecord, resources: Resources, role: string) => unknown[] | undefined;

export class OfferJson {
  private readonly agents = new WeakMap<AgentRecord, AgentFragment>();
  private readonly values = new WeakMap<RangeSet | ValueSet, string>();
  private readonly bodies = new WeakMap<Resources, Body>();
  /**
   * Bodies by their items' bytes. Agents alike (the same machines running the same tasks) offer
   * equal resources, and with roles each agent goes to another role from one cycle to the next:
   * one joined piece per body and role serves them all.
   */
  private readonly shared = new Map<string, Body>();
  private readonly allocations = new Map<string, Buffer>();
  /**
   * The lists an event collects its offers in, shared by every event: one event is built at a
   * time (`event` begins one, and an earlier one not yet finished can no longer be used), and
   * written only up to its own counts, so a cycle's events grow no arrays of their own (at
   * 10,000 offers, about a megabyte of array growth per cycle otherwise).
   */
  readonly scratch: Scratch = { ids: [], seqs: [], parts: [], ends: [] };
  /** The master's offer-id prefix last seen, as bytes; undefined if it needs escaping. */
  private prefix = '';
  private prefixBytes: Buffer | undefined;
  private current: OffersEvent | undefined;
  /** Where the last `restInto` stopped writing. */
  lastEnd = 0;

  constructor(private readonly reserved?: ReservedResourcesJson) {}

  /** An OFFERS event to one framework being built: `add` its offers, then `finish`, before the next `event`. */
  event(frameworkId: string): OffersEvent {
    this.current = new OffersEvent(this, frameworkId);
    return this.current;
  }

  /** `offer.prefix` as bytes to copy, when it needs no escaping (a master's `<uuid>-O` always). */
  prefixOf(offer: MadeOffer): Buffer | undefined {
    if (offer.prefix !== this.prefix) {
      this.prefix = offer.prefix;
      this.prefixBytes = PLAIN_ID.test(offer.prefix) ? Buffer.from(offer.prefix, 'latin1') : undefined;
    }
    return this.prefixBytes;
  }

  /** Throws unless `event` is the one being built. */
  checkCurrent(event: OffersEvent): void {
    if (this.current !== event) throw new DroverError('INTERNAL', 'an OFFERS event was used after another one was begun');
  }

  /**
   * The bytes of an offer after its framework id, as pieces to copy in order. Cached per agent
   * (its head and tail), per offered `Resources` (each item up to its allocation role) and per
   * role (`"allocation_info":{"role":…}}`, which closes an item and the offer alike): with roles,
   * an agent is offered to another role from one cycle to the next, and a cache of whole offers
   * per agent missed every time (the largest cost of a quota cycle at 10,000 agents).
   */
  restOf(agent: AgentRecord, resources: Resources, role: string): Buffer[] {
    const parts: Buffer[] = [];
    this.restInto(agent, resources, role, parts);
    return parts;
  }

  /**
   * `restOf`, written into `parts` from index `at` (an event's flat list: no array per offer).
   * Returns its byte size; `parts.length` is not read (the list is reused) and `lastEnd` is the
   * index after the last piece written.
   */
  restInto(agent: AgentRecord, resources: Resources, role: string, parts: Buffer[], at = parts.length): number {
    // Reserved resources are listed by reservation and volume, which changes without the bag
    // changing (a volume's task ends): not cached. Agents without reservations take the fast path.
    const reserved = agent.reservations !== undefined && agent.reservations.length > 0 ? this.reserved?.(agent, resources, role) : undefined;
    if (reserved !== undefined) {
      const url = { scheme: 'http', address: { hostname: agent.hostname, ip: '127.0.0.1', port: agent.port }, path: '/slave(1)' };
      const items = reserved.map((r) => ({ ...(r as object), allocation_info: { role } }));
      const whole = Buffer.from(
        `"agent_id":{"value":${JSON.stringify(agent.id)}},"hostname":${JSON.stringify(agent.hostname)},"url":${JSON.stringify(url)},` +
          `"resources":${JSON.stringify(items)},"attributes":${JSON.stringify(agent.attributes)},"allocation_info":{"role":${JSON.stringify(role)}}}`,
      );
      parts[at++] = whole;
      this.lastEnd = at;
      return whole.length;
    }
    let c = this.agents.get(agent);
    if (c === undefined || c.hostname !== agent.hostname || c.port !== agent.port || c.attributes !== agent.attributes) {
      const url = { scheme: 'http', address: { hostname: agent.hostname, ip: '127.0.0.1', port: agent.port }, path: '/slave(1)' };
      c = {
        hostname: agent.hostname,
        port: agent.port,
        attributes: agent.attributes,
        head: Buffer.from(`"agent_id":{"value":${JSON.stringify(agent.id)}},"hostname":${JSON.stringify(agent.hostname)},"url":${JSON.stringify(url)},"resources":`),
        tail: Buffer.from(`],"attributes":${JSON.stringify(agent.attributes)},`),
      };
      this.agents.set(agent, c);
    }
    const allocation = this.allocationOf(role);
    // Offers returned unused come back as a new bag of the same free resources: compared by
    // value (a few entries) rather than written again.
    if (c.resources !== resources && (c.resources === undefined || !sameInOrder(c.resources, resources))) {
      c.body = this.bodyOf(resources);
    }
    c.resources = resources;
    const body = c.body!;
    const items = body.items;
    if (body.bags > 1 && items.length > 0) {
      let joined = body.byRole.get(role);
      if (joined === undefined) {
        const pieces: Buffer[] = [];
        for (const item of items) pieces.push(item, allocation);
        joined = Buffer.concat(pieces);
        if (body.byRole.size < MAX_ROLES_PER_BODY) body.byRole.set(role, joined);
      }
      parts[at++] = c.head;
      parts[at++] = joined;
      parts[at++] = c.tail;
      parts[at++] = allocation;
      this.lastEnd = at;
      return c.head.length + joined.length + c.tail.length + allocation.length;
    }
    let size = c.head.length + c.tail.length + allocation.length * (items.length + 1);
    parts[at++] = c.head;
    if (items.length === 0) {
      parts[at++] = OPEN_BRACKET;
      size += OPEN_BRACKET.length;
    }
    for (const item of items) {
      parts[at++] = item;
      parts[at++] = allocation;
      size += item.length;
    }
    parts[at++] = c.tail;
    parts[at++] = allocation;
    this.lastEnd = at;
    return size;
  }

  /** `"allocation_info":{"role":…}}`: the end of an item and of an offer. */
  private allocationOf(role: string): Buffer {
    let b = this.allocations.get(role);
    if (b === undefined) {
      b = Buffer.from(`"allocation_info":{"role":${JSON.stringify(role)}}}`);
      // Roles are few; a bound all the same.
      if (this.allocations.size < 10_000) this.allocations.set(role, b);
    }
    return b;
  }

  /** Each resource's JSON up to its allocation role (`[{…,` then `,{…,`), cached per bag and shared by content. */
  private bodyOf(resources: Resources): Body {
    let body = this.bodies.get(resources);
    if (body === undefined) {
      const items: Buffer[] = [];
      for (const r of resources) {
        items.push(Buffer.from(`${items.length === 0 ? '[' : ','}{"name":${JSON.stringify(r.name)},"type":"${r.value.type}",${this.valueText(r.value)},"role":${JSON.stringify(r.role)},`));
      }
      const key = Buffer.concat(items).toString('latin1');
      body = this.shared.get(key);
      if (body === undefined) {
        if (this.shared.size >= MAX_BODIES) this.shared.clear();
        this.shared.set(key, (body = { items, bags: 0, byRole: new Map() }));
      }
      body.bags++;
      this.bodies.set(resources, body);
    }
    return body;
  }

  /**
   * Range and set values are immutable and shared between bags (an agent's ports stay the same
   * object through task launches that use no ports), so their text is cached.
   */
  private valueText(value: ResourceValue): string {
    if (value.type === 'SCALAR') return `"scalar":{"value":${JSON.stringify(value.toNumber())}}`;
    let text = this.values.get(value);
    if (text === undefined) {
      text = value.type === 'RANGES' ? `"ranges":${JSON.stringify({ range: value.toArray().map(([begin, end]) => ({ begin, end })) })}` : `"set":${JSON.stringify({ item: value.toArray() })}`;
      this.values.set(value, text);
    }
    return text;
  }
}

/** One event's lists in `OfferJson.scratch`. */
interface Scratch {
  /**
   * Offer ids, already JSON string contents (quotes added when written); for an offer the master
   * made (offer-table.ts), its prefix's bytes, and its number in `seqs` (−1 otherwise).
   */
  ids: Array<string | Buffer>;
  seqs: number[];
  /** Every offer's pieces after its framework id, one flat list; `ends[i]` is where offer i's end. */
  parts: Buffer[];
  ends: number[];
}

/** `{"type":"OFFERS","offers":{"offers":[…]}}` to one framework, assembled as bytes. */
export class OffersEvent {
  private count = 0;
  private partCount = 0;
  /** Whether every id is ASCII (written as latin1, a plain byte copy). */
  private ascii = true;
  /** `},"framework_id":{"value":"…"},`: the same in every offer of the event. */
  private readonly middle: Buffer;
  private size = OPEN.length + CLOSE.length;

  constructor(
    private readonly json: OfferJson,
    frameworkId: string,
  ) {
    this.middle = Buffer.from(`},"framework_id":{"value":${JSON.stringify(frameworkId)}},`);
  }

  /** `offer` must be for this event's framework. */
  add(offer: OfferRecord, agent: AgentRecord): void {
    this.json.checkCurrent(this);
    const { ids, seqs, parts, ends } = this.json.scratch;
    // The master's offers (`<uuid>-O<n>`): the prefix's bytes and the number's digits are
    // written, no id string is made.
    const prefix = offer instanceof MadeOffer ? this.json.prefixOf(offer) : undefined;
    let idLength: number;
    if (prefix !== undefined) {
      const seq = (offer as MadeOffer).seq;
      ids[this.count] = prefix;
      seqs[this.count] = seq;
      idLength = prefix.length + digitCount(seq);
    } else {
      const plain = PLAIN_ID.test(offer.id);
      const id = plain ? offer.id : JSON.stringify(offer.id).slice(1, -1);
      if (!plain) this.ascii = false;
      ids[this.count] = id;
      seqs[this.count] = -1;
      idLength = plain ? id.length : Buffer.byteLength(id);
    }
    const restLength = this.json.restInto(agent, offer.resources, offer.role, parts, this.partCount);
    this.partCount = this.json.lastEnd;
    this.size += (this.count > 0 ? 1 : 0) + OFFER_ID.length + idLength + 2 + this.middle.length + restLength;
    ends[this.count] = this.partCount;
    this.count++;
  }

  /** Offers added so far. */
  get length(): number {
    return this.count;
  }

  finish(): EncodedJson {
    this.json.checkCurrent(this);
    const { ids, seqs, parts, ends } = this.json.scratch;
    // Pieces are copied with TypedArray `set` (a memcpy): `Buffer#copy`'s argument checks cost
    // more than the copy itself for pieces this small, about 100,000 of them per cycle.
    // Made as a RecordIO record (`<length>\n` first), as every stream sends it.
    const header = `${this.size}\n`;
    const out = Buffer.allocUnsafe(header.length + this.size);
    out.write(header, 0, 'latin1');
    out.set(OPEN, header.length);
    let at = header.length + OPEN.length;
    const middle = this.middle;
    const encoding = this.ascii ? 'latin1' : 'utf8';
    let p = 0;
    for (let i = 0; i < this.count; i++) {
      if (i > 0) out[at++] = COMMA;
      out.set(OFFER_ID, at);
      at += OFFER_ID.length;
      out[at++] = QUOTE;
      const id = ids[i]!;
      if (typeof id === 'string') at += out.write(id, at, encoding);
      else {
        out.set(id, at);
        at = writeDigits(out, at + id.length, seqs[i]!);
      }
      out[at++] = QUOTE;
      out.set(middle, at);
      at += middle.length;
      for (const end = ends[i]!; p < end; p++) {
        const part = parts[p]!;
        out.set(part, at);
        at += part.length;
      }
    }
    out.set(CLOSE, at);
    if (at + CLOSE.length !== out.length) throw new DroverError('INTERNAL', 'an OFFERS event was not the size it was counted to be');
    return EncodedJson.fromRecord(out, header.length);
  }
}

/** Decimal digits of a non-negative integer. */
function digitCount(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

/** Writes `n` (a non-negative integer) in decimal at `at`; returns the index after it. */
function writeDigits(out: Buffer, at: number, n: number): number {
  const end = at + digitCount(n);
  for (let i = end - 1; i >= at; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}

/** Equal bags listed in the same order: their JSON is the same bytes. */
function sameInOrder(a: Resources, b: Resources): boolean {
  if (!a.equals(b)) return false;
  const other = b[Symbol.iterator]();
  for (const x of a) {
    const y = other.next().value;
    if (y === undefined || y.name !== x.name || y.role !== x.role) return false;
  }
  return true;
}
