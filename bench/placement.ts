/**
 * Placement on the hot path: `--instances` instances of one app over `--offers` offers, the way
 * the services framework places a batch of offers (services.ts handleOffers): each offer in
 * turn gets as many instances as fit, the spots growing as instances are placed. Only the
 * placement calls are timed. Scenarios:
 * - plain: cpus, mem, one port, no constraints (the spots are never read, as in services.ts);
 * - constrained: hostname LIKE, rack MAX_PER, hostname MAX_PER, rack UNLIKE (spots read);
 * - catastrophic: hostname UNLIKE `(.*.*)*z` on 30-character hostnames, the pattern of issue 13
 *   (seconds per match under a backtracking engine; skipped with --no-catastrophic).
 *
 * It goes through the services adapter `place(app, …)`, whose signature is unchanged, so the same
 * file measures the code before the placement pipeline (run it from a checkout of that commit).
 *
 * Flags: --instances=50000 --offers=1000 --no-catastrophic --only=plain,constrained
 */
import { Resources } from '../src/resources/index.ts';
import { parseApp } from '../src/frameworks/services/app.ts';
import { place, type Spot } from '../src/frameworks/services/placement.ts';

function flag(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

interface Scenario {
  name: string;
  constraints: string[][];
  hostname: (i: number) => string;
}

function run(scenario: Scenario, instances: number, offers: number): Record<string, unknown> {
  const perOffer = Math.ceil(instances / offers);
  const app = parseApp({ id: `/bench-${scenario.name}`, cmd: 'serve', cpus: 0.1, mem: 32, instances, portDefinitions: [{ port: 0 }], constraints: scenario.constraints }, new Date());
  const agents = Array.from({ length: offers }, (_, i) => ({
    agentId: `agent-${i}`,
    hostname: scenario.hostname(i),
    attributes: { rack: `rack-${i % 20}` },
    // Room for exactly perOffer instances: 0.1 cpus, 32 mem, 1 port each.
    resources: Resources.parse(`cpus:${(perOffer * 0.1).toFixed(1)};mem:${perOffer * 32 + 16};ports:[31000-${31000 + perOffer + 99}]`),
  }));
  const spots: Spot[] = [];
  let want = instances;
  let placed = 0;
  const reasons = new Map<string, number>();
  const started = process.hrtime.bigint();
  for (const offer of agents) {
    if (want === 0) break;
    const result = place(app, offer, scenario.constraints.length > 0 ? spots : [], Math.min(want, perOffer));
    placed += result.launches.length;
    want -= result.launches.length;
    if (scenario.constraints.length > 0) for (let i = 0; i < result.launches.length; i++) spots.push(offer);
    if (result.reason) {
      const kind = result.reason.replace(/:.*$/, '');
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1);
    }
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return {
    scenario: scenario.name,
    constraints: scenario.constraints,
    placed,
    ms: Number(ms.toFixed(1)),
    usPerInstance: Number(((ms * 1000) / Math.max(1, placed)).toFixed(2)),
    refusals: Object.fromEntries(reasons),
  };
}

export default async function placement(args: string[]): Promise<Record<string, unknown>> {
  const instances = flag(args, 'instances', 50_000);
  const offers = flag(args, 'offers', 1_000);
  const scenarios: Scenario[] = [
    { name: 'plain', constraints: [], hostname: (i) => `agent-${i}.example` },
    {
      name: 'constrained',
      constraints: [
        ['hostname', 'LIKE', 'agent-[0-9]+\\.example'],
        ['rack', 'MAX_PER', '2500'],
        ['hostname', 'MAX_PER', '100'],
        ['rack', 'UNLIKE', 'rack-(99|98)'],
      ],
      hostname: (i) => `agent-${i}.example`,
    },
  ];
  if (!args.includes('--no-catastrophic')) {
    // 30 characters, no z: the pattern cannot match, which is what made backtracking explode.
    scenarios.push({ name: 'catastrophic', constraints: [['hostname', 'UNLIKE', '(.*.*)*z']], hostname: (i) => `agent-${String(i).padStart(6, '0')}-aaaaaaaaaaaaaaaaa`.slice(0, 30) });
  }
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const results = scenarios.filter((s) => only === undefined || only.includes(s.name)).map((s) => run(s, instances, offers));
  return { bench: 'placement', instances, offers, results, node: process.version };
}
