/**
 * Test harness for the jobs framework shell: a scripted master behind the scheduler SDK's
 * interface (sdk/scripted-master.ts: offers and task updates on demand, calls recorded), and a
 * ManualClock (src/clock). Tests
 * drive days of schedules with `advance` + `tick()` in milliseconds, with no sockets and no sleeps.
 */
import { ManualClock } from '../../clock/clock.ts';
import { silentLogger } from '../../log/index.ts';
import type { TaskState } from '../../protocol/mesos/enums.ts';
import type { Store } from '../../store/store.ts';
import { ScriptedMaster } from '../sdk/scripted-master.ts';
import { JobsFramework } from './jobs.ts';
import { parseJob, type Job } from './job.ts';

export { ManualClock };

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
  const master = new ScriptedMaster('jobs-framework');
  const jobs = new JobsFramework({ transport: master, store, logger: silentLogger(), clock, tickIntervalMs: 0, ...(historyCount === undefined ? {} : { historyCount }) });
  await jobs.start();
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    await jobs.serial(async () => undefined);
  };
  return {
    jobs,
    master,
    clock,
    settle,
    async launch(resources) {
      const before = master.launched().length;
      master.offer(resources === undefined ? { resources: 'cpus:4;mem:4096;disk:1000' } : { resources });
      await settle();
      return master.launched().slice(before);
    },
    async report(taskId, state, message) {
      master.update(taskId, state, message === undefined ? {} : { message });
      await settle();
    },
    add: (body) => jobs.putJob(parseJob(body, clock.now()), true),
  };
}
