/**
 * VIP latency against a direct connection (issue 18: goal overhead ≤ 10 %), on the real kernel:
 * devkit/vip-lab.ts's agent namespace with the VIP table, one HTTP backend in its own namespace.
 * A client in the agent namespace sends `--n` requests per round to the backend's own address and
 * as many through the VIP, interleaved one by one (so load on this shared machine hits both
 * alike), for `--rounds` rounds, once on fresh connections (every request a new conntrack entry and a
 * DNAT decision) and once on one keep-alive connection. Also: how long one nft transaction takes
 * to program `--vips` VIPs of 3 backends each, and to update them.
 *
 * Flags: --n=200 --rounds=5 --vips=1000
 */
import { createVipLab, vipLabUnavailable } from '../devkit/vip-lab.ts';
import { parseVipRange, type VipTask, vipAddressOf, vipTable } from '../src/agent/vip/table.ts';

function flag(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export default async function vip(args: string[]): Promise<Record<string, unknown>> {
  const unavailable = vipLabUnavailable();
  if (unavailable) throw new Error(`bench vip needs network namespaces and nft: ${unavailable}`);
  const n = flag(args, 'n', 200);
  const rounds = flag(args, 'rounds', 5);
  const vips = flag(args, 'vips', 1000);
  const range = parseVipRange('11.0.0.0/8');
  if (typeof range === 'string') throw new Error(range);
  const lab = await createVipLab({ backends: 1 });
  try {
    const b = lab.backends[0]!;
    const tasks: VipTask[] = [{ taskId: 'web.1', state: 'TASK_RUNNING', agentIp: b.node.ip, ports: [{ number: b.port, protocol: 'tcp', labels: { VIP_0: '/web:80' } }] }];
    const table = vipTable(tasks, range);
    await lab.kernel.apply(table.entries);
    const viaVip = `http://${vipAddressOf(table, '/web')}:80/`;
    const direct = `http://${b.node.ip}:${b.port}/`;
    const client = await lab.client();
    const samples = { fresh: { direct: [] as number[], vip: [] as number[] }, keepAlive: { direct: [] as number[], vip: [] as number[] } };
    let failed = 0;
    // warm-up (JIT, ARP, conntrack)
    await client.request({ op: 'latency', url: direct, n: 20, fresh: true });
    await client.request({ op: 'latency', url: viaVip, n: 20, fresh: true });
    for (let r = 0; r < rounds; r++)
      for (const mode of ['fresh', 'keepAlive'] as const) {
        const res = await client.request<{ a: number[]; b: number[]; failed: number }>({ op: 'pair', a: direct, b: viaVip, n, fresh: mode === 'fresh' });
        samples[mode].direct.push(...res.a);
        samples[mode].vip.push(...res.b);
        failed += res.failed;
      }
    await client.close();
    const summary = (xs: number[]) => ({ p50: round3(percentile(xs, 50)), p99: round3(percentile(xs, 99)), n: xs.length });
    const overhead = (mode: 'fresh' | 'keepAlive') => round3(percentile(samples[mode].vip, 50) / percentile(samples[mode].direct, 50) - 1);

    // Programming cost: `vips` VIPs × 3 backends in one transaction, then an update of all.
    const many = (port: number): VipTask[] =>
      Array.from({ length: vips * 3 }, (_, i) => ({
        taskId: `t${i}`,
        state: 'TASK_RUNNING',
        agentIp: `10.99.${(i >> 8) & 255}.${i & 255}`,
        ports: [{ number: port, protocol: 'tcp', labels: { VIP_0: `/app${Math.floor(i / 3)}:80` } }],
      }));
    let t0 = performance.now();
    await lab.kernel.apply(vipTable(many(31000), range).entries);
    const programMs = performance.now() - t0;
    t0 = performance.now();
    await lab.kernel.apply(vipTable(many(31001), range).entries);
    const updateMs = performance.now() - t0;
    await lab.kernel.cleanup();
    return {
      bench: 'vip',
      requestsPerPath: n * rounds,
      fresh: { direct: summary(samples.fresh.direct), vip: summary(samples.fresh.vip), overheadP50: overhead('fresh') },
      keepAlive: { direct: summary(samples.keepAlive.direct), vip: summary(samples.keepAlive.vip), overheadP50: overhead('keepAlive') },
      failed,
      nft: { vips, backendsPerVip: 3, programMs: Math.round(programMs), updateAllMs: Math.round(updateMs) },
      goal: 'overheadP50 <= 0.10',
    };
  } finally {
    await lab.destroy();
  }
}
