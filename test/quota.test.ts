/**
 * Roles, weights and quota on a real cluster (issue 19 point 5): a master whose services framework
 * subscribes with `*` and `slave_public`, a private agent (unreserved resources) and a public one
 * (every resource statically reserved for `slave_public`), real tasks.
 *
 * - a `slave_public` app lands only on the public agent, and a second instance that does not fit
 *   waits with Marathon's UnfulfilledRole in /v2/queue for the private agent's offers;
 * - a `slave_public` pod likewise, in the reserved resources; its StartPod, ScalePod and StopPod
 *   deployments in /v2/deployments (Marathon's shape), the lock (409) while one cannot finish;
 * - a role at its quota limit gets no more offers — held offers and then a running task count —
 *   while another role keeps getting them;
 * - bad input → 4xx naming the field, nothing changed; quota and weights survive a restart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';
import { TestScheduler } from './support/scheduler.ts';
import { Resources } from '../src/resources/index.ts';

const PUBLIC = `quota-public-${process.pid}`;
const PRIVATE = `quota-private-${process.pid}`;
const WAIT = 90_000;

let root: string;
let store: string;
let master: DroverProcess;
const agents: DroverProcess[] = [];

const masterArgs = (): string[] => ['master', '--port', '0', '--store', `sqlite:${store}`, '--allocation-interval', '0.2', '--agent-heartbeat-interval', '0.5', '--services-roles', '*,slave_public'];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-quota-'));
  store = join(root, 'master.db');
  master = await startDrover(masterArgs());
  const agent = (hostname: string, resources: string) =>
    startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', join(root, hostname), '--hostname', hostname, '--resources', resources]);
  agents.push(await agent(PUBLIC, 'cpus(slave_public):1;mem(slave_public):512;disk(slave_public):100;ports(slave_public):[21800-21809]'));
  agents.push(await agent(PRIVATE, 'cpus:2;mem:2048;disk:1000;ports:[21810-21819]'));
  await eventually(async () => ((await get('/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 2, 'both agents registered', WAIT);
});
after(async () => {
  for (const a of ((await get('/v2/apps')).body as { apps?: Array<{ id: string }> }).apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`);
  for (const p of ((await get('/v2/pods')).body as Array<{ id: string }> | undefined) ?? []) await call('DELETE', `/v2/pods${p.id}?force=true`);
  for (const a of agents) await a.stop();
  await master.stop();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  return httpCall(master.url, method, path, body);
}
const get = (path: string) => call('GET', path);
const v1 = (body: unknown) => call('POST', '/api/v1', body);

interface Task {
  appId: string;
  host: string;
  state: string;
}
const tasksOf = async (appId: string): Promise<Task[]> => ((await get('/v2/tasks')).body as { tasks: Task[] }).tasks.filter((t) => t.appId === appId);

describe('roles in placement', () => {
  test('acceptedResourceRoles ["*"] lands on the private agent only', async () => {
    const created = await call('POST', '/v2/apps', { id: '/private', cmd: 'sleep 600', cpus: 0.1, mem: 32, instances: 1, acceptedResourceRoles: ['*'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((created.body as { role: string }).role, '*');
    const [task] = await eventually(async () => ((await tasksOf('/private')).some((t) => t.state === 'TASK_RUNNING') ? tasksOf('/private') : undefined), '/private running', WAIT);
    assert.equal(task!.host, PRIVATE);
  });

  test('a slave_public app lands on the agent with slave_public resources; one that does not fit waits with UnfulfilledRole', async () => {
    const created = await call('POST', '/v2/apps', { id: '/public', cmd: 'sleep 600', cpus: 0.6, mem: 64, instances: 1, role: 'slave_public', acceptedResourceRoles: ['slave_public'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const tasks = await eventually(async () => ((await tasksOf('/public')).some((t) => t.state === 'TASK_RUNNING') ? tasksOf('/public') : undefined), '/public running', WAIT);
    assert.deepEqual(
      tasks.map((t) => t.host),
      [PUBLIC],
    );
    // The task runs in the reserved resources: the master's view of the public agent has them used.
    const state = (await get('/master/state')).body as { slaves: Array<{ hostname: string; used_resources: { cpus: number } }> };
    assert.ok(state.slaves.find((s) => s.hostname === PUBLIC)!.used_resources.cpus >= 0.6);

    // A second instance needs 0.6 cpus; the public agent has 0.4 left, the private agent plenty — of the wrong role.
    const scaled = await call('PUT', '/v2/apps/public', { instances: 2 });
    assert.ok(scaled.status === 200 || scaled.status === 201, JSON.stringify(scaled.body));
    type Entry = {
      app: { id: string };
      count: number;
      processedOffersSummary: { rejectSummaryLastOffers: Array<{ reason: string; declined: number }> };
      lastUnusedOffers: Array<{ hostname: string; reason: string[] }>;
    };
    const entry = await eventually(
      async () => {
        const queue = ((await get('/v2/queue')).body as { queue: Entry[] }).queue;
        const e = queue.find((q) => q.app.id === '/public');
        return e?.lastUnusedOffers.some((o) => o.hostname === PRIVATE) && e.lastUnusedOffers.some((o) => o.hostname === PUBLIC) ? e : undefined;
      },
      'the waiting instance in /v2/queue with both agents refused',
      WAIT,
    );
    assert.equal(entry.count, 1);
    const onPrivate = entry.lastUnusedOffers.find((o) => o.hostname === PRIVATE)!;
    assert.ok(onPrivate.reason.includes('UnfulfilledRole'), JSON.stringify(onPrivate));
    const onPublic = entry.lastUnusedOffers.find((o) => o.hostname === PUBLIC)!;
    assert.match(onPublic.reason[0]!, /^insufficient cpus/);
    assert.ok(entry.processedOffersSummary.rejectSummaryLastOffers.some((r) => r.reason === 'UnfulfilledRole' && r.declined > 0));
    // Still one task, on the public agent: nothing ran on `*` resources.
    assert.deepEqual(
      (await tasksOf('/public')).map((t) => t.host),
      [PUBLIC],
    );
    await call('DELETE', '/v2/apps/public?force=true');
  });

  test("a slave_public pod runs in the public agent's reserved resources; its deployments show in /v2/deployments, lock it, and finish", async () => {
    interface PodStatus {
      instances: Array<{ id: string; agentHostname: string; role: string; containers: Array<{ status: string }> }>;
    }
    interface DeploymentJson {
      id: string;
      affectedApps: string[];
      affectedPods: string[];
      steps: Array<{ actions: Array<{ action: string; pod?: string }> }>;
      currentActions: Array<{ action: string; pod?: string }>;
    }
    const deployments = async (): Promise<DeploymentJson[]> => (await get('/v2/deployments')).body as DeploymentJson[];
    // 0.55 + 0.05 cpus an instance: one fits the public agent's 1 reserved cpu, two do not.
    const pod = (instances: number) => ({
      id: '/pubpod',
      role: 'slave_public',
      networks: [{ mode: 'host' }],
      scaling: { kind: 'fixed', instances },
      scheduling: { placement: { acceptedResourceRoles: ['slave_public'] } },
      executorResources: { cpus: 0.05, mem: 16, disk: 5 },
      containers: [{ name: 'main', resources: { cpus: 0.55, mem: 32 }, exec: { command: { shell: 'exec sleep 600' } } }],
    });
    const running = (n: number) =>
      eventually(
        async () => {
          const s = (await get('/v2/pods/pubpod::status')).body as PodStatus;
          return s.instances.length === n && s.instances.every((i) => i.containers.every((c) => c.status === 'TASK_RUNNING')) ? s : undefined;
        },
        `${n} instance(s) of /pubpod running`,
        WAIT,
      );
    // /public's task (0.6 of the reserved cpu) must be gone first.
    await eventually(async () => (await tasksOf('/public')).length === 0, '/public gone', WAIT);
    const created = await call('POST', '/v2/pods', pod(1));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const started = created.headers.get('marathon-deployment-id');
    assert.ok(started, 'a deployment id');
    const [instance] = (await running(1)).instances;
    assert.equal(instance!.agentHostname, PUBLIC);
    assert.equal(instance!.role, 'slave_public');
    // It finishes once the instance runs: nothing of it left in /v2/deployments.
    await eventually(async () => !(await deployments()).some((d) => d.id === started), 'the StartPod deployment finished', WAIT);

    // Scale to 2: the second instance fits nowhere (the private agent's `*` resources are not
    // accepted), so the ScalePod deployment stays, in Marathon's shape, and locks the pod.
    const scaled = await call('PUT', '/v2/pods/pubpod', pod(2));
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    const scaleId = scaled.headers.get('marathon-deployment-id');
    const open = (await deployments()).find((d) => d.id === scaleId);
    assert.ok(open, 'the ScalePod deployment listed');
    assert.deepEqual(open.affectedApps, []);
    assert.deepEqual(open.affectedPods, ['/pubpod']);
    assert.deepEqual(open.steps, [{ actions: [{ action: 'ScalePod', pod: '/pubpod' }] }]);
    assert.deepEqual(open.currentActions, [{ action: 'ScalePod', pod: '/pubpod', readinessCheckResults: [] }]);
    const locked = await call('PUT', '/v2/pods/pubpod', pod(1));
    assert.equal(locked.status, 409, JSON.stringify(locked.body));
    assert.deepEqual((locked.body as { deployments: Array<{ id: string }> }).deployments, [{ id: scaleId }]);
    const stillOne = (await get('/v2/pods/pubpod::status')).body as PodStatus;
    assert.deepEqual(
      stillOne.instances.map((i) => i.agentHostname),
      [PUBLIC],
      'nothing ran on `*` resources',
    );
    // force: the blocked deployment is cancelled, the scale back to 1 is a deployment that finishes.
    const forced = await call('PUT', '/v2/pods/pubpod?force=true', pod(1));
    assert.equal(forced.status, 200, JSON.stringify(forced.body));
    const forcedId = forced.headers.get('marathon-deployment-id');
    await eventually(async () => !(await deployments()).some((d) => d.affectedPods.includes('/pubpod')), 'no deployment of /pubpod left', WAIT);
    assert.ok(forcedId !== scaleId);

    const removed = await call('DELETE', '/v2/pods/pubpod');
    assert.equal(removed.status, 202);
    const stopId = removed.headers.get('marathon-deployment-id');
    assert.ok(stopId);
    await eventually(async () => !(await deployments()).some((d) => d.id === stopId), 'the StopPod deployment finished', WAIT);
    // Bad roles: 422 with the pod's paths, nothing stored.
    const bad = await call('POST', '/v2/pods', { ...pod(1), id: '/badpod', role: 'not-mine' });
    assert.equal(bad.status, 422);
    assert.deepEqual((bad.body as { details: Array<{ path: string }> }).details.map((d) => d.path).sort(), ['/role', '/scheduling/placement/acceptedResourceRoles/0']);
    assert.equal((await get('/v2/pods/badpod')).status, 404);
  });

  test("role and acceptedResourceRoles outside the framework's roles: 422 with the field path, nothing stored", async () => {
    const badRole = await call('POST', '/v2/apps', { id: '/bad-role', cmd: 'sleep 1', cpus: 0.1, mem: 32, role: 'not-mine' });
    assert.equal(badRole.status, 422);
    assert.deepEqual(
      (badRole.body as { details: Array<{ path: string }> }).details.map((d) => d.path),
      ['/role'],
    );
    const badAccepted = await call('POST', '/v2/apps', { id: '/bad-accepted', cmd: 'sleep 1', cpus: 0.1, mem: 32, acceptedResourceRoles: ['*', 'slave_public'] });
    assert.equal(badAccepted.status, 422);
    assert.deepEqual(
      (badAccepted.body as { details: Array<{ path: string }> }).details.map((d) => d.path),
      ['/acceptedResourceRoles/1'],
    );
    assert.equal((await get('/v2/apps/bad-role')).status, 404);
    assert.equal((await get('/v2/apps/bad-accepted')).status, 404);
  });
});

describe('quota', () => {
  test('a role at its limit gets no more offers while another role does; held offers and tasks both count', async () => {
    const set = await v1({ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'dev', limits: { cpus: { value: 1 }, mem: { value: 256 } } }] } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const dev = await TestScheduler.subscribe(master.url, { name: 'dev', roles: ['dev'], capabilities: [{ type: 'MULTI_ROLE' }] });
    const prod = await TestScheduler.subscribe(master.url, { name: 'prod', roles: ['prod'], capabilities: [{ type: 'MULTI_ROLE' }] });
    try {
      // dev's first offer is cut to its limit (the private agent has cpus:1.9 free).
      const [offer] = await dev.offers(WAIT);
      const offered = Resources.fromJSON(offer!.resources);
      assert.equal(offered.cpus(), 1);
      assert.equal(offered.mem(), 256);
      // dev holds it: outstanding offers count. prod keeps being offered what is left, dev nothing.
      // prod declines for 0.1 s each time, so it is offered the private agent again and again;
      // the last decline of a round is for an hour when `done` (an agent is offered to one
      // framework at a time, so nothing else of prod's is outstanding then).
      const prodOffersSeen = async (n: number, done = false): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const offers = await prod.offers(WAIT);
          await prod.call({ type: 'DECLINE', decline: { offer_ids: offers.map((o) => o.id), filters: { refuse_seconds: done && i === n - 1 ? 3600 : 0.1 } } });
        }
      };
      await prodOffersSeen(3);
      assert.equal(dev.events.filter((e) => e.type === 'OFFERS').length, 1, 'dev was offered nothing more while at its limit');
      // Now a task takes the whole offer: the running task counts the same.
      await dev.launch(offer!, [{ id: 'dev-1', cmd: 'sleep 600', resources: 'cpus:1;mem:256' }]);
      await dev.status('dev-1', 'TASK_RUNNING', WAIT);
      await prodOffersSeen(3, true);
      assert.equal(dev.events.filter((e) => e.type === 'OFFERS').length, 1, 'dev was offered nothing more with its task at the limit');

      // The views: consumed equals the limit.
      const roles = (await get('/master/roles')).body as { roles: Array<{ name: string; frameworks: string[]; quota: { limit: Record<string, number>; consumed: Record<string, number> } }> };
      const devRole = roles.roles.find((r) => r.name === 'dev')!;
      assert.deepEqual(devRole.frameworks, [dev.frameworkId]);
      assert.deepEqual(devRole.quota.limit, { cpus: 1, mem: 256 });
      assert.equal(devRole.quota.consumed['cpus'], 1);
      assert.equal(devRole.quota.consumed['mem'], 256);
      const v1Roles = (await v1({ type: 'GET_ROLES' })).body as { get_roles: { roles: Array<{ name: string; quota: { consumed: Record<string, { value: number }> } }> } };
      assert.equal(v1Roles.get_roles.roles.find((r) => r.name === 'dev')!.quota.consumed['cpus']!.value, 1);

      // A limit below what dev consumes now is refused without force.
      const below = await v1({ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'dev', limits: { cpus: { value: 0.5 } } }] } });
      assert.equal(below.status, 400, JSON.stringify(below.body));
      assert.deepEqual(
        (below.body as { details: Array<{ path: string }> }).details.map((d) => d.path),
        ['/update_quota/quota_configs/0/limits/cpus'],
      );
      // Raising the limit lets dev be offered again.
      assert.equal((await v1({ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'dev', limits: { cpus: { value: 1.5 }, mem: { value: 512 } } }] } })).status, 200);
      const [more] = await dev.offers(WAIT);
      assert.ok(Resources.fromJSON(more!.resources).cpus() <= 0.5 + 1e-9);
    } finally {
      await dev.close();
      await prod.close();
    }
  });

  test('weights: UPDATE_WEIGHTS, GET_WEIGHTS and /master/weights', async () => {
    assert.equal((await v1({ type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'prod', weight: 3 }] } })).status, 200);
    const got = (await v1({ type: 'GET_WEIGHTS' })).body as { get_weights: { weight_infos: Array<{ role: string; weight: number }> } };
    assert.deepEqual(got.get_weights.weight_infos, [{ role: 'prod', weight: 3 }]);
    assert.deepEqual((await get('/master/weights')).body, [{ role: 'prod', weight: 3 }]);
  });

  test('bad input: 400 naming the field, nothing changed', async () => {
    const before = (await v1({ type: 'GET_QUOTA' })).body;
    const cases: Array<[unknown, string]> = [
      [{ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'dev', limits: { cpus: { value: -1 } } }] } }, '/update_quota/quota_configs/0/limits/cpus/value'],
      [{ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: '*', limits: { cpus: { value: 1 } } }] } }, '/update_quota/quota_configs/0/role'],
      [{ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'a/../b', limits: { cpus: { value: 1 } } }] } }, '/update_quota/quota_configs/0/role'],
      [{ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'qa', limits: { ports: { value: 1 } } }] } }, '/update_quota/quota_configs/0/limits/ports'],
      [
        { type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'qa', guarantees: { cpus: { value: 2 } }, limits: { cpus: { value: 1 } } }] } },
        '/update_quota/quota_configs/0/guarantees/cpus',
      ],
      // More than the cluster has (3 cpus), without force.
      [{ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'qa', guarantees: { cpus: { value: 100 } } }] } }, '/update_quota/quota_configs'],
      [{ type: 'UPDATE_QUOTA' }, '/update_quota'],
      [{ type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'x', weight: 0 }] } }, '/update_weights/weight_infos/0/weight'],
      [
        { type: 'SET_QUOTA', set_quota: { quota_request: { role: 'qa', guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 'lots' } }] } } },
        '/set_quota/quota_request/guarantee/0/scalar/value',
      ],
    ];
    for (const [body, path] of cases) {
      const answer = await v1(body);
      assert.equal(answer.status, 400, `${JSON.stringify(body)} → ${answer.status} ${JSON.stringify(answer.body)}`);
      const paths = ((answer.body as { details?: Array<{ path: string }> }).details ?? []).map((d) => d.path);
      assert.ok(paths.includes(path), `${JSON.stringify(body)}: ${JSON.stringify(paths)} lacks ${path}`);
    }
    assert.equal((await call('PUT', '/master/weights', [{ role: 'x', weight: 'heavy' }])).status, 400);
    assert.equal((await v1({ type: 'REMOVE_QUOTA', remove_quota: { role: 'nobody-here' } })).status, 404);
    assert.deepEqual((await v1({ type: 'GET_QUOTA' })).body, before);
    assert.deepEqual((await get('/master/weights')).body, [{ role: 'prod', weight: 3 }]);
  });

  test('drover quota and drover role', async () => {
    // Not spawnSync: a test process blocked for seconds misses its idle keep-alive connections
    // being closed by the master, and its next request went out on a dead one ("fetch failed").
    const cli = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [DROVER_BIN, ...args], { env: { ...process.env, DROVER_MASTER: master.url }, timeout: 60_000 });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    const set = await cli('quota', 'set', 'cli-role', '--limits', 'cpus:1;mem:128', '--guarantees', 'cpus:0.5');
    assert.equal(set.status, 0, set.stderr);
    const listed = await cli('quota', 'list', '--json');
    assert.equal(listed.status, 0, listed.stderr);
    const entry = (JSON.parse(listed.stdout) as Array<{ name: string; quota: { guarantee: unknown; limit: unknown } }>).find((r) => r.name === 'cli-role');
    assert.deepEqual(entry?.quota.guarantee, { cpus: 0.5 });
    assert.deepEqual(entry?.quota.limit, { cpus: 1, mem: 128 });
    assert.equal((await cli('role', 'weight', 'cli-role', '2')).status, 0);
    const roles = await cli('role', 'list');
    assert.equal(roles.status, 0, roles.stderr);
    assert.match(roles.stdout, /^cli-role\s+2\s/m);
    assert.equal((await cli('quota', 'remove', 'cli-role')).status, 0);
    assert.ok(!(await cli('quota', 'list')).stdout.includes('cli-role'));
    // Bad input: the CLI's usage error, or the master's 400 with the field.
    const bad = await cli('quota', 'set', 'cli-role', '--limits', 'cpus:lots');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--limits: 'cpus:lots' is not name:amount/);
    const refused = await cli('quota', 'set', 'cli-role', '--limits', 'ports:1');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /\/update_quota\/quota_configs\/0\/limits\/ports: not a quota resource/);
  });

  test('quota and weights survive a master restart', async () => {
    assert.equal(master.child.exitCode ?? master.child.signalCode, null, `the master ended before its restart:\n${master.output().slice(-4000)}`);
    // The agents stay with the old address: nothing may be left running on them.
    for (const a of ((await get('/v2/apps')).body as { apps: Array<{ id: string }> }).apps) assert.equal((await call('DELETE', `/v2/apps${a.id}?force=true`)).status, 200);
    await eventually(async () => ((await get('/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'every app task gone', WAIT);
    assert.equal((await v1({ type: 'SET_QUOTA', set_quota: { quota_request: { role: 'legacy', guarantee: [{ name: 'mem', type: 'SCALAR', scalar: { value: 128 } }] } } })).status, 200);
    const quota = (await v1({ type: 'GET_QUOTA' })).body as { get_quota: { status: { configs: unknown[] } } };
    assert.deepEqual(quota.get_quota.status.configs, [
      { role: 'dev', guarantees: {}, limits: { cpus: { value: 1.5 }, mem: { value: 512 } } },
      { role: 'legacy', guarantees: { mem: { value: 128 } }, limits: { mem: { value: 128 } } },
    ]);
    await master.stop();
    master = await startDrover(masterArgs());
    assert.deepEqual((await v1({ type: 'GET_QUOTA' })).body, quota);
    assert.deepEqual((await get('/master/quota')).body, quota.get_quota.status);
    assert.deepEqual((await get('/master/weights')).body, [
      { role: 'cli-role', weight: 2 },
      { role: 'prod', weight: 3 },
    ]);
    assert.equal((await v1({ type: 'REMOVE_QUOTA', remove_quota: { role: 'legacy' } })).status, 200);
    assert.deepEqual(
      ((await get('/master/quota')).body as { configs: Array<{ role: string }> }).configs.map((c) => c.role),
      ['dev'],
    );
  });
});
