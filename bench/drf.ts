/**
 * The pure DRF offer cycle alone (src/master/allocator/drf.ts): `allocate()` over 10,000 agents ×
 * 100 frameworks of one role, every agent free and offered, as in the `allocator` simulator
 * scenario but without the master around it (no offer records, no encoding). Reports the mean and
 * p50 of `--cycles` runs after `--warmup` runs (the JIT's first passes are not the steady state).
 *
 * Flags: --agents=10000 --frameworks=100 --cycles=20 --warmup=5 --roles=0 --quota=0
 * (`--roles=10`: frameworks round-robin in role-0…role-9; `--quota=1` with them: role-0 and role-4
 * guaranteed more than they hold, so every cycle has a guarantee stage, role-1 limited, role-2
 * weighing 2 — the shape of sim/scenarios/allocator-quota.json.)
 */
import { allocate, type AllocatorFramework } from '../src/master/allocator/drf.ts';
import { Resources } from '../src/resources/index.ts';

const flag = (args: string[], name: string, fallback: number): number => {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!(value >= 0)) throw new Error(`--${name} must be a non-negative number`);
  return value;
};

export default async function drf(args: string[]): Promise<Record<string, unknown>> {
  const agentCount = flag(args, 'agents', 10_000);
  const frameworkCount = flag(args, 'frameworks', 100);
  const cycles = flag(args, 'cycles', 20);
  const warmup = flag(args, 'warmup', 5);
  const roleCount = flag(args, 'roles', 0);
  const withQuota = flag(args, 'quota', 0) > 0;
  const roleOf = (i: number): string => (roleCount > 0 ? `role-${i % roleCount}` : '*');
  const perAgent = Resources.parse('cpus:32;mem:65536;ports:[31000-32000]');
  const agents = Array.from({ length: agentCount }, (_, i) => ({ id: `agent-${i}`, free: perAgent.subtract(Resources.parse('cpus:1;mem:1280')) }));
  // Each framework already runs what it would have after a cycle of this cluster: equal shares.
  const frameworks: AllocatorFramework[] = Array.from({ length: frameworkCount }, (_, i) => ({
    id: `framework-${String(i).padStart(4, '0')}`,
    roles: [roleOf(i)],
    suppressedRoles: new Set(),
    refusals: new Map(),
    allocated: new Map([[roleOf(i), Resources.parse(`cpus:${agentCount / frameworkCount};mem:${(1280 * agentCount) / frameworkCount}`)]]),
  }));
  const total = Resources.parse(`cpus:${32 * agentCount};mem:${65536 * agentCount}`);
  const cpus = 32 * agentCount;
  const quotas =
    withQuota && roleCount > 0
      ? new Map([
          ['role-0', { guarantees: new Map([['cpus', cpus / 16]]), limits: new Map([['cpus', cpus / 10]]) }],
          [
            'role-1',
            {
              guarantees: new Map(),
              limits: new Map([
                ['cpus', cpus / 64],
                ['mem', (65536 * agentCount) / 64],
              ]),
            },
          ],
          [
            'role-4',
            {
              guarantees: new Map([
                ['cpus', cpus / 32],
                ['mem', (65536 * agentCount) / 32],
              ]),
              limits: new Map(),
            },
          ],
        ])
      : undefined;
  const weights = roleCount > 0 ? new Map([['role-2', 2]]) : undefined;
  const times: number[] = [];
  let offers = 0;
  for (let c = 0; c < warmup + cycles; c++) {
    const t0 = performance.now();
    offers = allocate({ now: 0, seed: c, total, agents, frameworks, ...(weights ? { weights } : {}), ...(quotas ? { quotas } : {}) }).offers.length;
    if (c >= warmup) times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 10) / 10;
  return {
    bench: 'drf',
    agents: agentCount,
    frameworks: frameworkCount,
    roles: Math.max(1, roleCount),
    quota: quotas !== undefined,
    cycles,
    offersPerCycle: offers,
    meanMs: round(times.reduce((a, b) => a + b, 0) / times.length),
    p50Ms: round(sorted[Math.floor(sorted.length / 2)]!),
  };
}
