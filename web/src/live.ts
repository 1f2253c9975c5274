/**
 * Live data. Two event streams tell the UI *that* something changed, and the pages re-read the
 * views they show (Marathon's own advice: use events as cache invalidation, since their order is
 * not guaranteed):
 *   - Marathon SSE `GET /v2/events` (apps, instances, health, deployments);
 *   - Mesos operator `POST /api/v1 {"type":"SUBSCRIBE"}`, RecordIO (tasks of every framework,
 *     agents) — read with a streaming fetch.
 * Both reconnect by themselves with backoff (a master restart is just a reconnect), and after
 * each reconnect everything is re-read, since events sent while away are lost. Pages also poll:
 * slowly while the streams are up, quickly while they are down (the fallback).
 * Invalidations are batched (one flush per FLUSH_MS), so a burst of 10,000 task updates costs a
 * handful of re-reads, not 10,000.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { get } from './api.ts';
import { Backoff, type BackoffPolicy } from '../../src/clock/backoff.ts';
import { recordIoParser, sseParser } from './streams.ts';

export type Topic = 'apps' | 'tasks' | 'agents' | 'jobs' | 'queue' | 'deployments' | 'summary' | 'removal';
const ALL: Topic[] = ['apps', 'tasks', 'agents', 'jobs', 'queue', 'deployments', 'summary', 'removal'];

export interface LiveEvent {
  source: 'marathon' | 'mesos';
  type: string;
  at: number;
  text: string;
}

const FLUSH_MS = 400;
const POLL_LIVE_MS = 15_000;
const POLL_OFFLINE_MS = 3_000;
const EVENTS_KEPT = 200;
/** Every open browser loses its streams together when the master restarts; jitter spreads the reconnects. */
const STREAM_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 5000, factor: 2, jitter: 0.5 };

type Connection = 'connecting' | 'live' | 'offline';

class LiveHub {
  private readonly listeners = new Map<Topic, Set<() => void>>();
  private pending = new Set<Topic>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly stateListeners = new Set<() => void>();
  private streams: Record<'marathon' | 'mesos', Connection> = { marathon: 'connecting', mesos: 'connecting' };
  events: LiveEvent[] = [];
  private started = false;

  on(topic: Topic, fn: () => void): () => void {
    const set = this.listeners.get(topic) ?? new Set();
    set.add(fn);
    this.listeners.set(topic, set);
    return () => set.delete(fn);
  }

  invalidate(topics: Topic[]): void {
    for (const t of topics) this.pending.add(t);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const due = [...this.pending];
      this.pending.clear();
      const fns = new Set<() => void>();
      for (const t of due) for (const fn of this.listeners.get(t) ?? []) fns.add(fn);
      for (const fn of fns) fn();
    }, FLUSH_MS);
  }

  /** 'live' while a stream is up (the other's changes still arrive by polling); 'offline' when none is. */
  connection(): Connection {
    const s = Object.values(this.streams);
    if (s.some((x) => x === 'live')) return 'live';
    return s.every((x) => x === 'offline') ? 'offline' : 'connecting';
  }

  subscribeState = (fn: () => void): (() => void) => {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  };

  private setStream(name: 'marathon' | 'mesos', c: Connection): void {
    if (this.streams[name] === c) return;
    const wasLive = this.connection() === 'live';
    this.streams[name] = c;
    for (const fn of this.stateListeners) fn();
    // Back after an outage: what happened meanwhile was not streamed to us; read it all again.
    if (c === 'live' && !wasLive) this.invalidate(ALL);
  }

  private fresh: LiveEvent[] = [];
  private eventTimer: ReturnType<typeof setTimeout> | undefined;

  /** Events reach the page in batches too: a burst of 10,000 renders the feed a few times. */
  private record(e: LiveEvent): void {
    this.fresh.push(e);
    this.eventTimer ??= setTimeout(() => {
      this.eventTimer = undefined;
      this.events = [...this.fresh.reverse(), ...this.events].slice(0, EVENTS_KEPT);
      this.fresh = [];
      for (const fn of this.stateListeners) fn();
    }, FLUSH_MS);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.follow(
      'marathon',
      () => fetch('/v2/events', { headers: { accept: 'text/event-stream' }, cache: 'no-store' }),
      () => sseParser((type, data) => this.onMarathon(type, data)),
    );
    void this.follow(
      'mesos',
      () => fetch('/api/v1', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/recordio' }, body: JSON.stringify({ type: 'SUBSCRIBE' }), cache: 'no-store' }),
      () => recordIoParser((m) => this.onMesos(m)),
    );
  }

  /**
   * Keep one stream open forever: read it, and when it ends or fails, wait and open it again.
   * Each connection gets a new parser: a frame cut off by a drop must not prefix the next stream.
   */
  private async follow(name: 'marathon' | 'mesos', open: () => Promise<Response>, newParser: () => (chunk: Uint8Array) => void): Promise<void> {
    const backoff = new Backoff(STREAM_BACKOFF);
    for (;;) {
      try {
        const response = await open();
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        this.setStream(name, 'live');
        backoff.reset();
        const parser = newParser();
        const reader = response.body.getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser(value);
          }
        } finally {
          // A parser that threw (a malformed or oversized frame) leaves the body unread: close it.
          void reader.cancel().catch(() => undefined);
        }
      } catch {
        // Connection refused or dropped (master restarting): fall through to the retry.
      }
      this.setStream(name, 'offline');
      await new Promise((r) => setTimeout(r, backoff.next()));
    }
  }

  private onMarathon(type: string, data: Record<string, unknown>): void {
    if (type === 'event_stream_attached') return;
    // The master's removal limits held or released agents (src/cluster/master.ts).
    const topics: Topic[] = type.startsWith('agent_removal')
      ? ['removal', 'agents', 'summary']
      : type.startsWith('deployment')
        ? ['deployments', 'apps', 'queue']
        : type === 'status_update_event' || type.includes('instance') || type.includes('health')
          ? ['apps', 'tasks', 'queue', 'summary', 'agents']
          : ['apps', 'deployments', 'queue'];
    this.invalidate(topics);
    const bits = [data['appId'], data['taskStatus'], data['host'], data['id'] && type.startsWith('deployment') ? data['id'] : undefined].filter((x) => typeof x === 'string');
    this.record({ source: 'marathon', type, at: Date.parse(String(data['timestamp'] ?? '')) || Date.now(), text: bits.join(' · ') });
  }

  private onMesos(m: Record<string, unknown>): void {
    const type = String(m['type'] ?? '');
    if (type === 'HEARTBEAT' || type === 'SUBSCRIBED') return;
    if (type.startsWith('TASK_')) this.invalidate(['tasks', 'summary', 'agents', 'jobs', 'apps']);
    else if (type.startsWith('AGENT_')) this.invalidate(['agents', 'summary', 'removal']);
    else this.invalidate(['summary']);
    const body = (m[type.toLowerCase()] ?? {}) as Record<string, unknown>;
    const task = (body['task'] ?? {}) as { task_id?: { value?: string }; state?: string };
    const status = (body['status'] ?? {}) as { task_id?: { value?: string }; state?: string };
    const agent = ((body['agent'] ?? {}) as { agent_info?: { hostname?: string } }).agent_info?.hostname;
    const text = [task.task_id?.value ?? status.task_id?.value, body['state'] ?? task.state ?? status.state, agent].filter((x) => typeof x === 'string').join(' · ');
    this.record({ source: 'mesos', type, at: Date.now(), text });
  }
}

export const hub = new LiveHub();

export function useConnection(): Connection {
  return useSyncExternalStore(hub.subscribeState, () => hub.connection());
}

export function useLiveEvents(): LiveEvent[] {
  return useSyncExternalStore(hub.subscribeState, () => hub.events);
}

export interface Resource<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * GET `url` (null: nothing), and again whenever one of `topics` is invalidated or the poll timer
 * fires. The last answer stays on screen while a new one loads; one request at a time.
 */
export function useResource<T>(url: string | null, topics: Topic[]): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean; url: string | null }>({ data: undefined, error: undefined, loading: url !== null, url });
  const connection = useConnection();
  const inflight = useRef(false);
  const again = useRef(false);
  const current = useRef(url);
  current.current = url;

  const load = useCallback(() => {
    const target = current.current;
    if (target === null) return;
    if (inflight.current) {
      again.current = true;
      return;
    }
    inflight.current = true;
    get<T>(target)
      .then((data) => {
        if (current.current === target) setState({ data, error: undefined, loading: false, url: target });
      })
      .catch((error: unknown) => {
        if (current.current === target) setState((s) => ({ ...s, error: error instanceof Error ? error : new Error(String(error)), loading: false, url: target }));
      })
      .finally(() => {
        inflight.current = false;
        if (again.current) {
          again.current = false;
          load();
        }
      });
  }, []);

  useEffect(() => {
    if (url === null) return;
    setState((s) => (s.url === url ? s : { data: undefined, error: undefined, loading: true, url }));
    load();
    const offs = topics.map((t) => hub.on(t, load));
    return () => offs.forEach((off) => off());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, load, topics.join(',')]);

  useEffect(() => {
    if (url === null) return;
    const timer = setInterval(load, connection === 'live' ? POLL_LIVE_MS : POLL_OFFLINE_MS);
    return () => clearInterval(timer);
  }, [url, load, connection]);

  return { data: state.url === url ? state.data : undefined, error: state.error, loading: state.loading, reload: load };
}
