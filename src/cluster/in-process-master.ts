/**
 * The master as the scheduler SDK's in-process transport sees it (InProcessMaster): SUBSCRIBE and
 * calls through exactly the validation and handling of the HTTP API (master/scheduler-calls.ts),
 * events through a QueueSink. Here, in the composition root, so the SDK imports no master internals.
 */
import { DroverError } from '../protocol/errors.ts';
import type { Master } from '../master/master.ts';
import { QueueSink } from '../master/stream.ts';
import * as scheduler from '../master/scheduler-calls.ts';
import type { InProcessMaster, InProcessSubscription } from '../frameworks/sdk/in-process-transport.ts';
import { InProcessSchedulerTransport, type InProcessOptions } from '../frameworks/sdk/in-process-transport.ts';

export function inProcessMaster(master: Master): InProcessMaster {
  return {
    async subscribe(body, deliver, ended, options): Promise<InProcessSubscription> {
      const sink = new QueueSink(deliver, ended, { checkEvents: options.checkEvents ?? false });
      const call = scheduler.validateCall(body);
      if (call.type !== 'SUBSCRIBE') throw new DroverError('MALFORMED', 'expected a SUBSCRIBE call');
      await scheduler.subscribe(master, call as Parameters<typeof scheduler.subscribe>[1], sink);
      return {
        async call(outgoing) {
          const validated = scheduler.validateCall(outgoing);
          if (validated.type === 'SUBSCRIBE') throw new DroverError('MALFORMED', 'SUBSCRIBE goes through subscribe()');
          const framework = scheduler.callingFramework(master, validated, sink.id);
          await scheduler.dispatchAsLeader(master, framework, validated);
        },
        acknowledgeAll(frameworkId, acks) {
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
        close: () => sink.close(),
      };
    },
  };
}

/** The SDK's in-process transport onto `master`. */
export function inProcessTransport(master: Master, options: InProcessOptions = {}): InProcessSchedulerTransport {
  return new InProcessSchedulerTransport(inProcessMaster(master), options);
}
