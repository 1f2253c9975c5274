/**
 * A test framework on the SDK's HTTP transport: subscribe, then await specific events.
 */
import { HttpSchedulerTransport } from '../../src/frameworks/sdk/http-transport.ts';
import type { OfferJson, OutgoingCall, SchedulerConnection, SchedulerEvent } from '../../src/frameworks/sdk/scheduler.ts';
import { Resources } from '../../src/resources/index.ts';
import type { FrameworkInfo, TaskStatus } from '../../src/protocol/mesos/scheduler.ts';

export class TestScheduler {
  /** Every event received, in order; `consumed` marks those a `next` call has returned. */
  readonly events: SchedulerEvent[] = [];
  private readonly consumed = new Set<number>();
  private readonly held = new Set<string>();
  private wake: (() => void) | undefined;
  private ended = false;

  private constructor(readonly connection: SchedulerConnection) {
    void this.pump();
  }

  static async subscribe(masterUrl: string, info: Partial<FrameworkInfo> = {}): Promise<TestScheduler> {
    const transport = new HttpSchedulerTransport(masterUrl);
    const connection = await transport.subscribe({ user: 'root', name: 'test-framework', ...info });
    return new TestScheduler(connection);
  }

  get frameworkId(): string {
    return this.connection.frameworkId;
  }

  /** Stop acknowledging updates of `taskId` (to test retries) until `release`. */
  hold(taskId: string): void {
    this.held.add(taskId);
  }

  release(taskId: string): void {
    this.held.delete(taskId);
  }

  private async pump(): Promise<void> {
    for await (const event of this.connection.events()) {
      this.events.push(event);
      if (event.type === 'UPDATE') {
        const s = event.update.status;
        if (s.uuid && s.agent_id && !this.held.has(s.task_id.value)) this.ack(s).catch(() => undefined);
      }
      this.wake?.();
    }
    this.ended = true;
    this.wake?.();
  }

  call(call: OutgoingCall): Promise<void> {
    return this.connection.call(call);
  }

  /** The first not-yet-returned event of `type` matching `predicate`, waiting for it if needed. */
  async next<T extends SchedulerEvent['type']>(
    type: T,
    predicate: (event: Extract<SchedulerEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<Extract<SchedulerEvent, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = 0; i < this.events.length; i++) {
        const event = this.events[i]!;
        if (this.consumed.has(i) || event.type !== type) continue;
        if (predicate(event as Extract<SchedulerEvent, { type: T }>)) {
          this.consumed.add(i);
          return event as Extract<SchedulerEvent, { type: T }>;
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.ended) {
        throw new Error(
          `no matching ${type} event within ${timeoutMs} ms; got: ${this.events.map((e) => (e.type === 'UPDATE' ? `UPDATE(${e.update.status.task_id.value}:${e.update.status.state}${e.update.status.state === 'TASK_ERROR' ? ` ${JSON.stringify(e.update.status.message ?? '')}` : ''})` : e.type)).join(', ')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async offers(timeoutMs?: number): Promise<OfferJson[]> {
    return (await this.next('OFFERS', () => true, timeoutMs)).offers.offers;
  }

  /** The next update of `taskId` into `state` (updates are acknowledged unless the task is held). */
  async status(taskId: string, state: TaskStatus['state'], timeoutMs?: number): Promise<TaskStatus> {
    const event = await this.next('UPDATE', (e) => e.update.status.task_id.value === taskId && e.update.status.state === state, timeoutMs);
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
