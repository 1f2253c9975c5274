/**
 * DNS through restarts and garbage, against a real `drover dev` asked with the real `dig`: a
 * master restart (with its agent; tasks keep running and are reattached) never answers NXDOMAIN
 * for a live task — while state is not recovered an unknown name is SERVFAIL, never a cached
 * negative; garbage on the port (UDP and TCP) does not stop the server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { httpCall, type HttpAnswer } from './support/http.ts';
import { type Dig, digAt, freeDnsPort } from './support/dns.ts';

const RESTART_BOUND_MS = 240_000;
let root: string;
let dev: DroverProcess;
let dnsPort: number;

const devArgs = () => ['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--dns-port', String(dnsPort), '--resources', 'cpus:4;mem:4096;disk:1000;ports:[23200-23300]'];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-dns-restart-'));
  dnsPort = await freeDnsPort();
  dev = await startDrover(devArgs());
  await eventually(async () => ((await get('/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered');
});
after(async () => {
  for (const a of ((await get('/v2/apps')).body as { apps: Array<{ id: string }> }).apps) await call('DELETE', `/v2/apps${a.id}?force=true`);
  await eventually(async () => ((await get('/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 30_000).catch(() => undefined);
  await dev.stop();
  await rm(root, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown): Promise<HttpAnswer> => httpCall(dev.url, method, path, body);
const get = (path: string) => call('GET', path);
const dig = (name: string, type = 'A', tcp = false) => digAt(dnsPort, name, type, tcp);

describe('robustness', () => {
  test('garbage on the DNS port (UDP and TCP) does not stop it', async () => {
    const udp = createSocket('udp4');
    for (let i = 0; i < 500; i++) udp.send(randomBytes(1 + Math.floor(Math.random() * 700)), dnsPort, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    udp.close();
    for (let i = 0; i < 20; i++) {
      // The server closes a connection the client ended (or idle for 10 s): never waits forever.
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: dnsPort }, () => s.end(randomBytes(1 + Math.floor(Math.random() * 3000))));
        // Read whatever comes back: garbage that happens to hold a whole frame gets an answer
        // (FORMERR and the like), and a paused socket with unread data never emits 'close'.
        s.resume();
        s.setTimeout(30_000, () => {
          s.destroy();
          reject(new Error('the DNS server kept a garbage TCP connection open for 30 s'));
        });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
    }
    assert.deepEqual(
      (await dig('leader.mesos')).answers.map((r) => r.data),
      ['127.0.0.1'],
    );
    assert.deepEqual(
      (await dig('leader.mesos', 'A', true)).answers.map((r) => r.data),
      ['127.0.0.1'],
    );
  });

  test('a master restart never answers NXDOMAIN for a live task', async () => {
    const created = await call('POST', '/v2/apps', { id: '/live', cmd: 'exec sleep 600', cpus: 0.1, mem: 32 });
    assert.equal(created.status, 201);
    await eventually(async () => (await dig('live.marathon.mesos')).answers.length === 1, 'live.marathon.mesos answers');
    await dev.stop();
    // `drover dev` stops its agent without killing tasks; the next one reattaches to them.
    const restarting = startDrover(devArgs());
    const seen = new Map<string, number>();
    let answered = false;
    let started: DroverProcess | undefined;
    const deadline = Date.now() + RESTART_BOUND_MS;
    void restarting.then((d) => (started = d)).catch(() => undefined);
    // Ask all through the restart: no answer (not listening yet) and SERVFAIL (state not recovered) are fine, NXDOMAIN never.
    while (!answered) {
      const answer = await dig('live.marathon.mesos').catch(() => ({ status: 'NO-ANSWER', answers: [], additional: [] }) as Dig);
      seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
      assert.notEqual(answer.status, 'NXDOMAIN', `answers seen so far: ${JSON.stringify([...seen])}`);
      answered = answer.status === 'NOERROR' && answer.answers.length === 1;
      // A bound on "never", not a speed check: a restart on a loaded machine takes tens of seconds.
      if (!answered && Date.now() > deadline) assert.fail(`never answered within ${RESTART_BOUND_MS / 1000} s; answers seen: ${JSON.stringify([...seen])}, restarted: ${started !== undefined}`);
      if (!answered && answer.status !== 'NO-ANSWER') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    dev = started ?? (await restarting);
    assert.ok(seen.get('NOERROR'), JSON.stringify([...seen]));
  });
});
