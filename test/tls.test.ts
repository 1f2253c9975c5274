/**
 * TLS: the master serves HTTPS with the cluster CA's certificate (and plain HTTP only on
 * loopback, or nowhere with `plain: 'none'`); agents join with the bootstrap token and a CSR and
 * get a certificate binding their agent id (TLS bootstrap, as kubelets); over TLS the master takes
 * an agent id only from the certificate presented.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent/agent.ts';
import { silentLogger } from '../src/log/index.ts';
import { DROVER_BIN, eventually } from '../devkit/process.ts';
import { pino } from 'pino';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import type { Store } from '../src/store/store.ts';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { AGENT_STREAM_HEADER } from '../src/protocol/mesos/agent-link.ts';
import { ClusterCa, newAgentKey } from '../src/iam/tls-ca.ts';
import { agentIdOf } from '../src/iam/tls-identity.ts';
import { tlsFetch } from '../src/iam/tls-client.ts';
import { caCertHash } from '../src/iam/tls-pin.ts';
import { rawFetch, TEST_ADMIN_TOKEN, TEST_AGENT_TOKEN } from '../devkit/credentials.ts';

const store: Store = createMemoryStore();
let server: MasterServer;
let httpsUrl: string;
let caPem: string;
/** Trusts the cluster CA, presents no certificate. */
let anonymous: typeof fetch;

async function start(): Promise<void> {
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
  anonymous = tlsFetch({ caPem });
}

before(start);
after(async () => {
  await server.close();
  await store.close();
});

interface Registration {
  status: number;
  agentId?: string;
  streamId?: string;
  certificate?: string;
  body?: unknown;
  close(): void;
}

/** REGISTER on the agent link over `via`; reads REGISTERED (or the refusal) and keeps the stream open. */
async function register(via: typeof fetch, options: { token?: string; csr?: string; id?: string; hostname?: string } = {}): Promise<Registration> {
  const abort = new AbortController();
  const info = { hostname: options.hostname ?? 'tls-agent', port: 5051, resources: Resources.parse('cpus:1;mem:128').toJSON(), ...(options.id ? { id: { value: options.id } } : {}) };
  const response = await via(`${httpsUrl}/api/v1/agent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `token=${options.token}` } : {}) },
    body: JSON.stringify({ type: 'REGISTER', ...(options.id ? { agent_id: { value: options.id } } : {}), register: { agent_info: info, tasks: [], ...(options.csr ? { csr: options.csr } : {}) } }),
    signal: abort.signal,
  });
  if (response.status !== 200) return { status: response.status, body: await response.json(), close: () => abort.abort() };
  // The first event only: the stream must stay open (a for-await's return would cancel it).
  const events = decodeJsonRecords<{ type: string; registered: { agent_id: { value: string }; agent_certificate?: string } }>(response.body as never)[Symbol.asyncIterator]();
  const first = await events.next();
  if (!first.done) {
    const event = first.value;
    assert.equal(event.type, 'REGISTERED');
    const { agent_id, agent_certificate } = event.registered;
    return {
      status: 200,
      agentId: agent_id.value,
      streamId: response.headers.get(AGENT_STREAM_HEADER) ?? '',
      ...(agent_certificate ? { certificate: agent_certificate } : {}),
      close: () => abort.abort(),
    };
  }
  throw new Error('the REGISTER stream ended without an event');
}

/** A new agent through TLS bootstrap: its key, its certificate, and a fetch that presents them. */
async function bootstrapAgent(hostname: string): Promise<{ agentId: string; streamId: string; keyPem: string; certPem: string; mtls: typeof fetch; close(): void }> {
  const { keyPem, csrPem } = await newAgentKey();
  const joined = await register(anonymous, { token: TEST_AGENT_TOKEN, csr: csrPem, hostname });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  assert.ok(joined.certificate, 'REGISTERED carries the agent certificate');
  return { agentId: joined.agentId!, streamId: joined.streamId!, keyPem, certPem: joined.certificate, mtls: tlsFetch({ caPem, certPem: joined.certificate, keyPem }), close: joined.close };
}

/** A HEARTBEAT naming `agentId` on its stream: 202 accepted, 403 refused by the guard. */
async function heartbeat(via: typeof fetch, agentId: string, streamId: string, token?: string): Promise<number> {
  const response = await via(`${httpsUrl}/api/v1/agent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [AGENT_STREAM_HEADER]: streamId, ...(token ? { authorization: `token=${token}` } : {}) },
    body: JSON.stringify({ type: 'HEARTBEAT', agent_id: { value: agentId } }),
  });
  await response.text();
  return response.status;
}

describe('HTTPS with the cluster CA', () => {
  test("the master serves HTTPS with a certificate of the cluster's CA, and plain HTTP on loopback", async () => {
    const response = await anonymous(`${httpsUrl}/v2/info`, { headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } });
    assert.equal(response.status, 200);
    await response.text();
    // Without the cluster CA the master's certificate is not trusted (it is the cluster's own).
    await assert.rejects(rawFetch(`${httpsUrl}/v2/info`), (e: Error) => /certificate/i.test(String((e.cause as Error | undefined)?.message ?? e.message)));
    // The same port, plain HTTP, from loopback: existing clients keep working.
    const plain = await rawFetch(`${server.url}/v2/info`, { headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } });
    assert.equal(plain.status, 200);
    await plain.text();
    assert.match(server.url, /^http:\/\//);
  });

  test('with plain HTTP not allowed, a plain request is answered 400 "use https" even from loopback', async () => {
    const strict = await startMasterServer({
      store: createMemoryStore(),
      logger: pino({ level: 'warn' }),
      port: 0,
      host: '127.0.0.1',
      ui: false,
      jobs: false,
      services: false,
      auth: { mode: 'on', adminToken: TEST_ADMIN_TOKEN, agentToken: TEST_AGENT_TOKEN },
      tls: { mode: 'on', plain: 'none' },
    });
    try {
      assert.match(strict.url, /^https:\/\//);
      const plain = await rawFetch(`${strict.url.replace('https://', 'http://')}/ping`);
      assert.equal(plain.status, 400);
      assert.match(await plain.text(), /HTTPS only/);
      const secure = await tlsFetch({ caPem: strict.caCertPem! })(`${strict.url}/ping`);
      assert.equal(await secure.text(), 'pong');
    } finally {
      await strict.close();
    }
  });
});

describe('agents prove who they are with certificates', () => {
  test('TLS bootstrap: the bootstrap token and a CSR get a certificate that binds the assigned agent id', async () => {
    const agent = await bootstrapAgent('boot-1');
    try {
      const cert = new X509Certificate(agent.certPem);
      assert.equal(agentIdOf(cert), agent.agentId);
      assert.ok(cert.checkIssued(new X509Certificate(caPem)));
      // Its certificate alone (no token) is its credential on the agent link.
      assert.equal(await heartbeat(agent.mtls, agent.agentId, agent.streamId), 202);
    } finally {
      agent.close();
    }
  });

  test('a certificate of agent A cannot REGISTER or act as agent B', async () => {
    const a = await bootstrapAgent('imp-a');
    const b = await bootstrapAgent('imp-b');
    try {
      const asB = await register(a.mtls, { id: b.agentId, hostname: 'imp-b' });
      assert.equal(asB.status, 403);
      assert.match(String((asB.body as { message?: string }).message), /cannot act as agent/);
      assert.equal(await heartbeat(a.mtls, b.agentId, b.streamId), 403);
      // Not even with the admin token or B's agent token beside it: the certificate decides.
      assert.equal(await heartbeat(a.mtls, b.agentId, b.streamId, TEST_ADMIN_TOKEN), 403);
      // B is still registered and its own certificate still acts as B.
      assert.equal(await heartbeat(b.mtls, b.agentId, b.streamId), 202);
      // A re-registers as itself with its certificate.
      const again = await register(a.mtls, { id: a.agentId, hostname: 'imp-a' });
      assert.equal(again.status, 200);
      assert.equal(again.agentId, a.agentId);
      again.close();
    } finally {
      a.close();
      b.close();
    }
  });

  test('over TLS a token naming an agent does not prove the id: only the certificate does', async () => {
    const { csrPem } = await newAgentKey();
    const joined = await register(anonymous, { token: TEST_AGENT_TOKEN, csr: csrPem, hostname: 'token-only' });
    assert.equal(joined.status, 200);
    try {
      // The agent token the master issued (auth), sent over TLS without the certificate.
      const agentToken = await server.iam!.agentToken(joined.agentId!);
      assert.equal(await heartbeat(anonymous, joined.agentId!, joined.streamId!, agentToken), 403);
      const reregister = await register(anonymous, { token: agentToken, id: joined.agentId!, hostname: 'token-only' });
      assert.equal(reregister.status, 403);
      assert.match(String((reregister.body as { message?: string }).message), /must present its certificate/);
    } finally {
      joined.close();
    }
  });

  test("an agent certificate cannot call the master's other APIs", async () => {
    const agent = await bootstrapAgent('not-admin');
    try {
      for (const [method, path, body] of [
        ['GET', '/v2/apps', undefined],
        ['POST', '/v2/apps', { id: '/x', cmd: 'sleep 1', cpus: 0.1, mem: 16 }],
        ['GET', '/master/state', undefined],
        ['POST', '/api/v1', { type: 'GET_AGENTS' }],
      ] as const) {
        const response = await agent.mtls(`${httpsUrl}${path}`, {
          method,
          ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        });
        assert.equal(response.status, 403, `${method} ${path}: ${await response.text()}`);
      }
    } finally {
      agent.close();
    }
  });

  test('expired certificates and certificates of another CA are refused, whatever they name', async () => {
    const agent = await bootstrapAgent('refused');
    try {
      const ca = await ClusterCa.open(store); // the cluster's own CA (the same store)
      const { keyPem, csrPem } = await newAgentKey();
      const expired = await ca.signAgentCsr(csrPem, agent.agentId, { notBefore: Date.now() - 3 * 86_400_000, ttlMs: 86_400_000 });
      const viaExpired = tlsFetch({ caPem, certPem: expired, keyPem });
      assert.equal(await heartbeat(viaExpired, agent.agentId, agent.streamId), 401);
      const other = await ClusterCa.open(createMemoryStore());
      const foreign = await other.signAgentCsr(csrPem, agent.agentId);
      const viaForeign = tlsFetch({ caPem, certPem: foreign, keyPem });
      assert.equal(await heartbeat(viaForeign, agent.agentId, agent.streamId), 401);
      const response = await viaForeign(`${httpsUrl}/v2/info`, { headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } });
      assert.equal(response.status, 401);
      assert.match(await response.text(), /not trusted/);
      // A bad CSR is a 4xx with the field, and no agent is added.
      const before = server.master.agents.size;
      const bad = await register(anonymous, { token: TEST_AGENT_TOKEN, csr: 'not a csr', hostname: 'bad-csr' });
      assert.equal(bad.status, 422);
      assert.match(JSON.stringify(bad.body), /\/register\/csr/);
      assert.equal(server.master.agents.size, before);
    } finally {
      agent.close();
    }
  });

  test('a master restart keeps the CA: certificates issued before still prove their agent', async () => {
    const agent = await bootstrapAgent('survivor');
    agent.close();
    const caBefore = caPem;
    await server.close();
    await start();
    assert.equal(caPem, caBefore);
    const again = await register(agent.mtls, { id: agent.agentId, hostname: 'survivor' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.agentId, agent.agentId);
    again.close();
  });
});

describe('the CLI and a real agent over HTTPS', () => {
  test('the CLI trusts the cluster CA (DROVER_CA_CERT) for an https:// master, and refuses it without', async () => {
    const home = await mkdtemp(join(tmpdir(), 'drover-tls-cli-'));
    try {
      const caFile = join(home, 'ca.crt');
      await writeFile(caFile, caPem);
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, DROVER_DATA_DIR: join(home, 'no-dev-here'), DROVER_LOG_LEVEL: 'warn', DROVER_TOKEN: TEST_ADMIN_TOKEN };
      delete env['DROVER_CA_CERT'];
      const drover = (extra: NodeJS.ProcessEnv, ...args: string[]) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [DROVER_BIN, ...args, '--master', httpsUrl], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) =>
            resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
          );
        });
      const trusted = await drover({ DROVER_CA_CERT: caFile }, 'app', 'list', '--json');
      assert.equal(trusted.status, 0, trusted.stderr);
      assert.ok(Array.isArray(JSON.parse(trusted.stdout)));
      const untrusted = await drover({}, 'app', 'list', '--json');
      assert.equal(untrusted.status, 1);
      assert.match(untrusted.stderr, /certificate/i);
      // `drover dev`'s data dir: the CLI on that machine finds ca.crt there.
      const dataDir = join(home, 'dev-data');
      const { writeCaFile } = await import('../src/cluster/dev.ts');
      await writeCaFile(dataDir, caPem);
      const viaDataDir = await drover({ DROVER_DATA_DIR: dataDir }, 'app', 'list', '--json');
      assert.equal(viaDataDir.status, 0, viaDataDir.stderr);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('an agent joins by TLS bootstrap, keeps its key (mode 600) and certificate, and re-registers with them after a restart', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'drover-tls-agent-'));
    const options = {
      masterUrl: httpsUrl,
      masterCaPem: caPem,
      port: 0,
      workDir,
      resources: Resources.parse('cpus:1;mem:256;ports:[31000-31010]'),
      detectResources: false,
      containerizer: 'posix' as const,
      bootstrapToken: TEST_AGENT_TOKEN,
      logger: silentLogger(),
      heartbeatIntervalOverride: 0.2,
    };
    let agent = new Agent(options);
    try {
      await agent.start();
      await eventually(() => agent.registered && agent.agentId !== undefined, 'the agent registered over HTTPS', 60_000);
      const id = agent.agentId!;
      const keyFile = join(workDir, 'meta', 'agent-key.pem');
      const certFile = join(workDir, 'meta', 'agent-cert.pem');
      await eventually(async () => (await stat(certFile).catch(() => undefined)) !== undefined, 'the certificate is kept', 60_000);
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
      const certPem = await readFile(certFile, 'utf8');
      assert.equal(agentIdOf(new X509Certificate(certPem)), id);
      // Its heartbeats (on new connections, with the certificate) keep it active.
      const lastSeen = server.master.agents.get(id)!.lastSeen;
      await eventually(() => server.master.agents.get(id)!.lastSeen > lastSeen, 'a heartbeat with the certificate was accepted', 60_000);
      // The master's files relay reaches it over mTLS.
      assert.equal(server.master.agents.get(id)!.certified, true);
      const relayed = await anonymous(`${httpsUrl}/agent/${id}/files/browse?path=${encodeURIComponent(workDir)}`, { headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } });
      assert.equal(relayed.status, 200, await relayed.clone().text());
      await relayed.text();
      // Something else at the agent's address, with a certificate of the same CA for another
      // agent: the relay refuses to talk to it (the certificate must name the agent asked for).
      const other = await bootstrapAgent('impostor');
      const impostor = createHttpsServer({ cert: other.certPem, key: other.keyPem }, (_req, res) => res.end('impostor'));
      await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
      const record = server.master.agents.get(id)!;
      const realPort = record.port;
      try {
        record.port = (impostor.address() as AddressInfo).port;
        const refused = await anonymous(`${httpsUrl}/agent/${id}/files/browse?path=${encodeURIComponent(workDir)}`, { headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } });
        const body = await refused.text();
        assert.notEqual(refused.status, 200);
        assert.doesNotMatch(body, /impostor/);
      } finally {
        record.port = realPort;
        impostor.close();
        other.close();
      }
      await agent.stop();
      agent = new Agent(options);
      await agent.start();
      await eventually(() => agent.registered, 'the restarted agent registered again', 60_000);
      assert.equal(agent.agentId, id);
      // No new CSR: the same certificate proved the id.
      assert.equal(await readFile(certFile, 'utf8'), certPem);
    } finally {
      await agent.stop();
      await rm(workDir, { recursive: true, force: true });
    }
  });

  test("an agent verifies the master's certificate: another CA's master is refused (--master-ca), so is a CA without the pinned hash (--master-ca-hash); the right hash joins and keeps the CA", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-tls-pin-'));
    const running: Array<ReturnType<typeof spawn>> = [];
    /** `drover agent` as its own process; its output so far, and a wait for a pattern in it. */
    const agentProcess = (name: string, flags: string[]) => {
      const env: NodeJS.ProcessEnv = { ...process.env, DROVER_LOG_LEVEL: 'info', DROVER_AGENT_TOKEN: TEST_AGENT_TOKEN };
      delete env['DROVER_CA_CERT'];
      const child = spawn(
        process.execPath,
        [DROVER_BIN, 'agent', '--master', httpsUrl, '--port', '0', '--work-dir', join(dir, name), '--hostname', name, '--resources', 'cpus:1;mem:128', '--containerizer', 'posix', ...flags],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running.push(child);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      return { output: () => out, seen: (pattern: RegExp) => eventually(() => pattern.test(out), `${name}: ${pattern} in its output`, 120_000) };
    };
    const registeredAs = (hostname: string) => [...server.master.agents.values()].find((a) => a.hostname === hostname);
    try {
      // A CA of another cluster: its certificate and its hash.
      const otherStore = createMemoryStore();
      const other = await ClusterCa.open(otherStore);
      await otherStore.close();
      const otherFile = join(dir, 'other-ca.crt');
      await writeFile(otherFile, other.certPem);
      assert.notEqual(caCertHash(other.certPem), caCertHash(caPem));

      // --master-ca of another CA: the handshake fails, the agent never registers (and keeps trying).
      const wrongCa = agentProcess('wrong-ca', ['--master-ca', otherFile]);
      await wrongCa.seen(/master-registration-failed[\s\S]*(certificate|self.signed)/i);
      assert.equal(registeredAs('wrong-ca'), undefined, wrongCa.output());

      // --master-ca-hash of another CA: the master's chain has no CA with it; nothing is kept.
      const wrongPin = agentProcess('wrong-pin', ['--master-ca-hash', caCertHash(other.certPem)]);
      await wrongPin.seen(/master-ca-refused[\s\S]*pinned hash/);
      assert.equal(registeredAs('wrong-pin'), undefined, wrongPin.output());
      assert.equal(await stat(join(dir, 'wrong-pin', 'meta', 'master-ca.pem')).catch(() => undefined), undefined);

      // The right hash: the agent finds the CA in the master's chain, keeps it, and joins by TLS bootstrap.
      const pinned = agentProcess('pinned', ['--master-ca-hash', caCertHash(caPem).toUpperCase().replace('SHA256:', 'sha256:')]);
      await eventually(() => registeredAs('pinned')?.certified === true, 'the agent with the pinned CA hash registered with a certificate', 120_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${pinned.output()}`);
      });
      assert.equal((await readFile(join(dir, 'pinned', 'meta', 'master-ca.pem'), 'utf8')).trim(), caPem.trim());
      // Still refused: the agents of the wrong CA and pin never got in.
      assert.equal(registeredAs('wrong-ca'), undefined);
      assert.equal(registeredAs('wrong-pin'), undefined);
    } finally {
      for (const child of running) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('certificate rotation: an agent renews its certificate (same key) once two thirds of its lifetime are gone, and stays registered with the new one', async () => {
    const rotatingStore = createMemoryStore();
    // Agent certificates of 150 s, issued backdated a minute: valid 90 s more, renewed after 40 s.
    const rotating = await startMasterServer({
      store: rotatingStore,
      logger: pino({ level: 'warn' }),
      port: 0,
      host: '127.0.0.1',
      ui: false,
      jobs: false,
      auth: { mode: 'on', adminToken: TEST_ADMIN_TOKEN, agentToken: TEST_AGENT_TOKEN },
      tls: { mode: 'on', agentCertTtlMs: 150_000 },
    });
    const workDir = await mkdtemp(join(tmpdir(), 'drover-tls-rotate-'));
    const agent = new Agent({
      masterUrl: rotating.httpsUrl!,
      masterCaPem: rotating.caCertPem!,
      port: 0,
      workDir,
      resources: Resources.parse('cpus:1;mem:128'),
      detectResources: false,
      containerizer: 'posix' as const,
      bootstrapToken: TEST_AGENT_TOKEN,
      logger: silentLogger(),
      heartbeatIntervalOverride: 0.5,
    });
    try {
      await agent.start();
      const certFile = join(workDir, 'meta', 'agent-cert.pem');
      const keyFile = join(workDir, 'meta', 'agent-key.pem');
      const first = await eventually(
        async () => {
          const pem = await readFile(certFile, 'utf8').catch(() => undefined);
          return pem === undefined ? undefined : new X509Certificate(pem);
        },
        'the first certificate',
        60_000,
      );
      const id = agentIdOf(first)!;
      const key = await readFile(keyFile, 'utf8');
      // Renewal comes at two thirds of the lifetime: about 40 s from now.
      const second = await eventually(
        async () => {
          const cert = new X509Certificate(await readFile(certFile, 'utf8'));
          return cert.serialNumber !== first.serialNumber ? cert : undefined;
        },
        'a renewed certificate',
        150_000,
      );
      assert.equal(agentIdOf(second), id, 'the renewed certificate binds the same agent id');
      assert.ok(Date.parse(second.validTo) > Date.parse(first.validTo), `${second.validTo} after ${first.validTo}`);
      assert.ok(second.checkIssued(new X509Certificate(rotating.caCertPem!)));
      assert.equal(await readFile(keyFile, 'utf8'), key, 'the key is kept: only the certificate changes');
      assert.equal(second.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), first.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
      // Registered again under its id, and its heartbeats (with the new certificate) keep it active.
      await eventually(() => agent.registered && rotating.master.agents.get(id)?.certified === true, 'registered again with the renewed certificate', 60_000);
      assert.equal(agent.agentId, id);
      const seen = rotating.master.agents.get(id)!.lastSeen;
      await eventually(() => rotating.master.agents.get(id)!.lastSeen > seen, 'a heartbeat after the renewal was accepted', 60_000);
    } finally {
      await agent.stop();
      await rotating.close();
      await rotatingStore.close();
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
