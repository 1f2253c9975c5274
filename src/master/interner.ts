/**
 * One shared instance per equal value, for immutable values that the master keeps per task but
 * that repeat across tasks: an app's resources (`cpus:0.1;mem:128;ports:[31000-31000]` recurs on
 * every agent), its labels, discovery and container. At a million tasks one copy per task was
 * most of the master's heap (docs/architecture/006-scale.md).
 *
 * Callers must never mutate what they get back: it is shared by every task that kept it.
 * Bounded: when full it starts over, which only loses sharing (equal values already kept stay
 * correct, just not shared with later ones).
 */
import type { Resources } from '../resources/index.ts';

export class Interner<T> {
  private readonly values = new Map<string, T>();

  constructor(private readonly limit = 50_000) {}

  /** The kept value equal to `value` (its canonical text is `key`), or `value`, now kept. */
  intern(key: string, value: T): T {
    const kept = this.values.get(key);
    if (kept !== undefined) return kept;
    if (this.values.size >= this.limit) this.values.clear();
    this.values.set(key, value);
    return value;
  }

  get size(): number {
    return this.values.size;
  }
}

const strings = new Interner<string>();
const jsonValues = new Interner<unknown>();

/**
 * A shared copy of a JSON-shaped value (labels, discovery, container, kill policy, names), built
 * from shared parts: a task's discovery differs from its neighbour's only in a port number, so
 * its name and port entries are shared even when the whole is not.
 */
export function sharedJson<T>(value: T): T {
  if (typeof value === 'string') return strings.intern(value, value) as T;
  if (value === null || typeof value !== 'object') return value;
  const copy = Array.isArray(value) ? value.map((v: unknown) => sharedJson(v)) : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sharedJson(v)]));
  return jsonValues.intern(JSON.stringify(copy), copy) as T;
}

const resourceBags = new Interner<Resources>();

/** A shared instance of an immutable bag: tasks of one app on different agents mostly hold equal ones. */
export function sharedResources(resources: Resources): Resources {
  return resources.isEmpty ? resources : resourceBags.intern(resources.format(), resources);
}
