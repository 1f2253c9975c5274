/**
 * Large list answers joined from cached JSON bytes (issue 21: `/v2/apps` at 10,000 apps,
 * `/master/state` and `/master/tasks` at 50,000 tasks; docs/architecture/021 and 022).
 *
 * An `EncodedItem` is one list item already encoded as UTF-8 JSON, kept with a leading comma so
 * that an item after the first is one copy, not two (the copies' count is the cost). A payload is
 * an ordinary object tree in which some array items are `EncodedItem`s: permission filters and
 * other hooks see it as they see any payload, and only the reply's serializer
 * (`serializeWithEncoded`, set by `sendsEncoded`) copies the bytes of the items into the answer.
 * An item that reaches a writer that does not know this type turns back into the same JSON
 * through `toJSON` (only slower).
 */
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
  const parts: Array<string | Buffer> = [];
  write(payload, parts, 0);
  let size = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (typeof p === 'string') parts[i] = Buffer.from(p, 'utf8');
    size += (parts[i] as Buffer).length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const b of parts as Buffer[]) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const COMMA = Buffer.from(',');

function write(value: unknown, out: Array<string | Buffer>, depth: number): boolean {
  if (value instanceof EncodedItem) {
    out.push(value.bytes);
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
