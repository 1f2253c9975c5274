/**
 * In-process transport of the scheduler SDK: the built-in frameworks of `drover dev` talk to the
 * master in the same process without HTTP, through exactly the validation and call handling the
 * HTTP API uses (scheduler-calls.ts), and receive exactly the JSON events an HTTP client would.
 */
import { DroverError } from '../../protocol/errors.ts';
import type { FrameworkInfo } from '../../protocol/mesos/scheduler.ts';
import type { Master } from '../../master/master.ts';
import { QueueSink } from '../../master/stream.ts';
import * as scheduler from '../../master/scheduler-calls.ts';
import { EventQueue } from './event-queue.ts';
import { subscribedFrameworkId, type OutgoingCall, type SchedulerConnection, type SchedulerEvent, type SchedulerTransport, type SubscribeOptions } from './scheduler.ts';

export class InProcessSchedulerTransport implements SchedulerTransport {
  constructor(private readonly master: Master) {}

  async subscribe(info: FrameworkInfo, options: SubscribeOptions = {}): Promise<SchedulerConnection> {
    const queue = new EventQueue<SchedulerEvent>();
    const sink = new QueueSink((event) => queue.push(event as SchedulerEvent), () => queue.end());
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
      events: () => queue,
      async close(): Promise<void> {
        sink.close();
      },
    };
  }
}
