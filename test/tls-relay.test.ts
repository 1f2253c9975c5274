/**
 * The master's relays to an agent (sandbox files, exec sessions) go over mutual TLS: the agent's
 * port answers HTTPS and — here, `plainHttp: 'none'` (`drover agent --require-https`) — refuses
 * plain HTTP outright, so a relayed read or exec that works proves the relay spoke TLS. By default
 * an agent answers plain HTTP on loopback only. The CLI's `task log` and `task exec` go through
 * the master's relays, so the CLI's token goes only to the master.
 *
 * One master (TLS and auth on, the services framework in-process) and one real agent (posix
 * containerizer) for the file; one task that writes a canary into its sandbox. Last, revocation:
 * `drover node revoke` (MARK_AGENT_GONE) and the master refuses the agent's certificate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../src/agent/agent.ts';
import { startAgentHttp } from '../src/agent/http/agent-http.ts';
import { silentLogger } from '../src/log/index.ts';
import { DROVER_BIN, eventually } from '../devkit/process.ts';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { tlsFetch } from '../src/iam/tls-client.ts';
import { newAgentKey } from '../src/iam/tls-ca.ts';
import { rawFetch, TEST_ADMIN_TOKEN, TEST_AGENT_TOKEN } from '../devkit/credentials.ts';

const store = createMemoryStore();
const canary = `relay-canary-${process.pid}-${Date.now()}`;
let server: MasterServer;
let httpsUrl: string;
let caPem: string;
let caFile: string;
let admin: typeof fetch;
let agent: Agent;
let workDir: string;
let taskId: string;
let agentId: string;
let sandbox: string;

before(async () => {
  server = await startMasterServer({
    store,
    logger: pino({ level: 'warn' }),
    port: 0,
    host: '127.0.0.1',
    ui: false,
    jobs: false,
    allocationIntervalMs: 100,
    auth: { mode: 'on', adminToken: TEST_ADMIN_TOKEN, agentToken: TEST_AGENT_TOKEN },
    tls: { mode: 'on' },
  });
  httpsUrl = server.httpsUrl!;
  caPem = server.caCertPem!;
  const secure = tlsFetch({ caPem });
  admin = (input, init) => secure(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), authorization: `token=${TEST_ADMIN_TOKEN}` } });
  workDir = await mkdtemp(join(tmpdir(), 'drover-tls-relay-'));
  caFile = join(workDir, 'ca.crt');
  await writeFile(caFile, caPem);
  agent = new Agent({
    masterUrl: httpsUrl,
    masterCaPem: caPem,
    plainHttp: 'none',
    port: 0,
    workDir: join(workDir, 'agent'),
    resources: Resources.parse('cpus:1;mem:256;ports:[31000-31010]'),
    detectResources: false,
    containerizer: 'posix',
    bootstrapToken: TEST_AGENT_TOKEN,
    logger: silentLogger(),
  });
  await agent.start();
  await eventually(() => agent.registered && agent.agentId !== undefined, 'the agent registered over HTTPS', 60_000);
  agentId = agent.agentId!;
  await eventually(() => server.master.agents.get(agentId)?.certified === true, 'the agent proved its id with its certificate', 60_000);
  const created = await admin(`${httpsUrl}/v2/apps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: '/relay/canary', cmd: `echo ${canary} > out.txt; exec sleep 600`, cpus: 0.1, mem: 32, instances: 1 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  await created.text();
  const task = await eventually(
    async () => {
      const response = await admin(`${httpsUrl}/master/tasks?filter=relay_canary`);
      const { tasks } = (await response.json()) as { tasks: Array<{ id: string; state: string; slave_id: string; directory?: string }> };
      return tasks.find((t) => t.state === 'TASK_RUNNING' && t.directory !== undefined);
    },
    'the canary task runs',
    120_000,
  );
  taskId = task.id;
  sandbox = task.directory!;
  assert.equal(task.slave_id, agentId);
});

after(async () => {
  await agent?.shutdown(0);
  await server?.close();
  await store.close();
  await rm(workDir, { recursive: true, force: true });
});

async function readOut(): Promise<{ status: number; text: string }> {
  const q = new URLSearchParams({ path: `${sandbox}/out.txt`, offset: '0' });
  const response = await admin(`${httpsUrl}/agent/${agentId}/files/read?${q.toString()}`);
  return { status: response.status, text: await response.text() };
}

describe("the master's relays to an agent go over mutual TLS", () => {
  test('a relayed /files read works, and the agent refuses plain HTTP (--require-https)', async () => {
    const read = await eventually(
      async () => {
        const r = await readOut();
        return r.status === 200 && r.text.includes(canary) ? r : undefined;
      },
      'the relayed read returns the canary',
      60_000,
    );
    assert.equal((JSON.parse(read.text) as { offset: number }).offset, 0);
    // The same agent port, plain HTTP: refused before any route, even from loopback.
    const plain = await rawFetch(`http://127.0.0.1:${agent.port}/files/read?path=${encodeURIComponent(`${sandbox}/out.txt`)}&offset=0`, {
      headers: { authorization: `token=${TEST_ADMIN_TOKEN}` },
    });
    assert.equal(plain.status, 400);
    const body = await plain.text();
    assert.match(body, /HTTPS only/);
    assert.doesNotMatch(body, new RegExp(canary));
  });

  test('an exec session relayed by the master runs in the task and streams its output back', async () => {
    const q = new URLSearchParams({ task_id: taskId, argv: JSON.stringify(['cat', 'out.txt']), tty: 'false' });
    const response = await admin(`${httpsUrl}/agent/${agentId}/tasks/exec?${q.toString()}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: '' });
    assert.equal(response.status, 200, await response.clone().text());
    let stdout = '';
    let exit: { exit_code?: number } | undefined;
    for await (const record of decodeJsonRecords<{ type: string; data?: string; exit_code?: number }>(response.body as never)) {
      if (record.type === 'STDOUT') stdout += Buffer.from(record.data ?? '', 'base64').toString();
      if (record.type === 'EXIT') exit = record;
    }
    assert.equal(stdout.trim(), canary);
    assert.equal(exit?.exit_code, 0);
    // Without credentials the master refuses the relay (the permission table's entry).
    const anonymous = await tlsFetch({ caPem })(`${httpsUrl}/agent/${agentId}/tasks/exec?${q.toString()}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: '' });
    assert.equal(anonymous.status, 401);
    await anonymous.text();
  });

  test('the CLI reads logs and runs exec through the master over HTTPS (its token never goes to the agent)', async () => {
    const env = { ...process.env, DROVER_MASTER: httpsUrl, DROVER_CA_CERT: caFile, DROVER_TOKEN: TEST_ADMIN_TOKEN };
    const run = (args: string[]): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [DROVER_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += String(c)));
        child.stderr.on('data', (c: Buffer) => (err += String(c)));
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const exec = await run(['task', 'exec', taskId, '--', 'cat', 'out.txt']);
    assert.equal(exec.code, 0, exec.err);
    assert.equal(exec.out.trim(), canary);
    const log = await run(['task', 'log', taskId, 'out.txt']);
    assert.equal(log.code, 0, log.err);
    assert.match(log.out, new RegExp(canary));
  });

  test('the master reaches an agent without a certificate only on loopback', async () => {
    const record = server.master.agents.get(agentId)!;
    const { address, certified } = record;
    try {
      record.certified = false;
      record.address = '192.0.2.77';
      const refused = await readOut();
      assert.equal(refused.status, 502, refused.text);
      assert.match(refused.text, /mutual TLS only/);
    } finally {
      record.address = address;
      record.certified = certified;
    }
    assert.equal((await readOut()).status, 200);
  });
});

describe("an agent's port with TLS answers plain HTTP on loopback only (the default)", () => {
  test('plain HTTP from another address of this machine is refused; from loopback it is served', async (t) => {
    const other = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
    if (other === undefined) {
      t.skip('this machine has no non-loopback IPv4 address');
      return;
    }
    const http = await startAgentHttp({ host: '0.0.0.0', port: 0, root: workDir, state: () => ({}), tlsCaPem: caPem, logger: silentLogger() });
    try {
      const local = await rawFetch(`http://127.0.0.1:${http.port}/ping`);
      assert.equal(local.status, 200);
      assert.equal(await local.text(), 'pong');
      const remote = await rawFetch(`http://${other}:${http.port}/ping`);
      assert.equal(remote.status, 400);
      assert.match(await remote.text(), /HTTPS only/);
    } finally {
      await http.close();
    }
  });
});

// Last: it removes the file's agent for good.
describe('revocation: an operator marks an agent gone, and the master refuses its certificate', () => {
  test('drover node revoke → MARK_AGENT_GONE: the certificate is refused on every route (no new agent with it either), the relays refuse the agent', async () => {
    const meta = join(workDir, 'agent', 'meta');
    const certPem = await readFile(join(meta, 'agent-cert.pem'), 'utf8');
    const keyPem = await readFile(join(meta, 'agent-key.pem'), 'utf8');
    const mtls = tlsFetch({ caPem, certPem, keyPem });
    const heartbeat = (): Promise<Response> =>
      mtls(`${httpsUrl}/api/v1/agent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'HEARTBEAT', agent_id: { value: agentId } }) });
    // Before: the certificate proves the agent (the heartbeat is not refused by the guard).
    const before = await heartbeat();
    await before.text();
    assert.notEqual(before.status, 401);
    assert.notEqual(before.status, 403);

    const env = { ...process.env, DROVER_MASTER: httpsUrl, DROVER_CA_CERT: caFile, DROVER_TOKEN: TEST_ADMIN_TOKEN };
    const revoked = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [DROVER_BIN, 'node', 'revoke', agentId], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += String(c)));
      child.on('close', (code) => resolve({ code, err }));
    });
    assert.equal(revoked.code, 0, revoked.err);
    assert.match(revoked.err, /revoked/);
    assert.equal(server.master.agents.has(agentId), false);

    const after = await heartbeat();
    assert.equal(after.status, 401);
    assert.match(await after.text(), /revoked/);
    // Not even a public route, nor REGISTER as a new agent (an agent's credential could otherwise
    // register a new one and get a fresh certificate).
    const ping = await mtls(`${httpsUrl}/ping`);
    assert.equal(ping.status, 401);
    await ping.text();
    const { csrPem } = await newAgentKey();
    const fresh = await mtls(`${httpsUrl}/api/v1/agent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'REGISTER', register: { agent_info: { hostname: 'comeback', port: 5051, resources: [] }, tasks: [], csr: csrPem } }),
    });
    assert.equal(fresh.status, 401);
    await fresh.text();
    // The relays: the agent is not registered any more.
    const relayed = await readOut();
    assert.equal(relayed.status, 404);
    // Its task is gone for the services framework (TASK_GONE), and the id stays refused: MARK_AGENT_GONE again is a no-op.
    const again = await admin(`${httpsUrl}/api/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: agentId } } }),
    });
    assert.equal(again.status, 200);
    await again.text();
    const unknown = await admin(`${httpsUrl}/api/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: 'no-such-agent' } } }),
    });
    assert.equal(unknown.status, 404);
    await unknown.text();
  });
});
