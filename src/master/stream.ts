/**
 * One outgoing RecordIO event stream (a SUBSCRIBE response): chunked HTTP, one JSON record per
 * event. Writes are fire-and-forget; when the peer is gone the stream is closed and `onClose`
 * listeners run once, which is how the master notices a disconnected framework or agent.
 */
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { encodeJsonRecord } from '../protocol/recordio.ts';

export class EventStream {
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
