/**
 * Identity and access on a live master (src/iam): every route in the one permission table and 401
 * without credentials; a generated user × action × path matrix against the policy; agents that
 * cannot impersonate one another; the files relay that is no SSRF proxy; tokens that expire; DC/OS
 * password and service-account logins; the CLI's login; the audit log; the agent's own API.
 *
 * One master in this process (memory store, the built-in frameworks, real HTTP on loopback), hollow
 * agents on the real agent link. Requests go out with `rawFetch`: no harness credential is added.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { importPKCS8, SignJWT } from 'jose';
import { pino } from 'pino';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { guardedRoutes } from '../src/iam/guard.ts';
import { allows, type Action, type Permission } from '../src/iam/permissions.ts';
import { agentRuleFor, OPERATOR_CALL_PERMISSIONS, ruleFor } from '../src/iam/route-permissions.ts';
import { OPERATOR_CALLS } from '../src/master/api/operator-v1.ts';
import { CLUSTER_CALLS } from '../src/master/api/operator-cluster.ts';
import { QUOTA_CALLS } from '../src/master/api/operator-quota.ts';
import { startAgentHttp, type AgentHttp } from '../src/agent/http/agent-http.ts';
import { masterCallerAuthorizer } from '../src/agent/http/caller-authorizer.ts';
import { DroverError } from '../src/errors/errors.ts';
import { LayerStore } from '../src/images/layer-store.ts';
import { Puller } from '../src/images/puller.ts';
import { silentLogger } from '../src/log/index.ts';
import { HollowAgent } from '../sim/hollow-agent.ts';
import { DROVER_BIN, eventually } from '../devkit/process.ts';
import { rawFetch, TEST_ADMIN_TOKEN, TEST_AGENT_TOKEN } from '../devkit/credentials.ts';

const MARATHON = 'dcos:service:marathon:marathon:services';
const auditLines: Array<Record<string, unknown>> = [];
let server: MasterServer;
let url: string;
const agents: HollowAgent[] = [];

const admin = { authorization: `token=${TEST_ADMIN_TOKEN}` };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await rawFetch(`${url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text answers stay text
  }
  return { status: response.status, body: parsed };
}

async function login(uid: string, password: string): Promise<string> {
  const r = await call('POST', '/acs/api/v1/auth/login', { uid, password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token as string;
}

before(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed['part'] === 'audit') auditLines.push(parsed);
      }
      done();
    },
  });
  server = await startMasterServer({
    store: createMemoryStore(),
    logger: pino({ level: 'info' }, sink),
    port: 0,
    host: '127.0.0.1',
    allocationIntervalMs: 100,
    auth: { mode: 'on', adminToken: TEST_ADMIN_TOKEN, agentToken: TEST_AGENT_TOKEN },
    // DNS on, so its Mesos-DNS HTTP routes are among those checked against the table.
    dns: { port: 0, upstreams: [] },
  });
  url = server.url;
  for (let i = 0; i < 2; i++) {
    const agent = new HollowAgent({
      masterUrl: url,
      hostname: `hollow-${i}`,
      resources: Resources.parse('cpus:4;mem:4096;ports:[31000-31100]'),
      behaviour: { runningAfterMs: 10 },
      logger: silentLogger(),
      bootstrapToken: TEST_AGENT_TOKEN,
    });
    agent.start();
    agents.push(agent);
  }
  await eventually(() => agents.every((a) => a.registered), 'two hollow agents registered with the agent bootstrap token', 60_000);
});

after(async () => {
  for (const a of agents) await a.stop();
  await server.close();
});

/** A concrete URL for a route pattern. */
function concrete(pattern: string): string {
  return pattern.replace(/:([A-Za-z]+)/g, 'x').replace(/\*$/, 'dev/x');
}

describe('the permission table', () => {
  test('every route the master serves has an entry (add new routes to src/iam/route-permissions.ts)', () => {
    const routes = guardedRoutes(server.app);
    assert.ok(routes.length > 60, `only ${routes.length} routes seen`);
    const missing = routes.filter((r) => ruleFor(r.method, r.url) === undefined).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(missing, []);
  });

  test('every Mesos v1 operator call type has one permission', () => {
    assert.deepEqual(
      [...OPERATOR_CALLS, ...QUOTA_CALLS, ...CLUSTER_CALLS].filter((t) => OPERATOR_CALL_PERMISSIONS[t] === undefined),
      [],
    );
  });

  test('without credentials every non-public route answers 401 (mutating ones included), with a DC/OS challenge and a message', async () => {
    const routes = guardedRoutes(server.app).filter((r) => r.method !== 'HEAD' && ruleFor(r.method, r.url)?.kind !== 'public');
    const mutating = routes.filter((r) => r.method !== 'GET');
    assert.ok(mutating.length >= 40, `${mutating.length} mutating routes`);
    const wrong: string[] = [];
    for (const r of routes) {
      const response = await rawFetch(`${url}${concrete(r.url)}`, { method: r.method, ...(r.method === 'GET' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }) });
      const body = (await response.json().catch(() => ({}))) as { message?: unknown };
      if (response.status !== 401 || response.headers.get('www-authenticate') !== 'acsjwt' || typeof body.message !== 'string') wrong.push(`${r.method} ${r.url} → ${response.status}`);
    }
    assert.deepEqual(wrong, []);
    // A token that is not one of this cluster's is no better.
    assert.equal((await call('POST', '/v2/tasks/delete', { ids: [] }, bearer('not-a-token'))).status, 401);
    // Public: the health check and the UI's files.
    assert.equal((await call('GET', '/ping')).status, 200);
  });

  test('an unauthenticated kill changes nothing (the issue: POST /v2/tasks/delete killed a task)', async () => {
    await call('POST', '/v2/apps', { id: '/guarded/app', cmd: 'sleep 1000', cpus: 0.01, mem: 16, instances: 1 }, admin);
    const task = await eventually(async () => (await call('GET', '/v2/apps/guarded/app/tasks', undefined, admin)).body.tasks?.[0]?.id as string | undefined, 'the task runs', 60_000);
    assert.equal((await call('POST', '/v2/tasks/delete', { ids: [task] })).status, 401);
    const still = await call('GET', '/v2/apps/guarded/app/tasks', undefined, admin);
    assert.deepEqual(
      still.body.tasks.map((t: { id: string }) => t.id),
      [task],
    );
    await call('DELETE', '/v2/apps/guarded/app?force=true', undefined, admin);
  });
});

describe('the user × action × path matrix against the policy', () => {
  // Who holds what (each user's grants are the policy the answers are checked against).
  const users: Record<string, Permission[]> = {
    alice: [{ rid: `${MARATHON}:/dev`, action: 'full' }],
    bob: [{ rid: `${MARATHON}:/dev`, action: 'read' }],
    carol: [
      { rid: `${MARATHON}:/dev/team`, action: 'create' },
      { rid: `${MARATHON}:/dev/team`, action: 'read' },
      { rid: `${MARATHON}:/prod`, action: 'update' },
    ],
    dave: [],
    // erin's grant comes through her group.
    erin: [{ rid: `${MARATHON}:/prod`, action: 'full' }],
  };
  const paths = ['/dev/a', '/dev-x/a', '/dev/team/a', '/prod/a', '/devx/a'];
  const actions: Action[] = ['read', 'update', 'create', 'delete'];
  const tokens = new Map<string, string>();

  before(async () => {
    for (const [uid, grants] of Object.entries(users)) {
      assert.equal((await call('PUT', `/acs/api/v1/users/${uid}`, { password: `${uid}-password`, description: uid }, admin)).status, 201);
      if (uid === 'erin') continue;
      for (const g of grants) assert.equal((await call('PUT', `/acs/api/v1/acls/${encodeURIComponent(g.rid.replaceAll('/', '%2F'))}/users/${uid}/${g.action}`, undefined, admin)).status, 204);
    }
    assert.equal((await call('PUT', '/acs/api/v1/groups/ops', { description: 'operators' }, admin)).status, 201);
    assert.equal((await call('PUT', '/acs/api/v1/groups/ops/users/erin', undefined, admin)).status, 204);
    assert.equal((await call('PUT', `/acs/api/v1/acls/${encodeURIComponent(`${MARATHON}:%2Fprod`)}/groups/ops/full`, undefined, admin)).status, 204);
    for (const uid of Object.keys(users)) tokens.set(uid, await login(uid, `${uid}-password`));
  });

  const app = (id: string) => ({ id, cmd: 'sleep 1000', cpus: 0.01, mem: 16, instances: 0 });
  const ensure = async (id: string) => {
    const r = await call('PUT', `/v2/apps${id}?force=true`, app(id), admin);
    assert.ok(r.status === 200 || r.status === 201, `${id}: ${r.status} ${JSON.stringify(r.body)}`);
  };

  test('every cell answers as the policy says: allowed → not 401/403, denied → 403 and nothing changed', async () => {
    let cells = 0;
    const wrong: string[] = [];
    for (const [uid, grants] of Object.entries(users)) {
      const token = tokens.get(uid)!;
      for (const path of paths) {
        for (const action of actions) {
          await ensure(path);
          const target = action === 'create' ? `${path}-new-${uid}` : path;
          const expected = allows(grants, { rid: `${MARATHON}:${target}`, action });
          const request: Record<Action, () => Promise<{ status: number; body: any }>> = {
            read: () => call('GET', `/v2/apps${target}`, undefined, bearer(token)),
            update: () => call('PUT', `/v2/apps${target}?force=true`, { ...app(target), cmd: 'sleep 1001' }, bearer(token)),
            create: () => call('POST', '/v2/apps?force=true', app(target), bearer(token)),
            delete: () => call('DELETE', `/v2/apps${target}?force=true`, undefined, bearer(token)),
            full: () => Promise.reject(new Error('not a request')),
          };
          const answer = await request[action]();
          cells++;
          const allowed = answer.status !== 401 && answer.status !== 403;
          if (allowed !== expected || (allowed && answer.status >= 400)) wrong.push(`${uid} ${action} ${target}: ${answer.status} (policy: ${expected ? 'allow' : 'deny'})`);
          if (!expected) {
            // Denied: the app is as it was (created by nobody, still there, still the old command).
            const now = await call('GET', `/v2/apps${target}`, undefined, admin);
            if (action === 'create' && now.status !== 404) wrong.push(`${uid} created ${target} though denied`);
            if (action !== 'create' && (now.status !== 200 || now.body.app.cmd !== 'sleep 1000')) wrong.push(`${uid} changed ${target} though denied`);
          }
          if (action === 'create') await call('DELETE', `${'/v2/apps'}${target}?force=true`, undefined, admin);
        }
      }
    }
    assert.equal(cells, Object.keys(users).length * paths.length * actions.length);
    assert.deepEqual(wrong, []);
  });

  test('`..` in a path is refused for everyone (400), before any permission could be read wrongly', async () => {
    for (const uid of ['alice', 'dave']) {
      const r = await call('POST', '/v2/apps', app('/dev/../prod/evil'), bearer(tokens.get(uid)!));
      assert.equal(r.status, 400);
      assert.equal(r.body.details[0].path, '/id');
    }
    assert.equal((await call('GET', '/v2/apps/prod/evil', undefined, admin)).status, 404);
  });

  test('lists are filtered to what the caller may read (apps, groups, tasks)', async () => {
    for (const path of paths) await ensure(path);
    const all = ((await call('GET', '/v2/apps', undefined, admin)).body.apps as Array<{ id: string }>).map((a) => a.id);
    for (const [uid, grants] of Object.entries(users)) {
      const seen = ((await call('GET', '/v2/apps', undefined, bearer(tokens.get(uid)!))).body.apps as Array<{ id: string }>).map((a) => a.id).sort();
      const expected = all.filter((id) => allows(grants, { rid: `${MARATHON}:${id}`, action: 'read' })).sort();
      assert.deepEqual(seen, expected, uid);
      const tree = JSON.stringify((await call('GET', '/v2/groups', undefined, bearer(tokens.get(uid)!))).body);
      for (const id of all) assert.equal(tree.includes(`"id":"${id}"`), expected.includes(id), `${uid} /v2/groups ${id}`);
    }
    // A plain-text task list cannot be filtered: only a reader of every app gets it.
    assert.equal((await call('GET', '/v2/tasks', undefined, { ...bearer(tokens.get('alice')!), accept: 'text/plain' })).status, 403);
  });

  test('the IAM API itself is the superuser’s', async () => {
    assert.equal((await call('GET', '/acs/api/v1/users', undefined, bearer(tokens.get('alice')!))).status, 403);
    assert.equal((await call('PUT', `/acs/api/v1/acls/dcos:superuser/users/alice/full`, undefined, bearer(tokens.get('alice')!))).status, 403);
    // Bad input: a 4xx with the path and reason, nothing stored.
    const bad = await call('PUT', '/acs/api/v1/users/zed', { password: 1 }, admin);
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details[0].path, '/password');
    assert.equal((await call('GET', '/acs/api/v1/users/zed', undefined, admin)).status, 404);
    assert.equal((await call('PUT', `/acs/api/v1/acls/${encodeURIComponent(`${MARATHON}:%2Fa%2F..%2Fb`)}/users/alice/read`, undefined, admin)).status, 400);
  });

  test('the audit log has who, what, resource and decision of mutating and denied calls', async () => {
    await ensure('/dev/a');
    await call('DELETE', '/v2/apps/prod/a?force=true', undefined, bearer(tokens.get('bob')!));
    await call('PUT', '/v2/apps/dev/a?force=true', { ...app('/dev/a'), cmd: 'sleep 1002' }, bearer(tokens.get('alice')!));
    const denied = auditLines.findLast((l) => l['who'] === 'bob' && l['decision'] === 'denied' && l['method'] === 'DELETE');
    assert.ok(denied, 'the denial is logged');
    assert.equal(denied['resource'], `${MARATHON}:/prod/a`);
    const allowed = auditLines.findLast((l) => l['who'] === 'alice' && l['decision'] === 'allowed' && l['method'] === 'PUT' && l['route'] === '/v2/apps/*');
    assert.ok(allowed, 'the allowed change is logged');
    assert.deepEqual(allowed['resources'], [`update ${MARATHON}:/dev/a`]);
    assert.ok(auditLines.some((l) => l['decision'] === 'denied' && l['reason'] === 'no credentials'));
  });
});

/** A fake agent: REGISTER with `credential`, read REGISTERED (or the refusal), keep the stream open. */
async function fakeRegister(
  credential: string,
  info: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<{ status: number; agentId?: string; token?: string; body?: unknown; close(): void }> {
  const abort = new AbortController();
  const response = await rawFetch(`${url}/api/v1/agent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `token=${credential}` },
    body: JSON.stringify({ type: 'REGISTER', ...extra, register: { agent_info: { port: 5051, resources: Resources.parse('cpus:1;mem:128').toJSON(), ...info }, tasks: [] } }),
    signal: abort.signal,
  });
  if (response.status !== 200) return { status: response.status, body: await response.json(), close: () => abort.abort() };
  for await (const event of decodeJsonRecords<{ type: string; registered: { agent_id: { value: string }; agent_token?: string } }>(response.body as never)) {
    assert.equal(event.type, 'REGISTERED');
    return { status: 200, agentId: event.registered.agent_id.value, ...(event.registered.agent_token ? { token: event.registered.agent_token } : {}), close: () => abort.abort() };
  }
  throw new Error('the REGISTER stream ended without an event');
}

describe('agents prove who they are', () => {
  test('REGISTER with a real agent’s id and tasks: [] is refused unless it carries that agent’s own token', async () => {
    const victim = agents[0]!;
    const victimId = victim.agentId!;
    const fake = await fakeRegister(TEST_AGENT_TOKEN, { hostname: 'fake-1' });
    assert.equal(fake.status, 200);
    assert.ok(fake.token, 'a new agent receives its own token');
    try {
      for (const [who, credential] of [
        ['the agent bootstrap token', TEST_AGENT_TOKEN],
        ['another agent’s token', fake.token!],
        ['the admin token', TEST_ADMIN_TOKEN],
      ] as const) {
        const attempt = await fakeRegister(credential, { hostname: 'hollow-0', id: { value: victimId } }, { agent_id: { value: victimId } });
        attempt.close();
        assert.equal(attempt.status, 403, `${who}: ${JSON.stringify(attempt.body)}`);
      }
      // A "rebooted" claim on the victim, to have it removed as gone, is no better.
      const rebootClaim = await rawFetch(`${url}/api/v1/agent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `token=${TEST_AGENT_TOKEN}` },
        body: JSON.stringify({ type: 'REGISTER', register: { agent_info: { hostname: 'x', port: 1, resources: [] }, tasks: [], rebooted_agent_id: { value: victimId } } }),
      });
      assert.equal(rebootClaim.status, 403);
      await rebootClaim.body?.cancel();
      // Nor may another agent heartbeat as the victim.
      assert.equal((await call('POST', '/api/v1/agent', { type: 'HEARTBEAT', agent_id: { value: victimId } }, { authorization: `token=${fake.token!}` })).status, 403);
      // An agent token acts on the agent link only.
      assert.equal((await call('GET', '/v2/apps', undefined, { authorization: `token=${fake.token!}` })).status, 403);
      // The victim is still there, connected, with its tasks.
      const summary = await call('GET', '/master/state-summary', undefined, admin);
      const entry = (summary.body.slaves as Array<{ id: string; active: boolean }>).find((s) => s.id === victimId);
      assert.equal(entry?.active, true);
      assert.equal(victim.registered, true);
    } finally {
      fake.close();
    }
  });

  test('the files relay goes only to the address the agent connected from, with a path the master builds (no SSRF)', async () => {
    const seen: Array<{ url: string; authorization: string | undefined }> = [];
    const recorder: Server = createServer((request: IncomingMessage, response) => {
      seen.push({ url: request.url ?? '', authorization: request.headers.authorization });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"the agent"}');
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    const port = (recorder.address() as { port: number }).port;
    const masterPort = new URL(url).port;
    // The issue's trick: a hostname that is really a URL of the master's own API.
    const fake = await fakeRegister(TEST_AGENT_TOKEN, { hostname: `127.0.0.1:${masterPort}/v2/info?`, port });
    const metadata = await fakeRegister(TEST_AGENT_TOKEN, { hostname: '169.254.169.254', port });
    try {
      for (const agentId of [fake.agentId!, metadata.agentId!]) {
        const r = await call('GET', `/agent/${agentId}/files/read?path=%2Fsome%2Ffile&offset=0`, undefined, admin);
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, { from: 'the agent' }, 'the answer came from the registering socket’s address, not from the claimed hostname');
      }
      assert.deepEqual(
        seen.map((s) => s.url),
        ['/files/read?path=%2Fsome%2Ffile&offset=0', '/files/read?path=%2Fsome%2Ffile&offset=0'],
      );
      // The agent never gets the caller's token: only a short-lived one that can ask about sandboxes.
      const relayed = seen[0]!.authorization!.replace(/^token=/, '');
      assert.notEqual(relayed, TEST_ADMIN_TOKEN);
      assert.equal((await call('GET', '/v2/apps', undefined, bearer(relayed))).status, 403);
      const asked = await call('POST', '/acs/api/v1/authorize', { rid: 'dcos:mesos:agent:sandbox:app_id:/dev/a', action: 'read' }, bearer(relayed));
      assert.deepEqual(asked.body, { allowed: true, uid: 'bootstrap-admin' });
      const beyond = await call('POST', '/acs/api/v1/authorize', { rid: `${MARATHON}:/dev`, action: 'delete' }, bearer(relayed));
      assert.equal(beyond.body.allowed, false);
    } finally {
      fake.close();
      metadata.close();
      recorder.closeAllConnections();
      await new Promise((resolve) => recorder.close(resolve));
    }
  });
});

describe('tokens and logins', () => {
  test('a token expires', async () => {
    await call('PUT', '/acs/api/v1/users/shortlived', { password: 'shortlived-password' }, admin);
    // Long enough to be used once on a loaded machine; exp has a one-second resolution.
    const token = await server.iam!.tokens.issue({ uid: 'shortlived' }, 8);
    assert.equal((await call('GET', '/v2/apps', undefined, bearer(token))).status, 200);
    await eventually(async () => (await call('GET', '/v2/apps', undefined, bearer(token))).status === 401, 'the token is refused after it expires', 60_000);
    // A deleted account's tokens die with it.
    const fresh = await login('shortlived', 'shortlived-password');
    assert.equal((await call('DELETE', '/acs/api/v1/users/shortlived', undefined, admin)).status, 204);
    assert.equal((await call('GET', '/v2/apps', undefined, bearer(fresh))).status, 401);
  });

  test('a wrong password or an unknown user is 401; a bad body is 422 with the path', async () => {
    assert.equal((await call('POST', '/acs/api/v1/auth/login', { uid: 'alice', password: 'wrong-password' })).status, 401);
    assert.equal((await call('POST', '/acs/api/v1/auth/login', { uid: 'nobody-here', password: 'whatever1' })).status, 401);
    const bad = await call('POST', '/acs/api/v1/auth/login', { uid: 'alice' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details[0].path, '/');
  });

  test('a service account logs in with an RS256 token signed by its private key (DC/OS)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    assert.equal((await call('PUT', '/acs/api/v1/users/ci-bot', { public_key: publicKey, description: 'CI' }, admin)).status, 201);
    const key = await importPKCS8(privateKey, 'RS256');
    const loginToken = await new SignJWT({ uid: 'ci-bot' })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setExpirationTime(Math.floor(Date.now() / 1000) + 60)
      .sign(key);
    const r = await call('POST', '/acs/api/v1/auth/login', { uid: 'ci-bot', token: loginToken });
    assert.equal(r.status, 200);
    assert.equal((await call('GET', '/v2/apps', undefined, { authorization: `token=${r.body.token}` })).status, 200);
    // Signed for another uid, or by another key: refused.
    const other = await new SignJWT({ uid: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1m').sign(key);
    assert.equal((await call('POST', '/acs/api/v1/auth/login', { uid: 'ci-bot', token: other })).status, 401);
  });

  test('the CLI logs in, keeps its token (mode 600) and uses it; without a login it is told to log in', async () => {
    const home = await mkdtemp(join(tmpdir(), 'drover-cli-login-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), DROVER_DATA_DIR: join(home, 'no-dev-here'), DROVER_LOG_LEVEL: 'warn' };
      delete env['DROVER_TOKEN'];
      // Asynchronously: the master answering it runs in this process.
      const drover = (...args: string[]) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [DROVER_BIN, ...args, '--master', url], { env, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) =>
            resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
          );
        });
      const before = await drover('app', 'list', '--json');
      assert.equal(before.status, 1, before.stderr);
      assert.match(before.stderr, /drover login/);
      const loggedIn = await drover('login', '--uid', 'alice', '--password', 'alice-password');
      assert.equal(loggedIn.status, 0, loggedIn.stderr);
      const file = join(home, '.config', 'drover', 'token.json');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const list = await drover('app', 'list', '--json');
      assert.equal(list.status, 0, list.stderr);
      const ids = (JSON.parse(list.stdout) as Array<{ id: string }>).map((a) => a.id);
      assert.ok(ids.length > 0 && ids.every((id) => id === '/dev' || id.startsWith('/dev/')), ids.join(' '));
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe("the agent's own API", () => {
  let agentHttp: AgentHttp;
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'drover-agent-authz-'));
    const images = new LayerStore(root, new Puller());
    await images.open();
    agentHttp = await startAgentHttp({
      host: '127.0.0.1',
      port: 0,
      root,
      state: () => ({}),
      authorize: masterCallerAuthorizer(
        () => url,
        () => true,
      ),
      // Reached only past the permission check: this test is not about running commands.
      exec: async () => {
        throw new DroverError('NOT_FOUND', 'reached exec');
      },
      images: { store: images, limits: () => ({}) },
      logger: silentLogger(),
    });
    await call('PUT', `/acs/api/v1/acls/${encodeURIComponent('dcos:mesos:agent:sandbox:app_id:%2Fdev')}/users/alice/read`, undefined, admin);
    await call('PUT', `/acs/api/v1/acls/${encodeURIComponent('dcos:mesos:agent:nested_container_session:app_id:%2Fdev')}/users/alice/create`, undefined, admin);
  });
  after(async () => {
    await agentHttp.close();
    await rm(root, { recursive: true, force: true });
  });

  test('every route the agent serves has an entry in the one table', () => {
    assert.ok(agentHttp.routes.length >= 10, agentHttp.routes.join(' '));
    const missing = agentHttp.routes.filter((r) => {
      const [method = '', path = ''] = r.split(' ');
      return agentRuleFor(method, path) === undefined;
    });
    assert.deepEqual(missing, []);
  });

  test('state and images need their permission; only /ping is public', async () => {
    const agent = `http://127.0.0.1:${agentHttp.port}`;
    const dave = await login('dave', 'dave-password');
    const status = async (method: string, path: string, token?: string, body?: unknown) =>
      (
        await rawFetch(`${agent}${path}`, {
          method,
          headers: { ...(token === undefined ? {} : { authorization: `token=${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
      ).status;
    assert.equal(await status('GET', '/ping'), 200);
    // Without a credential: 401 everywhere else, and the pull (the agent fetching a URL it was given) never starts.
    for (const [method, path, body] of [
      ['GET', '/state'],
      ['GET', '/images'],
      ['POST', '/images/pull', { image: '127.0.0.1:1/x:1' }],
      ['DELETE', '/images?image=127.0.0.1:1/x:1'],
      ['POST', '/images/prune', {}],
    ] as Array<[string, string, unknown?]>) {
      assert.equal(await status(method, path, undefined, body), 401, `${method} ${path}`);
      assert.equal(await status(method, path, dave, body), 403, `${method} ${path} as dave`);
    }
    assert.equal(await status('GET', '/state', TEST_ADMIN_TOKEN), 200);
    assert.equal(await status('GET', '/images', TEST_ADMIN_TOKEN), 200);
  });

  test('files and exec need the caller’s permission on the task’s app', async () => {
    const alice = await login('alice', 'alice-password');
    const dave = await login('dave', 'dave-password');
    const agent = `http://127.0.0.1:${agentHttp.port}`;
    const devTask = 'dev_a.instance-01234567-89ab-7000-8000-000000000000._app.1';
    const prodTask = 'prod_a.instance-01234567-89ab-7000-8000-000000000000._app.1';
    const sandbox = (task: string) => encodeURIComponent(join(root, 'slaves/S0/frameworks/F/executors', task, 'runs/latest'));
    const get = async (path: string, token?: string) => (await rawFetch(`${agent}${path}`, token === undefined ? {} : { headers: { authorization: `token=${token}` } })).status;
    assert.equal(await get(`/files/browse?path=${sandbox(devTask)}`), 401);
    assert.equal(await get(`/files/browse?path=${sandbox(devTask)}`, dave), 403);
    assert.equal(await get(`/files/browse?path=${sandbox(prodTask)}`, alice), 403);
    assert.equal(await get(`/files/browse?path=${sandbox(devTask)}`, alice), 404, 'allowed: the sandbox just does not exist');
    const exec = async (task: string, token: string) =>
      (
        await rawFetch(`${agent}/tasks/exec?task_id=${encodeURIComponent(task)}&argv=${encodeURIComponent('["id"]')}`, {
          method: 'POST',
          headers: { authorization: `token=${token}`, 'content-type': 'application/octet-stream' },
        })
      ).status;
    assert.equal(await exec(devTask, dave), 403);
    assert.equal(await exec(prodTask, alice), 403);
    assert.equal(await exec(devTask, alice), 404, 'allowed: reached the exec resolver');
  });
});

test('a framework subscribes as a principal allowed to register in its roles (Mesos register_frameworks)', async () => {
  assert.equal((await call('PUT', '/acs/api/v1/users/analytics-fw', { password: 'analytics-password' }, admin)).status, 201);
  await call('PUT', `/acs/api/v1/acls/${encodeURIComponent('dcos:mesos:master:framework:role:%2Fanalytics')}/users/analytics-fw/create`, undefined, admin);
  const token = await login('analytics-fw', 'analytics-password');
  const subscribe = (role: string, principal?: string) =>
    call(
      'POST',
      '/api/v1/scheduler',
      { type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'fw', roles: [role], capabilities: [{ type: 'MULTI_ROLE' }], ...(principal ? { principal } : {}) } } },
      bearer(token),
    );
  assert.equal((await subscribe('prod')).status, 403);
  assert.equal((await subscribe('analytics', 'someone-else')).status, 403);
  // Allowed: the stream opens (read its first bytes, then let it go).
  const response = await rawFetch(`${url}/api/v1/scheduler`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(token) },
    body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'fw', roles: ['analytics'], capabilities: [{ type: 'MULTI_ROLE' }], principal: 'analytics-fw' } } }),
  });
  assert.equal(response.status, 200);
  await response.body?.cancel();
});

test('--auth off opens the APIs, and says so loudly in the log', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const open = await startMasterServer({ store: createMemoryStore(), logger: pino({ level: 'warn' }, sink), port: 0, host: '127.0.0.1', ui: false, jobs: false, auth: { mode: 'off' } });
  try {
    assert.equal(open.iam, undefined);
    assert.equal((await rawFetch(`${open.url}/v2/apps`)).status, 200);
    assert.ok(lines.some((l) => l['level'] === 40 && String(l['msg']).startsWith('AUTHENTICATION-IS-OFF')));
  } finally {
    await open.close();
  }
});
