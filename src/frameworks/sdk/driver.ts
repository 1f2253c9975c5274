/**
 * SchedulerDriver: the subscribe–reconcile–acknowledge loop every framework on the SDK needs,
 * written once (Mesos' scheduler driver plays this part). It subscribes (with the framework's id
 * once it has one), feeds OFFERS and UPDATE events to the framework, subscribes again with backoff
 * when the stream ends (the master's failover timeout keeps the tasks meanwhile), sends calls
 * (a refusal is logged, never thrown at the framework), batches acknowledgements per turn, and
 * splits explicit reconciliation into calls the master accepts.
 *
 * What the framework decides stays with it: what to do with offers and updates, which tasks to
 * reconcile and when, and when an update is safe to acknowledge (see `acknowledge`).
 */
import { backoffDelay, type BackoffPolicy } from '../../clock/backoff.ts';
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import type { Logger } from '../../log/index.ts';
import type { FrameworkInfo, TaskStatus } from '../../protocol/mesos/scheduler.ts';
import type { Acknowledgement, OfferJson, OutgoingCall, SchedulerConnection, SchedulerTransport } from './scheduler.ts';

/** The master's limit on tasks named in one RECONCILE call. */
export const RECONCILE_CALL_TASKS = 100_000;
/** Backoff between attempts to subscribe again: 100 ms doubling, at most this. */
/** Resubscription after a lost master: 100 ms doubling to 2 s, equal jitter (every framework of a failed-over master retries at once). */
const RESUBSCRIBE_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 2000, jitter: 0.5 };

export interface ReconcileTask {
  task_id: { value: string };
  agent_id: { value: string };
}

/**
 * The FrameworkInfo a built-in framework subscribes with: a week's failover timeout (Marathon's
 * and Metronome's default), checkpointing, one role, and the capabilities it handles.
 */
type Capability = NonNullable<FrameworkInfo['capabilities']>[number]['type'];

export function builtInFrameworkInfo(info: { name: string; user: string; role: string; capabilities: readonly Capability[] }): Omit<FrameworkInfo, 'id'> {
  return {
    user: info.user,
    name: info.name,
    roles: [info.role],
    failover_timeout: 604800,
    checkpoint: true,
    capabilities: info.capabilities.map((type) => ({ type })),
  };
}

export interface FrameworkHandlers {
  /** FrameworkInfo to subscribe with; `id` is filled in by the driver once known. */
  readonly info: Omit<FrameworkInfo, 'id'>;
  /** After each (re)subscription, before any of its events is handled (store the id, reconcile, tick). */
  subscribed(connection: SchedulerConnection, previousId: string | undefined): Promise<void> | void;
  offers(offers: OfferJson[], connection: SchedulerConnection): void;
  update(status: TaskStatus): void;
}

export interface DriverOptions {
  transport: SchedulerTransport;
  clock: Clock;
  logger: Logger;
  /** Prefix of the driver's log events (`services-call-failed`, `jobs-stream-failed`, …). */
  name: string;
  /** The framework id from the store, if it subscribed before. */
  frameworkId?: string;
}

export class SchedulerDriver {
  private current: SchedulerConnection | undefined;
  private id: string | undefined;
  private closed = false;
  private acks: Acknowledgement[] = [];
  private acksScheduled = false;
  private resubscribeTimer: TimerHandle | undefined;

  constructor(
    private readonly handlers: FrameworkHandlers,
    private readonly options: DriverOptions,
  ) {
    this.id = options.frameworkId;
  }

  /** The framework id loaded from the store, before `start`: the subscription resumes the framework. */
  restore(frameworkId: string | undefined): void {
    this.id = frameworkId;
  }

  get frameworkId(): string | undefined {
    return this.id;
  }

  /** The live subscription, if any. */
  get connection(): SchedulerConnection | undefined {
    return this.current;
  }

  /** Subscribes once; a failure here is the caller's (start fails). Later losses are retried. */
  async start(): Promise<void> {
    await this.subscribe();
  }

  private async subscribe(): Promise<void> {
    const role = this.handlers.info.roles?.[0] ?? '*';
    const connection = await this.options.transport.subscribe(
      { ...this.handlers.info, ...(this.id ? { id: { value: this.id } } : {}) },
      // Subscribed suppressed: offers are asked for (REVIVE) only when something needs a launch.
      { suppressedRoles: [role] },
    );
    const previous = this.id;
    this.current = connection;
    this.id = connection.frameworkId;
    try {
      await this.handlers.subscribed(connection, previous);
    } catch (e) {
      // Not set up (e.g. the framework id could not be stored): this subscription does not count.
      this.current = undefined;
      await connection.close();
      throw e;
    }
    void this.consume(connection);
  }

  private async consume(connection: SchedulerConnection): Promise<void> {
    try {
      for await (const event of connection.events()) {
        if (event.type === 'OFFERS') this.handlers.offers(event.offers.offers, connection);
        else if (event.type === 'UPDATE') this.handlers.update(event.update.status);
      }
    } catch (e) {
      this.options.logger.warn({ err: e }, `${this.options.name}-stream-failed`);
    }
    if (this.closed || this.current !== connection) return;
    this.resubscribe(0);
  }

  /** The master went away: subscribe again with our id (the failover timeout keeps our tasks). */
  private resubscribe(attempt: number): void {
    this.resubscribeTimer = this.options.clock.setTimeout(
      () => {
        this.resubscribeTimer = undefined;
        if (this.closed) return;
        this.subscribe().catch((error: unknown) => {
          this.options.logger.warn({ err: error, attempt }, `${this.options.name}-resubscribe-failed`);
          if (!this.closed) this.resubscribe(attempt + 1);
        });
      },
      backoffDelay(RESUBSCRIBE_BACKOFF, attempt + 1),
    );
  }

  /**
   * Sends a call on the live subscription; a refusal or a lost connection is logged, not thrown.
   * Resolves true once the master took it, false when it did not (or there is no subscription).
   */
  call(call: OutgoingCall): Promise<boolean> {
    if (this.current === undefined) return Promise.resolve(false);
    return this.current.call(call).then(
      () => true,
      (error: unknown) => {
        this.options.logger.warn({ err: error, type: call.type }, `${this.options.name}-call-failed`);
        return false;
      },
    );
  }

  /**
   * Queues an acknowledgement; they go out once per turn, together (acknowledgeAll where the
   * transport has it: one in-process call each was a promise, a validation and a framework lookup
   * per update). The framework calls this once the update is safe — handled, or stored where its
   * policy says so — since the agent resends an update until it sees the acknowledgement.
   */
  acknowledge(status: TaskStatus): void {
    if (!status.uuid || !status.agent_id) return;
    this.acks.push({ agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid });
    if (this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => this.sendAcks());
  }

  private sendAcks(): void {
    this.acksScheduled = false;
    const acks = this.acks;
    this.acks = [];
    const connection = this.current;
    if (acks.length === 0 || !connection) return;
    if (connection.acknowledgeAll) {
      connection.acknowledgeAll(acks).catch((error: unknown) => this.options.logger.warn({ err: error, type: 'ACKNOWLEDGE', acks: acks.length }, `${this.options.name}-call-failed`));
      return;
    }
    for (const acknowledge of acks) void this.call({ type: 'ACKNOWLEDGE', acknowledge });
  }

  /** Explicit reconciliation of these tasks, in calls the master accepts (RECONCILE_CALL_TASKS each). */
  reconcile(tasks: Iterable<ReconcileTask>): void {
    let batch: ReconcileTask[] = [];
    for (const task of tasks) {
      batch.push(task);
      if (batch.length === RECONCILE_CALL_TASKS) {
        void this.call({ type: 'RECONCILE', reconcile: { tasks: batch } });
        batch = [];
      }
    }
    if (batch.length > 0) void this.call({ type: 'RECONCILE', reconcile: { tasks: batch } });
  }

  /** Implicit reconciliation: the master sends the latest status of every task it knows of ours (those we do not know included). */
  reconcileAll(): void {
    void this.call({ type: 'RECONCILE', reconcile: { tasks: [] } });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.options.clock.clearTimeout(this.resubscribeTimer);
    await this.current?.close();
  }
}

/**
 * Runs `fn` every `ms` on `clock` until stopped (the Clock has one-shot timers only). The
 * system clock's timers are unref'd: a repeating round never keeps the process alive.
 */
export function repeatEvery(clock: Clock, ms: number, fn: () => void): { stop(): void } {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const arm = (): void => {
    handle = clock
      .setTimeout(() => {
        if (stopped) return;
        arm();
        fn();
      }, ms)
      .unref();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clock.clearTimeout(handle);
    },
  };
}
