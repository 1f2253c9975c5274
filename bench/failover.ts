/**
 * Leader failover times (issue "High availability"): a real etcd, three `drover master --store
 * etcd://…` and one agent running an app; then, `--kills` times (default 10): kill -9 the leader
 * and time until another master acknowledges a write (a 2xx to `POST /v2/apps` sent to a
 * surviving master), then restart the killed master as a standby. At the end: the app's tasks,
 * which must be the same ones as before the first kill.
 *
 * Flags: --kills=10 --ttl=2 (leader lease seconds) --instances=20
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../devkit/etcd.ts';
import { startDrover, type DroverProcess } from '../devkit/process.ts';

const flag = (args: string[], name: string, fallback: number): number => {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
  return value;
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export default async function failover(args: string[]): Promise<Record<string, unknown>> {
  const kills = flag(args, 'kills', 10);
  const ttl = flag(args, 'ttl', 2);
  const instances = flag(args, 'instances', 20);
  const root = await mkdtemp(join(tmpdir(), 'drover-failover-'));
  const etcd = await startEtcd({ parentDir: root });
  const masters: DroverProcess[] = [];
  const ports: number[] = [];
  const start = (port: number): Promise<DroverProcess> =>
    startDrover(['master', '--store', etcd.storeUrl, '--port', String(port), '--leader-ttl', String(ttl), '--allocation-interval', '0.2', '--agent-heartbeat-interval', '1']);
  const url = (port: number): string => `http://127.0.0.1:${port}`;
  let agent: DroverProcess | undefined;
  try {
    for (let i = 0; i < 3; i++) {
      masters.push(await start(0));
      ports.push(Number(new URL(masters[i]!.url).port));
    }
    agent = await startDrover([
      'agent',
      '--master',
      ports.map(url).join(','),
      '--port',
      '0',
      '--work-dir',
      join(root, 'agent'),
      '--hostname',
      '127.0.0.1',
      '--resources',
      'cpus:2;mem:4096;disk:1000;ports:[22400-22450]',
    ]);
    const leader = async (): Promise<number | undefined> => {
      for (const port of ports) {
        const r = await fetch(`${url(port)}/v2/leader`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        if (r?.status === 200) return Number(((await r.json()) as { leader: string }).leader.split(':').pop());
      }
      return undefined;
    };
    const until = async <T>(check: () => Promise<T | undefined>, ms: number): Promise<T> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const value = await check().catch(() => undefined);
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error('timed out');
        await sleep(50);
      }
    };
    const runningIds = async (): Promise<string[]> => {
      const l = await until(leader, 30_000);
      const r = await fetch(`${url(l)}/v2/apps/bench/tasks`);
      return ((await r.json()) as { tasks: Array<{ id: string; state: string }> }).tasks
        .filter((t) => t.state === 'TASK_RUNNING')
        .map((t) => t.id)
        .sort();
    };
    const first = await until(leader, 30_000);
    await fetch(`${url(first)}/v2/apps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: '/bench', cmd: 'sleep 3600', cpus: 0.01, mem: 16, instances, portDefinitions: [] }),
    });
    const before = await until(async () => {
      const ids = await runningIds();
      return ids.length === instances ? ids : undefined;
    }, 120_000);

    const times: number[] = [];
    for (let k = 0; k < kills; k++) {
      const current = await until(leader, 30_000);
      const index = ports.indexOf(current);
      const killedAt = performance.now();
      await masters[index]!.stop('SIGKILL');
      const survivors = ports.filter((p) => p !== current);
      await until(async () => {
        const via = survivors[Math.floor(Math.random() * survivors.length)]!;
        const r = await fetch(`${url(via)}/v2/apps`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: `/probe/k${k}`, cmd: 'true', cpus: 0.01, mem: 16, instances: 0 }),
          signal: AbortSignal.timeout(2000),
        });
        return r.status === 201 ? true : undefined;
      }, 60_000);
      times.push(Math.round(performance.now() - killedAt));
      masters[index] = await start(current);
      // Let the restarted master join as a standby before the next kill.
      await sleep(500);
    }
    const after = await until(async () => {
      const ids = await runningIds();
      return ids.length === instances ? ids : undefined;
    }, 120_000);
    const sorted = [...times].sort((a, b) => a - b);
    const l = await until(leader, 30_000);
    await fetch(`${url(l)}/v2/apps/bench?force=true`, { method: 'DELETE' });
    await until(async () => ((await runningIds()).length === 0 ? true : undefined), 60_000).catch(() => undefined);
    return {
      bench: 'failover',
      kills,
      leaderTtlSeconds: ttl,
      failoverMs: { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1), all: times },
      tasks: { instances, before: before.length, after: after.length, sameIds: JSON.stringify(before) === JSON.stringify(after) },
      node: process.version,
    };
  } finally {
    await agent?.stop();
    for (const m of masters) await m.stop('SIGKILL').catch(() => undefined);
    await etcd.stop();
    await rm(root, { recursive: true, force: true });
  }
}
