/**
 * LIKE/UNLIKE patterns through the real HTTP API (issue 13): a pattern that freezes a
 * backtracking engine — `(.*.*)*z` against a 30-character hostname was minutes of a stopped
 * event loop — is accepted, and placement says why it does not match while the master keeps
 * answering; patterns the linear-time engine refuses get a 422 naming the constraint, on
 * /v2/apps and /v1/jobs alike.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';

/** 30 characters and no `z`: the worst case for `(.*.*)*z` under backtracking. */
const HOSTNAME = 'node-aaaaaaaaaaaaaaaaaaaaaaaaa';

let root: string;
let master: DroverProcess;
let agent: DroverProcess;

before(async () => {
  assert.equal(HOSTNAME.length, 30);
  root = await mkdtemp(join(tmpdir(), 'drover-placement-'));
  master = await startDrover(['master', '--port', '0', '--store', `sqlite:${join(root, 'master.db')}`, '--allocation-interval', '0.2', '--agent-heartbeat-interval', '0.5']);
  agent = await startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    join(root, 'agent'),
    '--hostname',
    HOSTNAME,
    '--resources',
    'cpus:2;mem:2048;disk:1000;ports:[21700-21749]',
    '--attributes',
    'rack:r1',
  ]);
  await eventually(async () => ((await get('/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.some((s) => s.active), 'the agent registered');
});
after(async () => {
  for (const a of ((await get('/v2/apps')).body as { apps?: Array<{ id: string }> }).apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`);
  await agent.stop();
  await master.stop();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  return httpCall(master.url, method, path, body);
}
const get = (path: string) => call('GET', path);

/** Milliseconds a GET takes: how long the master's event loop leaves a request waiting. */
async function latency(path: string): Promise<number> {
  const started = performance.now();
  assert.equal((await get(path)).status, 200);
  return performance.now() - started;
}

describe('/v2/apps', () => {
  test('(.*.*)*z is accepted; placement refuses the 30-character hostname with its reason while the master keeps answering', async () => {
    const created = await call('POST', '/v2/apps', { id: '/redos', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 2, constraints: [['hostname', 'LIKE', '(.*.*)*z']] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const latencies: number[] = [];
    const entry = await eventually(
      async () => {
        latencies.push(await latency('/v2/apps'));
        const queue = ((await get('/v2/queue')).body as { queue: Array<{ app: { id: string }; lastUnusedOffers: Array<{ reason: string[] }> }> }).queue;
        const e = queue.find((q) => q.app.id === '/redos');
        return e && e.lastUnusedOffers.length > 0 ? e : undefined;
      },
      'the refusal in /v2/queue',
      20_000,
    );
    assert.equal(entry.lastUnusedOffers[0]!.reason[0], `constraint hostname LIKE (.*.*)*z: hostname is ${HOSTNAME}`);
    // Offers keep coming every 0.2 s and are refused each time: the master still answers at once
    // (generous bound for a loaded machine; a backtracking match here took minutes).
    for (let i = 0; i < 5; i++) latencies.push(await latency('/v2/apps'));
    assert.ok(Math.max(...latencies) < 2_000, `GET /v2/apps latencies: ${latencies.map((l) => l.toFixed(0)).join(', ')} ms`);
    const slaves = ((await get('/master/state')).body as { slaves: Array<{ hostname: string; active: boolean }> }).slaves;
    assert.deepEqual(
      slaves.map((s) => [s.hostname, s.active]),
      [[HOSTNAME, true]],
      'the agent’s heartbeats kept it active',
    );
    assert.equal((await call('DELETE', '/v2/apps/redos?force=true')).status, 200);
  });

  test('the same pattern negated (UNLIKE) places: its non-match is decided at once', async () => {
    assert.equal((await call('POST', '/v2/apps', { id: '/unredos', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 1, constraints: [['hostname', 'UNLIKE', '(.*.*)*z']] })).status, 201);
    await eventually(async () => ((await get('/v2/apps/unredos/tasks')).body as { tasks: Array<{ host: string }> }).tasks.some((t) => t.host === HOSTNAME), 'an instance on the agent', 20_000);
    assert.equal((await call('DELETE', '/v2/apps/unredos?force=true')).status, 200);
  });

  test('patterns the engine does not take are refused with 422 naming the constraint, and nothing is created', async () => {
    const backref = await call('POST', '/v2/apps', {
      id: '/bad',
      cmd: 'sleep 300',
      constraints: [
        ['rack', 'IS', 'r1'],
        ['hostname', 'LIKE', '(a)\\1'],
      ],
    });
    assert.equal(backref.status, 422);
    const body = backref.body as { message: string; details: Array<{ path: string; errors: string[] }> };
    assert.equal(body.message, 'Object is not valid');
    assert.deepEqual(
      body.details.map((d) => d.path),
      ['/constraints/1'],
    );
    assert.match(body.details[0]!.errors[0]!, /^'\(a\)\\1' is not a valid regular expression: invalid escape sequence/);
    const large = await call('POST', '/v2/apps', { id: '/bad', cmd: 'sleep 300', constraints: [['hostname', 'UNLIKE', '.{0,1000}']] });
    assert.equal(large.status, 422);
    assert.match(JSON.stringify(large.body), /\/constraints\/0.*too large once its repetitions are expanded/);
    assert.equal((await get('/v2/apps/bad')).status, 404);
  });
});

describe('/v1/jobs', () => {
  test('a lookahead is refused with 422 at /run/placement/constraints/0/value; (.*.*)*z is accepted and its refusal queued', async () => {
    const refused = await call('POST', '/v1/jobs', {
      id: 'lookahead',
      run: { cmd: 'true', cpus: 0.1, mem: 32, placement: { constraints: [{ attribute: 'hostname', operator: 'LIKE', value: '(?=node)node.*' }] } },
    });
    assert.equal(refused.status, 422);
    const details = (refused.body as { details: Array<{ path: string; errors: string[] }> }).details;
    assert.deepEqual(
      details.map((d) => d.path),
      ['/run/placement/constraints/0/value'],
    );
    assert.match(details[0]!.errors[0]!, /unsupported Perl syntax/);
    assert.equal((await get('/v1/jobs/lookahead')).status, 404);

    assert.equal(
      (await call('POST', '/v1/jobs', { id: 'redos', run: { cmd: 'true', cpus: 0.1, mem: 32, placement: { constraints: [{ attribute: 'hostname', operator: 'LIKE', value: '(.*.*)*z' }] } } })).status,
      201,
    );
    const run = (await call('POST', '/v1/jobs/redos/runs')).body as { id: string };
    const entry = await eventually(
      async () => {
        const q = (await get('/v1/queue')).body as Array<{ jobId: string; lastUnusedOffers: Array<{ reason: string[] }> }>;
        const e = q.find((x) => x.jobId === 'redos');
        return e && e.lastUnusedOffers.length > 0 ? e : undefined;
      },
      'the refusal in /v1/queue',
      20_000,
    );
    assert.equal(entry.lastUnusedOffers[0]!.reason[0], `constraint hostname LIKE (.*.*)*z: hostname is ${HOSTNAME}`);
    assert.equal((await call('POST', `/v1/jobs/redos/runs/${run.id}/actions/stop`)).status, 200);
  });
});
