/**
 * `npm run bench -- heap-diff --a=FIRST.heapsnapshot --b=LATER.heapsnapshot [--top=N]`: what grew
 * between two V8 heap snapshots of one process (e.g. the soak's or the memory probe's, taken after
 * the warm-up and at the end), by constructor: count and self size in each, and the difference.
 * A leak shows as a constructor whose count keeps growing with the load (Map entries of a table
 * never pruned, closures of listeners never removed, strings of a log kept in memory).
 */
import { readFile } from 'node:fs/promises';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Row {
  count: number;
  size: number;
}

/** Count and self size per `type:name` (objects by constructor, closures by function name). */
export function countByConstructor(s: Snapshot): Map<string, Row> {
  const fields = s.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, Row>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!]!;
    // Strings are counted as one kind: their text is no constructor.
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '' : s.strings[s.nodes[i + nameAt]!]!.slice(0, 80);
    const key = `${type}:${name}`;
    const row = out.get(key) ?? { count: 0, size: 0 };
    row.count++;
    row.size += s.nodes[i + sizeAt]!;
    out.set(key, row);
  }
  return out;
}

function option(args: string[], name: string): string | undefined {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  return arg?.slice(name.length + 3);
}

export default async function heapDiff(args: string[]): Promise<Record<string, unknown>> {
  const a = option(args, 'a');
  const b = option(args, 'b');
  if (!a || !b) throw new Error('usage: npm run bench -- heap-diff --a=FIRST.heapsnapshot --b=LATER.heapsnapshot [--top=N]');
  const top = Number(option(args, 'top') ?? 25);
  const [first, later] = await Promise.all([a, b].map(async (path) => countByConstructor(JSON.parse(await readFile(path, 'utf8')) as Snapshot)));
  const keys = new Set([...first!.keys(), ...later!.keys()]);
  const rows = [...keys].map((key) => {
    const x = first!.get(key) ?? { count: 0, size: 0 };
    const y = later!.get(key) ?? { count: 0, size: 0 };
    return { key, countA: x.count, countB: y.count, dCount: y.count - x.count, sizeA: x.size, sizeB: y.size, dSize: y.size - x.size };
  });
  const total = (m: Map<string, Row>): number => [...m.values()].reduce((n, r) => n + r.size, 0);
  return {
    bench: 'heap-diff',
    a,
    b,
    totalMbA: Math.round(total(first!) / 1e4) / 100,
    totalMbB: Math.round(total(later!) / 1e4) / 100,
    bySize: rows.sort((p, q) => q.dSize - p.dSize).slice(0, top),
    byCount: [...rows].sort((p, q) => q.dCount - p.dCount).slice(0, top),
  };
}
