/**
 * The Marathon API at scale (issue 21), one JSON line: a master (services framework, memory store,
 * auth on) holding `--apps` apps (10,000) in `--groups` groups (50), each with labels and env, and
 * p50/p99 over `--n` sequential requests of
 *
 *   - `GET /v2/apps` (its default embeds: counts and deployments),
 *   - `GET /v2/apps?label=tier==t7` (a label filter matching a tenth of the apps),
 *   - `GET /v2/apps/{id}` (its default embeds: tasks, counts, deployments, readiness, lastTaskFailure),
 *   - `GET /v2/groups`.
 *
 * Goal: every p99 ≤ 100 ms. The apps have 0 instances: no agents, so no launches compete with the
 * requests (task counts are computed all the same). Not covered here: `/master/state` and
 * `/master/tasks` at 50,000 tasks (the Mesos part of the issue).
 *
 * Flags: --apps=10000 --groups=50 --n=50 (requests per endpoint; /v2/apps/{id} takes 10 × n).
 */
import { startMasterServer } from '../src/cluster/master.ts';
import { silentLogger } from '../src/log/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { testAuth } from '../devkit/credentials.ts';

const flag = (args: string[], name: string, fallback: number): number => {
  const raw = args.find((a) => a.startsWith(`--${name}=`));
  return raw === undefined ? fallback : Number(raw.slice(name.length + 3));
};

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)] ?? 0;
}

async function measure(url: string, n: number, path: (i: number) => string): Promise<{ n: number; p50: number; p99: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const response = await fetch(`${url}${path(i)}`);
    const body = await response.arrayBuffer();
    times.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`${path(i)}: ${response.status} ${new TextDecoder().decode(body).slice(0, 200)}`);
    bytes = body.byteLength;
  }
  times.sort((a, b) => a - b);
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  return { n, p50: round(percentile(times, 0.5)), p99: round(percentile(times, 0.99)), bytes };
}

export default async function apiScale(args: string[]): Promise<Record<string, unknown>> {
  const apps = flag(args, 'apps', 10_000);
  const groups = flag(args, 'groups', 50);
  const n = flag(args, 'n', 50);
  const server = await startMasterServer({ store: createMemoryStore(), logger: silentLogger(), port: 0, host: '127.0.0.1', ui: false, jobs: false, auth: testAuth() });
  try {
    const definitions = Array.from({ length: apps }, (_, i) => ({
      id: `/g${i % groups}/app-${i}`,
      cmd: `sleep ${1000 + i}`,
      cpus: 0.01,
      mem: 16,
      instances: 0,
      labels: { tier: `t${i % 10}`, team: `team-${i % 7}`, HAPROXY_GROUP: 'external' },
      env: { APP_INDEX: String(i), MODE: 'bench', REGION: 'eu' },
    }));
    const loadStarted = performance.now();
    for (let i = 0; i < definitions.length; i += 500) {
      const response = await fetch(`${server.url}/v2/apps?force=true`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(definitions.slice(i, i + 500)) });
      if (response.status !== 200) throw new Error(`loading apps: ${response.status} ${await response.text()}`);
    }
    const loadSeconds = Math.round((performance.now() - loadStarted) / 100) / 10;
    const results = {
      apps: await measure(server.url, n, () => '/v2/apps'),
      appsByLabel: await measure(server.url, n, () => '/v2/apps?label=tier==t7'),
      app: await measure(server.url, n * 10, (i) => `/v2/apps/g${(i * 7) % groups}/app-${(i * 7919) % apps}`.replace(/g\d+\/app-(\d+)$/, (_, k: string) => `g${Number(k) % groups}/app-${k}`)),
      groups: await measure(server.url, n, () => '/v2/groups'),
    };
    const worst = Math.max(...Object.values(results).map((r) => r.p99));
    return { bench: 'api-scale', appCount: apps, groupCount: groups, loadSeconds, ...results, goals: { p99Ms: 100, met: worst <= 100 } };
  } finally {
    await server.close();
  }
}
