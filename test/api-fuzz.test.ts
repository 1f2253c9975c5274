/**
 * The API fuzz (test/fuzz/api-fuzz.ts) in CI: 200 cases on each hand-written route, 30 on each other
 * mutating row of the permission table. Long runs:
 * `npm run fuzz -- --cases 5000`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { MAX_EVENT_SUBSCRIBERS } from '../src/frameworks/services/events.ts';
import { ROUTES, runApiFuzz, startFuzzServer, type FuzzServer } from './fuzz/api-fuzz.ts';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';

let fuzz: FuzzServer;
before(async () => {
  fuzz = await startFuzzServer();
});
after(async () => {
  await fuzz.close();
});

test("no request to the frameworks' APIs gets a 5xx, and a refused one says why and changes nothing", async () => {
  const { violations, statuses } = await runApiFuzz(fuzz.app, { cases: 200, tableCases: 30 });
  assert.deepEqual(violations, []);
  // The fuzz reached every route and got both answers (a fuzz that only ever hits 404 tests nothing).
  assert.deepEqual(Object.keys(statuses).sort(), Object.keys(ROUTES).sort());
  const all = Object.values(statuses).flatMap((c) => Object.entries(c));
  assert.ok(
    all.some(([s]) => Number(s) < 300),
    'some requests were accepted',
  );
  assert.ok(
    all.some(([s]) => Number(s) === 422),
    'some requests were refused as invalid',
  );
});

test('the measured defects: %25 in an app or group path, a null or non-object group', async () => {
  for (const url of ['/v2/apps/%25', '/v2/apps/a%25b/tasks', '/v2/groups/%25', '/v2/apps/fuzz/app/tasks/%25']) {
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await fuzz.inject({ method, url });
      assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body}`);
    }
  }
  assert.equal((await fuzz.inject({ method: 'GET', url: '/v2/apps/%25' })).statusCode, 422);
  for (const groups of [[null], [1], ['x'], [[]]]) {
    const res = await fuzz.inject({ method: 'POST', url: '/v2/groups', payload: { id: '/g', groups } });
    assert.equal(res.statusCode, 422, `${JSON.stringify(groups)}: ${res.body}`);
    assert.deepEqual(
      (JSON.parse(res.body) as { details: Array<{ path: string }> }).details.map((d) => d.path),
      ['/groups/0'],
    );
  }
});

test('an app body over 1 MiB is refused with 413 before it is parsed; per-field counts are bounded', async () => {
  const big = await fuzz.inject({ method: 'POST', url: '/v2/apps', payload: { id: '/big', cmd: 'x'.repeat(1024 * 1024 + 1) } });
  assert.equal(big.statusCode, 413, big.body);
  const labels = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v']));
  const many = await fuzz.inject({ method: 'POST', url: '/v2/apps', payload: { id: '/many', cmd: 'x', labels } });
  assert.equal(many.statusCode, 422, many.body);
  assert.deepEqual(
    (JSON.parse(many.body) as { details: Array<{ path: string }> }).details.map((d) => d.path),
    ['/labels'],
  );
  assert.equal((await fuzz.inject({ method: 'GET', url: '/v2/apps/many' })).statusCode, 404);
});

test('at most MAX_EVENT_SUBSCRIBERS /v2/events streams at once; the next gets 503 until one leaves', async () => {
  const open: Array<{ req: ClientRequest; res: IncomingMessage }> = [];
  const subscribe = (): Promise<{ req: ClientRequest; res: IncomingMessage }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`${fuzz.server.url}/v2/events`, { agent: false, headers: { accept: 'text/event-stream', authorization: `token=${TEST_ADMIN_TOKEN}` } }, (res) => resolve({ req, res }));
      req.on('error', reject);
      req.end();
    });
  try {
    for (let i = 0; i < MAX_EVENT_SUBSCRIBERS; i++) {
      const s = await subscribe();
      assert.equal(s.res.statusCode, 200);
      open.push(s);
    }
    const refused = await subscribe();
    assert.equal(refused.res.statusCode, 503);
    refused.res.resume();
    open.pop()!.req.destroy();
    let again: { req: ClientRequest; res: IncomingMessage } | undefined;
    for (let tries = 0; tries < 100 && again?.res.statusCode !== 200; tries++) {
      again?.res.resume();
      again = await subscribe();
    }
    assert.equal(again!.res.statusCode, 200, 'a slot frees when a subscriber leaves');
    open.push(again!);
  } finally {
    for (const s of open) s.req.destroy();
  }
});
