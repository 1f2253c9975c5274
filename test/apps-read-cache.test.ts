/**
 * The cached read path of `GET /v2/apps` and `GET /v2/groups` (app-json-cache.ts,
 * docs/architecture/021-read-path-cache.md) on a live master with auth on: a user without read on
 * a group never sees its apps through it — not after the cache holds their text, with any embed —
 * and what the cache answers is what the uncached AppInfo says, after definition changes and
 * task changes alike.
 *
 * One master in this process (memory store, the built-in frameworks, real HTTP on loopback) and
 * one hollow agent on the real agent link, so apps have real task records.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { EncodedApp } from '../src/frameworks/services/app-json-cache.ts';
import { serializeWithEncoded } from '../src/protocol/encoded-items.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { HollowAgent } from '../sim/hollow-agent.ts';
import { eventually } from '../devkit/process.ts';
import { rawFetch, TEST_ADMIN_TOKEN, TEST_AGENT_TOKEN } from '../devkit/credentials.ts';

const MARATHON = 'dcos:service:marathon:marathon:services';
const admin = { authorization: `token=${TEST_ADMIN_TOKEN}` };
let server: MasterServer;
let agent: HollowAgent;
const tokens = new Map<string, string>();

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = admin): Promise<{ status: number; text: string; body: any; type: string | null }> {
  const response = await rawFetch(`${server.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, text, body: parsed, type: response.headers.get('content-type') };
}

const as = (uid: string) => ({ authorization: `Bearer ${tokens.get(uid)!}` });
const app = (id: string, instances = 0, cmd = 'sleep 1000') => ({ id, cmd, cpus: 0.01, mem: 16, instances, labels: { tier: id.split('/')[1]! } });
const LIST_EMBEDS = 'embed=apps.tasks&embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure&embed=apps.readiness';

before(async () => {
  server = await startMasterServer({
    store: createMemoryStore(),
    logger: silentLogger(),
    port: 0,
    host: '127.0.0.1',
    allocationIntervalMs: 100,
    jobs: false,
    ui: false,
    auth: { mode: 'on', adminToken: TEST_ADMIN_TOKEN, agentToken: TEST_AGENT_TOKEN },
  });
  agent = new HollowAgent({
    masterUrl: server.url,
    hostname: 'hollow-cache',
    resources: Resources.parse('cpus:4;mem:4096;ports:[31000-31100]'),
    behaviour: { runningAfterMs: 10 },
    logger: silentLogger(),
    bootstrapToken: TEST_AGENT_TOKEN,
  });
  agent.start();
  await eventually(() => agent.registered, 'the hollow agent registered', 60_000);
  // bob reads /dev; dave holds nothing.
  for (const uid of ['bob', 'dave']) {
    assert.equal((await call('PUT', `/acs/api/v1/users/${uid}`, { password: `${uid}-password`, description: uid })).status, 201);
    const login = await call('POST', '/acs/api/v1/auth/login', { uid, password: `${uid}-password` }, {});
    assert.equal(login.status, 200, login.text);
    tokens.set(uid, login.body.token as string);
  }
  assert.equal((await call('PUT', `/acs/api/v1/acls/${encodeURIComponent(`${MARATHON}:%2Fdev`)}/users/bob/read`)).status, 204);
  for (const a of [app('/dev/a', 1), app('/dev/b'), app('/prod/secret', 1), app('/prod/deep/hidden')]) {
    const r = await call('PUT', `/v2/apps${a.id}?force=true`, a);
    assert.ok(r.status === 200 || r.status === 201, `${a.id}: ${r.status} ${r.text}`);
  }
  await eventually(async () => (await call('GET', '/v2/apps')).body.apps?.filter((a: { tasksRunning: number }) => a.tasksRunning === 1).length === 2, 'both apps with an instance run it', 60_000);
});

after(async () => {
  await agent.stop();
  await server.close();
});

test('a user without read on /prod never sees its apps in a list, even once the cache holds their text', async () => {
  const reads = [
    '/v2/apps',
    `/v2/apps?${LIST_EMBEDS}`,
    '/v2/apps?embed=apps.taskStats',
    '/v2/apps?label=tier==prod',
    '/v2/groups',
    '/v2/groups?embed=group.apps.tasks',
    '/v2/groups?embed=group.apps.counts',
  ];
  // The admin's reads fill the cache with every app's text first.
  for (const path of reads) {
    const r = await call('GET', path);
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    assert.ok(r.text.includes('/prod/secret'), `the admin sees /prod/secret in ${path}`);
  }
  for (const path of reads) {
    const bob = await call('GET', path, undefined, as('bob'));
    assert.equal(bob.status, 200, `${path}: ${bob.text}`);
    assert.ok(!bob.text.includes('/prod'), `bob's ${path} names nothing under /prod: ${bob.text.slice(0, 300)}`);
    assert.match(bob.type ?? '', /^application\/json/);
    const dave = await call('GET', path, undefined, as('dave'));
    assert.equal(dave.status, 200);
    assert.ok(!dave.text.includes('/prod') && !dave.text.includes('/dev/'), `dave's ${path} names no app: ${dave.text.slice(0, 300)}`);
  }
  const ids = (await call('GET', '/v2/apps', undefined, as('bob'))).body.apps.map((a: { id: string }) => a.id).sort();
  assert.deepEqual(ids, ['/dev/a', '/dev/b']);
  const tree = (await call('GET', '/v2/groups?embed=group.apps.tasks', undefined, as('bob'))).body;
  assert.deepEqual(
    tree.groups.map((g: { id: string }) => g.id),
    ['/dev'],
  );
  assert.equal(tree.groups[0].apps.find((a: { id: string }) => a.id === '/dev/a').tasks.length, 1);
  assert.equal((await call('GET', '/v2/groups/prod', undefined, as('bob'))).status, 403);
});

test('a list item is the uncached AppInfo, after task changes and definition changes', async () => {
  const same = async (): Promise<void> => {
    const list = (await call('GET', `/v2/apps?${LIST_EMBEDS}`)).body.apps as Array<{ id: string }>;
    for (const id of ['/dev/a', '/dev/b', '/prod/secret']) {
      const one = (await call('GET', `/v2/apps${id}`)).body.app;
      assert.deepEqual(
        list.find((a) => a.id === id),
        one,
        id,
      );
    }
  };
  await same();
  // Tasks change: /dev/a scales to 2 and its counts and tasks follow.
  assert.equal((await call('PUT', '/v2/apps/dev/a?force=true', app('/dev/a', 2))).status, 200);
  await eventually(
    async () => (await call('GET', '/v2/apps?embed=apps.tasks', undefined, as('bob'))).body.apps.find((a: { id: string }) => a.id === '/dev/a')?.tasks.length === 2,
    '/dev/a shows 2 tasks in the list',
    60_000,
  );
  await eventually(async () => (await call('GET', '/v2/apps')).body.apps.find((a: { id: string }) => a.id === '/dev/a')?.tasksRunning === 2, '/dev/a counts 2 running', 60_000);
  await same();
  // The definition changes: the list shows the new command at once (the next read).
  assert.equal((await call('PUT', '/v2/apps/dev/b?force=true', app('/dev/b', 0, 'sleep 2000'))).status, 200);
  assert.equal((await call('GET', '/v2/apps', undefined, as('bob'))).body.apps.find((a: { id: string }) => a.id === '/dev/b').cmd, 'sleep 2000');
  const groups = (await call('GET', '/v2/groups', undefined, as('bob'))).body;
  assert.equal(groups.groups[0].apps.find((a: { id: string }) => a.id === '/dev/b').cmd, 'sleep 2000');
  await same();
});

test('the serializer writes what JSON.stringify writes, with encoded items as their JSON', () => {
  const when = new Date(0);
  const payload = { a: 1, skip: undefined, f: () => 1, list: [1, undefined, 'x', { d: when }], nested: { deep: [[]], empty: {} }, apps: [new EncodedApp('/x', '{"id":"/x","n":[1,2]}')] };
  assert.equal(serializeWithEncoded(payload).toString(), JSON.stringify(payload));
  assert.equal(serializeWithEncoded([new EncodedApp('/y', '{"id":"/y","name":"é✓"}')]).toString(), '[{"id":"/y","name":"é✓"}]');
  assert.equal(serializeWithEncoded('text').toString(), '"text"');
  const mixed = [{ id: '/p' }, new EncodedApp('/q', '{"id":"/q"}'), new EncodedApp('/r', '{"id":"/r"}'), undefined, 'x'];
  assert.equal(serializeWithEncoded(mixed).toString(), JSON.stringify(mixed));
});
