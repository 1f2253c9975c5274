/**
 * VIPs on the real kernel (issue 18 point 3): the VIP table (src/agent/vip/table.ts) programmed
 * with nft (kernel-vips.ts) into an "agent" network namespace, three backends (HTTP servers) in
 * namespaces of their own on a private bridge, clients (devkit/vip-lab/client.mjs) inside the
 * agent namespace (the output path) and inside a namespace routed through it (the prerouting path,
 * as a task on a CNI bridge). One lab for the file; each test leaves the table as it found it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { KernelVips } from '../src/agent/vip/kernel-vips.ts';
import { parseVipRange, type VipTask, vipAddressOf, vipTable } from '../src/agent/vip/table.ts';
import { createVipLab, type LabBackend, type LabClient, type VipLab, vipLabUnavailable } from '../devkit/vip-lab.ts';

const unavailable = vipLabUnavailable();
const range = parseVipRange('11.0.0.0/8');
if (typeof range === 'string') throw new Error(range);
let lab: VipLab;

before(async () => {
  if (unavailable) return;
  lab = await createVipLab({ backends: 3 });
});
after(async () => {
  await lab?.kernel.cleanup().catch(() => undefined);
  await lab?.destroy();
});

/** The tasks of app /web (VIP /web:80) on the given backends, as the master would show them. */
function webTasks(backends: readonly LabBackend[], state: (b: LabBackend) => string = () => 'TASK_RUNNING'): VipTask[] {
  return backends.map((b) => ({ taskId: `web.${b.name}`, state: state(b), agentIp: b.node.ip, ports: [{ number: b.port, protocol: 'tcp', labels: { VIP_0: '/web:80' } }] }));
}

async function program(tasks: VipTask[]): Promise<string> {
  const table = vipTable(tasks, range as Exclude<typeof range, string>);
  assert.deepEqual(table.problems, []);
  await lab.kernel.apply(table.entries);
  return `http://${vipAddressOf(table, '/web')}:80/`;
}

interface Burst {
  names: Record<string, number>;
  errors: string[];
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

describe('VIPs in the kernel (nftables)', { skip: unavailable }, () => {
  test('a client on the agent reaches every backend through the VIP (curl and node)', async () => {
    const url = await program(webTasks(lab.backends));
    const curl = JSON.parse(execFileSync('ip', ['netns', 'exec', lab.agent.ns, 'curl', '-sS', '--max-time', '30', url]).toString()) as { name: string };
    assert.ok(['b0', 'b1', 'b2'].includes(curl.name), `curl through the VIP answered by ${curl.name}`);
    const client = await lab.client();
    try {
      // 60 fresh connections, each backend chosen at random: all three answer (a miss has
      // probability 3 × (2/3)^60 ≈ 10^-10).
      const burst = await client.request<Burst>({ op: 'burst', url, n: 60 });
      assert.deepEqual(burst.errors, []);
      assert.deepEqual(Object.keys(burst.names).sort(), ['b0', 'b1', 'b2']);
    } finally {
      await client.close();
    }
  });

  test('a task behind the agent (prerouting) reaches the VIP; backends see the agent address', async () => {
    const url = await program(webTasks(lab.backends));
    const ns = lab.addTaskNamespace();
    const client = await lab.client(ns);
    try {
      const burst = await client.request<Burst>({ op: 'burst', url, n: 30 });
      assert.deepEqual(burst.errors, []);
      assert.ok(Object.keys(burst.names).length >= 2, JSON.stringify(burst.names));
      const [one] = await client.request<Array<Reply & { remote: string }>>({ op: 'hold', url, n: 1 });
      // masqueraded: the backend answers the agent, which un-NATs back to the task
      assert.equal(one?.remote, lab.agent.ip);
    } finally {
      await client.close();
    }
  });

  test('a killed backend leaves the set first: 0 resets on held connections to the others', async () => {
    const [b0, b1, b2] = lab.backends as [LabBackend, LabBackend, LabBackend];
    const url = await program(webTasks([b0, b1, b2]));
    const client = await lab.client();
    try {
      // Long-lived connections; some land on each backend (12 random picks).
      const held = await client.request<Reply[]>({ op: 'hold', url, n: 12 });
      assert.ok(held.every((r) => r.ok));
      // TASK_KILLING: b2 leaves the VIP (one transaction) — only then is it signalled.
      await program(webTasks([b0, b1, b2], (b) => (b === b2 ? 'TASK_KILLING' : 'TASK_RUNNING')));
      assert.match(lab.nft(['list', 'table', 'ip', lab.table]), /numgen random mod 2 map/);
      await b2.kill();
      const pings = await client.request<Reply[]>({ op: 'ping' });
      const survivors = pings.filter((p) => p.held !== 'b2');
      assert.ok(survivors.length > 0, 'some held connections are on b0 or b1');
      for (const p of survivors) {
        // same connection (local port), reused, answered by the same backend: never reset
        assert.equal(p.ok, true, `held connection to ${p.held}: ${p.error}`);
        assert.equal(p.reused, true);
        assert.equal(p.localPort, p.heldPort);
        assert.equal(p.name, p.held);
      }
      // New connections go to the survivors only, none fails.
      const burst = await client.request<Burst>({ op: 'burst', url, n: 30 });
      assert.deepEqual(burst.errors, []);
      assert.deepEqual(Object.keys(burst.names).sort(), ['b0', 'b1']);
      // b2 gone for good: the VIP keeps the other two.
      await program(webTasks([b0, b1]));
    } finally {
      await client.close();
    }
  });

  test('updates are atomic: no window without backends, held flows survive 40 map flushes', async () => {
    const [b0, b1] = lab.backends as [LabBackend, LabBackend];
    const url = await program(webTasks([b0, b1]));
    const holder = await lab.client();
    const hammer = await lab.client();
    try {
      const held = await holder.request<Reply[]>({ op: 'hold', url, n: 6 });
      assert.ok(held.every((r) => r.ok));
      await hammer.request({ op: 'hammer-start', url, concurrency: 3 });
      // Alternate {b0,b1} → {b0} → {b1} → {b0,b1}…, with an unrelated VIP coming and going, so
      // every update flushes the map, rewrites /web's chain and sometimes deletes a chain.
      const sets = [[b0], [b1], [b0, b1]];
      for (let i = 0; i < 40; i++) {
        const extra: VipTask[] =
          i % 2 === 0 ? [{ taskId: 'other', state: 'TASK_RUNNING', agentIp: b0.node.ip, ports: [{ number: b0.port, protocol: 'tcp', labels: { VIP_0: `/other${i}:81` } }] }] : [];
        await program([...webTasks(sets[i % 3]!), ...extra]);
      }
      const result = await hammer.request<{ ok: number; failed: number; errors: string[]; names: Record<string, number> }>({ op: 'hammer-stop' });
      assert.equal(result.failed, 0, `failed requests during the updates: ${result.errors.join(', ')}`);
      assert.ok(result.ok > 0);
      const pings = await holder.request<Reply[]>({ op: 'ping' });
      for (const p of pings) {
        assert.equal(p.ok, true, `held connection to ${p.held}: ${p.error}`);
        assert.equal(p.localPort, p.heldPort);
        assert.equal(p.name, p.held);
      }
    } finally {
      await holder.close();
      await hammer.close();
    }
  });

  test('a VIP with no live backend refuses at once; a new process takes over the table; cleanup removes it', async () => {
    const url = await program(webTasks(lab.backends.slice(0, 1), () => 'TASK_KILLING'));
    const client = await lab.client();
    try {
      const burst = await client.request<Burst>({ op: 'burst', url, n: 1 });
      assert.deepEqual(burst.errors, ['ECONNREFUSED']);
    } finally {
      await client.close();
    }
    // A restarted VIP process finds the chains the last one left and deletes the gone ones.
    const restarted = new KernelVips({ table: lab.table, netns: lab.agent.ns });
    await restarted.start();
    await restarted.apply([]);
    assert.doesNotMatch(lab.nft(['list', 'table', 'ip', lab.table]), /chain v-/);
    await restarted.cleanup();
    assert.throws(() => lab.nft(['list', 'table', 'ip', lab.table]));
    await restarted.cleanup(); // twice is fine
  });
});
