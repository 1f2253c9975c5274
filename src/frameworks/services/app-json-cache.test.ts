/**
 * The kept text of `GET /v2/apps` and `GET /v2/groups` (app-json-cache.ts) must never outlive
 * what it was made from: after each change — launches, tasks running, a health result, a scale,
 * a kill, a task failure, a deployment's start and end, an app's update and delete — every list
 * item equals the uncached AppInfo of `GET /v2/apps/{id}` (api.ts `appJson`, made fresh per
 * request) with the same embeds, the cache being full from before the change. And a list read
 * twice with nothing changed in between makes nothing again.
 *
 * The services framework runs for real behind a scripted Mesos master (services-harness.ts: what
 * the master would say, no sockets, a manual clock); the routes are the real ones on a fastify
 * instance, called through `inject` (the streamed answer, its content-length included).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerServicesRoutes } from './api.ts';
import { appJsonMade, EncodedApp, inBlocks, Reads } from './app-json-cache.ts';
import { EncodedBody } from '../../protocol/encoded-items.ts';
import { startServices, type ServicesHarness } from './services-harness.ts';

let h: ServicesHarness;
let api: FastifyInstance;

before(async () => {
  h = await startServices();
  api = Fastify();
  registerServicesRoutes(api, h.services);
  await api.ready();
});

after(async () => {
  await api.close();
  await h.stop();
});

interface Group {
  apps: Array<{ id: string; cmd?: string }>;
  groups: Group[];
}
/** A `/v2/apps` or `/v2/groups` answer (`app` for one app). */
interface Answer extends Group {
  app: unknown;
}

async function get(url: string): Promise<Answer> {
  const r = await api.inject({ method: 'GET', url });
  assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
  assert.equal(Number(r.headers['content-length']), r.rawPayload.length, `${url}: content-length is the body's`);
  return JSON.parse(r.body);
}

const LIST_EMBEDS = ['embed=apps.tasks&embed=apps.lastTaskFailure&embed=apps.readiness', ''];
/** The same embeds for one app (`app.counts` alone: counts and deployments, as a list without embeds). */
const ONE_EMBEDS = ['embed=app.tasks&embed=app.lastTaskFailure&embed=app.readiness', 'embed=app.counts'];
const GROUP_EMBEDS = ['embed=group.apps.tasks&embed=group.apps.lastTaskFailure&embed=group.apps.readiness', 'embed=group.apps.counts'];

function appsOfTree(group: Group): Array<{ id: string }> {
  return [...group.apps, ...group.groups.flatMap(appsOfTree)];
}

/** Every list (apps and groups, both kinds of embeds) against the uncached AppInfo of each app, now. */
async function listsAreUncached(when: string): Promise<void> {
  const ids = [...h.services.apps.keys()].sort();
  for (let k = 0; k < LIST_EMBEDS.length; k++) {
    const list = (await get(`/v2/apps?${LIST_EMBEDS[k]}`)).apps;
    const tree = appsOfTree(await get(`/v2/groups?${GROUP_EMBEDS[k]}`));
    assert.deepEqual(list.map((a) => a.id).sort(), ids, `${when}: the list's apps`);
    assert.deepEqual(tree.map((a) => a.id).sort(), ids, `${when}: the tree's apps`);
    for (const id of ids) {
      const uncached = (await get(`/v2/apps${id}?${ONE_EMBEDS[k]}`)).app;
      assert.deepEqual(
        list.find((a) => a.id === id),
        uncached,
        `${when}: ${id} in /v2/apps?${LIST_EMBEDS[k]}`,
      );
      assert.deepEqual(
        tree.find((a) => a.id === id),
        uncached,
        `${when}: ${id} in /v2/groups?${GROUP_EMBEDS[k]}`,
      );
    }
  }
}

const offer = { resources: 'cpus:8;mem:8192;ports:[31000-31100]', hostname: 'h1', agentId: 'agent-1' };
const tasksOf = (appId: string): string[] => h.services.instancesOf(appId).map((i) => i.taskId);

test('after every kind of change, each cached list item equals the uncached AppInfo', async () => {
  await h.put({ id: '/web', cmd: 'serve', cpus: 0.1, mem: 16, instances: 2, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health' }] });
  await h.put({ id: '/idle', cmd: 'sleep 1', cpus: 0.1, mem: 16, instances: 0 });
  await h.put({ id: '/batch/worker', cmd: 'work', cpus: 0.1, mem: 16, instances: 1 });
  await listsAreUncached('deployments started, nothing launched');

  assert.equal((await h.launch(offer)).length, 3);
  await listsAreUncached('launched (staging)');

  for (const id of [...tasksOf('/web'), ...tasksOf('/batch/worker')]) await h.report(id, 'TASK_RUNNING', { agentId: 'agent-1' });
  assert.equal(h.services.deployments.forApp('/batch/worker').length, 0, 'the worker deployment ended');
  assert.equal(h.services.deployments.forApp('/web').length, 1, '/web waits for health');
  await listsAreUncached('running, one deployment ended');

  const [first, second] = tasksOf('/web');
  await h.report(first!, 'TASK_RUNNING', { agentId: 'agent-1', healthy: true });
  await h.report(second!, 'TASK_RUNNING', { agentId: 'agent-1', healthy: true });
  assert.equal(h.services.deployments.forApp('/web').length, 0, '/web healthy: its deployment ended');
  await listsAreUncached('healthy');
  await h.report(second!, 'TASK_RUNNING', { agentId: 'agent-1', healthy: false, message: 'HTTP 500' });
  await listsAreUncached('one health check failed');

  // A scale (a new deployment, a third task staging), then a kill of a running one.
  await h.put({ id: '/web', cmd: 'serve', cpus: 0.1, mem: 16, instances: 3, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health' }] });
  assert.equal((await h.launch(offer)).length, 1);
  await listsAreUncached('scaled to 3');
  const killed = await api.inject({ method: 'DELETE', url: `/v2/apps/web/tasks/${first!}` });
  assert.equal(killed.statusCode, 200, killed.body);
  await listsAreUncached('a task killing');
  await h.report(first!, 'TASK_KILLED', { agentId: 'agent-1' });
  await listsAreUncached('a task killed');

  // A task fails: the app's lastTaskFailure (and its replacement staging).
  const [worker] = tasksOf('/batch/worker');
  await h.report(worker!, 'TASK_FAILED', { agentId: 'agent-1', message: 'exit 1' });
  assert.ok(h.services.runtimeOf('/batch/worker').lastTaskFailure !== undefined);
  await listsAreUncached('a task failed');

  // A deployment that ends with no app or instance change: cancelled by force (no rollback).
  await h.put({ id: '/batch/worker', cmd: 'work', cpus: 0.1, mem: 16, instances: 5 });
  await listsAreUncached('a deployment waiting for offers');
  const [waiting] = h.services.deployments.forApp('/batch/worker');
  assert.ok(waiting !== undefined);
  const cancelled = await api.inject({ method: 'DELETE', url: `/v2/deployments/${waiting.id}?force=true` });
  assert.equal(cancelled.statusCode, 202, cancelled.body);
  assert.equal(h.services.deployments.forApp('/batch/worker').length, 0);
  await listsAreUncached('a deployment cancelled');

  // Definition changes: an update, then a delete.
  await h.put({ id: '/idle', cmd: 'sleep 2', cpus: 0.1, mem: 16, instances: 0 });
  assert.equal((await get('/v2/apps')).apps.find((a) => a.id === '/idle')?.cmd, 'sleep 2');
  await listsAreUncached('an app updated');
  await h.services.deleteApp('/idle', true);
  await h.settle();
  await listsAreUncached('an app deleted');
});

test('readiness results (a real HTTP probe): not ready, then ready, each list item equals the uncached AppInfo', async () => {
  let status = 503;
  let body = 'warming up';
  const probed = createServer((_req, res) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body));
  await new Promise<void>((resolve) => probed.listen(0, '127.0.0.1', resolve));
  try {
    const port = (probed.address() as AddressInfo).port;
    await h.put({
      id: '/ready/api',
      cmd: 'serve',
      cpus: 0.1,
      mem: 16,
      instances: 1,
      portDefinitions: [{ port: 0, name: 'http' }],
      readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 30, timeoutSeconds: 5, httpStatusCodesForReady: [200], preserveLastResponse: true }],
    });
    // The task's port is the probed server's: its readiness check asks that server.
    assert.equal((await h.launch({ resources: `cpus:1;mem:1024;ports:[${port}-${port}]`, hostname: '127.0.0.1', agentId: 'agent-r' })).length, 1);
    const [task] = tasksOf('/ready/api');
    await listsAreUncached('readiness: not probed yet');
    await h.report(task!, 'TASK_RUNNING', { agentId: 'agent-r' });
    const answered = (text: string) => () => (h.services.readiness.results.get(task!)?.lastResponse as { body?: string } | null | undefined)?.body === text;
    await until(answered('warming up'), 'the first probe answered 503');
    await listsAreUncached('readiness: not ready');
    // Only the readiness result changes (another answer, still not ready): no instance, no app.
    body = 'still warming up';
    await h.advance(30_000);
    await until(answered('still warming up'), 'the second probe answered 503');
    await listsAreUncached('readiness: another not-ready answer (only the readiness result changed)');
    status = 200;
    await h.advance(30_000);
    await until(() => h.services.instances.get(task!)?.ready === true, 'the next probe answered 200');
    await h.settle();
    await listsAreUncached('readiness: ready');
  } finally {
    await new Promise((resolve) => probed.close(resolve));
  }
});

/** Waits (turns and short real pauses: a real probe answers on its own time), up to 60 s. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await h.advance(0);
  }
}

test('a list read again with nothing changed makes nothing: no app part, no block', async () => {
  for (const path of ['/v2/apps', '/v2/apps?embed=apps.tasks', '/v2/groups', '/v2/groups?embed=group.apps.tasks']) {
    const first = await get(path);
    const made = { ...appJsonMade };
    assert.deepEqual(await get(path), first, path);
    assert.deepEqual(appJsonMade, made, `${path} made nothing the second time`);
  }
  // One task's state changes: only its app's part is made again.
  const [id] = tasksOf('/web');
  const made = { ...appJsonMade };
  assert.equal(h.services.instances.get(id!)!.healthy, false);
  await h.report(id!, 'TASK_RUNNING', { agentId: 'agent-1', healthy: true });
  await get('/v2/apps');
  assert.equal(appJsonMade.dynamicParts - made.dynamicParts, 1, 'one app made again');
  // taskStats reads the clock: never kept, always made.
  const stats = { ...appJsonMade };
  await get('/v2/apps?embed=apps.taskStats');
  assert.equal(appJsonMade.dynamicParts - stats.dynamicParts, h.services.apps.size);
});

test('Reads: equal readings are the same, any difference (a value, one more, one fewer) is not', () => {
  const r = new Reads();
  const read = (values: unknown[]): boolean => {
    r.begin();
    for (const v of values) r.see(v);
    return r.same();
  };
  const o = {};
  assert.equal(read([1, 'a', o]), false, 'the first reading differs');
  assert.equal(read([1, 'a', o]), true);
  assert.equal(read([1, 'a', {}]), false, 'another object');
  assert.equal(read([1, 'a', {}]), false, 'objects are compared by identity');
  assert.equal(read([1, 'a']), false, 'one fewer');
  assert.equal(read([1, 'a']), true);
  assert.equal(read([1, 'a', undefined]), false, 'one more, even undefined');
  assert.equal(read([1, 'a', undefined]), true);
  assert.equal(read([NaN]), false);
  assert.equal(read([NaN]), false, 'NaN is never the same: made again, never stale');
  r.reset();
  assert.equal(read([NaN]), false, 'after reset the next reading differs');
});

async function bodyText(payload: unknown): Promise<string> {
  const chunks: Buffer[] = [];
  const body = EncodedBody.of(inBlocks(payload));
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  assert.equal(Buffer.byteLength(text), body.length);
  return text;
}

test('a payload in blocks is written as JSON.stringify writes it, filtered or changed', async () => {
  const items = Array.from({ length: 300 }, (_, i) => new EncodedApp(`/a${i}`, JSON.stringify({ id: `/a${i}`, name: i % 7 === 0 ? 'é✓' : 'x' })));
  const payload = { apps: items, n: 1, nested: { groups: [{ apps: items.slice(0, 5), pods: [] }, { apps: [] }] } };
  assert.equal(await bodyText(payload), JSON.stringify(payload));
  const blocks = appJsonMade.blocks;
  assert.equal(await bodyText(payload), JSON.stringify(payload));
  assert.equal(appJsonMade.blocks, blocks, 'the same items: the same blocks');
  // A filtered list (as the read filter leaves it): other blocks, the right bytes.
  const filtered = { apps: items.filter((_, i) => i % 3 !== 1) };
  assert.equal(await bodyText(filtered), JSON.stringify(filtered));
  // (Its first block replaced the whole list's, of the same first item and length: read it again.)
  assert.equal(await bodyText(payload), JSON.stringify(payload));
  // One item replaced: its block is made again, the answer has the new item.
  items[130] = new EncodedApp('/a130', '{"id":"/a130","name":"changed"}');
  const before = appJsonMade.blocks;
  assert.equal(await bodyText(payload), JSON.stringify(payload));
  assert.ok(await bodyText(payload).then((t) => t.includes('"changed"')));
  assert.equal(appJsonMade.blocks - before, 1, 'only the changed block');
});
