/**
 * The cluster CA's rotation (docs/architecture/018-ca-rotation.md) on real processes — a master
 * and an agent with TLS on (the default), the agent trusting the master's ca.crt — and the CLI:
 *
 * - `drover ca rotate`: a new CA; the live agent is asked to register again, gets a certificate of
 *   the new CA, and its task keeps running; the master trusts both CAs meanwhile;
 * - `drover ca finish`: the old CA is dropped; a certificate of the old CA is refused (401), one of
 *   the new CA is taken, and the agent (told to trust the new CA alone) is registered with its task;
 * - a second rotation while the agent is down: finishing is refused (409) naming it; started again,
 *   it moves to the newest CA at its re-registration, and then the rotation finishes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';
import { tlsFetch } from '../src/iam/tls-client.ts';
import { httpCall } from './support/http.ts';

const WAIT_MS = 120_000;

interface CaStatus {
  rotating: boolean;
  current: { subject: string; hash: string };
  previous?: { subject: string; hash: string };
  agents: { total: number; onCurrent: number; pending: Array<{ id: string; hostname: string }> };
}

let dir: string;
let master: DroverProcess;
let agent: DroverProcess;
let httpsBase: string;
let agentId: string;
let taskId: string;
const call = (method: string, path: string, body?: unknown) => httpCall(master.url, method, path, body);
const agentFile = (name: string) => readFile(join(dir, 'agent', 'meta', name), 'utf8');

function startAgent(): Promise<DroverProcess> {
  return startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    join(dir, 'agent'),
    '--hostname',
    `ca-rotate-${process.pid}`,
    '--resources',
    'cpus:2;mem:1024;disk:1000;ports:[23901-23950]',
    '--master-ca',
    join(dir, 'master', 'ca.crt'),
  ]);
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [DROVER_BIN, 'ca', ...args, '--master', master.url], { encoding: 'utf8', timeout: 60_000 });
}

/** An HTTPS call as whoever holds `cert` (with the admin token), trusting the CAs in `caPem`. */
async function asHolder(cert: { certPem: string; keyPem: string }, caPem: string): Promise<number> {
  const answer = await tlsFetch({ caPem, certPem: cert.certPem, keyPem: cert.keyPem })(`${httpsBase}/tls/v1/ca`, { headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } });
  await answer.arrayBuffer();
  return answer.status;
}

const certsIn = (bundle: string) => (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
const subjectOf = (x: X509Certificate) => x.subject.replace(/\n/g, ', ');

/** The task is still the one launched before, running. */
async function taskStillRunning(): Promise<void> {
  const tasks = ((await call('GET', '/v2/apps/sleeper/tasks')).body as { tasks: Array<{ id: string; state: string }> }).tasks;
  assert.deepEqual(
    tasks.map((t) => [t.id, t.state]),
    [[taskId, 'TASK_RUNNING']],
  );
}

/** The agent is registered (again) and active. */
async function agentRegistered(): Promise<void> {
  await eventually(
    async () => ((await call('GET', '/master/state')).body as { slaves: Array<{ id: string; active: boolean }> }).slaves.some((s) => s.id === agentId && s.active),
    'the agent registered',
    WAIT_MS,
  );
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-ca-rotate-'));
  master = await startDrover(['master', '--port', '0', '--store', `sqlite:${join(dir, 'master.db')}`, '--data-dir', join(dir, 'master'), '--allocation-interval', '0.2', '--no-jobs']);
  httpsBase = master.url.replace('http://', 'https://');
  agent = await startAgent();
  const slave = await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: Array<{ id: string }> }).slaves[0], 'the agent registered', WAIT_MS);
  agentId = slave.id;
  assert.equal((await call('POST', '/v2/apps', { id: '/sleeper', cmd: 'sleep 100000', cpus: 0.1, mem: 16 })).status, 201);
  taskId = await eventually(
    async () => ((await call('GET', '/v2/apps/sleeper/tasks')).body as { tasks: Array<{ id: string; state: string }> }).tasks.find((t) => t.state === 'TASK_RUNNING')?.id,
    'the task runs',
    WAIT_MS,
  );
});

after(async () => {
  await call('DELETE', '/v2/apps/sleeper?force=true').catch(() => undefined);
  await eventually(async () => ((await call('GET', '/v2/apps/sleeper/tasks')).status === 404 ? true : undefined), 'the app is gone', WAIT_MS).catch(() => undefined);
  await agent?.stop();
  await master?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('rotate: a new CA; the agent gets a certificate of it at once, its task keeps running; finish: the old CA is refused', async () => {
  const before = (await call('GET', '/tls/v1/ca')).body as CaStatus;
  assert.equal(before.rotating, false);
  assert.deepEqual(before.agents, { total: 1, onCurrent: 1, pending: [] });
  const oldCa = certsIn(await readFile(join(dir, 'master', 'ca.crt'), 'utf8'));
  assert.equal(oldCa.length, 1);
  const oldAgentCert = { certPem: await agentFile('agent-cert.pem'), keyPem: await agentFile('agent-key.pem') };
  assert.ok(new X509Certificate(oldAgentCert.certPem).checkIssued(oldCa[0]!));

  const rotated = cli(['rotate', '--json']);
  assert.equal(rotated.status, 0, rotated.stderr);
  const status = JSON.parse(rotated.stdout) as CaStatus;
  assert.equal(status.rotating, true);
  assert.equal(status.previous?.subject, subjectOf(oldCa[0]!));
  assert.notEqual(status.current.subject, status.previous?.subject);
  // The file agents and the CLI trust now holds both, the new one first.
  const bundle = await readFile(join(dir, 'master', 'ca.crt'), 'utf8');
  const [newCa, stillOld] = certsIn(bundle);
  assert.equal(subjectOf(newCa!), status.current.subject);
  assert.equal(stillOld?.fingerprint256, oldCa[0]!.fingerprint256);
  // A second rotation waits for this one.
  assert.equal((await call('POST', '/tls/v1/ca/rotate', {})).status, 409);

  // The live agent was asked to register again: it holds a certificate of the new CA now (same key).
  const renewed = await eventually(
    async () => {
      const pem = await agentFile('agent-cert.pem');
      return new X509Certificate(pem).checkIssued(newCa!) && pem;
    },
    "the agent's certificate of the new CA",
    WAIT_MS,
  );
  assert.equal(await agentFile('agent-key.pem'), oldAgentCert.keyPem);
  assert.equal(await agentFile('master-ca-bundle.pem'), bundle);
  await eventually(async () => ((await call('GET', '/tls/v1/ca')).body as CaStatus).agents.onCurrent === 1, 'the master sees the agent on the new CA', WAIT_MS);
  await agentRegistered();
  await taskStillRunning();
  // Both CAs are trusted meanwhile.
  assert.equal(await asHolder(oldAgentCert, bundle), 200);

  // Finish: refused for a bad body; then done.
  assert.equal((await call('POST', '/tls/v1/ca/finish', { force: 'yes' })).status, 422);
  const finished = cli(['finish', '--json']);
  assert.equal(finished.status, 0, finished.stderr);
  assert.equal((JSON.parse(finished.stdout) as CaStatus).rotating, false);
  assert.equal((JSON.parse(finished.stdout) as CaStatus).previous, undefined);
  const onlyNew = await readFile(join(dir, 'master', 'ca.crt'), 'utf8');
  assert.deepEqual(
    certsIn(onlyNew).map((c) => c.fingerprint256),
    [newCa!.fingerprint256],
  );
  // A certificate of the old CA is refused; one of the new CA is not.
  assert.equal(await asHolder(oldAgentCert, onlyNew), 401);
  assert.equal(await asHolder({ certPem: renewed, keyPem: oldAgentCert.keyPem }, onlyNew), 200);
  // The agent registered again (every agent does at a finish) and was told to trust the new CA alone.
  await eventually(async () => (await agentFile('master-ca-bundle.pem')) === onlyNew, 'the agent trusts the new CA alone', WAIT_MS);
  await agentRegistered();
  await taskStillRunning();
  assert.equal((await call('POST', '/tls/v1/ca/finish', {})).status, 409);
});

test('a rotation with the agent down: finish refused naming it; started again, it moves to the newest CA; then finish', async () => {
  await agent.stop();
  const rotated = (await call('POST', '/tls/v1/ca/rotate', {})).body as CaStatus;
  assert.equal(rotated.rotating, true);
  assert.deepEqual(rotated.agents.pending, [{ id: agentId, hostname: `ca-rotate-${process.pid}` }]);
  const refused = await call('POST', '/tls/v1/ca/finish', {});
  assert.equal(refused.status, 409);
  assert.ok(JSON.stringify(refused.body).includes(agentId), JSON.stringify(refused.body));

  agent = await startAgent();
  const newest = certsIn(await readFile(join(dir, 'master', 'ca.crt'), 'utf8'))[0]!;
  assert.equal(subjectOf(newest), rotated.current.subject);
  await eventually(async () => new X509Certificate(await agentFile('agent-cert.pem')).checkIssued(newest), "the agent's certificate of the newest CA", WAIT_MS);
  await eventually(async () => ((await call('GET', '/tls/v1/ca')).body as CaStatus).agents.pending.length === 0, 'no agent left on the old CA', WAIT_MS);
  const finished = await call('POST', '/tls/v1/ca/finish', {});
  assert.equal(finished.status, 200, JSON.stringify(finished.body));
  await agentRegistered();
  // Recovered by the restarted agent, the same task.
  await taskStillRunning();
});
