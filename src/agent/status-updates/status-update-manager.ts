/**
 * The status update manager: every task state change becomes an update with a fresh uuid, is
 * checkpointed, then sent to the master and re-sent with exponential backoff until the master
 * forwards the framework's ACKNOWLEDGE for that uuid. Queues survive agent restarts (`recover`),
 * so an update is delivered at least once even if the agent dies right after the task does.
 *
 * Sending is batched (ARCHITECTURE rule 2): one UPDATE call carries every due update, and only one
 * call is in flight at a time, so updates produced while it is out are gathered into the next.
 */
import type { Logger } from '../../log/index.ts';
import type { AgentStatusUpdate } from '../../protocol/mesos/agent-link.ts';
import { backoffDelay, type BackoffPolicy } from '../../clock/backoff.ts';
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import { isTerminalState } from '../../protocol/mesos/enums.ts';
import { dueUpdates, nextDueAt, type QueuedUpdate } from './update-queue.ts';

/** Stays well under agent-link.ts' maxItems of 10000 per UPDATE call. */
const MAX_BATCH = 1000;

export interface StatusUpdateManagerOptions {
  /** Sends one UPDATE call; true when the master accepted it (202). Must not throw. */
  send(updates: AgentStatusUpdate[]): Promise<boolean>;
  /**
   * Checkpoints a task's whole queue (empty when everything was acknowledged). `durable` is true
   * only when a terminal update was added: it must outlive a machine crash. Non-terminal updates
   * need no fsync (a machine crash ends the task, and its end is what gets reported), nor does an
   * acknowledgement's removal (if lost, the update is only sent again as a duplicate).
   */
  persist(frameworkId: string, taskId: string, updates: AgentStatusUpdate[], durable: boolean): Promise<void>;
  /** Called when a task's last pending update was acknowledged. */
  onDrained?(frameworkId: string, taskId: string): void;
  backoff: BackoffPolicy;
  clock: Clock;
  logger: Logger;
}

interface Stream {
  frameworkId: string;
  taskId: string;
  /** Transient streams (answers about tasks this agent does not have) are not checkpointed. */
  transient: boolean;
  queue: QueuedUpdate[];
}

export class StatusUpdateManager {
  private readonly streams = new Map<string, Stream>();
  private timer: TimerHandle | undefined;
  /** When the pending timer fires (clock ms). */
  private timerDueAt = Infinity;
  private inFlight = false;
  private connected = false;
  private closed = false;

  constructor(private readonly options: StatusUpdateManagerOptions) {}

  /** Restores a checkpointed queue after a restart; sent once the agent is registered. */
  recover(frameworkId: string, taskId: string, updates: readonly AgentStatusUpdate[]): void {
    if (updates.length === 0) return;
    const stream = this.stream(frameworkId, taskId, false);
    for (const update of updates) stream.queue.push({ update, persisted: true, attempts: 0, dueAtMs: 0 });
  }

  /** Queues an update; resolves once it is checkpointed (and thus certain to be delivered). */
  async add(update: AgentStatusUpdate, options: { transient?: boolean } = {}): Promise<void> {
    const frameworkId = update.framework_id.value;
    const taskId = update.status.task_id.value;
    const stream = this.stream(frameworkId, taskId, options.transient === true);
    const queued: QueuedUpdate = { update, persisted: stream.transient, attempts: 0, dueAtMs: 0 };
    stream.queue.push(queued);
    if (!stream.transient) {
      await this.options.persist(
        frameworkId,
        taskId,
        stream.queue.map((q) => q.update),
        isTerminalState(update.status.state),
      );
      queued.persisted = true;
    }
    this.kick();
  }

  /** Handles the master's ACKNOWLEDGE; false if no pending update has that uuid (a duplicate). */
  async acknowledge(frameworkId: string, taskId: string, uuid: string): Promise<boolean> {
    const key = streamKey(frameworkId, taskId);
    const stream = this.streams.get(key);
    const index = stream?.queue.findIndex((q) => q.update.status.uuid === uuid) ?? -1;
    if (stream === undefined || index < 0) return false;
    stream.queue.splice(index, 1);
    const drained = stream.queue.length === 0;
    if (drained) this.streams.delete(key);
    // The next update of the task may go at once: it was persisted when it was added, and if the
    // agent dies before the removal below lands, the acknowledged one is only sent again (a
    // duplicate the master recognises by its uuid).
    if (!drained) this.kick();
    if (!stream.transient)
      await this.options.persist(
        frameworkId,
        taskId,
        stream.queue.map((q) => q.update),
        false,
      );
    if (drained) this.options.onDrained?.(frameworkId, taskId);
    return true;
  }

  pending(frameworkId: string, taskId: string): AgentStatusUpdate[] {
    return this.streams.get(streamKey(frameworkId, taskId))?.queue.map((q) => q.update) ?? [];
  }

  /** Updates sent (or to be sent) and not yet acknowledged, over every task: 0 once all drained. */
  unacknowledged(): number {
    let n = 0;
    for (const stream of this.streams.values()) n += stream.queue.length;
    return n;
  }

  /** (Re-)registered: everything unacknowledged is sent now, without waiting out its backoff. */
  resume(): void {
    this.connected = true;
    for (const stream of this.streams.values()) for (const queued of stream.queue) queued.dueAtMs = 0;
    this.schedule();
  }

  /** Disconnected: nothing is sent until `resume`. */
  pause(): void {
    this.connected = false;
    this.clearTimer();
  }

  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private stream(frameworkId: string, taskId: string, transient: boolean): Stream {
    const key = streamKey(frameworkId, taskId);
    let stream = this.streams.get(key);
    if (stream === undefined) {
      stream = { frameworkId, taskId, transient, queue: [] };
      this.streams.set(key, stream);
    }
    return stream;
  }

  private queues(): Iterable<QueuedUpdate[]> {
    return [...this.streams.values()].map((s) => s.queue);
  }

  /**
   * Something may be due now: flush on the next turn. O(1), so that adding 10,000 updates is not
   * 10,000 scans of every queue; the scan happens once per flush.
   */
  private kick(): void {
    if (this.closed || !this.connected || this.inFlight) return; // the flush in flight reschedules
    const now = this.options.clock.now();
    if (this.timer !== undefined && this.timerDueAt <= now) return;
    this.setTimer(now, 0);
  }

  /** Arms the timer for the earliest due update (a scan of every queue). */
  private schedule(): void {
    if (this.closed || !this.connected || this.inFlight) return;
    this.clearTimer();
    const next = nextDueAt(this.queues());
    if (next === undefined) return;
    const now = this.options.clock.now();
    this.setTimer(now, Math.max(0, next - now));
  }

  private setTimer(now: number, delayMs: number): void {
    this.clearTimer();
    this.timerDueAt = now + delayMs;
    this.timer = this.options.clock.setTimeout(() => void this.flush(), delayMs).unref();
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    this.timerDueAt = Infinity;
    if (this.closed || !this.connected || this.inFlight) return;
    const due = dueUpdates(this.queues(), this.options.clock.now(), MAX_BATCH);
    if (due.length > 0) {
      this.inFlight = true;
      let accepted = false;
      try {
        accepted = await this.options.send(due.map((q) => q.update));
      } catch (err) {
        this.options.logger.warn({ err }, 'status-update-send-failed');
      } finally {
        this.inFlight = false;
      }
      // Sent or not, each update waits out its backoff before the next try; a re-registration
      // (`resume`) cuts the wait short.
      const now = this.options.clock.now();
      for (const queued of due) {
        queued.attempts += 1;
        queued.dueAtMs = now + backoffDelay(this.options.backoff, queued.attempts);
      }
      this.options.logger.debug({ count: due.length, accepted }, 'status-updates-sent');
    }
    this.schedule();
  }

  private clearTimer(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDueAt = Infinity;
  }
}

function streamKey(frameworkId: string, taskId: string): string {
  return `${frameworkId.length}:${frameworkId}/${taskId}`;
}
