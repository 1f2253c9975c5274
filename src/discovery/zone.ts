/**
 * The zone: the union of every source's records (a task, the cluster's own names), indexed by
 * name. A source's records are replaced as a whole when it changes (`set`), so the zone is always
 * exactly what `records.ts` computes from the current state; `generation` counts the changes (the
 * server's answer cache is keyed on it).
 */
import type { ARecord, SrvRecord, ZoneRecord } from './records.ts';

export interface NameRecords {
  a: string[];
  srv: SrvRecord[];
}

export class Zone {
  private readonly bySource = new Map<string, ZoneRecord[]>();
  /** name → source → that source's records of the name. */
  private readonly byName = new Map<string, Map<string, ZoneRecord[]>>();
  /** How many names lie under each name (`marathon.mesos` while `web.marathon.mesos` exists): an empty non-terminal is not NXDOMAIN. */
  private readonly below = new Map<string, number>();
  private changes = 0;
  /** Told every change as it is made (a replica elsewhere, dns-thread.ts): the source and its new records. */
  private readonly listeners = new Set<(source: string, records: readonly ZoneRecord[]) => void>();

  get generation(): number {
    return this.changes;
  }

  get sources(): number {
    return this.bySource.size;
  }

  /** Follow every change (`set` of a source whose records differ); returns the unsubscribe. */
  onChange(listener: (source: string, records: readonly ZoneRecord[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every source and its records (a replica's first copy). */
  entries(): Array<[string, ZoneRecord[]]> {
    return [...this.bySource.entries()];
  }

  /** Replace what `source` contributes (an empty list removes it). */
  set(source: string, records: readonly ZoneRecord[]): void {
    const before = this.bySource.get(source);
    if (before === undefined && records.length === 0) return;
    if (before !== undefined && sameRecords(before, records)) return;
    if (before) {
      for (const name of new Set(before.map((r) => r.name))) {
        const sources = this.byName.get(name);
        sources?.delete(source);
        if (sources?.size === 0) {
          this.byName.delete(name);
          this.countAncestors(name, -1);
        }
      }
    }
    if (records.length === 0) this.bySource.delete(source);
    else {
      this.bySource.set(source, [...records]);
      const grouped = new Map<string, ZoneRecord[]>();
      for (const r of records) {
        const list = grouped.get(r.name);
        if (list) list.push(r);
        else grouped.set(r.name, [r]);
      }
      for (const [name, list] of grouped) {
        let sources = this.byName.get(name);
        if (!sources) {
          this.byName.set(name, (sources = new Map()));
          this.countAncestors(name, 1);
        }
        sources.set(source, list);
      }
    }
    this.changes++;
    for (const listener of this.listeners) listener(source, records);
  }

  /** Remove every source whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const source of [...this.bySource.keys()]) if (source.startsWith(prefix)) this.set(source, []);
  }

  private countAncestors(name: string, delta: number): void {
    for (let at = name.indexOf('.'); at !== -1; at = name.indexOf('.', at + 1)) {
      const ancestor = name.slice(at + 1);
      const n = (this.below.get(ancestor) ?? 0) + delta;
      if (n <= 0) this.below.delete(ancestor);
      else this.below.set(ancestor, n);
    }
  }

  /** True if some name lies under `name`. */
  hasUnder(name: string): boolean {
    return this.below.has(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The records of `name` (lower case, no final dot), duplicates removed; undefined if the name does not exist. */
  lookup(name: string): NameRecords | undefined {
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
    return { a: [...a], srv: [...srv.values()] };
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
