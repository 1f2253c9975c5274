/**
 * Marathon's `/v2/events` (SSE) as the load balancer reads it: connect with the token, hand each
 * event's JSON to `onEvent`, and on any end or error reconnect with backoff (jittered). Every
 * (re)connection starts with `event_stream_attached`, on which the controller re-reads all apps:
 * events missed while disconnected cost nothing.
 */
import { backoffDelay } from '../clock/backoff.ts';
import { fetchFollowing } from '../http/follow-redirects.ts';
import type { Logger } from '../log/index.ts';

/** One SSE event is at most this long; a longer one ends the stream (then a reconnect and full re-read). */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/**
 * Drover's kill decision, before the KILL (src/frameworks/services/convergence.ts publishes it;
 * the name is repeated here, the LB being a client of the /v2 API and nothing more).
 */
export const DRAINING_EVENT = 'drover_instance_draining_event';

export const LB_EVENT_TYPES = [
  DRAINING_EVENT,
  'event_stream_attached',
  'status_update_event',
  'health_status_changed_event',
  'instance_changed_event',
  'api_post_event',
  'app_terminated_event',
  'deployment_info',
  'deployment_success',
  'deployment_failed',
  'deployment_step_success',
  'scheduler_registered_event',
] as const;

export interface EventStreamOptions {
  master: string;
  token: string | undefined;
  logger: Logger;
  onEvent(event: Record<string, unknown>): void;
}

/** Follows the stream until `stop()`. */
export function followEvents(options: EventStreamOptions): { stop(): void } {
  let stopped = false;
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;

  const connect = async (): Promise<void> => {
    controller = new AbortController();
    const query = LB_EVENT_TYPES.map((t) => `event_type=${t}`).join('&');
    const response = await fetchFollowing(`${options.master}/v2/events?${query}`, {
      headers: { accept: 'text/event-stream', ...(options.token ? { authorization: `token=${options.token}` } : {}) },
      signal: controller.signal,
    });
    if (!response.ok || response.body === null) throw new Error(`GET /v2/events: HTTP ${response.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      attempt = 0;
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data === '') continue;
        try {
          options.onEvent(JSON.parse(data) as Record<string, unknown>);
        } catch (e) {
          options.logger.warn({ err: e }, 'lb-event-unreadable');
        }
      }
      if (buffer.length > MAX_EVENT_BYTES) throw new Error('an event longer than 4 MiB');
    }
    throw new Error('the event stream ended');
  };

  const loop = (): void => {
    if (stopped) return;
    connect().catch((e: unknown) => {
      if (stopped) return;
      attempt++;
      const delay = backoffDelay({ initialMs: 250, maxMs: 5000, jitter: 0.5 }, attempt);
      options.logger.warn({ err: e, retryInMs: delay }, 'lb-event-stream-lost');
      timer = setTimeout(loop, delay);
    });
  };
  loop();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      controller?.abort();
    },
  };
}
