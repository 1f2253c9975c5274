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

/** Offers by number in blocks of this many slots: a cycle's offers fill whole blocks in turn. */
const BLOCK = 256;
/** A block (not the newest) with fewer live offers than this moves them to `scattered`. */
const SPARSE = BLOCK / 16;

interface Block {
  slots: Array<MadeOffer | undefined>;
  live: number;
}

/**
 * Offers by number. A cycle makes thousands of offers with consecutive numbers, and most are
 * answered (or, in the simulator, returned) before the next: in a `Map` each was an entry added
 * and removed, and the map re-made its table as it emptied and filled again every cycle. Here
 * they go into blocks of consecutive numbers (one map entry per block); a block is dropped when
 * its last offer goes. A block left with a few long-held offers (a framework that keeps an offer
 * and never answers) hands them to a plain map and is dropped, so memory stays within 16 slots
 * per outstanding offer.
 */
export class OfferTable {
  private readonly blocks = new Map<number, Block>();
  private readonly scattered = new Map<number, MadeOffer>();
  private next = 0;
  private count = 0;

  constructor(
    /** `<master id>-O`. */
    readonly prefix: string,
  ) {}

  /** A new offer with the next id, stored. */
  make(frameworkId: string, agentId: string, role: string, resources: Resources, createdAt: number): MadeOffer {
    const seq = this.next++;
    const offer = new MadeOffer(this.prefix, seq, frameworkId, agentId, role, resources, createdAt);
    const key = Math.floor(seq / BLOCK);
    let block = this.blocks.get(key);
    if (block === undefined) {
      this.blocks.set(key, (block = { slots: new Array<MadeOffer | undefined>(BLOCK).fill(undefined), live: 0 }));
      // The block before was the newest, which `delete` does not thin out: now it may be.
      const before = this.blocks.get(key - 1);
      if (before !== undefined && before.live < SPARSE) this.scatter(key - 1, before);
    }
    block.slots[seq % BLOCK] = offer;
    block.live++;
    this.count++;
    return offer;
  }

  get size(): number {
    return this.count;
  }

  /** The outstanding offer with this id (from a request: any string), if any. */
  get(id: string): MadeOffer | undefined {
    const seq = this.seqOf(id);
    return seq === undefined ? undefined : this.bySeq(seq);
  }

  /** Removes this very offer; false if it was not outstanding (answered, rescinded, another master's). */
  delete(offer: OfferRecord): boolean {
    if (!(offer instanceof MadeOffer) || offer.prefix !== this.prefix) return false;
    const seq = offer.seq;
    const key = Math.floor(seq / BLOCK);
    const block = this.blocks.get(key);
    if (block !== undefined && block.slots[seq % BLOCK] === offer) {
      block.slots[seq % BLOCK] = undefined;
      this.count--;
      if (--block.live === 0) this.blocks.delete(key);
      else if (block.live < SPARSE && key !== Math.floor((this.next - 1) / BLOCK)) this.scatter(key, block);
      return true;
    }
    if (this.scattered.get(seq) !== offer) return false;
    this.scattered.delete(seq);
    this.count--;
    return true;
  }

  /** Every outstanding offer (in no particular order), as a new list: a generator allocated per offer. */
  values(): MadeOffer[] {
    const out: MadeOffer[] = [];
    for (const block of this.blocks.values()) for (const o of block.slots) if (o !== undefined) out.push(o);
    for (const o of this.scattered.values()) out.push(o);
    return out;
  }

  /** Moves a block's few offers to `scattered` and drops the block. */
  private scatter(key: number, block: Block): void {
    for (const o of block.slots) if (o !== undefined) this.scattered.set(o.seq, o);
    this.blocks.delete(key);
  }

  private bySeq(seq: number): MadeOffer | undefined {
    return this.blocks.get(Math.floor(seq / BLOCK))?.slots[seq % BLOCK] ?? this.scattered.get(seq);
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
