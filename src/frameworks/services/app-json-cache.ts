/**
 * The read path of `GET /v2/apps` and `GET /v2/groups` at 10,000 apps (issue 21,
 * docs/architecture/021-read-path-cache.md): each app's JSON is kept as text and a list answer is
 * the join of those texts, instead of 10,000 object trees built and walked by `JSON.stringify`
 * per request.
 *
 * Permissions still apply, and before any text is joined: a list holds `EncodedApp` items that
 * carry their app `id`, the guard's read filter (src/iam/guard.ts `filterList`, a
 * `preSerialization` hook) drops the items the caller may not read exactly as it drops plain
 * objects (it reads `.id`), and only then does `serializeWithEncoded` (the reply's serializer)
 * join what is left. A handler never sends a prepared string; an `EncodedApp` that reaches a
 * writer that does not know it turns back into the same JSON through `toJSON`.
 *
 * What is cached, and when it is stale: the app's definition part (everything up to `role`) is
 * cached per `App` object (apps are replaced on every change, never edited in place) and per
 * default role. The part that moves with tasks (task counts, deployments and the embeds: tasks,
 * lastTaskFailure, readiness, taskStats) is encoded per request by the same functions as
 * `appJson` — so a field added to the task JSON flows through — and costs nothing for an app
 * with no instances (its text is reused when equal to last time).
 */
import type { FastifyReply } from 'fastify';
import type { App } from './app.ts';

/** One app's JSON (UTF-8 bytes) in a list answer; `id` is what the read filter checks. */
export class EncodedApp {
  /** `,` and the JSON: an item after the first is one copy, not two (the copies' count is the cost). */
  readonly afterComma: Buffer;
  readonly bytes: Buffer;

  constructor(
    readonly id: string,
    text: string,
  ) {
    this.afterComma = Buffer.from(`,${text}`, 'utf8');
    this.bytes = this.afterComma.subarray(1);
  }

  get text(): string {
    return this.bytes.toString('utf8');
  }

  /** For a writer that does not know this type: the same JSON, only slower. */
  toJSON(): unknown {
    return JSON.parse(this.text) as unknown;
  }
}

interface Entry {
  role: string;
  /** The definition part's JSON without its closing `}`. */
  head: string;
  /** The last dynamic part (without its braces) and the item made with it. */
  dynamic?: string;
  item?: EncodedApp;
}

/** Keys the dynamic part sets: never also in the definition part (no duplicate keys). */
const DYNAMIC_KEYS = ['tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'deployments', 'tasks', 'lastTaskFailure', 'readinessCheckResults', 'taskStats'];

export class AppJsonCache {
  private readonly entries = new WeakMap<App, Entry>();
  private readonly raw = new WeakMap<App, EncodedApp>();

  /** @param definition the definition part of an app's AppInfo, a fresh object (api.ts) */
  constructor(private readonly definition: (app: App) => Record<string, unknown>) {}

  /**
   * The app's AppInfo as text: `{...definition, ...dynamic}`, where `dynamic` (this request's task
   * counts, deployments and embeds, api.ts) is encoded now and the definition part comes cached.
   */
  appInfo(app: App, role: string, dynamic: Record<string, unknown>): EncodedApp {
    let e = this.entries.get(app);
    if (e === undefined || e.role !== role) {
      const def = this.definition(app);
      for (const k of DYNAMIC_KEYS) delete def[k];
      e = { role, head: JSON.stringify(def).slice(0, -1) };
      this.entries.set(app, e);
    }
    const text = JSON.stringify(dynamic).slice(1, -1);
    if (e.item !== undefined && e.dynamic === text) return e.item;
    e.dynamic = text;
    e.item = new EncodedApp(app.id, text === '' ? `${e.head}}` : `${e.head},${text}}`);
    return e.item;
  }

  /** The app's definition as stored (what `/v2/groups` shows without embeds), as text. */
  definitionOf(app: App): EncodedApp {
    let item = this.raw.get(app);
    if (item === undefined) this.raw.set(app, (item = new EncodedApp(app.id, JSON.stringify(app))));
    return item;
  }
}

/** This reply's payload may hold `EncodedApp` items: written by `serializeWithEncoded`, as JSON. */
export function sendsEncoded(reply: FastifyReply): void {
  // Fastify sends a serializer's Buffer as it is (its types say string only).
  reply.serializer(serializeWithEncoded as unknown as (payload: unknown) => string).type('application/json; charset=utf-8');
}

/**
 * `JSON.stringify(payload)` as UTF-8 bytes, where `EncodedApp` items are written as their bytes
 * (copied once into the answer: no string of the whole list is made and encoded again). Plain
 * objects and arrays are walked; anything else (strings, numbers, dates, other classes) is left
 * to `JSON.stringify`, so the output is what `JSON.stringify` would write.
 */
export function serializeWithEncoded(payload: unknown): Buffer {
  const parts: Array<string | Buffer> = [];
  write(payload, parts, 0);
  const buffers = parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p));
  let size = 0;
  for (const b of buffers) size += b.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const b of buffers) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const COMMA = Buffer.from(',');

function write(value: unknown, out: Array<string | Buffer>, depth: number): boolean {
  if (value instanceof EncodedApp) {
    out.push(value.bytes);
    return true;
  }
  if (depth < 64 && Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (i > 0 && item instanceof EncodedApp) {
        out.push(item.afterComma);
        continue;
      }
      if (i > 0) out.push(COMMA);
      if (!write(item, out, depth + 1)) out.push('null');
    }
    out.push(']');
    return true;
  }
  if (depth < 64 && typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype && typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
    out.push('{');
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      const at = out.length;
      out.push(first ? '' : ',', JSON.stringify(k), ':');
      if (write(v, out, depth + 1)) first = false;
      else out.length = at;
    }
    out.push('}');
    return true;
  }
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) return false;
  out.push(text);
  return true;
}
