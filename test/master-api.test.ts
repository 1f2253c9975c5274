/**
 * The scheduler API's contract and its handling of bad input, against a real `drover master`
 * process. No agent is needed: nothing here gets as far as an offer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readUntil, startDrover, type DroverProcess } from '../devkit/process.ts';
import { TEST_ADMIN_TOKEN, TEST_AGENT_TOKEN } from '../devkit/credentials.ts';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { TestScheduler } from './support/scheduler.ts';

let master: DroverProcess;

before(async () => {
  master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:']);
});
after(async () => {
  await master.stop();
});

async function post(body: string | object, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${master.url}/api/v1/scheduler`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function state(): Promise<Record<string, unknown>> {
  return (await (await fetch(`${master.url}/master/state`)).json()) as Record<string, unknown>;
}

/** The parts of /master/state that a rejected call must not change. */
function essence(s: Record<string, unknown>): unknown {
  const frameworks = (s['frameworks'] as Array<Record<string, unknown>>).map((f) => ({ id: f['id'], tasks: f['tasks'], offers: f['offers'], active: f['active'] }));
  return { frameworks, slaves: s['slaves'] };
}

describe('scheduler API: subscription', () => {
  test('SUBSCRIBE answers a RecordIO stream that starts with SUBSCRIBED and a Mesos-Stream-Id', async () => {
    const response = await fetch(`${master.url}/api/v1/scheduler`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'raw', roles: ['*'] } } }),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('mesos-stream-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(response.headers.get('content-length'), null, 'chunked, no content-length');
    const reader = response.body!.getReader();
    let text = '';
    const deadline = Date.now() + 10_000;
    while (!/^\d+\n/.test(text) || text.length < Number(/^(\d+)\n/.exec(text)![1]) + /^\d+\n/.exec(text)![0].length) {
      const result = await readUntil(reader, deadline);
      if (result === 'timeout' || result.done) break;
      text += Buffer.from(result.value).toString();
    }
    const [, size] = /^(\d+)\n/.exec(text)!;
    const first = JSON.parse(text.slice(size!.length + 1, size!.length + 1 + Number(size))) as { type: string; subscribed: { framework_id: { value: string }; heartbeat_interval_seconds: number } };
    assert.equal(first.type, 'SUBSCRIBED');
    assert.equal(first.subscribed.heartbeat_interval_seconds, 15);
    const s = await state();
    assert.ok((s['frameworks'] as Array<{ id: string }>).some((f) => f.id === first.subscribed.framework_id.value));
    await reader.cancel();
  });
});

describe('scheduler API: bad input changes nothing', () => {
  let framework: TestScheduler;
  const wrongStreamId = 'not-the-stream';
  before(async () => {
    framework = await TestScheduler.subscribe(master.url, { name: 'bad-input' });
  });
  after(() => framework.close());

  const cases: Array<[string, () => Promise<{ status: number; json: Record<string, unknown> }>, number, RegExp, string?]> = [
    ['malformed JSON', () => post('{"type": "SUBSCRIBE",'), 400, /Invalid JSON/],
    ['an empty body', () => post(''), 400, /empty|JSON/i],
    ['a JSON array', () => post('[1,2,3]'), 400, /Failed to validate/, '/'],
    ['an unknown call type', () => post({ type: 'LAUNCH_ROCKETS' }), 400, /Failed to validate/, '/type'],
    ['a call without its body', () => post({ type: 'ACCEPT', framework_id: { value: 'x' } }), 400, /'accept' to be present/, '/accept'],
    ['a deeply nested body', () => post(`{"type":"SUBSCRIBE","x":${'['.repeat(10000)}${']'.repeat(10000)}}`), 400, /nested deeper/],
    ['a wrongly typed field', () => post({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 1, name: 'x' } } }), 400, /Failed to validate/, '/subscribe/framework_info/user'],
    ['a missing framework_id', () => post({ type: 'REVIVE' }), 400, /framework_id/, '/framework_id'],
    ['an unknown framework', () => post({ type: 'REVIVE', framework_id: { value: 'nobody' } }, { 'mesos-stream-id': 'x' }), 403, /not subscribed/],
  ];
  for (const [name, send, status, message, path] of cases) {
    test(`${name} → ${status}`, async () => {
      const before = essence(await state());
      const { status: got, json } = await send();
      assert.equal(got, status, JSON.stringify(json));
      assert.match(String(json['message']), message);
      assert.match(String(json['code']), /^DROVER_ERR_/);
      if (path)
        assert.ok(
          (json['details'] as Array<{ path: string }>).some((d) => d.path === path),
          JSON.stringify(json['details']),
        );
      assert.deepEqual(essence(await state()), before);
    });
  }

  test('a call without the Mesos-Stream-Id header → 400', async () => {
    const { status, json } = await post({ type: 'REVIVE', framework_id: { value: framework.frameworkId } });
    assert.equal(status, 400);
    assert.match(String(json['message']), /Mesos-Stream-Id/);
  });

  test('a call with another stream id → 400', async () => {
    const { status, json } = await post({ type: 'REVIVE', framework_id: { value: framework.frameworkId } }, { 'mesos-stream-id': wrongStreamId });
    assert.equal(status, 400);
    assert.match(String(json['message']), /didn't match/);
  });

  test('SUBSCRIBE with a Mesos-Stream-Id header → 400', async () => {
    const { status } = await post({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n' } } }, { 'mesos-stream-id': 'abc' });
    assert.equal(status, 400);
  });

  test('protobuf bodies → 415 with a clear message', async () => {
    const response = await fetch(`${master.url}/api/v1/scheduler`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([8, 1]) });
    assert.equal(response.status, 415);
    assert.match(((await response.json()) as { message: string }).message, /protobuf is not supported yet/);
  });

  test('a body over the size limit → 413, refused before it is read', async () => {
    // Only the headers are sent: the master must refuse on Content-Length alone.
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${master.url}/api/v1/scheduler`, {
        method: 'POST',
        headers: { authorization: `token=${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-length': String(17 * 1024 * 1024) },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.flushHeaders();
    });
    assert.equal(status, 413);
  });

  test('ACCEPT of an unknown offer: 202, then each task is answered TASK_LOST (TASK_DROPPED if partition-aware)', async () => {
    const aware = await TestScheduler.subscribe(master.url, { name: 'aware', capabilities: [{ type: 'PARTITION_AWARE' }] });
    try {
      const fakeOffer = { id: { value: 'no-such-offer' }, framework_id: { value: aware.frameworkId }, agent_id: { value: 'a1' }, hostname: 'h', resources: [] };
      await aware.launch(fakeOffer, [{ id: 't1', cmd: 'true' }]);
      const status = await aware.status('t1', 'TASK_DROPPED');
      assert.equal(status.reason, 'REASON_INVALID_OFFERS');
      assert.equal(status.source, 'SOURCE_MASTER');
      assert.match(status.message ?? '', /no longer valid/);
      await framework.launch({ ...fakeOffer, framework_id: { value: framework.frameworkId } }, [{ id: 't2', cmd: 'true' }]);
      assert.equal((await framework.status('t2', 'TASK_LOST')).reason, 'REASON_INVALID_OFFERS');
    } finally {
      await aware.close();
    }
  });

  test('the master is still healthy after all of it', async () => {
    assert.equal(await (await fetch(`${master.url}/ping`)).text(), 'pong');
    const metrics = await (await fetch(`${master.url}/metrics/prometheus`)).text();
    assert.match(metrics, /drover_master_tasks_rejected_total/);
  });
});

describe('agent link: bad input changes nothing', () => {
  async function agentCall(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${master.url}/api/v1/agent`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }
  const agentInfo = { hostname: 'h', port: 5051, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }] };

  test('a registration with malformed resources → 400 and no agent appears', async () => {
    const bad = { ...agentInfo, resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 5, end: 1 }] } }] };
    const { status, json } = await agentCall({ type: 'REGISTER', register: { agent_info: bad } });
    assert.equal(status, 400);
    assert.match(String(json['message']), /Invalid registration/);
    assert.deepEqual((await state())['slaves'], []);
  });

  test('REGISTER without its body, and unknown call types → 400', async () => {
    assert.equal((await agentCall({ type: 'REGISTER' })).status, 400);
    assert.equal((await agentCall({ type: 'SELF_DESTRUCT' })).status, 400);
  });

  test('HEARTBEAT or UPDATE from an agent that is not registered on that stream → 409 (re-register)', async () => {
    // Auth is on: an agent id is acted for only with that agent's own token. A ghost: an agent that
    // registered once (its token names its id) and whose stream is gone.
    const registration = await fetch(`${master.url}/api/v1/agent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `token=${TEST_AGENT_TOKEN}` },
      body: JSON.stringify({ type: 'REGISTER', register: { agent_info: { ...agentInfo, hostname: 'ghost' } } }),
    });
    const registered = (await (async () => {
      for await (const event of decodeJsonRecords<{ registered: { agent_id: { value: string }; agent_token: string } }>(registration.body as never)) return event.registered;
      throw new Error('no REGISTERED');
    })())!;
    const ghost = registered.agent_id.value;
    const own = { authorization: `token=${registered.agent_token}` };
    const heartbeat = await agentCall({ type: 'HEARTBEAT', agent_id: { value: ghost } }, { 'drover-stream-id': 'nope', ...own });
    assert.equal(heartbeat.status, 409);
    assert.match(String(heartbeat.json['message']), /re-register/);
    const update = await agentCall(
      { type: 'UPDATE', agent_id: { value: ghost }, update: { updates: [{ framework_id: { value: 'f' }, status: { task_id: { value: 't' }, state: 'TASK_RUNNING' } }] } },
      { 'drover-stream-id': 'nope', ...own },
    );
    assert.equal(update.status, 409);
  });
});
