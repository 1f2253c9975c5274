/**
 * A real three-member etcd cluster on loopback for fault tests: members can be killed (SIGKILL)
 * and started again on their own data dir and ports, so quorum can be lost and regained.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, kill, spawnEtcd, waitHealthy } from '../../devkit/etcd.ts';

export interface EtcdCluster {
  /** `etcd://h:p,h:p,h:p` for openStore() and `drover master --store`. */
  readonly storeUrl: string;
  kill(member: number): Promise<void>;
  start(member: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcdCluster(options: { parentDir?: string; size?: number } = {}): Promise<EtcdCluster> {
  const size = options.size ?? 3;
  const binary = process.env['DROVER_ETCD'] ?? '/usr/bin/etcd';
  const root = await mkdtemp(join(options.parentDir ?? tmpdir(), 'drover-etcd-cluster-'));
  const members: Array<{ name: string; client: string; peer: string; dataDir: string }> = [];
  for (let i = 0; i < size; i++) members.push({ name: `m${i}`, client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}`, dataDir: join(root, `m${i}`) });
  const cluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
  const children: Array<ChildProcess | undefined> = [];
  const start = async (i: number): Promise<void> => {
    const m = members[i]!;
    const { child, stderr } = spawnEtcd(binary, m.dataDir, m.client, m.peer, m.name, cluster);
    children[i] = child;
    // A lone member of a three-member cluster cannot be healthy (no quorum): only wait when others run.
    const peersUp = children.filter((c) => c !== undefined && c.exitCode === null && c.signalCode === null).length;
    if (peersUp * 2 > size && !(await waitHealthy(child, m.client, 20_000))) throw new Error(`etcd member ${m.name} did not become healthy: ${stderr().trim()}`);
  };
  // Start all members at once: the first cannot become healthy alone.
  await Promise.all(
    members.map((m, i) => {
      const { child } = spawnEtcd(binary, m.dataDir, m.client, m.peer, m.name, cluster);
      children[i] = child;
      return child;
    }),
  );
  for (let i = 0; i < size; i++) {
    if (!(await waitHealthy(children[i]!, members[i]!.client, 20_000))) throw new Error(`etcd member m${i} did not become healthy`);
  }
  return {
    storeUrl: `etcd://${members.map((m) => m.client.replace('http://', '')).join(',')}`,
    async kill(i) {
      const child = children[i];
      if (child) await kill(child, 'SIGKILL');
      children[i] = undefined;
    },
    start,
    async stop() {
      for (const child of children) if (child) await kill(child, 'SIGTERM');
      await rm(root, { recursive: true, force: true });
    },
  };
}
