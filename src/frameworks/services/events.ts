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

export class ServiceEvents {
  private readonly listeners = new Set<Listener>();

  publish(eventType: string, body: Record<string, unknown>): void {
    // Most of the time nobody listens to /v2/events; the copy and the ISO timestamp were then
    // pure garbage, twice per launched task (docs/architecture/006-scale.md).
    if (this.listeners.size === 0) return;
    const event: ServiceEvent = { ...body, eventType, timestamp: new Date().toISOString() };
    for (const listener of this.listeners) listener(event);
  }

  /** True when someone listens: callers on hot paths skip building the body otherwise. */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
  }
}

export function sseFrame(event: ServiceEvent): string {
  return `event: ${event.eventType}\ndata: ${JSON.stringify(event)}\n\n`;
}
