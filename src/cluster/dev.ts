/**
 * `drover dev`: the whole single-node cluster in one process, all state under --data-dir:
 *   <data-dir>/store.db    the embedded SQLite store (master registry, history)
 *   <data-dir>/agent/      the agent's work dir (checkpoints, sandboxes)
 *   <data-dir>/secrets.key the secret store's key (mode 600), created at first start; never in the store
 *   <data-dir>/admin-token the bootstrap admin token (mode 600): the CLI on this machine finds it
 *   <data-dir>/agent-token the agent bootstrap token (mode 600): what this cluster's agents join with
 *   <data-dir>/ca.crt      the cluster CA's certificate (TLS on): the CLI on this machine trusts it;
 *                          the agent joins over HTTPS with it (TLS bootstrap) and proves its id with
 *                          the certificate the master issues
 * A restart on the same folder recovers the cluster: the agent reattaches to its live tasks and
 * re-registers with its id. The built-in frameworks, DNS and UI join here as their issues land.
 */
import type { UserNamespaceRange } from '../agent/containerizer/linux/launcher.ts';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { newSecret } from '../iam/secrets.ts';
import { resolve, join } from 'node:path';
import type { Logger } from '../log/index.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import { Agent } from '../agent/agent.ts';
import type { Resources } from '../resources/index.ts';
import { ensureKeyFile } from '../secrets/key-file.ts';
import { startMasterServer, type AuthOptions, type MasterServer, type TlsOptions } from './master.ts';
import { DEFAULT_CNI_OPTIONS } from '../agent/network/cni.ts';
import { AgentDns } from '../discovery/agent-dns.ts';
import { DEFAULT_AGENT_DNS, parseHostPort } from '../discovery/agent-dns-flags.ts';
import { VipService } from '../agent/vip/vip-service.ts';
import { tlsFetch } from '../iam/tls-client.ts';
import { vipsUnavailable } from '../agent/vip/kernel-vips.ts';

export interface DevOptions {
  port: number;
  agentPort: number;
  host: string;
  dataDir: string;
  logger: Logger;
  resources?: Resources;
  /** Run the built-in jobs framework (default true). */
  jobs?: boolean;
  /** Finished runs kept per job in the jobs history (default 10). */
  jobsHistoryCount?: number;
  /** The agent's `--cgroups-enable-cfs` (hard CPU quota per task); default false. */
  cgroupsEnableCfs?: boolean;
  /** Master: Mesos --agent_removal_rate_limit, and the mass-unreachable guard (MasterOptions). */
  agentRemovalRate?: { agents: number; perMs: number };
  agentRemovalGuardFraction?: number;
  /** Host directories tasks may fetch files from (`--fetcher-allowed-paths`); default none. */
  fetcherAllowedPaths?: string[];
  /** The agent's `--allow-privileged`; default false. */
  allowPrivileged?: boolean;
  /** The agent's `--host-volume-paths`; default none. */
  hostVolumePaths?: string[];
  /** The agent's `--bridge-name` and `--bridge-subnet` (bridge networking); default drover-br0, 172.30.0.0/16. */
  bridge?: { bridgeName: string; subnet: string };
  /** Who tasks run as unless an app or job names a user: the frameworks' FrameworkInfo.user and the agent's default; default nobody. */
  defaultTaskUser?: string;
  /** `--usage-interval` of the agent (usage-sampler.ts); default 5 s. */
  usageIntervalMs?: number;
  /** Master: adopt agents registered with a newer store (`--accept-stale-store`); default false. */
  acceptStaleStore?: boolean;
  /** The agent's `--user-namespaces` range; default off. */
  userNamespaces?: UserNamespaceRange;
  /**
   * Auth (default on): `{ mode: 'off' }` turns it off (loudly). On, the bootstrap admin and agent
   * tokens are `adminToken`/`agentToken` if given, else those kept in the data dir, else new ones
   * written there (mode 600).
   */
  auth?: AuthOptions;
  /** TLS (default on, plain HTTP on loopback): see TlsOptions. */
  tls?: TlsOptions;
  /** DNS (Mesos-DNS names) on this UDP+TCP port; 0 or absent: off. `dnsPortOptional`: go on without DNS if the port is taken. */
  dnsPort?: number;
  dnsPortOptional?: boolean;
  /**
   * The agent's resolver for its tasks (src/discovery/agent-dns.ts: `.mesos` and
   * `.thisdcos.directory` to this master's DNS, the rest to the host's) on this address (port 53:
   * tasks get a resolv.conf naming it). Default DEFAULT_AGENT_DNS; off: absent DNS, or `false`.
   * Skipped with a warning when the address cannot be bound.
   */
  agentDns?: { host: string; port: number } | false;
  /**
   * VIPs in this host's kernel (the agent's `--vip`: src/agent/vip), in nftables table
   * `drover<tableSuffix>`. Default on where the kernel allows it (root, nft, nf_tables), skipped
   * with a warning elsewhere; `false` turns it off.
   */
  vip?: { tableSuffix: string } | false;
}

export interface DevCluster {
  readonly url: string;
  readonly store: Store;
  readonly master: MasterServer;
  readonly agent: Agent;
  /** The bootstrap admin token (auth on) and where it is kept. */
  readonly adminToken: string | undefined;
  readonly adminTokenFile: string | undefined;
  /** TLS on: where the cluster CA's certificate is (`<data-dir>/ca.crt`). */
  readonly caFile: string | undefined;
  /** The agent's resolver for its tasks, when it runs. */
  readonly agentDns: AgentDns | undefined;
  /** The VIPs this host programs, when on. */
  readonly vips: VipService | undefined;
  /**
   * Stops the cluster. Its tasks keep running (the next start on the folder reattaches to them)
   * unless `stopTasks`: then the master stops first, so nothing is relaunched meanwhile, and the
   * agent kills every task before it stops. Resolves with how many tasks were killed, or left.
   */
  close(options?: { stopTasks?: boolean }): Promise<{ tasks: number }>;
}

/** `<dir>/ca.crt`: the cluster CA's certificate (public; mode 644). */
export async function writeCaFile(dir: string, caPem: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(resolve(dir), 'ca.crt');
  // Masters of one HA set on one machine may share the folder: same CA, written only if changed.
  if ((await readFile(file, 'utf8').catch(() => undefined)) === caPem) return file;
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(caPem);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  return file;
}

/** A secret kept in `file` (mode 600), made on first use. */
export async function keptSecret(file: string, prefix: string, given?: string): Promise<string> {
  if (given === undefined) {
    try {
      const kept = (await readFile(file, 'utf8')).trim();
      if (kept !== '') return kept;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  const secret = given ?? newSecret(prefix);
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${secret}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  return secret;
}

export async function startDev(options: DevOptions): Promise<DevCluster> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const secretsKey = await ensureKeyFile(join(dataDir, 'secrets.key'));
  const store = await openStore(`sqlite:${join(dataDir, 'store.db')}`);
  let master: MasterServer | undefined;
  let agentDns: AgentDns | undefined;
  const authOff = options.auth?.mode === 'off';
  const given = options.auth?.mode === 'off' ? {} : (options.auth ?? {});
  const adminTokenFile = authOff ? undefined : join(dataDir, 'admin-token');
  const adminToken = adminTokenFile === undefined ? undefined : await keptSecret(adminTokenFile, 'drover-admin', given.adminToken);
  const agentToken = authOff ? undefined : await keptSecret(join(dataDir, 'agent-token'), 'drover-agent', given.agentToken);
  try {
    master = await startMasterServer({
      store,
      logger: options.logger.child({ part: 'master' }),
      port: options.port,
      host: options.host,
      jobs: options.jobs ?? true,
      secretsKey,
      auth: authOff ? { mode: 'off' } : { ...given, mode: 'on', ...(adminToken === undefined ? {} : { adminToken }), ...(agentToken === undefined ? {} : { agentToken }) },
      tls: options.tls ?? { mode: 'on' },
      ...(options.defaultTaskUser === undefined ? {} : { defaultTaskUser: options.defaultTaskUser }),
      ...(options.jobsHistoryCount === undefined ? {} : { jobsHistoryCount: options.jobsHistoryCount }),
      ...(options.agentRemovalRate === undefined ? {} : { agentRemovalRate: options.agentRemovalRate }),
      ...(options.agentRemovalGuardFraction === undefined ? {} : { agentRemovalGuardFraction: options.agentRemovalGuardFraction }),
      ...(options.acceptStaleStore === undefined ? {} : { acceptStaleStore: options.acceptStaleStore }),
      ...(options.dnsPort ? { dns: { port: options.dnsPort, optional: options.dnsPortOptional ?? false } } : {}),
    });
    const caFile = master.caCertPem === undefined ? undefined : await writeCaFile(dataDir, master.caCertPem);
    agentDns = await startAgentDns(options, master, join(dataDir, 'agent', 'dns'));
    const agent = new Agent({
      // TLS on: the agent joins as any other, over HTTPS by TLS bootstrap.
      masterUrl: master.httpsUrl ?? master.url,
      ...(master.caCertPem === undefined ? {} : { masterCaPem: master.caCertPem }),
      port: options.agentPort,
      host: options.host,
      workDir: join(dataDir, 'agent'),
      ...(options.usageIntervalMs === undefined ? {} : { usageIntervalMs: options.usageIntervalMs }),
      logger: options.logger.child({ part: 'agent' }),
      ...(options.resources ? { resources: options.resources } : {}),
      ...(options.cgroupsEnableCfs === undefined ? {} : { cgroupsEnableCfs: options.cgroupsEnableCfs }),
      ...(options.fetcherAllowedPaths === undefined ? {} : { fetcher: { allowedPaths: options.fetcherAllowedPaths } }),
      ...(options.allowPrivileged === undefined ? {} : { allowPrivileged: options.allowPrivileged }),
      ...(options.hostVolumePaths === undefined ? {} : { hostVolumePaths: options.hostVolumePaths }),
      ...(options.bridge === undefined ? {} : { cni: { ...DEFAULT_CNI_OPTIONS, bridge: { ...options.bridge, ipamDir: join(dataDir, 'agent', 'cni', 'ipam') } } }),
      ...(options.defaultTaskUser === undefined ? {} : { defaultTaskUser: options.defaultTaskUser }),
      ...(options.userNamespaces === undefined ? {} : { userNamespaces: options.userNamespaces }),
      ...(agentToken === undefined ? {} : { bootstrapToken: agentToken }),
      ...(agentDns?.resolvConf === undefined ? {} : { taskResolvConf: agentDns.resolvConf, taskResolvConfForGateways: (gateways: readonly string[]) => agentDns!.resolvConfForGateways(gateways) }),
    });
    await agent.start();
    const running = master;
    const vips = await startVips(options, running, adminToken);
    const resolver = agentDns;
    options.logger.info({ url: running.url, agent: agent.url, dataDir, ...(adminTokenFile ? { adminTokenFile } : {}) }, 'dev-cluster-started');
    return {
      url: running.url,
      store,
      master: running,
      agent,
      adminToken,
      adminTokenFile,
      caFile,
      agentDns: resolver,
      vips,
      async close(how = {}) {
        const tasks = agent.taskCount();
        await vips?.stop();
        if (how.stopTasks === true) {
          await running.close();
          await agent.shutdown(0);
        } else {
          // The agent stops without killing its tasks, exactly like an agent restart: the next
          // `drover dev` on this folder reattaches to them.
          await agent.stop();
          await running.close();
        }
        await resolver?.close();
        await store.close();
        options.logger.info({ dataDir, tasks, stoppedTasks: how.stopTasks === true }, 'dev-cluster-stopped');
        return { tasks };
      },
    };
  } catch (e) {
    await agentDns?.close();
    await master?.close();
    await store.close();
    throw e;
  }
}

/** The agent's resolver, or undefined (off, no master DNS, or the address taken: said in the log). */
async function startAgentDns(options: DevOptions, master: MasterServer, dir: string): Promise<AgentDns | undefined> {
  const dnsPort = master.discovery?.dns.port;
  if (options.agentDns === false || dnsPort === undefined) return undefined;
  const listen = options.agentDns ?? (parseHostPort(DEFAULT_AGENT_DNS, 'agent DNS') as { host: string; port: number });
  const masterIp = options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  const dns = new AgentDns({ listen, masters: [{ host: masterIp, port: dnsPort }], dir, logger: options.logger.child({ part: 'agent-dns' }) });
  try {
    await dns.start();
    return dns;
  } catch (err) {
    options.logger.warn({ listen, err: (err as Error).message }, 'agent-dns-unavailable: tasks keep the host resolv.conf');
    return undefined;
  }
}

/** This host's VIPs from the master's operator stream, or undefined (off, or the kernel does not allow it: said in the log). */
async function startVips(options: DevOptions, master: MasterServer, adminToken: string | undefined): Promise<VipService | undefined> {
  if (options.vip === false) return undefined;
  const why = await vipsUnavailable();
  if (why !== undefined) {
    options.logger.warn({ reason: why }, 'vips-unavailable');
    return undefined;
  }
  const service = new VipService({
    masters: [master.httpsUrl ?? master.url],
    headers: (): Record<string, string> => (adminToken === undefined ? {} : { authorization: `token=${adminToken}` }),
    ...(master.caCertPem === undefined ? {} : { fetch: tlsFetch({ caPem: master.caCertPem }) }),
    tableSuffix: options.vip?.tableSuffix ?? '',
    logger: options.logger.child({ part: 'vip' }),
  });
  try {
    await service.start();
    return service;
  } catch (err) {
    options.logger.warn({ err: (err as Error).message }, 'vips-unavailable');
    await service.stop().catch(() => undefined);
    return undefined;
  }
}
