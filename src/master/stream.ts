/**
 * One outgoing RecordIO event stream (a SUBSCRIBE response): chunked HTTP, one JSON record per
 * event. Writes are fire-and-forget; when the peer is gone the stream is closed and `onClose`
 * listeners run once, which is how the master notices a disconnected framework or agent.
 */
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { encodeJsonRecord } from '../protocol/recordio.ts';
import { EncodedJson } from '../protocol/encoded-json.ts';

/** Where events to one subscriber go: a chunked HTTP response, or (in-process) a queue. */
export interface EventSink {
  readonly id: string;
  readonly isOpen: boolean;
  open(headers: Record<string, string>): void;
  /** A plain JSON-able object, or an `EncodedJson` (src/protocol/encoded-json.ts) sent as it is. */
  send(event: unknown): void;
  close(): void;
  onClose(listener: () => void): void;
}

export class EventStream implements EventSink {
  readonly id = randomUUID();
  private closed = false;
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly response: ServerResponse) {
    const end = (): void => this.markClosed();
    response.once('close', end);
    response.once('error', end);
  }

  /** Start the 200 response; headers are flushed immediately so the client sees the stream. */
  open(headers: Record<string, string>): void {
    this.response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache', ...headers });
    this.response.flushHeaders();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(event: unknown): void {
    if (this.closed) return;
    this.response.write(encodeJsonRecord(event));
  }

  /** End the stream from our side (teardown, replaced by a newer subscription). */
  close(): void {
    if (this.closed) return;
    this.response.end();
    this.markClosed();
  }

  onClose(listener: () => void): void {
    if (this.closed) queueMicrotask(listener);
    else this.listeners.push(listener);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.listeners.splice(0)) listener();
  }
}

/**
 * An in-process sink: events are delivered as the very objects the master built — no copy. They
 * used to go through a JSON round trip (so an in-process framework could not alias master state);
 * at 50,000 launches that was 100,000 stringify + parse pairs and a good part of the master's
 * garbage (docs/architecture/006-scale.md). The contract instead: the master never changes an
 * event object after sending it, and a consumer never changes what it receives (the built-in
 * frameworks copy the fields they keep). Events are plain JSON data (what an HTTP client would
 * parse); `checkEvents` deep-freezes every event and refuses anything that is not plain JSON, so
 * a test run turns a broken contract into a TypeError at the offending write.
 */
export class QueueSink implements EventSink {
  readonly id = randomUUID();
  private closed = false;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly deliver: (event: unknown) => void,
    private readonly ended: () => void,
    private readonly options: { checkEvents?: boolean } = {},
  ) {}

  get isOpen(): boolean {
    return !this.closed;
  }

  open(): void {}

  send(event: unknown): void {
    if (this.closed) return;
    // An already-encoded event (an OFFERS of cached bytes) becomes objects here; any other event
    // is handed over as it is, uncopied (nobody changes a sent event).
    const value = event instanceof EncodedJson ? event.toJSON() : event;
    if (this.options.checkEvents) freezePlainJson(value, 'event');
    this.deliver(value);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended();
    for (const listener of this.listeners.splice(0)) listener();
  }

  onClose(listener: () => void): void {
    if (this.closed) queueMicrotask(listener);
    else this.listeners.push(listener);
  }
}

/** Deep-freezes `value`; throws if it holds anything JSON would change (a Date, a Map, NaN, a class instance). */
export function freezePlainJson(value: unknown, path: string): void {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, not JSON`);
    return;
  }
  if (typeof value !== 'object') throw new TypeError(`${path} is a ${typeof value}, not JSON`);
  const proto = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value)) value.forEach((v, i) => freezePlainJson(v, `${path}[${i}]`));
  else if (proto === Object.prototype || proto === null) for (const [k, v] of Object.entries(value)) freezePlainJson(v, `${path}.${k}`);
  else throw new TypeError(`${path} is a ${(value as object).constructor?.name ?? 'non-plain object'}, not plain JSON`);
  Object.freeze(value);
}
