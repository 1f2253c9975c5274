/**
 * A task's live state arriving after its end (found by the lossy-link fault scenario,
 * test/faults-partition.test.ts): the agent sends a terminal update ahead of the ones before it,
 * so on a slow link the master can get STARTING + FINISHED in one call and RUNNING later. The
 * framework must never see the task go from FINISHED back to RUNNING; the agent must still get
 * RUNNING acknowledged (or it retries forever). A real master and framework; the agent is
 * scripted here, to produce that exact order every time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startDrover, type DroverProcess } from '../devkit/process.ts';
import { TEST_AGENT_TOKEN } from '../devkit/credentials.ts';
import { AGENT_STREAM_HEADER, type AgentEvent } from '../src/protocol/mesos/agent-link.ts';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { Resources } from '../src/resources/index.ts';
import { TestScheduler } from './support/scheduler.ts';

let master: DroverProcess;

before(async () => {
  // Long heartbeats: the scripted agent never sends one, and must stay registered.
  master = await startDrover(['master', '--no-services', '--no-jobs', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2', '--agent-heartbeat-interval', '30']);
});
after(async () => {
  await master.stop();
});

test('RUNNING after FINISHED from an agent: acknowledged by the master, never forwarded to the framework', { timeout: 120_000 }, async () => {
  const abort = new AbortController();
  const response = await fetch(`${master.url}/api/v1/agent`, {
    method: 'POST',
    // As an agent joins: with the agent bootstrap token; every later call with the token REGISTERED names.
    headers: { 'content-type': 'application/json', accept: 'application/recordio', authorization: `token=${TEST_AGENT_TOKEN}` },
    body: JSON.stringify({ type: 'REGISTER', register: { agent_info: { hostname: 'scripted', port: 5051, resources: Resources.parse('cpus:1;mem:256').toJSON() } } }),
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const streamId = response.headers.get(AGENT_STREAM_HEADER)!;
  const events: AgentEvent[] = [];
  let wake: (() => void) | undefined;
  const pump = (async () => {
    for await (const event of decodeJsonRecords<AgentEvent>(response.body!)) {
      events.push(event);
      wake?.();
    }
  })().catch(() => undefined);
  const agentEvent = async <T extends AgentEvent['type']>(type: T, match: (e: Extract<AgentEvent, { type: T }>) => boolean = () => true): Promise<Extract<AgentEvent, { type: T }>> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const found = events.find((e) => e.type === type && match(e as Extract<AgentEvent, { type: T }>));
      if (found) return found as Extract<AgentEvent, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} on the agent stream; got ${events.map((e) => e.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const { agent_id: agentId, agent_token: agentToken } = (await agentEvent('REGISTERED')).registered;
  assert.ok(agentToken !== undefined, 'REGISTERED names the agent its own token');
  const fw = await TestScheduler.subscribe(master.url, { name: 'stale-update' });
  try {
    await fw.launch((await fw.offers())[0]!, [{ id: 't1', cmd: 'true' }]);
    await agentEvent('LAUNCH');
    const uuid = (): string => randomBytes(16).toString('base64');
    const [starting, running, finished] = [uuid(), uuid(), uuid()];
    const update = async (states: Array<[string, string]>): Promise<number> => {
      const r = await fetch(`${master.url}/api/v1/agent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [AGENT_STREAM_HEADER]: streamId, authorization: `token=${agentToken}` },
        body: JSON.stringify({
          type: 'UPDATE',
          agent_id: agentId,
          update: {
            updates: states.map(([state, id]) => ({
              framework_id: { value: fw.frameworkId },
              status: { task_id: { value: 't1' }, state, uuid: id, source: 'SOURCE_EXECUTOR', timestamp: Date.now() / 1000 },
            })),
          },
        }),
      });
      await r.text();
      return r.status;
    };
    // The terminal update went out with the head of the queue; RUNNING (behind STARTING) comes later.
    assert.equal(
      await update([
        ['TASK_STARTING', starting],
        ['TASK_FINISHED', finished],
      ]),
      202,
    );
    await fw.status('t1', 'TASK_STARTING');
    await fw.status('t1', 'TASK_FINISHED');
    assert.equal(await update([['TASK_RUNNING', running]]), 202);
    // The agent hears RUNNING acknowledged, so it stops retrying it...
    await agentEvent('ACKNOWLEDGE', (e) => e.acknowledge.acknowledgements.some((a) => a.uuid === running));
    // ...and the framework never saw it: a reconciliation answer (FINISHED) comes after anything
    // the master forwarded before it on the same stream.
    await fw.call({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't1' } }] } });
    const answer = await fw.next('UPDATE', (e) => e.update.status.task_id.value === 't1' && e.update.status.uuid === undefined);
    assert.equal(answer.update.status.state, 'TASK_FINISHED');
    const seen = fw.events.flatMap((e) => (e.type === 'UPDATE' && e.update.status.task_id.value === 't1' ? [e.update.status.state] : []));
    assert.deepEqual(seen, ['TASK_STARTING', 'TASK_FINISHED', 'TASK_FINISHED']);
  } finally {
    await fw.close().catch(() => undefined);
    abort.abort();
    await pump;
  }
});
