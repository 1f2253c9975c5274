/**
 * The master's outstanding offers, by id. Every cycle at 10,000 agents makes 10,000 offers, each
 * with a new id (as in Mesos: an offer id is never made twice). As `${masterId}-O${n}` strings
 * keyed in a `Map<string, …>`, each was a string of about 45 characters built, flattened and
 * hashed to be stored, matched against a pattern and copied again into the OFFERS event
 * (docs/architecture/024-allocator-cycle.md). Here an offer the master made keeps only its
 * number: the table is keyed by it (a small-integer hash), the OFFERS event writes the shared
 * prefix and the digits, and the id string is made only when something reads `id` (a RESCIND,
 * the operator API).
 *
 * An id from a request is looked up by parsing it: the master's prefix, then a canonical decimal
 * number (no sign, no leading zero, at most 15 digits); anything else is no offer of ours.
 */
import type { Resources } from '../resources/index.ts';
import type { OfferRecord } from './model.ts';

/** An offer the master made: its id is `prefix + seq`, written out only when read. */
export class MadeOffer implements OfferRecord {
  constructor(
    /** `<master id>-O`, shared by every offer of the master. */
    readonly prefix: string,
    readonly seq: number,
    readonly frameworkId: string,
    readonly agentId: string,
    readonly role: string,
    readonly resources: Resources,
    readonly createdAt: number,
  ) {}

  get id(): string {
    return this.prefix + this.seq;
  }
}

/** At most 15 digits: every such number is an exact integer in a double. */
const MAX_DIGITS = 15;

export class OfferTable {
  private readonly bySeq = new Map<number, MadeOffer>();
  private next = 0;

  constructor(
    /** `<master id>-O`. */
    readonly prefix: string,
  ) {}

  /** A new offer with the next id, stored. */
  make(frameworkId: string, agentId: string, role: string, resources: Resources, createdAt: number): MadeOffer {
    const offer = new MadeOffer(this.prefix, this.next++, frameworkId, agentId, role, resources, createdAt);
    this.bySeq.set(offer.seq, offer);
    return offer;
  }

  get size(): number {
    return this.bySeq.size;
  }

  /** The outstanding offer with this id (from a request: any string), if any. */
  get(id: string): MadeOffer | undefined {
    const seq = this.seqOf(id);
    return seq === undefined ? undefined : this.bySeq.get(seq);
  }

  /** Removes this very offer; false if it was not outstanding (answered, rescinded, another master's). */
  delete(offer: OfferRecord): boolean {
    if (!(offer instanceof MadeOffer) || this.bySeq.get(offer.seq) !== offer) return false;
    return this.bySeq.delete(offer.seq);
  }

  values(): IterableIterator<MadeOffer> {
    return this.bySeq.values();
  }

  private seqOf(id: string): number | undefined {
    const digits = id.length - this.prefix.length;
    if (digits < 1 || digits > MAX_DIGITS || !id.startsWith(this.prefix)) return undefined;
    let n = 0;
    for (let i = this.prefix.length; i < id.length; i++) {
      const d = id.charCodeAt(i) - 48;
      if (d < 0 || d > 9 || (d === 0 && i === this.prefix.length && digits > 1)) return undefined;
      n = n * 10 + d;
    }
    return n;
  }
}
