/**
 * Service ports through Marathon's /v2 API on a real master (SQLite store on disk, hollow agents
 * speaking the real agent protocol): `port: 0` assigned from the range and shown in /v2/apps
 * (`portDefinitions[].port`) and /v2/tasks (`servicePorts`, in the shape of Marathon's example
 * test/fixtures/marathon/tasks.json); explicit ports kept; a port another app holds refused with
 * 409 and nothing changed; the same PUT keeps the ports (a scale, not a restart); delete frees
 * them; a master restart keeps them (they are stored with the app).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';
import { openStore } from '../src/store/open.ts';
import type { Store } from '../src/store/store.ts';
import { HollowAgent } from '../sim/hollow-agent.ts';
import { eventually } from '../devkit/process.ts';
import { testAuth } from '../devkit/credentials.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';

let root: string;
let store: Store;
let server: MasterServer;
let agent: HollowAgent;

async function startMaster(): Promise<void> {
  server = await startMasterServer({
    store,
    logger: silentLogger(),
    port: 0,
    host: '127.0.0.1',
    jobs: false,
    ui: false,
    allocationIntervalMs: 100,
    auth: testAuth(),
    servicePortRange: { min: 15000, max: 15100 },
  });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-svcports-'));
  store = await openStore(`sqlite:${join(root, 'store.db')}`);
  await startMaster();
  agent = new HollowAgent({
    masterUrl: server.url,
    hostname: 'hollow-0',
    resources: Resources.parse('cpus:8;mem:8192;ports:[31000-31100]'),
    behaviour: { runningAfterMs: 10 },
    logger: silentLogger(),
  });
  agent.start();
  await eventually(() => agent.registered, 'the hollow agent registered');
});
after(async () => {
  await agent.stop();
  await server.close();
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(server.url, method, path, body);
interface AppJson {
  id: string;
  portDefinitions: Array<{ port: number; name?: string }>;
  version: string;
  versionInfo: { lastConfigChangeAt: string };
}
const appOf = async (id: string): Promise<AppJson> => ((await call('GET', `/v2/apps${id}`)).body as { app: AppJson }).app;
const portsOf = async (id: string): Promise<number[]> => (await appOf(id)).portDefinitions.map((p) => p.port);

test('port 0 gets a service port from the configured range, shown in /v2/apps and on the tasks as Marathon shows them', async () => {
  const created = await call('POST', '/v2/apps', { id: '/sp/web', cmd: 'serve', cpus: 0.1, mem: 16, instances: 1, portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const body = created.body as AppJson;
  assert.deepEqual(
    body.portDefinitions.map((p) => p.port),
    [15000, 15001],
    'the POST answer shows the assigned ports',
  );
  assert.deepEqual(await portsOf('/sp/web'), [15000, 15001]);
  const listed = ((await call('GET', '/v2/apps')).body as { apps: AppJson[] }).apps.find((a) => a.id === '/sp/web');
  assert.deepEqual(
    listed?.portDefinitions.map((p) => p.port),
    [15000, 15001],
  );
  const task = await eventually(
    async () => ((await call('GET', '/v2/tasks')).body as { tasks: Array<Record<string, unknown>> }).tasks.find((t) => t['appId'] === '/sp/web' && t['state'] === 'TASK_RUNNING'),
    'the task running',
  );
  assert.deepEqual(task['servicePorts'], [15000, 15001]);
  // Every field of Marathon's example task is there, with the same JSON types.
  const example = (JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'marathon', 'tasks.json'), 'utf8')) as { tasks: Array<Record<string, unknown>> }).tasks[0]!;
  for (const key of ['id', 'host', 'ports', 'startedAt', 'stagedAt', 'version', 'slaveId', 'appId', 'state', 'servicePorts']) {
    assert.ok(key in task, `task has ${key}`);
    assert.equal(Array.isArray(task[key]), Array.isArray(example[key]), key);
    assert.equal(typeof task[key], typeof example[key], key);
  }
  const appTasks = ((await call('GET', '/v2/apps/sp/web/tasks')).body as { tasks: Array<{ servicePorts: number[] }> }).tasks;
  assert.deepEqual(appTasks[0]?.servicePorts, [15000, 15001]);
  // A second app gets the next free ones; an explicit port is kept as given.
  const second = await call('POST', '/v2/apps', { id: '/sp/api', cmd: 'serve', cpus: 0.1, mem: 16, instances: 0, portDefinitions: [{ port: 0 }, { port: 8080 }] });
  assert.equal(second.status, 201);
  assert.deepEqual(await portsOf('/sp/api'), [15002, 8080]);
  // Legacy `ports`.
  const legacy = await call('POST', '/v2/apps', { id: '/sp/legacy', cmd: 'serve', cpus: 0.1, mem: 16, instances: 0, ports: [0] });
  assert.equal(legacy.status, 201);
  assert.deepEqual(await portsOf('/sp/legacy'), [15003]);
});

test('a port another app holds is refused with 409 naming the port and the app; nothing changes', async () => {
  const refused = await call('POST', '/v2/apps', { id: '/sp/thief', cmd: 'serve', instances: 0, portDefinitions: [{ port: 15001 }] });
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  const body = refused.body as { message: string; details: Array<{ path: string; errors: string[] }> };
  assert.match(body.message, /Requested service port 15001 conflicts with a service port in app \/sp\/web/);
  assert.equal(body.details[0]?.path, '/portDefinitions/0/port');
  assert.equal((await call('GET', '/v2/apps/sp/thief')).status, 404);
  // An update that takes another app's port: refused, the app unchanged.
  const before = await appOf('/sp/api');
  const update = await call('PUT', '/v2/apps/sp/api', { cmd: 'serve', portDefinitions: [{ port: 15000 }] });
  assert.equal(update.status, 409);
  assert.deepEqual(await appOf('/sp/api'), before);
  // A group whose apps collide with each other: all refused.
  const group = await call('POST', '/v2/groups', {
    id: '/spg',
    apps: [
      { id: 'a', cmd: 'serve', instances: 0, portDefinitions: [{ port: 16000 }] },
      { id: 'b', cmd: 'serve', instances: 0, portDefinitions: [{ port: 16000 }] },
    ],
  });
  assert.equal(group.status, 409, JSON.stringify(group.body));
  assert.equal((await call('GET', '/v2/apps/spg/a')).status, 404, 'no app of the refused group stored');
  // The same port twice in one app: 422 (Marathon's "Ports must be unique.").
  const twice = await call('POST', '/v2/apps', { id: '/sp/twice', cmd: 'serve', instances: 0, portDefinitions: [{ port: 17000 }, { port: 17000 }] });
  assert.equal(twice.status, 422);
});

test('the same definition PUT again keeps the ports: a scale, not a restart', async () => {
  const before = await appOf('/sp/web');
  const put = await call('PUT', '/v2/apps/sp/web', { cmd: 'serve', cpus: 0.1, mem: 16, instances: 2, portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }] });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const after = await appOf('/sp/web');
  assert.deepEqual(
    after.portDefinitions.map((p) => p.port),
    [15000, 15001],
  );
  assert.equal(after.versionInfo.lastConfigChangeAt, before.versionInfo.lastConfigChangeAt, 'no configuration change');
  // One more port: the held ones stay, a new one is added.
  await call('PUT', '/v2/apps/sp/web?force=true', { cmd: 'serve', cpus: 0.1, mem: 16, instances: 2, portDefinitions: [{ port: 0, name: 'http' }, { port: 0 }, { port: 0 }] });
  assert.deepEqual(await portsOf('/sp/web'), [15000, 15001, 15004]);
});

test('a master restart keeps every app’s ports; deleting an app frees them', async () => {
  await server.close();
  await startMaster();
  await eventually(async () => (await call('GET', '/v2/apps/sp/web')).status === 200, 'the apps loaded after the restart');
  assert.deepEqual(await portsOf('/sp/web'), [15000, 15001, 15004]);
  assert.deepEqual(await portsOf('/sp/api'), [15002, 8080]);
  const after = await call('POST', '/v2/apps', { id: '/sp/next', cmd: 'serve', instances: 0, portDefinitions: [{ port: 0 }] });
  assert.equal(after.status, 201);
  assert.deepEqual(await portsOf('/sp/next'), [15005], 'the ports held before the restart are not given again');
  assert.equal((await call('POST', '/v2/apps', { id: '/sp/thief', cmd: 'serve', instances: 0, portDefinitions: [{ port: 15004 }] })).status, 409);
  assert.equal((await call('DELETE', '/v2/apps/sp/api?force=true')).status, 200);
  const reuse = await call('POST', '/v2/apps', { id: '/sp/reuse', cmd: 'serve', instances: 0, portDefinitions: [{ port: 0 }, { port: 8080 }] });
  assert.equal(reuse.status, 201, JSON.stringify(reuse.body));
  assert.deepEqual(await portsOf('/sp/reuse'), [15002, 8080], 'the deleted app’s ports are free again');
});
