/**
 * After a master failover, an agent's re-registration awaits the registry write before its tasks
 * are known. A framework's RECONCILE answered in that window must not call its tasks gone: the
 * services framework would launch every one of them again (seen in CI's ha test, 200 duplicates
 * of /ha/web on a leader that took over while the store was slow).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../clock/clock.ts';
import { silentLogger } from '../log/index.ts';
import { createMemoryStore } from '../store/memory/memory-store.ts';
import type { Store } from '../store/store.ts';
import { checkRegistration, register } from './agent-calls.ts';
import { Master } from './master.ts';
import { Registry } from './registry.ts';
import { reconcile, subscribe } from './scheduler-calls.ts';
import { QueueSink } from './stream.ts';

const FRAMEWORK = { user: 'root', name: 'marathon', failover_timeout: 3600, id: { value: 'F1' }, capabilities: [{ type: 'PARTITION_AWARE' as const }] };
const AGENT_INFO = { hostname: 'a1', port: 5051, id: { value: 'S1' }, resources: [{ name: 'cpus', type: 'SCALAR' as const, scalar: { value: 2 } }] };

/** A memory store whose writes of agent records wait until `release()`. */
function storeHoldingAgentWrites(): { store: Store; held: () => number; release: () => void } {
  const store = createMemoryStore();
  const waiting: Array<() => void> = [];
  let holding = false;
  const put = store.put.bind(store);
  store.put = async (key, value, options) => {
    if (holding && key.includes('/agents/')) await new Promise<void>((resolve) => waiting.push(resolve));
    return put(key, value, options);
  };
  return {
    store,
    held: () => {
      holding = true;
      return waiting.length;
    },
    release: () => {
      holding = false;
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

test('a RECONCILE while a recovered agent re-registers gets no answer for its tasks, then their real state', async () => {
  const { store, held, release } = storeHoldingAgentWrites();
  const registry = new Registry(store, silentLogger());
  await registry.putFramework('F1', FRAMEWORK, 0);
  await registry.putAgent('S1', AGENT_INFO, 0);
  const master = new Master({ store, logger: silentLogger(), hostname: 'test', port: 5050, clock: new ManualClock(0) });
  await master.start();
  master.serve();
  const events: Array<{ type: string; update?: { status: { task_id: { value: string }; state: string } } }> = [];
  const sink = new QueueSink(
    (e) => events.push(e as (typeof events)[number]),
    () => undefined,
  );
  try {
    await subscribe(master, { type: 'SUBSCRIBE', subscribe: { framework_info: FRAMEWORK } }, sink);
    assert.equal(master.agents.get('S1')?.status, 'recovering');
    held();
    const call = {
      type: 'REGISTER' as const,
      agent_id: { value: 'S1' },
      register: {
        agent_info: AGENT_INFO,
        frameworks: [FRAMEWORK],
        tasks: [
          {
            framework_id: { value: 'F1' },
            state: 'TASK_RUNNING' as const,
            task_info: {
              name: 'web',
              task_id: { value: 'web.1' },
              agent_id: { value: 'S1' },
              resources: [{ name: 'cpus', type: 'SCALAR' as const, scalar: { value: 0.1 } }],
              command: { value: 'sleep 1000' },
            },
          },
        ],
      },
    };
    const agentSink = new QueueSink(
      () => undefined,
      () => undefined,
    );
    const registering = register(master, call, checkRegistration(call), agentSink);
    // The registration now waits on the registry write.
    for (let i = 0; i < 100 && held() === 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(held(), 1, 'the agent record write is held');
    const updatesOf = (task: string) => events.filter((e) => e.type === 'UPDATE' && e.update?.status.task_id.value === task).map((e) => e.update!.status.state);
    reconcile(master, master.frameworks.get('F1')!, { type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'web.1' }, agent_id: { value: 'S1' } }] } });
    assert.deepEqual(updatesOf('web.1'), [], 'no answer while the agent is not back (Mesos: the framework asks again)');
    release();
    await registering;
    assert.equal(master.agents.get('S1')?.status, 'active');
    reconcile(master, master.frameworks.get('F1')!, { type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'web.1' }, agent_id: { value: 'S1' } }] } });
    assert.deepEqual(updatesOf('web.1'), ['TASK_RUNNING']);
  } finally {
    release();
    await master.stop();
  }
});
