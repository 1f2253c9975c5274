import type { CommandModule } from 'yargs';
import { parseAllowedPaths } from '../agent/fetcher/allowed-paths.ts';
import { resolve } from 'node:path';
import { waitForSignal } from './signals.ts';
import { LOG_FORMAT_FLAG, logDestination, logFormat } from './log-format.ts';
import { checkWritableDir, startupProblem } from './startup-errors.ts';
import { DEFAULT_USER_NAMESPACE_RANGE, parseUserNamespaceRange } from '../agent/containerizer/linux/user-namespace.ts';
import type { UserNamespaceRange } from '../agent/containerizer/linux/launcher.ts';
import { checkRemovalGuard, removalRateFlag } from './master.ts';
import { usageIntervalMs } from './agent.ts';
import { AUTH_FLAG } from './auth-flag.ts';
import { TLS_FLAGS, type TlsArgs, tlsArgsProblem, tlsOptions } from './tls-flags.ts';
import { bridgeOptionsProblem, DEFAULT_BRIDGE_NAME, DEFAULT_BRIDGE_SUBNET } from '../agent/network/cni-bridge.ts';
import { DEFAULT_AGENT_DNS, parseHostPort } from '../discovery/agent-dns-flags.ts';
import { vipTableName } from '../agent/vip/nft-script.ts';

interface DevArgs extends TlsArgs {
  port: number;
  'agent-port': number;
  resources?: string;
  host: string;
  'data-dir': string;
  jobs: boolean;
  'jobs-history-count': number;
  'cgroups-enable-cfs': boolean;
  'agent-removal-rate-limit'?: string;
  'agent-removal-guard': number;
  'fetcher-allowed-paths': string;
  'allow-privileged': boolean;
  'host-volume-paths': string;
  'bridge-name': string;
  'bridge-subnet': string;
  'default-task-user': string;
  'usage-interval': string;
  'accept-stale-store': boolean;
  'user-namespaces': boolean;
  'user-namespace-range': string;
  auth: string;
  'dns-port'?: number;
  'agent-dns': string;
  vip: boolean;
  'vip-table-suffix': string;
  lb: boolean;
  'lb-http-port'?: number;
  'lb-app-id-port'?: number;
  'lb-admin-port'?: number;
  'log-format'?: string;
  'stop-tasks-on-exit': boolean;
}

/** `drover dev`'s DNS port when none is given (Mesos-DNS names; a taken port turns DNS off with a warning). */
export const DEV_DNS_PORT = 8053;

/** `drover dev`: a single-node cluster in one process; runs until SIGINT or SIGTERM. */
export function devCommand(setExit: (code: number) => void): CommandModule<object, DevArgs> {
  return {
    command: 'dev',
    describe: 'Start a single-node cluster (embedded store) in this process',
    builder: (y) =>
      y
        .option('port', { type: 'number', default: 5050, describe: 'HTTP port for the API and UI' })
        .option('agent-port', { type: 'number', default: 5051, describe: 'HTTP port of the agent (sandboxes, logs)' })
        .option('resources', { type: 'string', describe: "What the agent offers, e.g. 'cpus:4;mem:8192;ports:[31000-32000]' (default: detected)" })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
        .option('data-dir', { type: 'string', default: './.drover', describe: 'Folder that holds all cluster state' })
        .option('jobs', { type: 'boolean', default: true, describe: 'Run the built-in jobs framework (Metronome /v1 API); --no-jobs turns it off' })
        .option('jobs-history-count', { type: 'number', default: 10, describe: 'Finished runs kept per job (and kind) in the jobs history' })
        .option('cgroups-enable-cfs', { type: 'boolean', default: false, describe: "Cap each task's CPU time at its cpus with a hard CFS quota (default: CPU shares only, spare cycles lent)" })
        .option('agent-removal-rate-limit', { type: 'string', describe: "Mesos --agent_removal_rate_limit: at most AGENTS/DURATION marked unreachable, e.g. '1/20mins' (default: no rate limit)" })
        .option('agent-removal-guard', { type: 'number', default: 0.4, describe: 'Largest share of agents marked unreachable within one heartbeat window (1 turns this off)' })
        .option('fetcher-allowed-paths', { type: 'string', default: '', describe: 'Host directories whose files tasks may fetch with file:// URIs or bare paths, comma-separated (default: none)' })
        .option('allow-privileged', { type: 'boolean', default: false, describe: 'Let tasks that ask be privileged (container.docker.privileged: every capability, no seccomp filter)' })
        .option('host-volume-paths', { type: 'string', default: '', describe: 'Host directories tasks may mount as volumes (hostPath), comma-separated; default: none' })
        .option('bridge-name', { type: 'string', default: DEFAULT_BRIDGE_NAME, describe: 'The Linux bridge of bridged tasks (container/bridge networking)' })
        .option('bridge-subnet', { type: 'string', default: DEFAULT_BRIDGE_SUBNET, describe: 'IPv4 CIDR the addresses of bridged tasks come from' })
        .option('default-task-user', { type: 'string', default: 'nobody', describe: "Who tasks run as unless an app or job names a user (Marathon's --mesos_user)" })
        .option('usage-interval', {
          type: 'string',
          default: '5secs',
          describe: "How often the running tasks' cgroup CPU, memory and I/O are sampled and sent to the master (e.g. '5secs', '1secs'; 0 samples only on request)",
        })
        .option('accept-stale-store', {
          type: 'boolean',
          default: false,
          describe:
            'Adopt re-registering agents even when they were registered with a newer or another store (the store was restored from an older copy or replaced): their tasks join this store’s state. Default: refuse them with DROVER_ERR_STORE_STALE; use once, knowingly, to recover',
        })
        .option('user-namespaces', { type: 'boolean', default: false, describe: 'Run each unprivileged task in a user namespace: root in a task is an unprivileged uid on the host' })
        .option('user-namespace-range', { type: 'string', default: DEFAULT_USER_NAMESPACE_RANGE, describe: "With --user-namespaces: HOSTID:SIZE, the host ids a task's 0…SIZE-1 map to" })
        .option('auth', AUTH_FLAG)
        .options(TLS_FLAGS)
        .option('dns-port', {
          type: 'number',
          describe: `DNS port (UDP and TCP) for Mesos-DNS names such as web.marathon.mesos; 0 turns DNS off (default ${DEV_DNS_PORT}, skipped with a warning if taken)`,
        })
        .option('agent-dns', {
          type: 'string',
          default: DEFAULT_AGENT_DNS,
          describe:
            "The agent's resolver for its tasks (ADDR:53: their /etc/resolv.conf names it): .mesos and .thisdcos.directory names to this cluster's DNS, the rest to the host's resolvers; 'off' turns it off",
        })
        .option('vip', {
          type: 'boolean',
          default: true,
          describe: "Program VIPs (VIP_n port labels → nftables DNAT, table 'drover') where the kernel allows it (root, nft); --no-vip turns them off",
        })
        .option('vip-table-suffix', { type: 'string', default: '', describe: "Suffix of the VIPs' nftables table name ('drover<suffix>'), for several clusters on one host" })
        .option('lb', { type: 'boolean', default: true, describe: 'Run `drover lb` (HAProxy) beside the cluster when haproxy is installed; --no-lb turns it off' })
        .option('lb-http-port', { type: 'number', describe: 'Port of the LB’s vhost frontend (default 80; with --port 0: none)' })
        .option('lb-app-id-port', { type: 'number', describe: 'Port of the LB’s X-Marathon-App-Id frontend (default 9091; with --port 0: none)' })
        .option('lb-admin-port', { type: 'number', describe: 'Port of the LB’s admin endpoints (default 9090; with --port 0: a free one)' })
        .option('log-format', LOG_FORMAT_FLAG)
        .option('stop-tasks-on-exit', {
          type: 'boolean',
          default: false,
          describe: 'Kill every task when drover dev stops (Ctrl-C, SIGTERM). Default: tasks keep running, and the next drover dev on the same --data-dir reattaches to them',
        })
        .check((args) => {
          const tlsProblem = tlsArgsProblem(args);
          if (tlsProblem !== undefined) throw new Error(tlsProblem);
          for (const name of ['port', 'agent-port', 'dns-port', 'lb-http-port', 'lb-app-id-port', 'lb-admin-port'] as const) {
            if (args[name] === undefined) continue;
            const port = args[name];
            if (port === undefined) continue;
            if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--${name} must be an integer from 0 to 65535, got ${String(port)}`);
          }
          if (args['agent-dns'] !== 'off') {
            const parsed = parseHostPort(args['agent-dns'], '--agent-dns');
            if (typeof parsed === 'string') throw new Error(`${parsed} (or 'off')`);
          }
          vipTableName(args['vip-table-suffix']);
          if (!Number.isInteger(args['jobs-history-count']) || args['jobs-history-count'] < 1) throw new Error('--jobs-history-count must be a positive integer');
          if (args['agent-removal-rate-limit'] !== undefined) removalRateFlag(args['agent-removal-rate-limit']);
          checkRemovalGuard(args['agent-removal-guard']);
          const range = parseUserNamespaceRange(args['user-namespace-range']);
          if (typeof range === 'string') throw new Error(range);
          try {
            parseAllowedPaths(args['fetcher-allowed-paths']);
          } catch (e) {
            throw new Error(`--fetcher-allowed-paths: ${(e as Error).message}`);
          }
          return true;
        }),
    handler: async (args) => {
      // Loaded here so that `drover --help` and client commands never load the server stack.
      const { startDev } = await import('../cluster/dev.ts');
      const { createLogger } = await import('../log/index.ts');
      const destination = logDestination(logFormat(args['log-format']));
      const logger = createLogger({ name: 'drover-dev', ...(destination ? { destination } : {}) });
      const { Resources } = await import('../resources/index.ts');
      let resources;
      try {
        resources = args.resources === undefined ? undefined : Resources.parse(args.resources);
      } catch (e) {
        process.stderr.write(`drover dev: --resources: ${e instanceof Error ? e.message : String(e)}\n`);
        setExit(2);
        return;
      }
      let cluster;
      try {
        await checkWritableDir(resolve(args['data-dir']));
        cluster = await startDev({
          port: args.port,
          agentPort: args['agent-port'],
          host: args.host,
          dataDir: args['data-dir'],
          jobs: args.jobs,
          jobsHistoryCount: args['jobs-history-count'],
          cgroupsEnableCfs: args['cgroups-enable-cfs'],
          fetcherAllowedPaths: parseAllowedPaths(args['fetcher-allowed-paths']),
          allowPrivileged: args['allow-privileged'],
          hostVolumePaths: parseAllowedPaths(args['host-volume-paths']),
          bridge: checkedBridge(args['bridge-name'], args['bridge-subnet']),
          defaultTaskUser: args['default-task-user'],
          usageIntervalMs: usageIntervalMs(args['usage-interval']),
          dnsPort: args['dns-port'] ?? DEV_DNS_PORT,
          dnsPortOptional: args['dns-port'] === undefined,
          agentDns: args['agent-dns'] === 'off' ? false : (parseHostPort(args['agent-dns'], '--agent-dns') as { host: string; port: number }),
          vip: args.vip ? { tableSuffix: args['vip-table-suffix'] } : false,
          auth:
            args.auth === 'off'
              ? { mode: 'off' }
              : {
                  mode: 'on',
                  ...(process.env['DROVER_ADMIN_TOKEN'] ? { adminToken: process.env['DROVER_ADMIN_TOKEN'] } : {}),
                  ...(process.env['DROVER_AGENT_TOKEN'] ? { agentToken: process.env['DROVER_AGENT_TOKEN'] } : {}),
                },
          tls: await tlsOptions(args),
          logger,
          agentRemovalGuardFraction: args['agent-removal-guard'],
          acceptStaleStore: args['accept-stale-store'],
          ...(args['user-namespaces'] ? { userNamespaces: parseUserNamespaceRange(args['user-namespace-range']) as UserNamespaceRange } : {}),
          ...(args['agent-removal-rate-limit'] === undefined ? {} : { agentRemovalRate: removalRateFlag(args['agent-removal-rate-limit']) }),
          ...(resources ? { resources } : {}),
        });
      } catch (e) {
        // A busy port, a data dir it cannot write or another Drover holds, a wrong secrets key:
        // the operator's to fix, so one sentence with the fix and no stack.
        const problem =
          (e as { code?: unknown }).code === 'DROVER_ERR_SECRETS_KEY'
            ? (e as Error).message
            : startupProblem(e, {
                command: 'drover dev',
                dataDir: resolve(args['data-dir']),
                ports: [
                  { flag: '--port', port: args.port },
                  { flag: '--agent-port', port: args['agent-port'] },
                  { flag: '--dns-port', port: args['dns-port'] ?? DEV_DNS_PORT },
                ],
              });
        if (problem === undefined) throw e;
        process.stderr.write(`drover dev: ${problem}\n`);
        setExit(1);
        return;
      }
      if (cluster.adminTokenFile)
        process.stdout.write(`drover dev: admin token in ${cluster.adminTokenFile} (the drover CLI on this machine uses it; or export DROVER_TOKEN=$(cat ${cluster.adminTokenFile}))\n`);
      else process.stdout.write('drover dev: WARNING: authentication is OFF (--auth off): anyone who can reach this port controls the cluster\n');
      if (cluster.caFile)
        process.stdout.write(
          `drover dev: HTTPS on ${cluster.master.httpsUrl} with the cluster CA in ${cluster.caFile} (the drover CLI on this machine trusts it; plain HTTP ${args['require-https'] ? 'refused' : 'on loopback only'})\n`,
        );
      else process.stdout.write('drover dev: WARNING: TLS is OFF (--tls off): the API, tokens included, travels in clear\n');
      process.stdout.write(`drover dev: listening on ${cluster.url} (data in ${args['data-dir']})\n`);
      const dns = cluster.master.discovery?.dns;
      if (dns) process.stdout.write(`drover dev: DNS on ${args.host}:${dns.port} (UDP and TCP): web.marathon.mesos, leader.mesos, …\n`);
      if (cluster.agentDns?.resolvConf) process.stdout.write(`drover dev: tasks resolve cluster names through ${args['agent-dns']} (their /etc/resolv.conf)\n`);
      if (cluster.vips) process.stdout.write(`drover dev: VIPs in nftables table drover${args['vip-table-suffix']} (--no-vip turns them off)\n`);
      const stopping = waitForSignal();
      const lb = args.lb ? await startDevLb(args, cluster.url, cluster.adminToken) : undefined;
      await stopping;
      await lb?.close();
      const stopTasks = args['stop-tasks-on-exit'];
      const { tasks } = await cluster.close({ stopTasks });
      if (stopTasks) process.stdout.write(`drover dev: stopped; killed ${tasks} task(s)\n`);
      else if (tasks > 0)
        process.stdout.write(
          `drover dev: stopped; ${tasks} task(s) keep running: the next \`drover dev --data-dir ${args['data-dir']}\` reattaches to them (start it with --stop-tasks-on-exit to kill them when it stops)\n`,
        );
      else process.stdout.write('drover dev: stopped\n');
      setExit(0);
    },
  };
}

/**
 * `drover lb` beside `drover dev`, when HAProxy is installed: the same code as the command, in
 * this process, talking to the master over HTTP with the admin token as marathon-lb would. It
 * serves every group (`*`) and binds service ports on --host. A LB that cannot start (HAProxy
 * missing, a port taken) is reported and the cluster runs on without it. With `--port 0` (a
 * throw-away cluster, as tests start them) its ports default to none or free ones, so that two
 * such clusters never compete for 80 and 9091.
 */
async function startDevLb(args: DevArgs, url: string, token: string | undefined): Promise<{ close(): Promise<void> } | undefined> {
  const { execFile } = await import('node:child_process');
  const haproxy = await new Promise<boolean>((resolve) => execFile('haproxy', ['-v'], (e) => resolve(e === null)));
  if (!haproxy) {
    process.stdout.write('drover dev: haproxy is not installed: no load balancer (apt-get install haproxy)\n');
    return undefined;
  }
  const { startLb } = await import('../lb/index.ts');
  const { createLogger } = await import('../log/index.ts');
  const { join } = await import('node:path');
  const throwAway = args.port === 0;
  const lbDestination = logDestination(logFormat(args['log-format']));
  try {
    const running = await startLb({
      master: url,
      token,
      groups: ['*'],
      bindAddr: args.host,
      httpPort: args['lb-http-port'] ?? (throwAway ? 0 : 80),
      httpsPort: 0,
      appIdPort: args['lb-app-id-port'] ?? (throwAway ? 0 : 9091),
      adminHost: args.host,
      adminPort: args['lb-admin-port'] ?? (throwAway ? 0 : 9090),
      workDir: resolve(join(args['data-dir'], 'lb')),
      haproxyBin: 'haproxy',
      minSlots: 8,
      maxconn: 4096,
      logger: createLogger({ name: 'drover-lb', ...(lbDestination ? { destination: lbDestination } : {}) }),
    });
    process.stdout.write(`drover dev: load balancer (HAProxy) admin at ${running.adminUrl}\n`);
    return running;
  } catch (e) {
    process.stdout.write(`drover dev: no load balancer: ${e instanceof Error ? e.message : String(e)}\n`);
    return undefined;
  }
}

function checkedBridge(bridgeName: string, subnet: string): { bridgeName: string; subnet: string } {
  const problem = bridgeOptionsProblem({ bridgeName, subnet });
  if (problem !== undefined) throw new Error(`--bridge-name/--bridge-subnet: ${problem}`);
  return { bridgeName, subnet };
}
