/**
 * A master on a three-member etcd cluster (real processes): losing one member changes nothing;
 * losing two (quorum) stops writes with a clear 503 and no corruption; when the members return,
 * the master leads again and everything acknowledged before is there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster, type EtcdCluster } from './support/etcd-cluster.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';

let root: string;
let etcd: EtcdCluster;
let master: DroverProcess;
// Which members go down (HA_ETCD_KILL=0,2 picks others: the client's endpoint order matters).
const [KILL_FIRST, KILL_SECOND] = (process.env['HA_ETCD_KILL'] ?? '0,1').split(',').map(Number) as [number, number];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-ha-etcd-'));
  etcd = await startEtcdCluster({ parentDir: root });
  master = await startDrover(['master', '--store', etcd.storeUrl, '--port', '0', '--leader-ttl', '2', '--no-jobs']);
});
after(async () => {
  await master?.stop('SIGKILL');
  await etcd?.stop();
  await rm(root, { recursive: true, force: true });
});

async function create(id: string): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(`${master.url}/v2/apps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, cmd: 'sleep 1', cpus: 0.01, mem: 16, instances: 0 }),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { status: 0, body: (e as Error).message };
  }
}

test('one etcd member down: service continues; two down: writes stop with a 503; back: it resumes with nothing lost', { timeout: 300_000 }, async () => {
  const acknowledged: string[] = [];
  await eventually(async () => (await create('/q/a0')).status === 201 && acknowledged.push('/q/a0'), 'the master leads and writes', 30_000);

  await etcd.kill(KILL_FIRST);
  let i = 1;
  /** Creates `/q/<prefix><n>` until one is acknowledged. */
  const createUntilAcknowledged = (prefix: string, what: string, timeoutMs: number): Promise<unknown> =>
    eventually(
      async () => {
        const id = `/q/${prefix}${i++}`;
        const r = await create(id);
        if (r.status === 201) acknowledged.push(id);
        return r.status === 201;
      },
      what,
      timeoutMs,
    );
  await createUntilAcknowledged('a', 'a write with one member down', 30_000);

  await etcd.kill(KILL_SECOND);
  const seen: string[] = [];
  const refused = await eventually(
    async () => {
      const started = Date.now();
      const r = await create(`/q/b${i++}`);
      seen.push(`${r.status} after ${Date.now() - started} ms: ${r.body.slice(0, 120)}`);
      if (r.status === 201) acknowledged.push(`/q/b${i - 1}`);
      return r.status === 503 ? r : undefined;
    },
    'writes refused without quorum',
    120_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; answers: ${seen.slice(-6).join(' | ')}\nmaster: ${master.output().slice(-3000)}`);
  });
  assert.match(refused.body, /leading master|unavailable|store/i, refused.body);
  console.log(`# without quorum: 503 ${refused.body.slice(0, 200)}`);

  await etcd.start(KILL_FIRST);
  await etcd.start(KILL_SECOND);
  await createUntilAcknowledged('c', 'writes again once quorum is back', 90_000);
  const apps = ((await (await fetch(`${master.url}/v2/apps?id=/q`)).json()) as { apps: Array<{ id: string }> }).apps.map((a) => a.id);
  assert.deepEqual(
    acknowledged.filter((id) => !apps.includes(id)),
    [],
    'every acknowledged create survived',
  );
  console.log(`# ${acknowledged.length} creates acknowledged across the faults, all present`);
});
