/**
 * The agent's connection to the master (protocol: src/protocol/mesos/agent-link.ts). It keeps one
 * REGISTER stream open, re-registering with backoff whenever the stream cannot be opened, ends,
 * breaks, goes silent, or a call is refused as stale (409); it sends HEARTBEAT calls at the
 * interval the master asked for; and it makes the agent's other calls on the current stream.
 *
 * Several masters (HA): `masterUrl` may list them, comma-separated. A standby answers with a 307
 * to the leader, which fetch follows; the leader's address (the final URL) is then used for the
 * stream's calls. A registration that fails moves on to the next master of the list.
 *
 * The agent's state does not live here: each attempt asks the agent for a fresh REGISTER call
 * (its id and current tasks), and REGISTERED is handed to the agent before any later event of the
 * stream, so the agent id is checkpointed before a LAUNCH can arrive.
 */
import type { Logger } from '../log/index.ts';
import { AGENT_STREAM_HEADER, type AgentCall, type AgentEvent } from '../protocol/mesos/agent-link.ts';
import { decodeJsonRecords } from '../protocol/recordio.ts';
import { backoffDelay, type BackoffPolicy } from '../clock/backoff.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { every, type Repeating } from '../clock/every.ts';
import { parseAgentEvent } from './master-events.ts';
import { fetchFollowing } from '../http/follow-redirects.ts';

export type Registered = Extract<AgentEvent, { type: 'REGISTERED' }>['registered'];
export type CallResult = 'accepted' | 'stale' | 'failed';

export interface MasterLinkOptions {
  /** One master URL, or several (HA), comma-separated. */
  masterUrl: string;
  /** The credential calls carry (`Authorization: token=…`), read at each call; none with auth off. */
  credential?: () => string | undefined;
  /** Builds the REGISTER call for this attempt (async: a TLS bootstrap makes a key and a CSR first). */
  registerCall(): AgentCall | Promise<AgentCall>;
  /**
   * The fetch the link uses, read at each call: with TLS, one that trusts the cluster CA and
   * presents the agent's certificate once it has one (src/iam/tls-client.ts); default `fetch`.
   */
  fetch?: () => typeof fetch;
  /** Awaited before the stream's next event is read; calls on the new stream work from here on. */
  onRegistered(registered: Registered): Promise<void>;
  /** Every later event of the stream, in order. */
  onEvent(event: AgentEvent): void;
  onDisconnected(): void;
  reconnectBackoff: BackoffPolicy;
  /**
   * Echo the master's pings in HEARTBEAT calls (default true), which gets this agent pinged every
   * third of the heartbeat interval and detected on a one-way partition. The simulator's hollow
   * agents turn it off: a thousand of them share one thread, and answering the pings would
   * measure that thread rather than the master.
   */
  echoHeartbeats?: boolean;
  /** Seconds; replaces the master's heartbeat_interval_seconds (tests). */
  heartbeatIntervalOverride?: number;
  /** A stream with no event for this long is presumed dead; default max(30 s, 5 heartbeats). */
  silenceTimeoutMs?: number;
  callTimeoutMs?: number;
  /**
   * How calls (not the REGISTER stream) are posted; default `fetch`. The simulator passes a
   * pooled client: 10,000 hollow agents in one process with a kept-alive socket each for calls,
   * besides their streams, ran out of file descriptors.
   */
  post?: (url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }>;
  logger: Logger;
  random?: () => number;
  /** Heartbeats, the silence watchdog and the reconnect wait; default the system clock. */
  clock?: Clock;
}

export class MasterLink {
  private readonly endpoints: string[];
  private next = 0;
  /** Where calls go: the master that accepted the current registration. */
  private endpoint: string;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private stream: AbortController | undefined;
  private streamId: string | undefined;
  private currentAgentId: string | undefined;
  private heartbeat: Repeating | undefined;
  private watchdog: Repeating | undefined;
  private lastEventAt = 0;
  /** `sent_at` of the last HEARTBEAT event read on the current stream: echoed in HEARTBEAT calls. */
  private lastMasterHeartbeat: number | undefined;
  /** A pong (HEARTBEAT call answering a ping) is in flight: the next ping does not stack another. */
  private ponging = false;
  private wake: (() => void) | undefined;

  private readonly clock: Clock;

  constructor(private readonly options: MasterLinkOptions) {
    this.clock = options.clock ?? systemClock;
    this.endpoints = options.masterUrl
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '')
      .map((u) => `${u.replace(/\/+$/, '')}/api/v1/agent`);
    this.endpoint = this.endpoints[0] ?? '';
  }

  get connected(): boolean {
    return this.streamId !== undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.abort();
    this.wake?.();
    await this.loop;
  }

  /** Drops the current stream; the link re-registers after its backoff. */
  reconnect(reason: string): void {
    if (this.stream === undefined) return;
    this.options.logger.info({ reason }, 'master-reconnecting');
    this.stream.abort();
  }

  /**
   * The values of the secrets a task being launched references (POST /api/v1/agent/secrets on the
   * current stream). Never throws; a failure is a reason for the task's TASK_FAILED. The values
   * are returned, never logged.
   */
  async resolveSecrets(frameworkId: string, taskId: string): Promise<{ values: Map<string, Buffer>; missing: string[] } | { error: string }> {
    const streamId = this.streamId;
    const agentId = this.currentAgentId;
    if (streamId === undefined || agentId === undefined) return { error: 'the agent is not connected to a master' };
    try {
      const response = await this.fetchImpl()(this.endpoint.replace(/\/api\/v1\/agent$/, '/api/v1/agent/secrets'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [AGENT_STREAM_HEADER]: streamId, ...this.authorization() },
        body: JSON.stringify({ agent_id: { value: agentId }, framework_id: { value: frameworkId }, task_id: { value: taskId } }),
        signal: AbortSignal.timeout(this.options.callTimeoutMs ?? 10_000),
      });
      const text = await response.text();
      if (response.status !== 200) return { error: `the master refused the secrets of task ${taskId} (HTTP ${response.status}): ${text.slice(0, 300)}` };
      const body = JSON.parse(text) as { secrets?: Array<{ path: string; value: string }>; missing?: string[] };
      return { values: new Map((body.secrets ?? []).map((s) => [s.path, Buffer.from(s.value, 'base64')])), missing: body.missing ?? [] };
    } catch (err) {
      return { error: `cannot get the secrets of task ${taskId} from the master: ${(err as Error).message}` };
    }
  }

  /**
   * The containers' usage of one sampling pass (usage-sampler.ts) to the master (POST
   * /api/v1/agent/usage on the current stream), where it feeds the UI's graphs. Never throws: a
   * pass that does not arrive is a gap in a graph, nothing is retried.
   */
  async postUsage(statistics: readonly unknown[]): Promise<void> {
    const streamId = this.streamId;
    const agentId = this.currentAgentId;
    if (streamId === undefined || agentId === undefined) return;
    try {
      const response = await this.fetchImpl()(this.endpoint.replace(/\/api\/v1\/agent$/, '/api/v1/agent/usage'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [AGENT_STREAM_HEADER]: streamId, ...this.authorization() },
        body: JSON.stringify({ agent_id: { value: agentId }, statistics }),
        signal: AbortSignal.timeout(this.options.callTimeoutMs ?? 10_000),
      });
      const text = await response.text();
      if (response.status !== 202 && response.status !== 200) this.options.logger.debug({ status: response.status, body: text.slice(0, 300) }, 'usage-push-refused');
    } catch (err) {
      this.options.logger.debug({ err }, 'usage-push-failed');
    }
  }

  /** A non-REGISTER call on the current stream. Never throws. */
  async call(call: Omit<AgentCall, 'agent_id'>): Promise<CallResult> {
    const streamId = this.streamId;
    const agentId = this.currentAgentId;
    if (streamId === undefined || agentId === undefined) return 'failed';
    try {
      const init = {
        headers: { 'content-type': 'application/json', [AGENT_STREAM_HEADER]: streamId, ...this.authorization() },
        body: JSON.stringify({ ...call, agent_id: { value: agentId } }),
        signal: AbortSignal.timeout(this.options.callTimeoutMs ?? 10_000),
      };
      const response = this.options.post ? await this.options.post(this.endpoint, init) : await this.fetchImpl()(this.endpoint, { method: 'POST', ...init });
      const body = await response.text();
      if (response.status === 200 || response.status === 202) return 'accepted';
      if (response.status === 409) {
        // Only the stream the call was made on is stale; a newer one may already be open.
        if (this.streamId === streamId) this.reconnect(`${call.type} refused as stale`);
        return 'stale';
      }
      this.options.logger.warn({ type: call.type, status: response.status, body: body.slice(0, 500) }, 'master-call-refused');
      return 'failed';
    } catch (err) {
      this.options.logger.warn({ type: call.type, err }, 'master-call-failed');
      return 'failed';
    }
  }

  /** The fetch for talking to the master now (the agent's certificate may have just arrived). */
  fetchImpl(): typeof fetch {
    return this.options.fetch?.() ?? fetch;
  }

  private authorization(): Record<string, string> {
    const credential = this.options.credential?.();
    return credential === undefined ? {} : { authorization: `token=${credential}` };
  }

  /** The master that accepted the current registration (its base URL), for the agent's own questions. */
  get masterBase(): string {
    return this.endpoint.replace(/\/api\/v1\/agent$/, '');
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const registered = await this.connectOnce();
      if (this.stopped) break;
      attempt = registered ? 1 : attempt + 1;
      const delay = backoffDelay(this.options.reconnectBackoff, attempt, this.options.random);
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(resolve, delay);
        this.wake = () => {
          this.clock.clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One REGISTER stream, from request to end; true if it got as far as REGISTERED. */
  private async connectOnce(): Promise<boolean> {
    const controller = new AbortController();
    this.stream = controller;
    let registered = false;
    try {
      const call = await this.options.registerCall();
      const target = this.endpoints[this.next % this.endpoints.length]!;
      const response = await fetchFollowing(
        target,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/recordio', ...this.authorization() },
          body: JSON.stringify(call),
          signal: controller.signal,
        },
        this.fetchImpl(),
      );
      const streamId = response.headers.get(AGENT_STREAM_HEADER);
      if (response.status !== 200 || response.body === null || streamId === null) {
        const text = await response.text().catch(() => '');
        const code = errorCode(text);
        if (code === 'DROVER_ERR_STORE_STALE') {
          // The master's store is older than the one that registered this agent. Nothing here is
          // killed: the tasks keep running while an operator restores the store or tells the
          // master to accept it, and the link keeps retrying.
          this.options.logger.error({ code, master: target, message: text.slice(0, 2000) }, 'master-refused-registration-stale-store');
        } else if (response.status === 401) {
          // A token this master cannot verify: another cluster's (a new store) or one gone bad. As
          // for a stale store, nothing is killed and the link keeps retrying while an operator acts.
          this.options.logger.error({ code, master: target, message: text.slice(0, 2000) }, 'master-refused-agent-credential');
        }
        throw new Error(`master answered REGISTER with ${response.status}${streamId === null ? ' and no stream id' : ''}: ${text.slice(0, 500)}`);
      }
      // A standby's 307 was followed: calls go straight to the master that answered.
      this.endpoint = response.url || target;
      this.lastEventAt = this.clock.now();
      this.lastMasterHeartbeat = undefined;
      for await (const raw of decodeJsonRecords<unknown>(response.body)) {
        this.lastEventAt = this.clock.now();
        let event: AgentEvent;
        try {
          event = parseAgentEvent(raw);
        } catch (err) {
          if (!registered) throw err;
          // One malformed event is dropped, not the link: re-registering would not fix the master.
          this.options.logger.error({ err: errorMessage(err), details: (err as { details?: unknown }).details }, 'invalid-master-event');
          continue;
        }
        if (!registered) {
          if (event.type === 'ERROR') throw new Error(`master refused registration: ${event.error.message}`);
          if (event.type !== 'REGISTERED') throw new Error(`expected REGISTERED as the first event, got ${event.type}`);
          this.currentAgentId = event.registered.agent_id.value;
          this.streamId = streamId;
          registered = true;
          await this.options.onRegistered(event.registered);
          this.startTimers(event.registered.heartbeat_interval_seconds, controller);
          // A first heartbeat at once, not after an interval: it opens the connection calls take
          // (with TLS, the handshake that proves a just-issued certificate), so a failure shows
          // now, and the first status updates of a launch do not wait for a handshake.
          void this.call({ type: 'HEARTBEAT' });
          continue;
        }
        if (event.type === 'HEARTBEAT') {
          if (event.heartbeat !== undefined && this.options.echoHeartbeats !== false) {
            this.lastMasterHeartbeat = event.heartbeat.sent_at;
            this.pong();
          }
          continue;
        }
        if (event.type === 'ERROR') {
          this.options.logger.warn({ message: event.error.message }, 'master-error-event');
          continue;
        }
        this.options.onEvent(event);
      }
      throw new Error('the master ended the stream');
    } catch (err) {
      if (!this.stopped) {
        this.options.logger.warn({ err: errorMessage(err), master: this.endpoint, registered }, registered ? 'master-stream-lost' : 'master-registration-failed');
      }
      // Next time, the next master of the list (a lost leader may be gone for good).
      this.next += 1;
    } finally {
      controller.abort();
      this.stopTimers();
      if (this.stream === controller) this.stream = undefined;
      if (registered) {
        this.streamId = undefined;
        this.options.onDisconnected();
      }
    }
    return registered;
  }

  /**
   * Answer a ping at once: the master then sees the agent every ping interval (a third of the
   * heartbeat interval), so detection is the window ± a few seconds whatever the phase of the
   * heartbeat timer (with calls every interval alone it ranged 60–75 s at 15 s × 5).
   */
  private pong(): void {
    const echo = this.lastMasterHeartbeat;
    if (this.ponging || echo === undefined) return;
    this.ponging = true;
    void this.call({ type: 'HEARTBEAT', heartbeat: { master_heartbeat: echo } }).finally(() => {
      this.ponging = false;
    });
  }

  private startTimers(intervalSeconds: number, controller: AbortController): void {
    const intervalMs = (this.options.heartbeatIntervalOverride ?? intervalSeconds) * 1000;
    this.heartbeat = every(this.clock, intervalMs, () => {
      const echo = this.lastMasterHeartbeat;
      void this.call(echo === undefined ? { type: 'HEARTBEAT' } : { type: 'HEARTBEAT', heartbeat: { master_heartbeat: echo } });
    });
    const silenceMs = this.options.silenceTimeoutMs ?? Math.max(30_000, 5 * intervalMs);
    this.watchdog = every(this.clock, Math.min(silenceMs, 1000), () => {
      if (this.clock.now() - this.lastEventAt > silenceMs) {
        this.options.logger.warn({ silenceMs }, 'master-silent');
        controller.abort();
      }
    });
  }

  private stopTimers(): void {
    this.heartbeat?.stop();
    this.watchdog?.stop();
    this.heartbeat = undefined;
    this.watchdog = undefined;
  }
}

/** The `code` of a DroverError body, if the text is one. */
function errorCode(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { code?: unknown };
    return typeof body.code === 'string' ? body.code : undefined;
  } catch {
    return undefined;
  }
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
