/**
 * One outgoing RecordIO event stream (a SUBSCRIBE response): chunked HTTP, one JSON record per
 * event. Writes are fire-and-forget; when the peer is gone the stream is closed and `onClose`
 * listeners run once, which is how the master notices a disconnected framework or agent.
 */
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { encodeJsonRecord } from '../protocol/recordio.ts';
import { jsonTextOf } from '../protocol/encoded-json.ts';

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
 * An in-process sink: events are delivered as objects (after a JSON round trip, so that an
 * in-process framework sees exactly what an HTTP one would, and cannot alias master state).
 */
export class QueueSink implements EventSink {
  readonly id = randomUUID();
  private closed = false;
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly deliver: (event: unknown) => void, private readonly ended: () => void) {}

  get isOpen(): boolean {
    return !this.closed;
  }

  open(): void {}

  send(event: unknown): void {
    if (!this.closed) this.deliver(JSON.parse(jsonTextOf(event)) as unknown);
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
