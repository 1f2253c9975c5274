/**
 * Large list answers joined from cached JSON bytes (issue 21: `/v2/apps` at 10,000 apps,
 * `/master/state` and `/master/tasks` at 50,000 tasks; docs/architecture/021 and 022).
 *
 * An `EncodedItem` is one list item already encoded as UTF-8 JSON, kept with a leading comma so
 * that an item after the first is one copy, not two (the copies' count is the cost). A payload is
 * an ordinary object tree in which some array items are `EncodedItem`s: permission filters and
 * other hooks see it as they see any payload, and only the reply's serializer
 * (`serializeWithEncoded`, set by `sendsEncoded`) copies the bytes of the items into the answer.
 * An `EncodedArray` is a whole array so encoded, in blocks.
 * An item that reaches a writer that does not know this type turns back into the same JSON
 * through `toJSON` (only slower).
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

export class EncodedItem {
  /** `,` and the JSON. */
  readonly afterComma: Buffer;

  /** `text` must be one JSON value (`JSON.stringify`'s output). */
  constructor(text: string) {
    this.afterComma = Buffer.from(`,${text}`, 'utf8');
  }

  /** The JSON's bytes (a view, made on demand: one typed array per item is kept, not two). */
  get bytes(): Buffer {
    return this.afterComma.subarray(1);
  }

  get text(): string {
    return this.afterComma.toString('utf8', 1);
  }

  /** For a writer that does not know this type: the same JSON, only slower. */
  toJSON(): unknown {
    return JSON.parse(this.text) as unknown;
  }
}

/**
 * An array already encoded, as blocks of items: each block is `,item,item…` (every item with its
 * leading comma), so the array is `[`, the first block without its comma, the other blocks, `]`.
 * A list kept between requests in blocks is re-made one block at a time (task-list-json.ts).
 */
export class EncodedArray {
  constructor(readonly blocks: readonly Buffer[]) {}

  /** For a writer that does not know this type: the same JSON, only slower. */
  toJSON(): unknown {
    if (this.blocks.length === 0) return [];
    return JSON.parse(`[${Buffer.concat(this.blocks as Buffer[]).toString('utf8', 1)}]`) as unknown;
  }
}

/** One array written from parts in order: encoded arrays and arrays of plain values. */
export class JoinedArray {
  constructor(readonly parts: ReadonlyArray<EncodedArray | readonly unknown[]>) {}

  toJSON(): unknown {
    return this.parts.flatMap((p) => (p instanceof EncodedArray ? (p.toJSON() as unknown[]) : JSON.parse(JSON.stringify(p))));
  }
}

/** This reply's payload may hold `EncodedItem`s: written by `serializeWithEncoded`, as JSON. */
export function sendsEncoded(reply: FastifyReply): void {
  // Fastify sends a serializer's Buffer as it is (its types say string only).
  reply.serializer(serializeWithEncoded as unknown as (payload: unknown) => string).type('application/json; charset=utf-8');
}

/**
 * `JSON.stringify(payload)` as UTF-8 bytes, where `EncodedItem`s are written as their bytes
 * (copied once into the answer: no string of the whole list is made and encoded again). Plain
 * objects and arrays are walked; anything else (strings, numbers, dates, other classes) is left
 * to `JSON.stringify`, so the output is what `JSON.stringify` would write.
 */
export function serializeWithEncoded(payload: unknown): Buffer {
  return concat(pieces(payload));
}

function concat(parts: readonly Buffer[]): Buffer {
  let size = 0;
  for (const b of parts) size += b.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** The payload's bytes in order: encoded items and blocks as they are, each run of text between them encoded once. */
function pieces(payload: unknown): Buffer[] {
  const raw: Array<string | Buffer> = [];
  write(payload, raw, 0);
  const out: Buffer[] = [];
  let text: string[] = [];
  for (const p of raw) {
    if (typeof p === 'string') {
      text.push(p);
      continue;
    }
    if (text.length > 0) out.push(Buffer.from(text.join(''), 'utf8'));
    text = [];
    out.push(p);
  }
  if (text.length > 0) out.push(Buffer.from(text.join(''), 'utf8'));
  return out;
}

/** Pieces under this size are copied together into one part; larger ones are sent as they are. */
const SMALL = 16 * 1024;

/** `serializeWithEncoded`'s bytes as parts to send in order: large pieces not copied, small ones copied together. */
export function encodedParts(payload: unknown): Buffer[] {
  const parts: Buffer[] = [];
  let small: Buffer[] = [];
  let smallSize = 0;
  const flush = (): void => {
    if (small.length > 0) parts.push(small.length === 1 ? small[0]! : concat(small));
    small = [];
    smallSize = 0;
  };
  for (const b of pieces(payload)) {
    if (b.length >= SMALL) {
      flush();
      parts.push(b);
      continue;
    }
    small.push(b);
    smallSize += b.length;
    if (smallSize >= SMALL) flush();
  }
  flush();
  return parts;
}

/**
 * A JSON answer streamed from its parts, none copied into one buffer: a 30 MB `/master/state`
 * copied into a fresh buffer per request cost more than all the rest of it (the copy and the
 * page faults of new memory), and left 30 MB for the collector each time.
 *
 * Sent this way a payload skips fastify's preSerialization hooks (the guard's read filters):
 * only routes whose permission has no read filter may use it (test/master-state-cache.test.ts).
 */
export class EncodedBody extends Readable {
  readonly length: number;
  private next = 0;

  constructor(private readonly parts: readonly Buffer[]) {
    super();
    let n = 0;
    for (const p of parts) n += p.length;
    this.length = n;
  }

  static of(payload: unknown): EncodedBody {
    return new EncodedBody(encodedParts(payload));
  }

  /** The same body between `prefix` and `suffix` (JSONP's `callback(` and `);`); before it is read. */
  wrapped(prefix: string, suffix: string): EncodedBody {
    return new EncodedBody([Buffer.from(prefix, 'utf8'), ...this.parts, Buffer.from(suffix, 'utf8')]);
  }

  override _read(): void {
    while (this.next < this.parts.length) {
      if (!this.push(this.parts[this.next++])) return;
    }
    this.push(null);
  }
}

/** Send `payload` (which may hold encoded items and arrays) as a streamed JSON body with its length. */
export function sendEncodedBody(reply: FastifyReply, payload: unknown): FastifyReply {
  const body = EncodedBody.of(payload);
  return reply.type('application/json; charset=utf-8').header('content-length', body.length).send(body);
}

const COMMA = Buffer.from(',');

const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');

function write(value: unknown, out: Array<string | Buffer>, depth: number): boolean {
  if (value instanceof EncodedItem) {
    out.push(value.bytes);
    return true;
  }
  if (value instanceof EncodedArray || value instanceof JoinedArray) {
    out.push(OPEN);
    let first = true;
    for (const part of value instanceof EncodedArray ? [value] : value.parts) {
      if (part instanceof EncodedArray) {
        for (const block of part.blocks) out.push(first ? block.subarray(1) : block), (first = false);
        continue;
      }
      for (const item of part) {
        if (!first) out.push(COMMA);
        if (!write(item, out, depth + 1)) out.push('null');
        first = false;
      }
    }
    out.push(CLOSE);
    return true;
  }
  if (depth < 64 && Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (i > 0 && item instanceof EncodedItem) {
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
