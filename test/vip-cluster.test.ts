/**
 * VIPs end to end (issue 18 point 3): a real `drover master` (services) on a private bridge and two
 * real `drover agent --vip` processes, each in its own network namespace (devkit/vip-lab.ts), each
 * programming its own namespace's kernel from the master's operator stream. An app of 4 instances
 * (2 per agent, host networking inside the agents' namespaces) declares `VIP_0: /web:80`:
 *
 * - both agents program the same VIP address; a client on agent A reaches all 4 instances through
 *   it, the 2 on agent B too (DNAT, masquerade, and back);
 * - scaling to 2 kills 2 instances while a client on agent A holds 20 connections and opens fresh
 *   ones without pause: with --vip-drain the killed instances leave the VIP (TASK_KILLING) before
 *   their SIGTERM — not one request fails, no held connection to a survivor is reset. (Run with
 *   `--vip-drain 0secs`, the same test sees ECONNREFUSED and ECONNRESET.)
 * - a master restart never empties the VIP (the agents' VIP processes keep the tasks of agents the
 *   new master has not heard from yet): 0 failed requests across it;
 * - a bad VIP label is a 422 naming it; stopping an agent removes its nftables table.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { parseVipRange, vipAddressOf, vipTable } from '../src/agent/vip/table.ts';
import { vipChainName } from '../src/agent/vip/nft-script.ts';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';
import { tlsFetch } from '../src/iam/tls-client.ts';
import type { NetNode } from '../devkit/netns.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { createVipLab, type VipLab, vipLabUnavailable } from '../devkit/vip-lab.ts';

const unavailable = vipLabUnavailable();
const BACKEND = fileURLToPath(new URL('../devkit/vip-lab/backend.mjs', import.meta.url));
const SUFFIX = `_c${randomBytes(3).toString('hex')}`;
const TABLE = `drover${SUFFIX}`;
let root: string;
let lab: VipLab;
let master: DroverProcess;
/** The master's HTTPS URL and a fetch trusting its CA. */
let masterUrl: string;
let api: typeof fetch;
const agents: Array<{ node: NetNode; process: DroverProcess }> = [];

/** A master on the lab bridge; its store is a file, so a restart on the same port keeps the registry. */
async function startMaster(port: number): Promise<DroverProcess> {
  // TLS on (the default): on a bridge address only HTTPS is allowed, so the agents and this test
  // reach the master at https:// trusting the cluster CA (written to <data-dir>/ca.crt).
  const started = await startDrover([
    'master',
    '--host',
    lab.lan.hostIp,
    '--port',
    String(port),
    '--store',
    `sqlite:${join(root, 'master.db')}`,
    '--data-dir',
    join(root, 'master-data'),
    '--allocation-interval',
    '0.2',
    '--no-jobs',
  ]);
  masterUrl = started.url.replace(/^http:/, 'https:');
  api = tlsFetch({ caPem: await readFile(caFile(), 'utf8') });
  return started;
}

const caFile = (): string => join(root, 'master-data', 'ca.crt');

/** Where every agent must put /web:80: the address follows from the name alone. */
function expectedVip(): string {
  const range = parseVipRange('11.0.0.0/8');
  if (typeof range === 'string') throw new Error(range);
  return vipAddressOf(vipTable([{ taskId: 'x', state: 'TASK_RUNNING', ports: [{ number: 1, protocol: 'tcp', labels: { VIP_0: '/web:80' } }] }], range), '/web')!;
}

before(async () => {
  if (unavailable) return;
  root = await mkdtemp(join(tmpdir(), 'drover-vipc-'));
  lab = await createVipLab({ backends: 0 });
  const second = lab.lan.addNode();
  execFileSync('ip', ['-n', second.ns, 'route', 'add', 'default', 'via', lab.lan.hostIp]);
  master = await startMaster(0);
  for (const [i, node] of [lab.agent, second].entries()) {
    // Two instances (0.1 cpus each) per agent. DROVER_TOKEN (devkit/credentials.ts: the admin
    // token) is the credential the VIP process follows the operator stream with.
    const args = ['agent', '--master', masterUrl, '--master-ca', caFile(), '--host', node.ip, '--port', '0', '--work-dir', join(root, `agent${i}`), '--hostname', node.ip, '--containerizer', 'posix'];
    args.push('--resources', 'cpus:0.2;mem:256;disk:100;ports:[21950-21999]', '--vip', '--vip-table-suffix', SUFFIX, '--vip-drain', '3secs');
    agents.push({ node, process: await startDrover(args, { prefix: node.exec }) });
  }
});
after(async () => {
  // Tasks outlive a stopped agent (it reattaches on restart): they must be gone before it stops.
  if (master) {
    await call('DELETE', '/v2/apps/web?force=true').catch(() => undefined);
    await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000).catch(() => undefined);
  }
  for (const a of agents) await a.process.stop();
  await master?.stop();
  await lab?.destroy();
  if (root) await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await api(`${masterUrl}${path}`, {
    method,
    headers: { authorization: `token=${TEST_ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** The backends of the VIP chain as the kernel of `node` holds them (undefined: no such chain). */
function kernelBackends(node: NetNode, vip: string): string[] | undefined {
  let text: string;
  try {
    text = execFileSync('ip', ['netns', 'exec', node.ns, 'nft', 'list', 'chain', 'ip', TABLE, vipChainName({ ip: vip, port: 80, protocol: 'tcp' })], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  } catch {
    return undefined;
  }
  const many = /map \{([^}]*)\}/.exec(text);
  if (many) return [...many[1]!.matchAll(/(\d+\.\d+\.\d+\.\d+) \. (\d+)/g)].map((m) => `${m[1]}:${m[2]}`).sort();
  const one = /dnat ip to (\d+\.\d+\.\d+\.\d+):(\d+)/.exec(text);
  return one ? [`${one[1]}:${one[2]}`] : [];
}

async function taskAddresses(): Promise<string[]> {
  const r = await call('GET', '/v2/apps/web/tasks');
  if (r.status !== 200) return [];
  return (r.body as { tasks: Array<{ host: string; ports: number[]; state: string }> }).tasks.map((t) => `${t.host}:${t.ports[0]}`).sort();
}

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

  test('every agent balances the VIP over all instances; scaling down resets nothing and fails no request', async () => {
    const created = await call('POST', '/v2/apps', {
      id: '/web',
      cmd: `exec ${process.execPath} ${BACKEND} $HOST:$PORT0 $PORT0`,
      instances: 4,
      cpus: 0.1,
      mem: 32,
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: '/web:80' } }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const vip = expectedVip();
    const all = await eventually(
      async () => {
        const running = await taskAddresses();
        return running.length === 4 ? running : undefined;
      },
      'four tasks',
      90_000,
    );
    // Both agents' kernels hold the VIP at the same address, with all four instances (2 each).
    for (const a of agents) await eventually(() => JSON.stringify(kernelBackends(a.node, vip)) === JSON.stringify(all), `the VIP with 4 backends on ${a.node.ip}`, 60_000);
    assert.deepEqual(new Set(all.map((x) => x.split(':')[0])), new Set(agents.map((a) => a.node.ip)));

    const url = `http://${vip}:80/`;
    const client = await lab.client();
    const hammer = await lab.client();
    try {
      // RUNNING may come a moment before the server listens: wait until all four answer.
      await eventually(
        async () => {
          const b = await client.request<{ names: Record<string, number>; errors: string[] }>({ op: 'burst', url, n: 60 });
          return b.errors.length === 0 && Object.keys(b.names).length === 4;
        },
        'all four instances answer through the VIP from agent A',
        60_000,
      );
      const curl = JSON.parse(execFileSync('ip', ['netns', 'exec', lab.agent.ns, 'curl', '-sS', '--max-time', '30', url]).toString()) as { name: string };
      assert.ok(all.includes(curl.name), `curl answered by ${curl.name}`);

      const held = await client.request<Reply[]>({ op: 'hold', url, n: 20 });
      assert.ok(held.every((r) => r.ok));
      await hammer.request({ op: 'hammer-start', url, concurrency: 2 });
      const scaled = await call('PUT', '/v2/apps/web', { instances: 2 });
      assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
      const left = await eventually(
        async () => {
          const running = await taskAddresses();
          return running.length === 2 ? running : undefined;
        },
        'two tasks left',
        90_000,
      );
      for (const a of agents) await eventually(() => JSON.stringify(kernelBackends(a.node, vip)) === JSON.stringify(left), `the VIP with 2 backends on ${a.node.ip}`, 60_000);
      const gone = all.filter((x) => !left.includes(x));
      // The killed processes have exited: their ports refuse.
      for (const g of gone) await eventually(async () => (await client.request<{ errors: string[] }>({ op: 'burst', url: `http://${g}/`, n: 1 })).errors.length === 1, `${g} has exited`, 60_000);
      const result = await hammer.request<{ ok: number; failed: number; errors: string[]; names: Record<string, number> }>({ op: 'hammer-stop' });
      assert.equal(result.failed, 0, `requests failed while instances were killed: ${result.errors.join(', ')}`);
      assert.ok(result.ok > 0);
      const pings = await client.request<Reply[]>({ op: 'ping' });
      const survivors = pings.filter((p) => left.includes(p.held ?? ''));
      assert.ok(survivors.length > 0, 'some held connections are on the survivors');
      for (const p of survivors) {
        assert.equal(p.ok, true, `held connection to ${p.held}: ${p.error}`);
        assert.equal(p.reused, true);
        assert.equal(p.localPort, p.heldPort);
        assert.equal(p.name, p.held);
      }
    } finally {
      await client.close();
      await hammer.close();
    }
  });

  test('a master restart never empties the VIP: 0 failed requests while the agents re-register', async () => {
    const vip = expectedVip();
    const before = await taskAddresses();
    assert.equal(before.length, 2);
    const hammer = await lab.client();
    try {
      await hammer.request({ op: 'hammer-start', url: `http://${vip}:80/`, concurrency: 2 });
      const port = Number(new URL(master.url).port);
      await master.stop();
      master = await startMaster(port);
      // The new master knows the agents from its registry, their tasks only once they re-register.
      await eventually(async () => JSON.stringify(await taskAddresses()) === JSON.stringify(before), 'both tasks known to the new master', 90_000);
      await eventually(
        async () => {
          const r = await call('GET', '/master/state');
          return (r.body as { slaves?: Array<{ active: boolean }> }).slaves?.filter((a) => a.active).length === 2;
        },
        'both agents re-registered',
        90_000,
      );
      for (const a of agents) assert.deepEqual(kernelBackends(a.node, vip), before);
      const result = await hammer.request<{ ok: number; failed: number; errors: string[] }>({ op: 'hammer-stop' });
      assert.equal(result.failed, 0, `requests failed across the master restart: ${result.errors.join(', ')}`);
      assert.ok(result.ok > 0);
    } finally {
      await hammer.close();
    }
  });

  test('an agent that stops removes its VIP table', async () => {
    await call('DELETE', '/v2/apps/web?force=true');
    await eventually(async () => ((await call('GET', '/v2/tasks')).body as { tasks: unknown[] }).tasks.length === 0, 'all tasks gone', 60_000);
    const b = agents[1]!;
    execFileSync('ip', ['netns', 'exec', b.node.ns, 'nft', 'list', 'table', 'ip', TABLE], { stdio: 'ignore' });
    await b.process.stop();
    assert.throws(() => execFileSync('ip', ['netns', 'exec', b.node.ns, 'nft', 'list', 'table', 'ip', TABLE], { stdio: 'ignore' }));
  });
});
