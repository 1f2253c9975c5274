/**
 * Test harness for the services framework shell: a scripted master behind the scheduler SDK's
 * interface (sdk/scripted-master.ts), the real memory store behind a wrapper that fails writes on
 * demand (sdk/failing-store.ts), and a ManualClock. No sockets and no sleeps.
 */
import { ManualClock } from '../../clock/clock.ts';
import { silentLogger } from '../../log/index.ts';
import type { TaskState, TaskStatusReason, TaskStatusSource } from '../../protocol/mesos/enums.ts';
import { createMemoryStore } from '../../store/memory/memory-store.ts';
import type { Store } from '../../store/store.ts';
import { FailingStore } from '../sdk/failing-store.ts';
import { ScriptedMaster, type ScriptedOffer } from '../sdk/scripted-master.ts';
import { parseApp, type App } from './app.ts';
import { INSTANCES_PREFIX } from './instance-writer.ts';
import { ServicesFramework } from './services.ts';

export interface ServicesHarness {
  services: ServicesFramework;
  master: ScriptedMaster;
  clock: ManualClock;
  store: FailingStore;
  /** Let queued events, placements and writes run (a few turns; no time passes). */
  settle(): Promise<void>;
  /** Moves the clock (timers fire), then settles. */
  advance(ms: number): Promise<void>;
  /** Creates or updates an app from a Marathon body. */
  put(body: Record<string, unknown>): Promise<App>;
  /** Offers, settles, and returns the task ids launched by it. */
  launch(...offers: ScriptedOffer[]): Promise<string[]>;
  report(taskId: string, state: TaskState, options?: { message?: string; uuid?: string; healthy?: boolean; agentId?: string; reason?: TaskStatusReason; source?: TaskStatusSource }): Promise<void>;
  /** Task ids of the instances in the store. */
  stored(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startServices(options: { clock?: ManualClock; store?: Store } = {}): Promise<ServicesHarness> {
  const clock = options.clock ?? new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const store = new FailingStore(options.store ?? createMemoryStore());
  const master = new ScriptedMaster('services-framework');
  const services = new ServicesFramework({ transport: master, store: store.store, logger: silentLogger(), clock });
  await services.start();
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  await settle();
  return {
    services,
    master,
    clock,
    store,
    settle,
    async advance(ms) {
      clock.advance(ms);
      await settle();
    },
    async put(body) {
      const app = parseApp(body, new Date(clock.now()));
      await services.putApp(app, { force: true });
      await settle();
      return app;
    },
    async launch(...offers) {
      const before = master.launched().length;
      master.offer(...offers);
      await settle();
      return master.launched().slice(before);
    },
    async report(taskId, state, reportOptions) {
      master.update(taskId, state, reportOptions);
      await settle();
    },
    async stored() {
      return (await store.store.range(INSTANCES_PREFIX)).kvs.map((kv) => kv.key.slice(INSTANCES_PREFIX.length));
    },
    stop: () => services.stop(),
  };
}
