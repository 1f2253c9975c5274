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
    const event: ServiceEvent = { ...body, eventType, timestamp: new Date().toISOString() };
    for (const listener of this.listeners) listener(event);
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
