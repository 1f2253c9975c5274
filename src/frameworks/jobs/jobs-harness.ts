/**
 * Test harness for the jobs framework shell: a scripted master behind the scheduler SDK's
 * interface (offers and task updates on demand, calls recorded), and an injected clock. Tests
 * drive days of schedules with `advance` + `tick()` in milliseconds, with no sockets and no sleeps.
 */
import assert from 'node:assert/strict';
import { silentLogger } from '../../log/index.ts';
import type { TaskState } from '../../protocol/mesos/enums.ts';
import { Resources } from '../../resources/index.ts';
import type { Store } from '../../store/store.ts';
import { EventQueue } from '../sdk/event-queue.ts';
import type { OutgoingCall, SchedulerConnection, SchedulerEvent, SchedulerTransport } from '../sdk/scheduler.ts';
import { JobsFramework } from './jobs.ts';
import { parseJob, type Job } from './job.ts';

export class ScriptedMaster implements SchedulerTransport {
  readonly calls: OutgoingCall[] = [];
  private queue: EventQueue<SchedulerEvent> | undefined;
  private offers = 0;

  async subscribe(info: { id?: { value: string } }): Promise<SchedulerConnection> {
    const queue = new EventQueue<SchedulerEvent>();
    this.queue = queue;
    const calls = this.calls;
    return {
      frameworkId: info.id?.value ?? 'jobs-framework',
      async call(call: OutgoingCall) {
        calls.push(call);
      },
      events: () => queue,
      async close() {
        queue.end();
      },
    };
  }

  push(event: SchedulerEvent): void {
    assert.ok(this.queue, 'subscribed');
    this.queue.push(event);
  }

  offer(resources = 'cpus:4;mem:4096;disk:1000', attributes: Record<string, string> = {}): void {
    this.offers++;
    this.push({
      type: 'OFFERS',
      offers: { offers: [{
        id: { value: `offer-${this.offers}` }, framework_id: { value: 'jobs-framework' }, agent_id: { value: 'agent-1' }, hostname: 'host-1',
        resources: Resources.parse(resources).toJSON(),
        attributes: Object.entries(attributes).map(([name, value]) => ({ name, type: 'TEXT', text: { value } })),
      }] },
    });
  }

  update(taskId: string, state: TaskState, message?: string): void {
    this.push({ type: 'UPDATE', update: { status: { task_id: { value: taskId }, state, agent_id: { value: 'agent-1' }, ...(message ? { message } : {}) } as never } });
  }

  /** Task ids launched so far, in order. */
  launched(): string[] {
    return this.calls.flatMap((c) => (c.type === 'ACCEPT' ? (c.accept?.operations ?? []).flatMap((o) => ((o as { launch?: { task_infos: Array<{ task_id: { value: string } }> } }).launch?.task_infos ?? []).map((t) => t.task_id.value)) : []));
  }

  killed(): string[] {
    return this.calls.flatMap((c) => (c.type === 'KILL' ? [c.kill!.task_id.value] : []));
  }
}

export class ManualClock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Harness {
  jobs: JobsFramework;
  master: ScriptedMaster;
  clock: ManualClock;
  /** Let queued events be handled, then wait until every change before now is done. */
  settle(): Promise<void>;
  /** Offer resources and wait until the launches it caused are recorded; returns the new task ids. */
  launch(resources?: string): Promise<string[]>;
  /** Deliver a task update and wait until it is applied. */
  report(taskId: string, state: TaskState, message?: string): Promise<void>;
  add(body: Record<string, unknown>): Promise<Job>;
}

export async function startJobs(store: Store, clock: ManualClock, historyCount?: number): Promise<Harness> {
  const master = new ScriptedMaster();
  const jobs = new JobsFramework({ transport: master, store, logger: silentLogger(), clock, tickIntervalMs: 0, ...(historyCount === undefined ? {} : { historyCount }) });
  await jobs.start();
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    await jobs.serial(async () => undefined);
  };
  return {
    jobs, master, clock, settle,
    async launch(resources) {
      const before = master.launched().length;
      master.offer(resources);
      await settle();
      return master.launched().slice(before);
    },
    async report(taskId, state, message) {
      master.update(taskId, state, message);
      await settle();
    },
    add: (body) => jobs.putJob(parseJob(body, clock.now()), true),
  };
}
