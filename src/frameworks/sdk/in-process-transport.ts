/**
 * In-process transport of the scheduler SDK: the built-in frameworks of `drover dev` talk to the
 * master in the same process without HTTP, through exactly the validation and call handling the
 * HTTP API uses, and receive the events an HTTP client would parse — the master's own objects, not
 * copies: read-only by contract.
 *
 * The master is reached through `InProcessMaster`, which the composition root implements over the
 * master (src/cluster/in-process-master.ts): the SDK knows no master internals.
 */
import { DroverError } from '../../errors/errors.ts';
import type { FrameworkInfo } from '../../protocol/mesos/scheduler.ts';
import { EventQueue } from './event-queue.ts';
import { subscribedFrameworkId, type Acknowledgement, type OutgoingCall, type SchedulerConnection, type SchedulerEvent, type SchedulerTransport, type SubscribeOptions } from './scheduler.ts';

export interface InProcessOptions {
  /** Deep-freeze every event and refuse non-JSON ones (tests: a consumer that writes to one throws). */
  checkEvents?: boolean;
}

/** One subscription's stream inside the master. */
export interface InProcessSubscription {
  /** Sends a call as an HTTP client's with this stream's id would be: validated, then dispatched (refusals reject). */
  call(call: unknown): Promise<void>;
  /**
   * ACKNOWLEDGE calls for `frameworkId`, in one pass: each validated and dispatched as its own
   * call; every one is tried, and the first refusal is thrown.
   */
  acknowledgeAll(frameworkId: string, acks: readonly Acknowledgement[]): void;
  /** Ends the subscription (the framework is disconnected, not torn down). */
  close(): void;
}

/** What the in-process transport needs of a master: SUBSCRIBE as the HTTP API handles it. */
export interface InProcessMaster {
  /**
   * Validates and handles a SUBSCRIBE call; events (SUBSCRIBED first, or ERROR) go to `deliver`,
   * and `ended` is called once when the subscription ends, whichever side ends it.
   */
  subscribe(call: unknown, deliver: (event: unknown) => void, ended: () => void, options: InProcessOptions): Promise<InProcessSubscription>;
}

export class InProcessSchedulerTransport implements SchedulerTransport {
  constructor(
    private readonly master: InProcessMaster,
    private readonly options: InProcessOptions = {},
  ) {}

  async subscribe(info: FrameworkInfo, options: SubscribeOptions = {}): Promise<SchedulerConnection> {
    const queue = new EventQueue<SchedulerEvent>();
    const subscription = await this.master.subscribe(
      { type: 'SUBSCRIBE', subscribe: { framework_info: info, ...(options.suppressedRoles ? { suppressed_roles: options.suppressedRoles } : {}) } },
      (event) => queue.push(event as SchedulerEvent),
      () => queue.end(),
      { checkEvents: this.options.checkEvents ?? false },
    );
    let frameworkId: string;
    try {
      frameworkId = subscribedFrameworkId(await queue.next());
    } catch (e) {
      subscription.close();
      throw e;
    }
    return {
      frameworkId,
      async call(outgoing: OutgoingCall): Promise<void> {
        if (outgoing.type === 'SUBSCRIBE') throw new DroverError('MALFORMED', 'SUBSCRIBE goes through subscribe()');
        await subscription.call({ ...outgoing, framework_id: { value: frameworkId } });
      },
      // Status updates come in bursts (50,000 launches are 100,000 of them): one pass instead of
      // a promise, a copy and a framework lookup per acknowledgement.
      async acknowledgeAll(acks: readonly Acknowledgement[]): Promise<void> {
        subscription.acknowledgeAll(frameworkId, acks);
      },
      events: () => queue,
      async close(): Promise<void> {
        subscription.close();
      },
    };
  }
}
