/**
 * Test support: a scripted master behind the scheduler SDK's transport interface. Tests push
 * offers and task updates on demand and read the calls the framework made; `refuse` makes the
 * master refuse calls of a type (as a master that lost leadership or rejects an ACCEPT would).
 * No sockets and no sleeps: frameworks are driven in milliseconds with a ManualClock.
 */
import assert from 'node:assert/strict';
import type { TaskState, TaskStatusReason, TaskStatusSource } from '../../protocol/mesos/enums.ts';
import { DroverError } from '../../errors/errors.ts';
import { Resources } from '../../resources/index.ts';
import { EventQueue } from './event-queue.ts';
import type { OutgoingCall, SchedulerConnection, SchedulerEvent, SchedulerTransport } from './scheduler.ts';

export interface ScriptedOffer {
  resources?: string;
  attributes?: Record<string, string>;
  agentId?: string;
  hostname?: string;
}

export class ScriptedMaster implements SchedulerTransport {
  readonly calls: OutgoingCall[] = [];
  /** Runs as each call arrives, before it is recorded (e.g. to look at the store at ACCEPT time). */
  onCall: ((call: OutgoingCall) => void) | undefined;
  subscriptions = 0;
  private queue: EventQueue<SchedulerEvent> | undefined;
  private offers = 0;
  private readonly refused = new Set<string>();

  constructor(private readonly frameworkId: string) {}

  async subscribe(info: { id?: { value: string } }): Promise<SchedulerConnection> {
    const queue = new EventQueue<SchedulerEvent>();
    this.queue = queue;
    this.subscriptions++;
    const { calls, refused } = this;
    return {
      frameworkId: info.id?.value ?? this.frameworkId,
      call: async (call: OutgoingCall) => {
        this.onCall?.(call);
        calls.push(call);
        if (refused.has(call.type)) throw new DroverError('CONFLICT', `scripted master refuses ${call.type}`);
      },
      events: () => queue,
      async close() {
        queue.end();
      },
    };
  }

  /** Calls of `type` are recorded, then refused, until `accept(type)`. */
  refuse(type: OutgoingCall['type']): void {
    this.refused.add(type);
  }

  accept(type: OutgoingCall['type']): void {
    this.refused.delete(type);
  }

  push(event: SchedulerEvent): void {
    assert.ok(this.queue, 'subscribed');
    this.queue.push(event);
  }

  /** Ends the current subscription's stream (the master went away). */
  disconnect(): void {
    this.queue?.end();
  }

  /** One OFFERS event; returns the offer ids. */
  offer(...offers: ScriptedOffer[]): string[] {
    const list = (offers.length === 0 ? [{}] : offers).map((o) => {
      this.offers++;
      const agentId = o.agentId ?? 'agent-1';
      return {
        id: { value: `offer-${this.offers}` },
        framework_id: { value: this.frameworkId },
        agent_id: { value: agentId },
        hostname: o.hostname ?? `host-${agentId.replace(/^agent-/, '')}`,
        resources: Resources.parse(o.resources ?? 'cpus:4;mem:4096;disk:1000;ports:[31000-32000]').toJSON(),
        attributes: Object.entries(o.attributes ?? {}).map(([name, value]) => ({ name, type: 'TEXT', text: { value } })),
      };
    });
    this.push({ type: 'OFFERS', offers: { offers: list } });
    return list.map((o) => o.id.value);
  }

  /** A status update; with `uuid` it expects an acknowledgement, as an agent's does. */
  update(taskId: string, state: TaskState, options: { message?: string; uuid?: string; healthy?: boolean; agentId?: string; reason?: TaskStatusReason; source?: TaskStatusSource } = {}): void {
    const status = {
      task_id: { value: taskId },
      state,
      agent_id: { value: options.agentId ?? 'agent-1' },
      ...(options.reason ? { reason: options.reason } : {}),
      ...(options.source ? { source: options.source } : {}),
      ...(options.message ? { message: options.message } : {}),
      ...(options.uuid ? { uuid: options.uuid } : {}),
      ...(options.healthy === undefined ? {} : { healthy: options.healthy }),
    };
    this.push({ type: 'UPDATE', update: { status: status as never } });
  }

  /** Calls of one type, in order. */
  callsOf(type: OutgoingCall['type']): OutgoingCall[] {
    return this.calls.filter((c) => c.type === type);
  }

  /** Task ids launched so far, in order. */
  launched(): string[] {
    return this.callsOf('ACCEPT').flatMap((c) =>
      (c.accept?.operations ?? []).flatMap((o) => ((o as { launch?: { task_infos: Array<{ task_id: { value: string } }> } }).launch?.task_infos ?? []).map((t) => t.task_id.value)),
    );
  }

  killed(): string[] {
    return this.callsOf('KILL').map((c) => c.kill!.task_id.value);
  }
}
