/**
 * The zone: the union of every source's records (a task, the cluster's own names), indexed by
 * name. A source's records are replaced as a whole when it changes (`set`), so the zone is always
 * exactly what `records.ts` computes from the current state; `generation` counts the changes (the
 * SOA serial). Each change names the names it touched (`ZoneListener`): the DNS server's answer
 * cache drops only the answers that read them.
 */
import type { ARecord, SrvRecord, ZoneRecord } from './records.ts';

export interface NameRecords {
  readonly a: readonly string[];
  readonly srv: readonly SrvRecord[];
}

/**
 * Told every change as it is made: the source, its new records, and the names whose answers the
 * change can alter (`touched`): every name the source had or has now, and each ancestor that
 * gained its first name below or lost its last (NXDOMAIN ↔ an empty non-terminal).
 */
export type ZoneListener = (source: string, records: readonly ZoneRecord[], touched: readonly string[]) => void;

interface SourceEntry {
  records: ZoneRecord[];
  /** The source's records by name. */
  byName: Map<string, ZoneRecord[]>;
}

export class Zone {
  private readonly bySource = new Map<string, SourceEntry>();
  /** name → source → that source's records of the name. */
  private readonly byName = new Map<string, Map<string, ZoneRecord[]>>();
  /** How many names lie under each name (`marathon.mesos` while `web.marathon.mesos` exists): an empty non-terminal is not NXDOMAIN. */
  private readonly below = new Map<string, number>();
  /**
   * `lookup`'s answers for names of several sources, kept until a change touches the name: a
   * query merges them once per change of the name, not once per query.
   */
  private readonly merged = new Map<string, NameRecords>();
  private changes = 0;
  private readonly listeners = new Set<ZoneListener>();

  get generation(): number {
    return this.changes;
  }

  get sources(): number {
    return this.bySource.size;
  }

  /** True if `source` has records in the zone. */
  hasSource(source: string): boolean {
    return this.bySource.has(source);
  }

  /** Follow every change (`set` of a source whose records differ); returns the unsubscribe. */
  onChange(listener: ZoneListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every source and its records (a replica's first copy). */
  entries(): Array<[string, ZoneRecord[]]> {
    return [...this.bySource].map(([source, entry]) => [source, entry.records]);
  }

  /**
   * Replace what `source` contributes (an empty list removes it). The work is in the size of the
   * source's records, never the zone's: this runs once per task event, 1,000 times in a burst.
   */
  set(source: string, records: readonly ZoneRecord[]): void {
    const before = this.bySource.get(source);
    if (before === undefined && records.length === 0) return;
    if (before !== undefined && sameRecords(before.records, records)) return;
    const touched: string[] = [];
    if (before) {
      for (const name of before.byName.keys()) {
        touched.push(name);
        const sources = this.byName.get(name);
        sources?.delete(source);
        if (sources?.size === 0) {
          this.byName.delete(name);
          this.countAncestors(name, -1, touched);
        }
      }
    }
    if (records.length === 0) this.bySource.delete(source);
    else {
      const grouped = new Map<string, ZoneRecord[]>();
      for (const r of records) {
        const list = grouped.get(r.name);
        if (list) list.push(r);
        else grouped.set(r.name, [r]);
      }
      this.bySource.set(source, { records: [...records], byName: grouped });
      for (const [name, list] of grouped) {
        if (!before?.byName.has(name)) touched.push(name);
        let sources = this.byName.get(name);
        if (!sources) {
          this.byName.set(name, (sources = new Map()));
          this.countAncestors(name, 1, touched);
        }
        sources.set(source, list);
      }
    }
    for (const name of touched) this.merged.delete(name);
    this.changes++;
    for (const listener of this.listeners) listener(source, records, touched);
  }

  /** Remove every source whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const source of [...this.bySource.keys()]) if (source.startsWith(prefix)) this.set(source, []);
  }

  /** Counts `name` in (or out of) each ancestor; an ancestor whose count leaves or reaches 0 is `touched`. */
  private countAncestors(name: string, delta: number, touched: string[]): void {
    for (let at = name.indexOf('.'); at !== -1; at = name.indexOf('.', at + 1)) {
      const ancestor = name.slice(at + 1);
      const was = this.below.get(ancestor) ?? 0;
      const n = was + delta;
      if (n <= 0) this.below.delete(ancestor);
      else this.below.set(ancestor, n);
      if ((was === 0) !== n <= 0) touched.push(ancestor);
    }
  }

  /** True if some name lies under `name`. */
  hasUnder(name: string): boolean {
    return this.below.has(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * The records of `name` (lower case, no final dot), duplicates removed; undefined if the name
   * does not exist. Shared until the name changes: read it, do not change it.
   */
  lookup(name: string): NameRecords | undefined {
    const known = this.merged.get(name);
    if (known) return known;
    const sources = this.byName.get(name);
    if (!sources) return undefined;
    const a = new Set<string>();
    const srv = new Map<string, SrvRecord>();
    for (const list of sources.values()) {
      for (const r of list) {
        if (r.type === 'A') a.add((r as ARecord).ip);
        else srv.set(`${r.target}:${r.port}`, r);
      }
    }
    const out: NameRecords = { a: [...a], srv: [...srv.values()] };
    // Kept only where merging costs: a name of many sources (an app's name, 1,000 tasks). A task's
    // own name is quick to merge, and keeping one for each of a burst's new names costs the GC more.
    if (sources.size > 1) this.merged.set(name, out);
    return out;
  }

  /** Every name (for `/v1/enumerate`-style listings and tests), sorted. */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

function sameRecords(x: readonly ZoneRecord[], y: readonly ZoneRecord[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p.type !== q.type || p.name !== q.name) return false;
    if (p.type === 'A' && p.ip !== (q as ARecord).ip) return false;
    if (p.type === 'SRV' && (p.target !== (q as SrvRecord).target || p.port !== (q as SrvRecord).port)) return false;
  }
  return true;
}
