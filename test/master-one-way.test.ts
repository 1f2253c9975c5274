/**
 * A one-way partition, master → agent dropped: the agent's calls still reach the master, the
 * master's events no longer reach the agent. The fault suite measured detection at 93 s against
 * Mesos' 75 s (test/faults-partition.test.ts, bench/faults.ts): heartbeat calls kept arriving on
 * connections opened before the cut, so the master saw the agent as alive. Now the master pings
 * agents with stamped HEARTBEAT events and counts an agent as seen only as of the ping it echoes.
 * The agent is scripted here, so the cut is exact: it goes deaf (stops reading the master's
 * events) but keeps calling.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDrover, type DroverProcess } from '../devkit/process.ts';
import { TEST_AGENT_TOKEN } from '../devkit/credentials.ts';
import { AGENT_STREAM_HEADER, type AgentEvent } from '../src/protocol/mesos/agent-link.ts';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { Resources } from '../src/resources/index.ts';

const HEARTBEAT_S = 1;
const MISSED = 3;
let master: DroverProcess;

before(async () => {
  master = await startDrover([
    'master',
    '--no-services',
    '--no-jobs',
    '--port',
    '0',
    '--store',
    'memory:',
    '--agent-heartbeat-interval',
    String(HEARTBEAT_S),
    '--max-missed-heartbeats',
    String(MISSED),
  ]);
});
after(async () => {
  await master.stop();
});

interface ScriptedAgent {
  /** The newest `sent_at` read from the master's HEARTBEAT events. */
  lastPing(): number | undefined;
  /** Stop reading the master's events (they no longer reach the agent). */
  deafen(): void;
  heartbeat(echo: number | undefined): Promise<number>;
  close(): void;
}

async function register(hostname: string): Promise<ScriptedAgent> {
  const abort = new AbortController();
  const response = await fetch(`${master.url}/api/v1/agent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/recordio', authorization: `token=${TEST_AGENT_TOKEN}` },
    body: JSON.stringify({ type: 'REGISTER', register: { agent_info: { hostname, port: 5051, resources: Resources.parse('cpus:1;mem:256').toJSON() } } }),
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const streamId = response.headers.get(AGENT_STREAM_HEADER)!;
  let registered: Extract<AgentEvent, { type: 'REGISTERED' }>['registered'] | undefined;
  let ping: number | undefined;
  let deaf = false;
  const reading = (async () => {
    for await (const event of decodeJsonRecords<AgentEvent>(response.body!)) {
      if (deaf) continue;
      if (event.type === 'REGISTERED') registered = event.registered;
      if (event.type === 'HEARTBEAT' && event.heartbeat) ping = event.heartbeat.sent_at;
    }
  })().catch(() => undefined);
  const deadline = Date.now() + 60_000;
  while (registered === undefined) {
    assert.ok(Date.now() < deadline, 'REGISTERED within 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const { agent_id: agentId, agent_token: token } = registered;
  return {
    lastPing: () => ping,
    deafen: () => {
      deaf = true;
    },
    heartbeat: async (echo) => {
      const r = await fetch(`${master.url}/api/v1/agent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [AGENT_STREAM_HEADER]: streamId, authorization: `token=${token}` },
        body: JSON.stringify({ type: 'HEARTBEAT', agent_id: agentId, ...(echo === undefined ? {} : { heartbeat: { master_heartbeat: echo } }) }),
      });
      await r.arrayBuffer();
      return r.status;
    },
    close: () => {
      abort.abort();
      void reading;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('an agent that still calls but no longer hears the master is marked unreachable within the heartbeat window', { timeout: 180_000 }, async () => {
  const agent = await register('one-way');
  try {
    // Healthy: heartbeats echo the newest ping, for three whole windows, and keep the agent registered.
    const healthyUntil = Date.now() + 3 * HEARTBEAT_S * MISSED * 1000;
    let pings = 0;
    while (Date.now() < healthyUntil) {
      const ping = agent.lastPing();
      if (ping !== undefined) pings++;
      assert.equal(await agent.heartbeat(ping), 202, 'a heartbeat that echoes the newest ping is accepted');
      await sleep(HEARTBEAT_S * 1000);
    }
    assert.ok(pings > 0, 'the master sends stamped HEARTBEAT events to agents');

    // Deaf: the calls go on, echoing the last ping heard before the cut.
    agent.deafen();
    const frozen = agent.lastPing();
    const cut = Date.now();
    let status = 202;
    while (status === 202) {
      assert.ok(Date.now() - cut < 120_000, 'marked unreachable within 120 s (window: 3 s)');
      await sleep(HEARTBEAT_S * 1000);
      status = await agent.heartbeat(frozen);
    }
    const detectedMs = Date.now() - cut;
    console.log(JSON.stringify({ scenario: 'master→agent dropped (scripted)', windowMs: HEARTBEAT_S * MISSED * 1000, detectedMs }));
    assert.equal(status, 409, 'the deaf agent is told to re-register: it is no longer registered');
  } finally {
    agent.close();
  }
});

test('an agent that does not echo pings (an older agent, the simulator) is still seen by its calls', { timeout: 180_000 }, async () => {
  const agent = await register('no-echo');
  try {
    const until = Date.now() + 3 * HEARTBEAT_S * MISSED * 1000;
    while (Date.now() < until) {
      assert.equal(await agent.heartbeat(undefined), 202);
      await sleep(HEARTBEAT_S * 1000);
    }
  } finally {
    agent.close();
  }
});
