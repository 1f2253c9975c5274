/**
 * The read path of `GET /v2/apps` and `GET /v2/groups` at 10,000 apps (issue 21,
 * docs/architecture/021-read-path-cache.md): each app's JSON is kept as text and a list answer is
 * sent from blocks of those texts, instead of 10,000 object trees built and walked by
 * `JSON.stringify` per request.
 *
 * Permissions still apply, and before any text is joined: a list holds `EncodedApp` items that
 * carry their app `id`, the guard's read filter (src/iam/guard.ts `filterList`, a
 * `preSerialization` hook) drops the items the caller may not read exactly as it drops plain
 * objects (it reads `.id`), and only then does the reply's serializer (`sendsEncodedLists`) turn
 * what is left into a streamed body. A handler never sends a prepared string or stream; an
 * `EncodedApp` that reaches a writer that does not know it turns back into the same JSON through
 * `toJSON`.
 *
 * What is cached, and when it is stale:
 *   - the app's definition part (everything up to `role`) per `App` object (apps are replaced on
 *     every change, never edited in place) and default role;
 *   - the part that moves with tasks (task counts, deployments and the embeds: tasks,
 *     lastTaskFailure, readiness) per `App` object and embed set, kept with every value it was
 *     made from (`Reads`: the app's instances and each of their fields, its deployments' ids, its
 *     last failure, its readiness results). A request compares those values with this moment's
 *     (no allocation, no encoding) and makes the part again on any difference. The instances are
 *     edited in place by status updates, so their fields are compared, not the objects alone;
 *   - `taskStats` reads the clock: an app shown with it is encoded every time;
 *   - blocks of consecutive items' bytes (`BLOCK` items), per first item: a list in which no app
 *     changed is sent from the same blocks, uncopied.
 */
import { EncodedArray, EncodedBody, EncodedItem } from '../../protocol/encoded-items.ts';
import type { FastifyReply } from 'fastify';
import type { App } from './app.ts';

/** One app's JSON (UTF-8 bytes) in a list answer; `id` is what the read filter checks. */
export class EncodedApp extends EncodedItem {
  constructor(
    readonly id: string,
    text: string,
  ) {
    super(text);
  }
}

/**
 * The values something was made from, in the order they were read; read again in the same order,
 * `same()` says whether every value is identical (`===`) to last time. It compares while it reads
 * and records only from the first difference on, so an unchanged input allocates nothing.
 */
export class Reads {
  private values: unknown[] = [];
  private at = 0;
  private differs = true;
  /** A whole reading was recorded (`same` was called since the last `reset`). */
  private complete = false;

  /** Start reading again (with no whole reading recorded, everything differs). */
  begin(): this {
    this.at = 0;
    this.differs = !this.complete;
    if (this.differs) this.values.length = 0;
    return this;
  }

  see(value: unknown): void {
    if (!this.differs) {
      if (this.at < this.values.length && this.values[this.at] === value) {
        this.at++;
        return;
      }
      this.differs = true;
      this.values.length = this.at;
    }
    this.values.push(value);
    this.at++;
  }

  /** Every value read since `begin` is the one read at the same place last time (and no more, no fewer). */
  same(): boolean {
    const same = !this.differs && this.at === this.values.length;
    // Setting an array's length is slow even when it does not change it.
    if (this.values.length !== this.at) this.values.length = this.at;
    this.complete = true;
    return same;
  }

  /** Forget the recorded reading: the next one differs (what was made from it was not kept). */
  reset(): void {
    this.complete = false;
    this.values.length = 0;
  }
}

/** The embeds that change an AppInfo's dynamic part, as bits (others are ignored, as Marathon ignores them). */
export const EMBED = { tasks: 1, lastTaskFailure: 2, readiness: 4, taskStats: 8 } as const;

/** `embed` as Marathon's InfoEmbedResolver reads it (`apps.*`, `app.*` or `group.apps.*`), as EMBED bits. */
export function embedBits(embed: readonly string[]): number {
  let bits = 0;
  for (const [name, bit] of Object.entries(EMBED)) if (embed.some((e) => e.endsWith(`.${name}`))) bits |= bit;
  return bits;
}

/** How an AppInfo's dynamic part is made, and what it reads (api.ts; the two must read the same inputs). */
export interface DynamicPart<Context> {
  /** The part: counts, deployments and the embeds `bits` asks for. */
  json(app: App, bits: number, context: Context): Record<string, unknown>;
  /** Every input `json` reads for this app, passed to `reads.see` in a fixed order. */
  read(app: App, bits: number, context: Context, reads: Reads): void;
}

interface Dynamic {
  reads: Reads;
  item?: EncodedApp;
  /** The last dynamic text (without its braces): an equal one made again keeps the item. */
  text?: string;
}

interface Entry {
  role: string;
  /** The definition part's JSON without its closing `}`. */
  head: string;
  /** Per EMBED bits (at most 16 kinds). */
  byEmbed: Map<number, Dynamic>;
}

/**
 * How much the cache made since the process started (tests and bench/api-scale.ts read it: a
 * repeated list in which nothing changed makes nothing).
 */
export const appJsonMade = { definitions: 0, dynamicParts: 0, blocks: 0 };

/** Keys the dynamic part sets: never also in the definition part (no duplicate keys). */
const DYNAMIC_KEYS = ['tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'deployments', 'tasks', 'lastTaskFailure', 'readinessCheckResults', 'taskStats'];

export class AppJsonCache<Context> {
  private readonly entries = new WeakMap<App, Entry>();
  private readonly raw = new WeakMap<App, EncodedApp>();

  /**
   * @param definition the definition part of an app's AppInfo, a fresh object (api.ts)
   * @param dynamic the part that moves with tasks, and what it reads
   */
  constructor(
    private readonly definition: (app: App) => Record<string, unknown>,
    private readonly dynamic: DynamicPart<Context>,
  ) {}

  /** The app's AppInfo as text: `{...definition, ...dynamic}`, each part made again only when what it reads changed. */
  appInfo(app: App, role: string, bits: number, context: Context): EncodedApp {
    let e = this.entries.get(app);
    if (e === undefined || e.role !== role) {
      appJsonMade.definitions++;
      const def = this.definition(app);
      for (const k of DYNAMIC_KEYS) delete def[k];
      e = { role, head: JSON.stringify(def).slice(0, -1), byEmbed: new Map() };
      this.entries.set(app, e);
    }
    let d = e.byEmbed.get(bits);
    if (d === undefined) e.byEmbed.set(bits, (d = { reads: new Reads() }));
    // taskStats reads the clock (lifetimes): never kept.
    if ((bits & EMBED.taskStats) === 0) {
      this.dynamic.read(app, bits, context, d.reads.begin());
      if (d.reads.same() && d.item !== undefined) return d.item;
    }
    appJsonMade.dynamicParts++;
    let text: string;
    try {
      text = JSON.stringify(this.dynamic.json(app, bits, context)).slice(1, -1);
    } catch (error) {
      // The reading recorded above is not what the kept item was made from.
      d.reads.reset();
      throw error;
    }
    if (d.item !== undefined && d.text === text) return d.item;
    d.text = text;
    d.item = new EncodedApp(app.id, text === '' ? `${e.head}}` : `${e.head},${text}}`);
    return d.item;
  }

  /** The app's definition as stored (what `/v2/groups` shows without embeds), as text. */
  definitionOf(app: App): EncodedApp {
    let item = this.raw.get(app);
    if (item === undefined) {
      appJsonMade.definitions++;
      this.raw.set(app, (item = new EncodedApp(app.id, JSON.stringify(app))));
    }
    return item;
  }
}

/** Items per block of a list's bytes: ~1 KB apps make blocks of ~128 KB, sent as they are. */
const BLOCK = 128;

interface Block {
  items: readonly EncodedItem[];
  /** `,item,item…`: every item with its leading comma (EncodedArray's block). */
  bytes: Buffer;
}

/**
 * Blocks of encoded items by their first item: a block whose items are all the same is reused.
 * An item may start a few blocks of different lengths (a group's apps and `/v2/apps`' block, a
 * filtered list's): the last `BLOCKS_PER_ITEM` are kept, one per length.
 */
let blocks = new WeakMap<EncodedItem, Block[]>();
const BLOCKS_PER_ITEM = 4;
/**
 * The most bytes of blocks kept. Filtered lists (`?id=`, `?label=`, a user's readable apps) start
 * blocks at other items: without a bound, requests with ever other filters could keep up to
 * `BLOCKS_PER_ITEM` × 128 items per app. Past it every block is dropped (the next lists make
 * theirs again: one copy of their bytes). Blocks collected with their first item are still
 * counted, so the count only overestimates.
 */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;
let keptBytes = 0;

function blockOf(items: readonly EncodedItem[], from: number, to: number): Buffer {
  const first = items[from]!;
  const kept = blocks.get(first);
  for (const block of kept ?? []) {
    if (block.items.length !== to - from) continue;
    let same = true;
    for (let i = from; i < to && same; i++) same = block.items[i - from] === items[i];
    if (same) return block.bytes;
  }
  appJsonMade.blocks++;
  const mine = items.slice(from, to);
  let size = 0;
  for (const item of mine) size += item.afterComma.length;
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const item of mine) {
    bytes.set(item.afterComma, at);
    at += item.afterComma.length;
  }
  if (keptBytes + size > MAX_KEPT_BYTES) {
    blocks = new WeakMap();
    keptBytes = 0;
  }
  keptBytes += size;
  const list = blocks.get(first);
  // A kept block of the same length is this one's older version: replaced, not kept beside it.
  const older = list?.findIndex((block) => block.items.length === mine.length) ?? -1;
  if (list === undefined) blocks.set(first, [{ items: mine, bytes }]);
  else if (older >= 0) {
    keptBytes -= list[older]!.bytes.length;
    list[older] = { items: mine, bytes };
  } else {
    list.push({ items: mine, bytes });
    if (list.length > BLOCKS_PER_ITEM) keptBytes -= list.shift()!.bytes.length;
  }
  return bytes;
}

const MAX_DEPTH = 64;

/**
 * The payload with every non-empty array of encoded items (a list's apps, a group's apps) as an
 * `EncodedArray` of kept blocks; plain objects and arrays are copied, anything else kept.
 */
export function inBlocks(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((x) => x instanceof EncodedItem)) {
      const items = value as EncodedItem[];
      const out: Buffer[] = [];
      for (let i = 0; i < items.length; i += BLOCK) out.push(blockOf(items, i, Math.min(items.length, i + BLOCK)));
      return new EncodedArray(out);
    }
    return value.map((x) => inBlocks(x, depth + 1));
  }
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = inBlocks(v, depth + 1);
    return out;
  }
  return value;
}

/**
 * This reply's payload may hold `EncodedApp`s: after the preSerialization hooks (the guard's read
 * filter) it is sent as a stream of its parts with its length (EncodedBody), the items' bytes
 * uncopied, as `JSON.stringify` would write the payload.
 */
export function sendsEncodedLists(reply: FastifyReply): void {
  reply
    .serializer(((payload: unknown) => {
      const body = EncodedBody.of(inBlocks(payload));
      reply.header('content-length', body.length);
      return body;
    }) as unknown as (payload: unknown) => string)
    .type('application/json; charset=utf-8');
}
