/**
 * VIPs end to end (issue 18 point 3): a real `drover master` (services) and `drover agent`, an app
 * whose port carries `VIP_0: /web:80`, and the VIP process (src/agent/vip/vip-service.ts)
 * following the master's operator stream and programming the kernel of an "agent" network
 * namespace (devkit/vip-lab.ts). The agent registers with the lab bridge's address as its hostname,
 * so its tasks (host networking, listening on every address) are the VIP's backends from inside
 * the namespace. Scaling down kills one instance while connections are held to the others and
 * fresh ones are opened without pause: with --vip-drain the killed instance leaves the VIP
 * (TASK_KILLING) before its SIGTERM, so not one request fails and no held connection is reset.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { VipService } from '../src/agent/vip/vip-service.ts';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { createVipLab, type VipLab, vipLabUnavailable } from '../devkit/vip-lab.ts';

const unavailable = vipLabUnavailable();
const BACKEND = fileURLToPath(new URL('../devkit/vip-lab/backend.mjs', import.meta.url));
let root: string;
let lab: VipLab;
let master: DroverProcess;
let agent: DroverProcess;
let vips: VipService;

before(async () => {
  if (unavailable) return;
  root = await mkdtemp(join(tmpdir(), 'drover-vipc-'));
  lab = await createVipLab({ backends: 0 });
  master = await startDrover(['master', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2', '--no-jobs']);
  agent = await startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    join(root, 'agent'),
    '--hostname',
    lab.lan.hostIp,
    '--containerizer',
    'posix',
    '--resources',
    'cpus:4;mem:2048;disk:1000;ports:[21950-21999]',
    '--vip-drain',
    '3secs',
  ]);
  vips = new VipService({
    masters: [master.url],
    headers: () => ({ authorization: `token=${TEST_ADMIN_TOKEN}` }),
    tableSuffix: `_t${randomBytes(3).toString('hex')}`,
    netns: lab.agent.ns,
    logger: pino({ level: 'silent' }),
  });
  await vips.start();
});
after(async () => {
  // Tasks outlive a stopped agent (it reattaches on restart): they must be gone before it stops.
  if (master) {
    await call('DELETE', '/v2/apps/web?force=true').catch(() => undefined);
    await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000).catch(() => undefined);
  }
  await vips?.stop();
  await agent?.stop();
  await master?.stop();
  await lab?.destroy();
  if (root) await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${master.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

const webVip = () => vips.table.entries.find((e) => e.names.includes('/web'));

interface Reply {
  ok: boolean;
  name?: string;
  error?: string;
  localPort?: number;
  reused?: boolean;
  held?: string;
  heldPort?: number;
}

describe('VIPs from the master to the kernel', { skip: unavailable }, () => {
  test('a bad VIP label is a 422 naming the label, and creates nothing', async () => {
    const bad = await call('POST', '/v2/apps', { id: '/bad-vip', cmd: 'sleep 100', portDefinitions: [{ port: 0, labels: { VIP_0: '/x y:80' } }] });
    assert.equal(bad.status, 422);
    const details = (bad.body as { details: Array<{ path: string; errors: string[] }> }).details;
    assert.ok(
      details.some((d) => d.path === '/portDefinitions/0/labels/VIP_0' && /name segment/.test(d.errors[0] ?? '')),
      JSON.stringify(details),
    );
    assert.equal((await call('GET', '/v2/apps/bad-vip')).status, 404);
  });

  test('an app with VIP_0 is balanced by the VIP; scaling down resets nothing and fails no request', async () => {
    const created = await call('POST', '/v2/apps', {
      id: '/web',
      cmd: `exec ${process.execPath} ${BACKEND} $PORT0 $PORT0`,
      instances: 3,
      cpus: 0.1,
      mem: 64,
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: '/web:80' } }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Backends appear once the tasks are RUNNING (the VIP process follows TASK_UPDATED events).
    const entry = await eventually(() => (webVip()?.backends.length === 3 ? webVip() : undefined), 'three backends in the VIP', 90_000);
    assert.match(entry.ip, /^11\./);
    assert.equal(entry.port, 80);
    assert.ok(entry.backends.every((b) => b.ip === lab.lan.hostIp));
    const url = `http://${entry.ip}:80/`;
    const names = new Set(entry.backends.map((b) => String(b.port)));

    // The tasks listen as soon as they run, but "RUNNING" may come first: wait for all three.
    const client = await lab.client();
    const hammer = await lab.client();
    try {
      await eventually(
        async () => {
          const b = await client.request<{ names: Record<string, number>; errors: string[] }>({ op: 'burst', url, n: 30 });
          return b.errors.length === 0 && Object.keys(b.names).length === 3;
        },
        'all three instances answer through the VIP',
        60_000,
      );
      const curl = JSON.parse(execFileSync('ip', ['netns', 'exec', lab.agent.ns, 'curl', '-sS', '--max-time', '30', url]).toString()) as { name: string };
      assert.ok(names.has(curl.name), `curl answered by ${curl.name}`);

      const held = await client.request<Reply[]>({ op: 'hold', url, n: 12 });
      assert.ok(held.every((r) => r.ok));
      await hammer.request({ op: 'hammer-start', url, concurrency: 2 });
      const scaled = await call('PUT', '/v2/apps/web', { instances: 2 });
      assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
      // The killed instance is out of the VIP, and then gone from the app.
      await eventually(() => webVip()?.backends.length === 2, 'two backends in the VIP', 60_000);
      await eventually(async () => ((await call('GET', '/v2/apps/web/tasks')).body as { tasks: unknown[] }).tasks.length === 2, 'two tasks left', 60_000);
      const gone = [...names].find((n) => !webVip()!.backends.some((b) => String(b.port) === n))!;
      // Until the process has exited for sure: its port refuses.
      await eventually(
        async () => {
          const direct = await client.request<{ names: Record<string, number>; errors: string[] }>({ op: 'burst', url: `http://${lab.lan.hostIp}:${gone}/`, n: 1 });
          return direct.errors.length === 1;
        },
        'the killed instance has exited',
        60_000,
      );
      const result = await hammer.request<{ ok: number; failed: number; errors: string[]; names: Record<string, number> }>({ op: 'hammer-stop' });
      assert.equal(result.failed, 0, `requests failed while an instance was killed: ${result.errors.join(', ')}`);
      assert.ok(result.ok > 0);
      const pings = await client.request<Reply[]>({ op: 'ping' });
      const survivors = pings.filter((p) => p.held !== gone);
      assert.ok(survivors.length > 0);
      for (const p of survivors) {
        assert.equal(p.ok, true, `held connection to ${p.held}: ${p.error}`);
        assert.equal(p.reused, true);
        assert.equal(p.localPort, p.heldPort);
        assert.equal(p.name, p.held);
      }
    } catch (e) {
      // What the VIP and the app looked like, for the failure message.
      console.log(`# vip table ${JSON.stringify(vips.table)}`);
      console.log(`# tasks ${JSON.stringify((await call('GET', '/v2/apps/web/tasks')).body).slice(0, 2000)}`);
      throw e;
    } finally {
      await client.close();
      await hammer.close();
    }
  });
});
