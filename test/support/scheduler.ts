/**
 * A test framework on the SDK's HTTP transport: subscribe, then await specific events.
 */
import { HttpSchedulerTransport } from '../../src/frameworks/sdk/http-transport.ts';
import type { OfferJson, OutgoingCall, SchedulerConnection, SchedulerEvent } from '../../src/frameworks/sdk/scheduler.ts';
import { Resources } from '../../src/resources/index.ts';
import type { FrameworkInfo, TaskStatus } from '../../src/protocol/mesos/scheduler.ts';

export class TestScheduler {
  readonly seen: SchedulerEvent[] = [];
  private readonly iterator: AsyncIterator<SchedulerEvent>;

  private constructor(readonly connection: SchedulerConnection) {
    this.iterator = connection.events()[Symbol.asyncIterator]();
  }

  static async subscribe(masterUrl: string, info: Partial<FrameworkInfo> = {}): Promise<TestScheduler> {
    const transport = new HttpSchedulerTransport(masterUrl);
    const connection = await transport.subscribe({ user: 'root', name: 'test-framework', ...info });
    return new TestScheduler(connection);
  }

  get frameworkId(): string {
    return this.connection.frameworkId;
  }

  call(call: OutgoingCall): Promise<void> {
    return this.connection.call(call);
  }

  /** The next event matching `predicate` (other events are kept in `seen`). */
  async next<T extends SchedulerEvent['type']>(
    type: T,
    predicate: (event: Extract<SchedulerEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<Extract<SchedulerEvent, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no ${type} event within ${timeoutMs} ms; seen: ${this.seen.map((e) => e.type).join(',')}`);
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        this.iterator.next(),
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), remaining))),
      ]);
      clearTimeout(timer);
      if (result === 'timeout') continue;
      if (result.done) throw new Error(`event stream ended while waiting for ${type}`);
      this.seen.push(result.value);
      if (result.value.type === type && predicate(result.value as Extract<SchedulerEvent, { type: T }>)) {
        return result.value as Extract<SchedulerEvent, { type: T }>;
      }
    }
  }

  async offers(timeoutMs?: number): Promise<OfferJson[]> {
    return (await this.next('OFFERS', () => true, timeoutMs)).offers.offers;
  }

  /** Wait for an update of `taskId` into `state`, acknowledging it (and any before it) if it has a uuid. */
  async status(taskId: string, state: TaskStatus['state'], options: { ack?: boolean; timeoutMs?: number } = {}): Promise<TaskStatus> {
    const event = await this.next('UPDATE', (e) => {
      const s = e.update.status;
      if (s.task_id.value === taskId && options.ack !== false && s.uuid && s.agent_id) void this.ack(s);
      return s.task_id.value === taskId && s.state === state;
    }, options.timeoutMs);
    return event.update.status;
  }

  ack(status: TaskStatus): Promise<void> {
    return this.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id!, task_id: status.task_id, uuid: status.uuid! } });
  }

  launch(offer: OfferJson, tasks: Array<{ id: string; cmd: string; resources?: string }>, refuseSeconds?: number): Promise<void> {
    return this.call({
      type: 'ACCEPT',
      accept: {
        offer_ids: [offer.id],
        operations: [{ type: 'LAUNCH', launch: { task_infos: tasks.map((t) => taskInfo(offer, t.id, t.cmd, t.resources)) } }],
        ...(refuseSeconds === undefined ? {} : { filters: { refuse_seconds: refuseSeconds } }),
      },
    });
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

export function taskInfo(offer: OfferJson, id: string, cmd: string, resources = 'cpus:0.1;mem:32') {
  return {
    name: id,
    task_id: { value: id },
    agent_id: offer.agent_id,
    resources: Resources.parse(resources).toJSON(),
    command: { value: cmd, shell: true },
  };
}
