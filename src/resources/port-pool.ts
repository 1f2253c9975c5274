/**
 * PortPool: the mutable, hot-path bookkeeping of one agent's ports. `RangeSet` is the value type
 * that travels in offers and tasks; `PortPool` is what an agent or the allocator keeps to answer
 * "is 31234 free?" and "give me any free port" a million times a second.
 *
 * Why a bitmap and not a sorted list of free ranges: Mesos stalled near 10k containers in its
 * 50k-container demo because port bookkeeping got slower as allocations fragmented the ranges.
 * Here the cost of an operation does not depend on fragmentation at all:
 * - allocate(port), free(port), isFree(port): O(1), a few bit operations;
 * - allocateAny(): lowest free port, found through a summary bitmap (one bit per 32 ports that
 *   says "this word has a free port"), so it scans at most span/1024 words: ≤ 64 for all 65536
 *   ports, 1 for the usual [31000-32000];
 * - freeRangeCount: kept exactly in O(1) per operation from the two neighbours of the port.
 * Memory is about span/4 bytes (two bits per port plus the summary): ~260 bytes for
 * [31000-32000], ~16 KiB for all of 0-65535. Ports are 16-bit, so the span is bounded.
 *
 * Allocating the lowest free port never splits a range; only specific allocations do, and the
 * free ranges are the maximal runs of free ports, so they are always coalesced: after any
 * sequence of operations freeRangeCount ≤ (ranges the pool started with) + allocated.
 */
import { DroverError } from '../errors/errors.ts';
import { RangeSet } from './range-set.ts';

export const MAX_PORT = 65535;

export class PortPool {
  /** Lowest port the pool covers; bit i of the bitmaps is port base + i. */
  private readonly base: number;
  private readonly span: number;
  /** Number of 32-bit words per bitmap. */
  private readonly words: number;
  /**
   * One allocation for all three bitmaps (fewer objects when an allocator holds 50k pools):
   * [0, words): free bits; [words, 2·words): bits of ports that belong to the pool at all;
   * [2·words, …): summary, bit w set iff free word w is non-zero.
   */
  private readonly bits: Int32Array;
  private ranges: number;
  private available: number;
  /** Number of ports the pool was created with. */
  readonly capacity: number;

  constructor(ports: RangeSet) {
    const list = ports.toArray();
    const first = list[0];
    const last = list[list.length - 1];
    if (first !== undefined && last !== undefined && last[1] > MAX_PORT) {
      throw new DroverError('RESOURCE_PARSE', `invalid port pool ${ports.format()}: ports must be within 0-${MAX_PORT}`);
    }
    this.base = first?.[0] ?? 0;
    this.span = last === undefined ? 0 : last[1] - this.base + 1;
    this.words = (this.span + 31) >>> 5;
    this.bits = new Int32Array(2 * this.words + ((this.words + 31) >>> 5));
    for (const [b, e] of list) {
      for (let off = b - this.base; off <= e - this.base; off++) {
        this.bits[off >>> 5]! |= 1 << (off & 31);
        this.bits[this.words + (off >>> 5)]! |= 1 << (off & 31);
      }
    }
    for (let w = 0; w < this.words; w++) {
      if (this.bits[w] !== 0) this.bits[2 * this.words + (w >>> 5)]! |= 1 << (w & 31);
    }
    this.ranges = list.length;
    this.capacity = ports.size;
    this.available = this.capacity;
  }

  static parse(text: string): PortPool {
    return new PortPool(RangeSet.parse(text));
  }

  /** Number of maximal runs of free ports. */
  get freeRangeCount(): number {
    return this.ranges;
  }

  get freeCount(): number {
    return this.available;
  }

  get allocatedCount(): number {
    return this.capacity - this.available;
  }

  isFree(port: number): boolean {
    const off = port - this.base;
    // `>>> 0` rejects negatives, fractions and NaN in one comparison.
    return off >>> 0 === off && off < this.span && this.freeBit(off);
  }

  /** Takes the lowest free port, or returns undefined when the pool is exhausted. */
  allocateAny(): number | undefined {
    const bits = this.bits;
    const summaryStart = 2 * this.words;
    for (let s = summaryStart; s < bits.length; s++) {
      const summary = bits[s]!;
      if (summary === 0) continue;
      const w = ((s - summaryStart) << 5) + lowestBit(summary);
      const off = (w << 5) + lowestBit(bits[w]!);
      this.take(off);
      return this.base + off;
    }
    return undefined;
  }

  /** Takes `port` if it is in the pool and free; false otherwise (a port conflict is not a bug). */
  allocate(port: number): boolean {
    if (!this.isFree(port)) return false;
    this.take(port - this.base);
    return true;
  }

  /** Returns `port` to the pool; throws RESOURCE_MATH if it is not an allocated port of this pool. */
  free(port: number): void {
    const off = port - this.base;
    if (off >>> 0 !== off || off >= this.span || !this.ownedBit(off) || this.freeBit(off)) {
      throw new DroverError('RESOURCE_MATH', `cannot free port ${port}: it is not allocated from this pool`);
    }
    const left = off > 0 && this.freeBit(off - 1);
    const right = off + 1 < this.span && this.freeBit(off + 1);
    const w = off >>> 5;
    if (this.bits[w] === 0) this.bits[2 * this.words + (w >>> 5)]! |= 1 << (w & 31);
    this.bits[w]! |= 1 << (off & 31);
    this.available++;
    // Bridging two free runs merges them; an isolated port starts a new run.
    if (left && right) this.ranges--;
    else if (!left && !right) this.ranges++;
  }

  /** Free ports as a RangeSet; O(span), for offers and snapshots, not the hot path. */
  freeRanges(): RangeSet {
    return this.collect((off) => this.freeBit(off));
  }

  allocatedPorts(): RangeSet {
    return this.collect((off) => this.ownedBit(off) && !this.freeBit(off));
  }

  /** Marks the free port at `off` allocated. */
  private take(off: number): void {
    const left = off > 0 && this.freeBit(off - 1);
    const right = off + 1 < this.span && this.freeBit(off + 1);
    const w = off >>> 5;
    const word = this.bits[w]! & ~(1 << (off & 31));
    this.bits[w] = word;
    if (word === 0) this.bits[2 * this.words + (w >>> 5)]! &= ~(1 << (w & 31));
    this.available--;
    // Taking a port from the middle of a run splits it; taking a lone free port removes a run.
    if (left && right) this.ranges++;
    else if (!left && !right) this.ranges--;
  }

  private freeBit(off: number): boolean {
    return (this.bits[off >>> 5]! & (1 << (off & 31))) !== 0;
  }

  private ownedBit(off: number): boolean {
    return (this.bits[this.words + (off >>> 5)]! & (1 << (off & 31))) !== 0;
  }

  private collect(member: (off: number) => boolean): RangeSet {
    const out: Array<[number, number]> = [];
    let start = -1;
    for (let off = 0; off <= this.span; off++) {
      const inside = off < this.span && member(off);
      if (inside && start < 0) start = off;
      if (!inside && start >= 0) {
        out.push([this.base + start, this.base + off - 1]);
        start = -1;
      }
    }
    return RangeSet.of(out);
  }
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}
