/**
 * In-process transport of the scheduler SDK: the built-in frameworks of `drover dev` talk to the
 * master in the same process without HTTP, through exactly the validation and call handling the
 * HTTP API uses (scheduler-calls.ts), and receive the events an HTTP client would parse — the
 * master's own objects, not copies: read-only by contract (QueueSink in master/stream.ts).
 */
import { DroverError } from '../../errors/errors.ts';
import type { FrameworkInfo } from '../../protocol/mesos/scheduler.ts';
import type { Master } from '../../master/master.ts';
import { QueueSink } from '../../master/stream.ts';
import * as scheduler from '../../master/scheduler-calls.ts';
import { EventQueue } from './event-queue.ts';
import { subscribedFrameworkId, type Acknowledgement, type OutgoingCall, type SchedulerConnection, type SchedulerEvent, type SchedulerTransport, type SubscribeOptions } from './scheduler.ts';

export interface InProcessOptions {
  /** Deep-freeze every event and refuse non-JSON ones (tests: a consumer that writes to one throws). */
  checkEvents?: boolean;
}

export class InProcessSchedulerTransport implements SchedulerTransport {
  constructor(private readonly master: Master, private readonly options: InProcessOptions = {}) {}

  async subscribe(info: FrameworkInfo, options: SubscribeOptions = {}): Promise<SchedulerConnection> {
    const queue = new EventQueue<SchedulerEvent>();
    const sink = new QueueSink((event) => queue.push(event as SchedulerEvent), () => queue.end(), { checkEvents: this.options.checkEvents ?? false });
    const call = scheduler.validateCall({
      type: 'SUBSCRIBE',
      subscribe: { framework_info: info, ...(options.suppressedRoles ? { suppressed_roles: options.suppressedRoles } : {}) },
    });
    await scheduler.subscribe(this.master, call as Parameters<typeof scheduler.subscribe>[1], sink);
    let frameworkId: string;
    try {
      frameworkId = subscribedFrameworkId(await queue.next());
    } catch (e) {
      sink.close();
      throw e;
    }
    const master = this.master;
    return {
      frameworkId,
      async call(outgoing: OutgoingCall): Promise<void> {
        const validated = scheduler.validateCall({ ...outgoing, framework_id: { value: frameworkId } });
        if (validated.type === 'SUBSCRIBE') throw new DroverError('MALFORMED', 'SUBSCRIBE goes through subscribe()');
        const framework = scheduler.callingFramework(master, validated, sink.id);
        await scheduler.dispatchAsLeader(master, framework, validated);
      },
      // Status updates come in bursts (50,000 launches are 100,000 of them): one pass instead of
      // a promise, a copy and a framework lookup per acknowledgement. Each is validated as the
      // ACKNOWLEDGE call it stands for, and goes to the master's per-agent outbox as before.
      async acknowledgeAll(acks: readonly Acknowledgement[]): Promise<void> {
        const framework = scheduler.callingFramework(master, { type: 'ACKNOWLEDGE', framework_id: { value: frameworkId } }, sink.id);
        let refused: unknown;
        for (const acknowledge of acks) {
          try {
            scheduler.dispatch(master, framework, scheduler.validateCall({ type: 'ACKNOWLEDGE', framework_id: { value: frameworkId }, acknowledge }));
          } catch (e) {
            refused ??= e;
          }
        }
        if (refused !== undefined) throw refused;
      },
      events: () => queue,
      async close(): Promise<void> {
        sink.close();
      },
    };
  }
}
