/**
 * The services framework (Marathon /v2) end to end against a live `drover dev` with real tasks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, readUntil, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';

let root: string;
let dev: DroverProcess;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-svc-'));
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--resources', 'cpus:4;mem:4096;disk:1000;ports:[22000-22100]']);
  await eventually(async () => ((await get('/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
});
after(async () => {
  for (const a of ((await get('/v2/apps')).body as { apps: Array<{ id: string }> }).apps) await call('DELETE', `/v2/apps${a.id}?force=true`);
  // `drover dev` leaves its tasks running when it stops (an agent restart must not kill them):
  // wait for the kills, or a failed test's tasks would outlive the suite and hold their ports.
  await eventually(async () => ((await get('/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 20_000).catch(() => undefined);
  await dev.stop();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return httpCall(dev.url, method, path, body, headers);
}
const get = (path: string) => call('GET', path);

interface TaskJson {
  id: string;
  state: string;
  ports: number[];
  host: string;
}
async function tasks(appId: string): Promise<TaskJson[]> {
  return ((await get(`/v2/apps${appId}/tasks`)).body as { tasks: TaskJson[] }).tasks;
}
async function running(appId: string, n: number): Promise<TaskJson[]> {
  return eventually(
    async () => {
      const list = (await tasks(appId)).filter((t) => t.state === 'TASK_RUNNING');
      return list.length === n ? list : undefined;
    },
    `${n} running instances of ${appId}`,
    20_000,
  );
}
async function noDeployments(appId: string): Promise<void> {
  await eventually(async () => ((await get(`/v2/apps${appId}`)).body as { app: { deployments: unknown[] } }).app.deployments.length === 0, `deployments of ${appId} done`, 20_000);
}

describe('apps lifecycle', () => {
  test('create → running with port variables, scale up and down, restart, delete', async () => {
    const created = await call('POST', '/v2/apps', {
      id: '/web',
      cmd: 'echo "port=$PORT0 ports=$PORTS app=$MARATHON_APP_ID"; exec sleep 300',
      cpus: 0.1,
      mem: 32,
      instances: 2,
      portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }],
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/v2/apps/web');
    assert.match(created.headers.get('marathon-deployment-id') ?? '', /^[0-9a-f-]{36}$/);
    const two = await running('/web', 2);
    await noDeployments('/web');
    const ports = two.flatMap((t) => t.ports);
    assert.equal(new Set(ports).size, 4, `every instance has its own host ports: ${ports.join(',')}`);
    for (const t of two) assert.match(t.id, /^web\.instance-[0-9a-f-]{36}\._app\.1$/);
    // The task saw its ports in the environment (read from its sandbox through the history).
    const history = ((await get(`/master/tasks?task_id=${encodeURIComponent(two[0]!.id)}`)).body as { tasks: Array<{ directory?: string }> }).tasks;
    const stdout = await eventually(async () => {
      const text = await readFile(join(history[0]!.directory!, 'stdout'), 'utf8');
      return text.includes('port=') ? text : undefined;
    }, 'the task wrote its stdout');
    assert.equal(stdout.trim(), `port=${two[0]!.ports[0]} ports=${two[0]!.ports.join(',')} app=/web`);

    assert.equal((await call('PUT', '/v2/apps/web', { instances: 3 })).status, 200);
    const three = await running('/web', 3);
    assert.ok(
      two.every((t) => three.some((x) => x.id === t.id)),
      'scaling up keeps the running instances',
    );
    await noDeployments('/web');
    await call('PUT', '/v2/apps/web', { instances: 1 });
    await running('/web', 1);
    await noDeployments('/web');

    const before = (await tasks('/web')).map((t) => t.id);
    const restarted = await call('POST', '/v2/apps/web/restart');
    assert.equal(restarted.status, 200);
    await eventually(
      async () => {
        const now = (await tasks('/web')).filter((t) => t.state === 'TASK_RUNNING');
        return now.length === 1 && !before.includes(now[0]!.id);
      },
      'the instance replaced by a new one',
      20_000,
    );
    await noDeployments('/web');

    assert.equal((await call('DELETE', '/v2/apps/web')).status, 200);
    await eventually(async () => (await get('/v2/apps/web')).status === 404, 'the app is gone');
    await eventually(async () => ((await get('/v2/tasks')).body as { tasks: TaskJson[] }).tasks.every((t) => !t.id.startsWith('web.')), 'its tasks are gone');
  });

  test('GET /v2/apps filters by id, cmd and label', async () => {
    await call('POST', '/v2/apps', { id: '/filters/a', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 0, labels: { tier: 'front', team: 'x' } });
    await call('POST', '/v2/apps', { id: '/filters/b', cmd: 'exec sleep 301', cpus: 0.01, mem: 16, instances: 0, labels: { tier: 'back' } });
    const ids = async (q: string) =>
      ((await get(`/v2/apps?${q}`)).body as { apps: Array<{ id: string }> }).apps
        .map((a) => a.id)
        .filter((id) => id.startsWith('/filters'))
        .sort();
    assert.deepEqual(await ids('id=filters/a'), ['/filters/a']);
    assert.deepEqual(await ids('cmd=exec'), ['/filters/b']);
    assert.deepEqual(await ids(`label=${encodeURIComponent('tier==front')}`), ['/filters/a']);
    assert.deepEqual(await ids(`label=${encodeURIComponent('tier in (front, back)')}`), ['/filters/a', '/filters/b']);
    assert.deepEqual(await ids('label=team'), ['/filters/a']);
  });
});

describe('bad input gets Marathon-shaped errors and changes nothing', () => {
  test('validation, JSON, conflicts and unknown apps', async () => {
    const before = (await get('/v2/apps')).body;
    const invalid = await call('POST', '/v2/apps', { id: '/Bad_Id', cmd: 'x', cpus: 0, instances: -1 });
    assert.equal(invalid.status, 422);
    const body = invalid.body as { message: string; details: Array<{ path: string; errors: string[] }> };
    assert.equal(body.message, 'Object is not valid');
    assert.deepEqual(body.details.map((d) => d.path).sort(), ['/cpus', '/instances']);
    const badId = await call('POST', '/v2/apps', { id: '/Bad_Id', cmd: 'x' });
    assert.equal(badId.status, 422);
    assert.equal((badId.body as { details: Array<{ path: string }> }).details[0]?.path, '/id');
    const json = await call('POST', '/v2/apps', '{"id": "/x",');
    assert.equal(json.status, 400);
    assert.match((json.body as { message: string }).message, /^Invalid JSON/);
    const unsupported = await call('POST', '/v2/apps', {
      id: '/docker',
      cmd: 'x',
      container: { type: 'DOCKER', docker: { image: 'nginx', network: 'BRIDGE', parameters: [{ key: 'cap-add', value: 'ALL' }] } },
    });
    assert.equal(unsupported.status, 422);
    // BRIDGE networking runs now (CNI, test/image-bridge.test.ts); docker run options still cannot.
    assert.deepEqual((unsupported.body as { details: Array<{ path: string }> }).details.map((d) => d.path).sort(), ['/container/docker/parameters']);
    // As Marathon: an env reference names a declared secret (`secrets`), not a store path.
    const secret = await call('POST', '/v2/apps', { id: '/secret', cmd: 'x', env: { PASSWORD: { secret: '/db/pw' } } });
    assert.equal(secret.status, 422);
    assert.deepEqual((secret.body as { details: unknown }).details, [{ path: '/env/PASSWORD/secret', errors: ["references an undefined secret named '/db/pw'"] }]);
    assert.equal((await get('/v2/apps/nope')).status, 404);
    assert.deepEqual((await get('/v2/apps')).body, before);
  });

  test('a second POST of an id → 409; a change to an app under deployment → 409 with the deployment unless forced', async () => {
    const unplaceable = { id: '/locked', cmd: 'sleep 300', cpus: 64, mem: 16, instances: 1 };
    assert.equal((await call('POST', '/v2/apps', unplaceable)).status, 201);
    assert.equal((await call('POST', '/v2/apps', unplaceable)).status, 409);
    const locked = await call('PUT', '/v2/apps/locked', { cmd: 'sleep 301' });
    assert.equal(locked.status, 409);
    assert.match((locked.body as { message: string }).message, /locked by one or more deployments/);
    assert.equal((locked.body as { deployments: unknown[] }).deployments.length, 1);
    assert.equal((await call('PUT', '/v2/apps/locked?force=true', { instances: 0 })).status, 200);
  });
});

describe('placement and queue', () => {
  test('/v2/queue explains why an app cannot be placed', async () => {
    await call('POST', '/v2/apps', { id: '/huge', cmd: 'sleep 300', cpus: 16, mem: 16, instances: 1 });
    const entry = await eventually(async () => {
      const queue = ((await get('/v2/queue')).body as { queue: Array<{ app: { id: string }; count: number; lastUnusedOffers: Array<{ reason: string[] }> }> }).queue;
      const e = queue.find((q) => q.app.id === '/huge');
      return e && e.lastUnusedOffers.length > 0 ? e : undefined;
    }, 'a rejection reason in the queue');
    assert.equal(entry.count, 1);
    assert.match(entry.lastUnusedOffers[0]!.reason[0]!, /insufficient cpus: 4 < 16|insufficient cpus/);
    await call('DELETE', '/v2/apps/huge?force=true');
  });

  test('a crash-looping app backs off, then stops relaunching and says why; a delay reset resumes it', async () => {
    await call('POST', '/v2/apps', { id: '/crashy', cmd: 'exit 1', cpus: 0.01, mem: 16, instances: 1, backoffSeconds: 0.1, backoffFactor: 1, maxConsecutiveFailures: 3 });
    const stopped = await eventually(
      async () => {
        const queue = ((await get('/v2/queue')).body as { queue: Array<{ app: { id: string }; launchStopped: boolean; stoppedReason?: string }> }).queue;
        const e = queue.find((q) => q.app.id === '/crashy');
        return e?.launchStopped ? e : undefined;
      },
      'the crash loop stopped',
      30_000,
    );
    assert.match(stopped.stoppedReason ?? '', /3 consecutive failures.*Command exited with status 1|3 consecutive failures/);
    const failure = ((await get('/v2/apps/crashy?embed=app.lastTaskFailure')).body as { app: { lastTaskFailure?: { state: string } } }).app.lastTaskFailure;
    assert.equal(failure?.state, 'TASK_FAILED');
    assert.equal((await call('DELETE', '/v2/queue/crashy/delay')).status, 204);
    await eventually(async () => {
      const queue = ((await get('/v2/queue')).body as { queue: Array<{ app: { id: string }; launchStopped: boolean }> }).queue;
      return queue.find((q) => q.app.id === '/crashy')?.launchStopped === false;
    }, 'relaunching resumed');
    await call('DELETE', '/v2/apps/crashy?force=true');
  });
});

describe('events', () => {
  test('/v2/events streams SSE, filtered by event_type', async () => {
    const abort = new AbortController();
    const response = await fetch(`${dev.url}/v2/events?event_type=status_update_event&event_type=deployment_success`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const reader = response.body!.getReader();
    await call('POST', '/v2/apps', { id: '/evented', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 1 });
    let text = '';
    type EventData = { eventType: string; timestamp: string; appId?: string; taskStatus?: string };
    // Other tests of this file run apps at the same time: their events come on this stream too.
    const dataOf = (): EventData[] =>
      [...text.matchAll(/^data: (.*)$/gm)].flatMap((m) => {
        try {
          return [JSON.parse(m[1]!) as EventData];
        } catch {
          return [];
        }
      });
    const eventedRunning = (): boolean => dataOf().some((d) => d.eventType === 'status_update_event' && d.appId === '/evented' && d.taskStatus === 'TASK_RUNNING');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !(text.includes('event: deployment_success') && eventedRunning())) {
      const result = await readUntil(reader, deadline);
      if (result === 'timeout' || result.done) break;
      const value = result.value;
      text += Buffer.from(value).toString();
    }
    abort.abort();
    const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    assert.ok(events.includes('status_update_event') && events.includes('deployment_success'), events.join(','));
    assert.ok(
      events.every((e) => e === 'status_update_event' || e === 'deployment_success' || e === 'event_stream_attached'),
      `filter applied: ${events.join(',')}`,
    );
    const update = dataOf().find((d) => d.eventType === 'status_update_event' && d.appId === '/evented');
    assert.ok(update, `a status update of /evented: ${text.slice(0, 2000)}`);
    assert.ok(!Number.isNaN(Date.parse(update.timestamp)));
    await call('DELETE', '/v2/apps/evented?force=true');
  });
});

describe('Marathon fixtures', () => {
  test('every app definition in the fixtures is accepted (and deploys) or refused naming an unsupported field', async () => {
    const dir = join(import.meta.dirname, 'fixtures', 'marathon');
    const candidates: Array<{ file: string; app: Record<string, unknown> }> = [];
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json'))) {
      let doc: unknown;
      try {
        doc = JSON.parse(await readFile(join(dir, file), 'utf8'));
      } catch {
        continue; // a fixture that is not JSON (a doc snippet) has no app to test
      }
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          if (typeof o['id'] === 'string' && (typeof o['cmd'] === 'string' || Array.isArray(o['args']) || o['container'] !== undefined)) candidates.push({ file, app: o });
          else Object.values(o).forEach(walk);
        }
      };
      walk(doc);
    }
    assert.ok(candidates.length >= 6, `found ${candidates.length} app definitions`);
    const accepted: string[] = [];
    for (const { file, app } of candidates) {
      const id = `/fixtures/${String(app['id']).replace(/^\//, '').replaceAll('/', '-').replaceAll('_', '-').toLowerCase()}`;
      const small = {
        ...app,
        id,
        cpus: 0.01,
        mem: 16,
        disk: 0,
        instances: Math.min(Number(app['instances'] ?? 1), 1),
        cmd: typeof app['cmd'] === 'string' ? 'sleep 300' : app['cmd'],
        constraints: [],
        dependencies: [],
        healthChecks: [],
        fetch: [],
        uris: [],
      };
      const response = await call('POST', '/v2/apps', small);
      if (response.status === 201) {
        // Images from the anchors' registries cannot be pulled here; test/image-launch-cluster.test.ts
        // runs these specs from a real registry with their images rewritten.
        if ((app['container'] as { docker?: { image?: unknown } } | undefined)?.docker?.image === undefined) accepted.push(id);
        else {
          // The same app is in more than one fixture (group.json and queue.json): its removal is a
          // deployment, and a POST of the id before it ends is a 409, as in Marathon.
          await call('DELETE', `/v2/apps${id}?force=true`);
          await eventually(async () => (await call('GET', `/v2/apps${id}`)).status === 404, `${id} removed`, 60_000);
        }
        continue;
      }
      assert.equal(response.status, 422, `${file} ${id}: ${JSON.stringify(response.body)}`);
      const details = (response.body as { details: Array<{ path: string; errors: string[] }> }).details;
      assert.ok(
        details.some((d) => d.path.length > 1 && d.errors.some((e) => /not supported|unknown property|cannot be honoured/.test(e))),
        `${file}: names an unsupported field: ${JSON.stringify(details)}`,
      );
      assert.ok(
        details.every((d) => d.path.startsWith('/') && d.errors.length > 0),
        `${file}: every detail has a path and a reason`,
      );
    }
    assert.ok(accepted.length >= 3, `accepted: ${accepted.join(', ')}`);
    for (const id of accepted) await running(id, 1).catch(async () => assert.fail(`${id} did not reach 1 running: ${JSON.stringify(await tasks(id))}`));
    for (const id of accepted) await call('DELETE', `/v2/apps${id}?force=true`);
  });
});

describe('versions, rollback and bulk updates', () => {
  test('versions are kept; PUT {version} rolls back; DELETE of a deployment rolls it back; bulk PUT validates all first', async () => {
    await call('POST', '/v2/apps', { id: '/versioned', cmd: 'sleep 301', cpus: 0.01, mem: 16, instances: 1 });
    await running('/versioned', 1);
    await noDeployments('/versioned');
    await call('PUT', '/v2/apps/versioned', { cmd: 'sleep 302' });
    await noDeployments('/versioned');
    const versions = ((await get('/v2/apps/versioned/versions')).body as { versions: string[] }).versions;
    assert.equal(versions.length, 2, 'newest first');
    const first = (await get(`/v2/apps/versioned/versions/${versions[1]}`)).body as { cmd: string };
    assert.equal(first.cmd, 'sleep 301');
    assert.equal((await call('PUT', '/v2/apps/versioned', { version: versions[1] })).status, 200);
    await eventually(async () => ((await get('/v2/apps/versioned')).body as { app: { cmd: string } }).app.cmd === 'sleep 301', 'rolled back');
    await noDeployments('/versioned');

    // A deployment that cannot finish (no agent has 64 cpus) is rolled back by DELETE.
    const stuck = await call('PUT', '/v2/apps/versioned', { cpus: 64 });
    const deploymentId = (stuck.body as { deploymentId: string }).deploymentId;
    const rollback = await call('DELETE', `/v2/deployments/${deploymentId}`);
    assert.equal(rollback.status, 200);
    assert.match(rollback.headers.get('marathon-deployment-id') ?? '', /^[0-9a-f-]{36}$/);
    await eventually(async () => ((await get('/v2/apps/versioned')).body as { app: { cpus: number } }).app.cpus === 0.01, 'cpus rolled back');
    assert.equal((await call('DELETE', '/v2/deployments/no-such-deployment')).status, 404);

    const bad = await call('PUT', '/v2/apps', [
      { id: '/bulk-a', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 0 },
      { id: '/bulk-b', cpus: -1 },
    ]);
    assert.equal(bad.status, 422);
    assert.ok((bad.body as { details: Array<{ path: string }> }).details.some((d) => d.path === '/1/cpus'));
    assert.equal((await get('/v2/apps/bulk-a')).status, 404, 'nothing created when one element is bad');
    assert.equal(
      (
        await call('PUT', '/v2/apps', [
          { id: '/bulk-a', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 0 },
          { id: '/bulk-b', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 0 },
        ])
      ).status,
      200,
    );
    assert.equal((await get('/v2/apps/bulk-b')).status, 200);
    for (const id of ['/versioned', '/bulk-a', '/bulk-b']) await call('DELETE', `/v2/apps${id}?force=true`);
  });
});

describe('groups', () => {
  test('POST a nested group, read the tree, dry-run and scale it, delete it', async () => {
    const created = await call('POST', '/v2/groups', {
      id: '/shop',
      apps: [{ id: 'web', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 1 }],
      groups: [{ id: 'db', apps: [{ id: 'pg', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 1 }] }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    type Tree = { id: string; apps: Array<{ id: string; instances: number }>; groups: Tree[] };
    const tree = (await get('/v2/groups/shop')).body as Tree;
    assert.deepEqual(
      tree.apps.map((a) => a.id),
      ['/shop/web'],
    );
    assert.deepEqual(
      tree.groups.map((g) => [g.id, g.apps.map((a) => a.id)]),
      [['/shop/db', ['/shop/db/pg']]],
    );
    await running('/shop/db/pg', 1);
    await noDeployments('/shop/web');
    await noDeployments('/shop/db/pg');

    const dry = await call('PUT', '/v2/groups/shop?dryRun=true', { scaleBy: 2 });
    assert.equal((dry.body as { steps: unknown[] }).steps.length, 2);
    assert.equal(((await get('/v2/apps/shop/web')).body as { app: { instances: number } }).app.instances, 1, 'a dry run changes nothing');
    assert.equal((await call('PUT', '/v2/groups/shop', { scaleBy: 2 })).status, 200);
    await running('/shop/web', 2);
    await running('/shop/db/pg', 2);

    // The group's history holds the version it was created at; rolling back restores 1 instance.
    const versions = (await get('/v2/groups/shop/versions')).body as string[];
    assert.ok(versions.length >= 2, JSON.stringify(versions));
    await noDeployments('/shop/web');
    await noDeployments('/shop/db/pg');
    assert.equal((await call('PUT', '/v2/groups/shop', { version: versions.at(-1) })).status, 200);
    await eventually(async () => ((await get('/v2/apps/shop/web')).body as { app: { instances: number } }).app.instances === 1, 'rolled back to 1 instance');
    assert.equal((await call('PUT', '/v2/groups/shop', { version: '1999-01-01T00:00:00.000Z' })).status, 404);

    const bad = await call('POST', '/v2/groups', {
      id: '/broken',
      apps: [
        { id: 'a', cmd: 'x', cpus: -1 },
        { id: 'b', cmd: 'x', readinessChecks: [{ name: 'r' }] },
      ],
    });
    // b's readiness check names a port ('http-api' by default) that b does not define.
    assert.equal(bad.status, 422);
    assert.deepEqual((bad.body as { details: Array<{ path: string }> }).details.map((d) => d.path).sort(), ['/apps/0/cpus', '/apps/1/readinessChecks/0/portName']);
    assert.equal((await get('/v2/groups/broken')).status, 404, 'nothing of a refused group was created');

    await noDeployments('/shop/web');
    await noDeployments('/shop/db/pg');
    assert.equal((await call('DELETE', '/v2/groups/shop')).status, 200);
    await eventually(async () => (await get('/v2/groups/shop')).status === 404, 'the group is gone');
  });
});

describe('dependencies', () => {
  test('an app starts only after the apps it depends on run', async () => {
    // Both are created in one group request; without ordering one offer would start both.
    const created = await call('POST', '/v2/groups', {
      id: '/ordered',
      apps: [
        { id: 'web', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 1, dependencies: ['db'] },
        { id: 'db', cmd: 'sleep 2; exec sleep 300', cpus: 0.01, mem: 16, instances: 1 },
      ],
    });
    assert.equal(created.status, 201);
    const queued = ((await get('/v2/queue')).body as { queue: Array<{ app: { id: string }; waitingForDependency?: string }> }).queue.find((q) => q.app.id === '/ordered/web');
    assert.equal(queued?.waitingForDependency, '/ordered/db');
    const [db] = await running('/ordered/db', 1);
    const [web] = await running('/ordered/web', 1);
    const dbTask = ((await get('/v2/tasks')).body as { tasks: Array<{ id: string; startedAt: string; stagedAt: string }> }).tasks;
    const dbStarted = Date.parse(dbTask.find((t) => t.id === db!.id)!.startedAt);
    const webStaged = Date.parse(dbTask.find((t) => t.id === web!.id)!.stagedAt);
    assert.ok(webStaged >= dbStarted, 'web was launched after db was running');
    await noDeployments('/ordered/web');
    // Stopping goes the other way: web (the dependent) ends before db is even asked to stop.
    const abort = new AbortController();
    const events = await fetch(`${dev.url}/v2/events?event_type=status_update_event`, { signal: abort.signal });
    const reader = events.body!.getReader();
    await call('DELETE', '/v2/groups/ordered?force=true');
    const seen: Array<[string, string]> = [];
    let text = '';
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !seen.some(([app, state]) => app === '/ordered/db' && state === 'TASK_KILLED')) {
      const result = await readUntil(reader, deadline);
      if (result === 'timeout' || result.done) break;
      const value = result.value;
      text += Buffer.from(value).toString();
      seen.length = 0;
      for (const m of text.matchAll(/^data: (.*)$/gm)) {
        const e = JSON.parse(m[1]!) as { appId: string; taskStatus: string };
        seen.push([e.appId, e.taskStatus]);
      }
    }
    abort.abort();
    const webKilled = seen.findIndex(([app, state]) => app === '/ordered/web' && state === 'TASK_KILLED');
    const dbFirst = seen.findIndex(([app]) => app === '/ordered/db');
    assert.ok(webKilled >= 0 && dbFirst > webKilled, `web ended before db was touched: ${JSON.stringify(seen)}`);
  });
});

describe('task endpoints', () => {
  test('text/plain task list; killing a task with scale=true lowers instances, without it the task is replaced', async () => {
    await call('POST', '/v2/apps', { id: '/killable', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 2 });
    const [first, second] = await running('/killable', 2);
    const text = (await call('GET', '/v2/tasks', undefined, { accept: 'text/plain' })).body as string;
    // Marathon's text form: app, its service port (given from 10000–20000), then host:port of each task.
    assert.match(text, new RegExp(`^killable\\t1\\d{4}\\t.*${first!.host}:${first!.ports[0]}`, 'm'));
    const killed = await call('DELETE', `/v2/apps/killable/tasks/${encodeURIComponent(first!.id)}`);
    assert.equal((killed.body as { task: { id: string } }).task.id, first!.id);
    await eventually(async () => {
      const now = (await tasks('/killable')).filter((t) => t.state === 'TASK_RUNNING');
      return now.length === 2 && !now.some((t) => t.id === first!.id);
    }, 'the killed task replaced');
    await noDeployments('/killable');
    await call('DELETE', `/v2/apps/killable/tasks/${encodeURIComponent(second!.id)}?scale=true`);
    await eventually(async () => ((await get('/v2/apps/killable')).body as { app: { instances: number; tasksRunning: number } }).app.instances === 1, 'scaled to 1');
    await running('/killable', 1);
    assert.equal((await call('DELETE', '/v2/apps/killable/tasks/not-a-task')).status, 404);
    await call('DELETE', '/v2/apps/killable?force=true');
  });
});

describe('readiness checks', () => {
  test('a deployment completes only once the new instance answers its readiness check', async () => {
    // The task serves only once the test drops a `go` file into its sandbox: a gate, not a sleep,
    // so the "not ready yet" moment lasts as long as the test needs on a loaded machine.
    const created = await call('POST', '/v2/apps', {
      id: '/ready',
      cmd: 'while [ ! -e go ]; do sleep 0.2; done; exec python3 -m http.server $PORT0',
      cpus: 0.01,
      mem: 64,
      instances: 1,
      portDefinitions: [{ port: 0, name: 'http-api' }],
      readinessChecks: [{ path: '/', portName: 'http-api', intervalSeconds: 2, timeoutSeconds: 1 }],
    });
    assert.equal(created.status, 201);
    const [task] = await running('/ready', 1);
    // Running but not serving yet: the deployment waits, and says why.
    type DeploymentJson = { affectedApps: string[]; currentActions: Array<{ readinessCheckResults?: Array<{ ready: boolean }> }> };
    const deploymentOfReady = async () => ((await get('/v2/deployments')).body as DeploymentJson[]).find((x) => x.affectedApps.includes('/ready'));
    const waiting = await eventually(async () => {
      const d = await deploymentOfReady();
      return d?.currentActions.some((a) => (a.readinessCheckResults ?? []).length > 0) ? d : undefined;
    }, 'a readiness result in the deployment').catch(async (e: Error) => {
      throw new Error(`${e.message}\ndeployments: ${JSON.stringify((await get('/v2/deployments')).body)}\ntasks: ${JSON.stringify(await tasks('/ready'))}`);
    });
    assert.ok(
      waiting.currentActions.flatMap((a) => a.readinessCheckResults ?? []).every((r) => !r.ready),
      'not ready before the gate opens',
    );
    assert.ok(await deploymentOfReady(), 'the deployment is still running while the instance is not ready');
    const history = ((await get(`/master/tasks?task_id=${encodeURIComponent(task!.id)}`)).body as { tasks: Array<{ directory?: string }> }).tasks;
    const sandbox = history[0]!.directory!;
    await writeFile(join(sandbox, 'go'), '');
    await eventually(async () => (await deploymentOfReady()) === undefined, 'the deployment completed once ready', 45_000).catch(async (e: Error) => {
      const stderr = await readFile(join(sandbox, 'stderr'), 'utf8').catch(() => '');
      const stdout = await readFile(join(sandbox, 'stdout'), 'utf8').catch(() => '');
      const files = await readdir(sandbox).catch((err: Error) => [err.message]);
      throw new Error(
        `${e.message}\ndeployment: ${JSON.stringify(await deploymentOfReady())}\ntasks: ${JSON.stringify(await tasks('/ready'))}\nsandbox ${sandbox}: ${files.join(' ')}\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-2000)}`,
      );
    });
    const bad = await call('POST', '/v2/apps', { id: '/unready', cmd: 'x', portDefinitions: [{ port: 0, name: 'web' }], readinessChecks: [{ portName: 'http-api' }] });
    assert.equal(bad.status, 422);
    assert.deepEqual(
      (bad.body as { details: Array<{ path: string }> }).details.map((d) => d.path),
      ['/readinessChecks/0/portName'],
    );
    await call('DELETE', '/v2/apps/ready?force=true');
  });
});
