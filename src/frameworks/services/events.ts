/**
 * Marathon's event bus: every event is `{eventType, timestamp, ...}`; `/v2/events` streams them as
 * SSE (`event: <type>\ndata: <json>\n\n`). Slow consumers are cut off rather than buffering
 * without bound (Marathon dropped events; a closed stream is at least visible to the client).
 */
export interface ServiceEvent {
  eventType: string;
  timestamp: string;
  [key: string]: unknown;
}

type Listener = (event: ServiceEvent) => void;

/**
 * At most this many `/v2/events` streams at once, each buffering at most EVENT_STREAM_BUFFER_BYTES
 * for a slow reader: 40 paused clients held 275 MB when each could buffer 8 MiB. Marathon caps a
 * subscriber at 50 outstanding messages and drops it (`--event_stream_max_outstanding_messages`).
 */
export const MAX_EVENT_SUBSCRIBERS = 64;
export const EVENT_STREAM_BUFFER_BYTES = 1024 * 1024;

export class ServiceEvents {
  private readonly listeners = new Set<Listener>();
  /** Listeners of one event type (in-process parts such as DNS): they do not make `listening` true. */
  private readonly typed = new Map<string, Set<Listener>>();

  publish(eventType: string, body: Record<string, unknown>): void {
    // Most of the time nobody listens to /v2/events; the copy and the ISO timestamp were then
    // pure garbage, twice per launched task (docs/architecture/006-scale.md).
    const typed = this.typed.get(eventType);
    if (this.listeners.size === 0 && typed === undefined) return;
    const event: ServiceEvent = { ...body, eventType, timestamp: new Date().toISOString() };
    for (const listener of this.listeners) listener(event);
    if (typed) for (const listener of typed) listener(event);
  }

  /** Follow one event type only; returns the unsubscribe. */
  subscribeType(eventType: string, listener: Listener): () => void {
    let set = this.typed.get(eventType);
    if (!set) this.typed.set(eventType, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.typed.delete(eventType);
    };
  }

  /** True when someone listens: callers on hot paths skip building the body otherwise. */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  /** How many listen now (the /v2/events route caps it). */
  get subscribers(): number {
    return this.listeners.size;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
    this.typed.clear();
  }
}

export function sseFrame(event: ServiceEvent): string {
  return `event: ${event.eventType}\ndata: ${JSON.stringify(event)}\n\n`;
}
