import type { CommandModule } from 'yargs';
// Light modules (no server code): the flags are parsed before anything starts.
import { parseAttributes } from '../agent/attributes.ts';
import { join } from 'node:path';
import { parseAllowedPaths } from '../agent/fetcher/allowed-paths.ts';
import { checkPullerOptions } from '../images/puller.ts';
import { DEFAULT_USER_NAMESPACE_RANGE, parseUserNamespaceRange } from '../agent/containerizer/linux/user-namespace.ts';
import { Resources } from '../resources/index.ts';
import { waitForSignal } from './signals.ts';
import type { UserNamespaceRange } from '../agent/containerizer/linux/launcher.ts';
import { DEFAULT_VIP_RANGE, parseVipRange } from '../agent/vip/table.ts';
import { vipTableName } from '../agent/vip/nft-script.ts';
import { parseCaHash } from '../iam/tls-pin.ts';
import { DEFAULT_AGENT_DNS, parseHostPort } from '../discovery/agent-dns-flags.ts';
import { bridgeOptionsProblem, DEFAULT_BRIDGE_NAME, DEFAULT_BRIDGE_SUBNET, type BridgeOptions } from '../agent/network/cni-bridge.ts';

interface AgentArgs {
  'token-file'?: string;
  'master-ca'?: string;
  'master-ca-hash'?: string;
  'require-https'?: boolean;
  master: string;
  port: number;
  host: string;
  'work-dir': string;
  resources?: string;
  attributes?: string;
  hostname?: string;
  containerizer?: 'linux' | 'posix';
  'gc-delay': string;
  'gc-disk-headroom': number;
  'cni-config-dir': string;
  'cni-plugins-dir': string;
  'bridge-name': string;
  'bridge-subnet': string;
  'cgroups-enable-cfs': boolean;
  'boot-id-file': string;
  'fetcher-allowed-paths': string;
  'allow-privileged': boolean;
  'host-volume-paths': string;
  'user-namespaces': boolean;
  'user-namespace-range': string;
  'default-task-user': string;
  'usage-interval': string;
  'insecure-registry': string[];
  'registry-mirror': string[];
  'image-gc-max-age'?: string;
  'image-gc-max-bytes'?: number;
  vip: boolean;
  'vip-range': string;
  'vip-table-suffix': string;
  'vip-token-file'?: string;
  'vip-drain': string;
  'vip-keep-on-exit': boolean;
  dns?: string;
  'dns-master'?: string;
}

/**
 * `drover agent`: one agent process. SIGINT/SIGTERM stop the agent but leave its tasks running;
 * started again on the same --work-dir, it reattaches to them (as a Mesos agent does).
 */
export function agentCommand(setExit: (code: number) => void): CommandModule<object, AgentArgs> {
  return {
    command: 'agent',
    describe: 'Run an agent (offers this machine to the master, runs tasks)',
    builder: (y) =>
      y
        .option('master', { type: 'string', demandOption: true, describe: 'URL of the master, e.g. http://10.0.0.1:5050; several (HA) comma-separated' })
        .option('port', { type: 'number', default: 5051, describe: 'HTTP port of the agent (state, sandbox files)' })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
        .option('work-dir', { type: 'string', default: './.drover-agent', describe: 'Folder for checkpoints and task sandboxes' })
        .option('resources', { type: 'string', describe: "What to offer, e.g. 'cpus:4;mem:8192;disk:10000;ports:[31000-32000]' (missing ones are detected)" })
        .option('attributes', { type: 'string', describe: "Agent attributes for constraints, e.g. 'rack:r1;zone:a'" })
        .option('hostname', { type: 'string', describe: 'Name the master and UI use to reach this agent (default: the machine hostname)' })
        .option('containerizer', {
          choices: ['linux', 'posix'] as const,
          describe: 'How tasks run: linux (namespaces, cgroups, task user; needs root) or posix (plain processes). Default: linux when root, else posix',
        })
        .option('gc-delay', { type: 'string', default: '1weeks', describe: "How long finished sandboxes stay on an empty disk (Mesos style: '1weeks', '6hrs', '30mins', '10secs')" })
        .option('gc-disk-headroom', { type: 'number', default: 0.1, describe: 'Fraction of the work dir disk to keep free: the fuller the disk, the sooner old sandboxes go' })
        .option('cni-config-dir', { type: 'string', default: '/etc/drover/cni', describe: 'CNI network configs (*.conf, *.conflist) tasks may join by name (linux containerizer)' })
        .option('cni-plugins-dir', { type: 'string', default: '/usr/lib/cni', describe: 'CNI plugin binaries (Debian: containernetworking-plugins)' })
        .option('bridge-name', {
          type: 'string',
          default: DEFAULT_BRIDGE_NAME,
          describe: "The Linux bridge of the agent's own mesos-bridge network (bridge networking, when the CNI config dir defines none)",
        })
        .option('bridge-subnet', { type: 'string', default: DEFAULT_BRIDGE_SUBNET, describe: 'IPv4 CIDR the addresses of bridged tasks come from' })
        .option('cgroups-enable-cfs', {
          type: 'boolean',
          default: false,
          describe: "Cap each task's CPU time at its cpus with a hard CFS quota, as Mesos' --cgroups_enable_cfs (default: CPU shares only)",
        })
        .option('boot-id-file', {
          type: 'string',
          default: '/proc/sys/kernel/random/boot_id',
          describe: "The machine's boot id: when it changed since the last run, the machine rebooted and the agent registers anew",
        })
        .option('fetcher-allowed-paths', { type: 'string', default: '', describe: 'Host directories whose files tasks may fetch with file:// URIs or bare paths, comma-separated (default: none)' })
        .option('allow-privileged', {
          type: 'boolean',
          default: false,
          describe: 'Run tasks that ask to be privileged (container.docker.privileged: every capability, no seccomp filter); default: they fail, saying why',
        })
        .option('host-volume-paths', {
          type: 'string',
          default: '',
          describe: "Host directories tasks may mount as volumes (container.volumes' hostPath), comma-separated; default: none, a host volume is refused",
        })
        .option('default-task-user', { type: 'string', default: 'nobody', describe: 'Who a task runs as when neither it nor its framework names a user' })
        .option('usage-interval', {
          type: 'string',
          default: '5secs',
          describe: "How often the running tasks' cgroup CPU, memory and I/O are sampled and sent to the master (e.g. '5secs', '1secs'; 0 samples only on request)",
        })
        .option('insecure-registry', { type: 'string', array: true, default: [], describe: 'host[:port] of an image registry reached over plain HTTP (loopback registries always may); repeatable' })
        .option('registry-mirror', { type: 'string', array: true, default: [], describe: 'URL of a Docker Hub mirror, tried before Docker Hub; repeatable' })
        .option('image-gc-max-age', { type: 'string', describe: "Remove images no task has used for this long, e.g. '1weeks', '6hrs'" })
        .option('image-gc-max-bytes', { type: 'number', describe: 'Remove least recently used images while the layers take more than this many bytes' })
        .option('user-namespaces', {
          type: 'boolean',
          default: false,
          describe: 'Run each unprivileged task in a user namespace (linux containerizer): root in a task is an unprivileged uid on the host (see --user-namespace-range)',
        })
        .option('user-namespace-range', {
          type: 'string',
          default: DEFAULT_USER_NAMESPACE_RANGE,
          describe: "With --user-namespaces: HOSTID:SIZE, the host uids and gids a task's 0…SIZE-1 map to (ids no host user owns, like a subuid range)",
        })
        .option('vip', {
          type: 'boolean',
          default: false,
          describe: "Program this host's VIPs (VIP_n port labels → nftables DNAT, table 'drover') from the master's operator stream; needs root, nft and an operator credential (--vip-token-file)",
        })
        .option('vip-range', { type: 'string', default: DEFAULT_VIP_RANGE, describe: 'With --vip: the IPv4 CIDR named VIPs get their addresses from (DC/OS: 11.0.0.0/8)' })
        .option('vip-table-suffix', { type: 'string', default: '', describe: "With --vip: suffix of the nftables table name ('drover<suffix>'), for several agents on one host" })
        .option('vip-token-file', { type: 'string', describe: 'With --vip: a token allowed to read the master (dcos:adminrouter:ops:mesos read) to follow its operator stream (else $DROVER_TOKEN)' })
        .option('vip-keep-on-exit', {
          type: 'boolean',
          default: false,
          describe: 'With --vip: leave the nftables table when the agent stops, so flows through VIPs survive an agent restart (default: removed)',
        })
        .option('vip-drain', {
          type: 'string',
          default: '2secs',
          describe: 'How long a task that declares VIPs stays up after TASK_KILLING before its SIGTERM, so every agent takes it out of the VIP first',
        })
        .option('dns', {
          type: 'string',
          describe: `Serve cluster names to this agent's tasks on ADDR:PORT (default ${DEFAULT_AGENT_DNS}; on port 53 each task's /etc/resolv.conf names it): .mesos and .thisdcos.directory go to --dns-master, the rest to the host's resolvers`,
        })
        .option('dns-master', { type: 'string', describe: "With --dns: the master's DNS, ADDR:PORT (several comma-separated: tried in order)" })
        .option('master-ca', {
          type: 'string',
          describe:
            "The cluster CA's certificate (the master's <data-dir>/ca.crt; else $DROVER_CA_CERT): join over HTTPS by TLS bootstrap and prove this agent's id with the certificate the master issues",
        })
        .option('master-ca-hash', {
          type: 'string',
          describe:
            "Without --master-ca: the cluster CA's hash (sha256:<hex>, as `drover master` prints it; kubeadm's --discovery-token-ca-cert-hash). The first join trusts only a master that presents a CA with this hash, and keeps that CA in <work-dir>/meta/master-ca.pem",
        })
        .option('require-https', {
          type: 'boolean',
          default: false,
          describe: "With TLS: this agent's port answers HTTPS only (default: plain HTTP too, from loopback only — the master's relays and other machines use HTTPS)",
        })
        .option('token-file', { type: 'string', describe: "The cluster's agent bootstrap token, to join the first time (else $DROVER_AGENT_TOKEN; `drover dev` keeps it in <data-dir>/agent-token)" })
        .check((args) => {
          // A bad flag is a clear message and exit 2, before anything starts.
          const problem = agentArgsProblem(args);
          if (problem !== undefined) throw new Error(problem);
          return true;
        }),
    handler: async (args) => {
      // Loaded here so that `drover --help` and client commands never load the agent.
      const { Agent } = await import('../agent/agent.ts');
      const { createLogger } = await import('../log/index.ts');
      const logger = createLogger({ name: 'drover-agent' });
      const workDir = args['work-dir'];
      const given = args.resources === undefined ? undefined : Resources.parse(args.resources);
      const { readFile } = await import('node:fs/promises');
      const caFile = args['master-ca'] ?? (process.env['DROVER_CA_CERT'] || undefined);
      let masterCaPem = caFile === undefined ? undefined : await readFile(caFile, 'utf8');
      if (masterCaPem === undefined && args['master-ca-hash'] !== undefined) {
        // The first join: no CA file, a pinned hash. Waits (with backoff) for a master that presents it.
        const { pinnedMasterCa } = await import('../agent/master-ca.ts');
        const { join } = await import('node:path');
        const { mkdir } = await import('node:fs/promises');
        const metaDir = join(workDir, 'meta');
        await mkdir(metaDir, { recursive: true });
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
        try {
          masterCaPem = await pinnedMasterCa({ metaDir, masters: args.master.split(',').map((m) => m.trim()), pin: args['master-ca-hash'], logger, signal: stop.signal });
        } catch (err) {
          process.stderr.write(`drover agent: ${(err as Error).message}\n`);
          setExit(1);
          return;
        } finally {
          process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
        }
      }
      const bootstrapToken = args['token-file'] !== undefined ? (await readFile(args['token-file'], 'utf8')).trim() : process.env['DROVER_AGENT_TOKEN'] || undefined;
      let agentDns: { close(): Promise<void>; resolvConf: string | undefined; resolvConfForGateways(gateways: readonly string[]): Promise<string | undefined> } | undefined;
      if (args.dns !== undefined) {
        const { AgentDns } = await import('../discovery/agent-dns.ts');
        const dns = new AgentDns({
          listen: parseHostPort(args.dns === '' ? DEFAULT_AGENT_DNS : args.dns, '--dns') as { host: string; port: number },
          masters: (args['dns-master'] ?? '').split(',').map((m) => parseHostPort(m, '--dns-master') as { host: string; port: number }),
          dir: join(workDir, 'dns'),
          logger,
        });
        await dns.start();
        agentDns = dns;
      }
      const agent = new Agent({
        masterUrl: args.master,
        ...(agentDns?.resolvConf === undefined ? {} : { taskResolvConf: agentDns.resolvConf, taskResolvConfForGateways: (gateways: readonly string[]) => agentDns!.resolvConfForGateways(gateways) }),
        port: args.port,
        host: args.host,
        workDir,
        ...(given === undefined ? {} : { resources: given }),
        attributes: args.attributes === undefined ? [] : parseAttributes(args.attributes),
        ...(args.hostname === undefined ? {} : { hostname: args.hostname }),
        ...(args.containerizer === undefined ? {} : { containerizer: args.containerizer }),
        gcDelayMs: parseDurationMs(args['gc-delay']) ?? 0,
        gcDiskHeadroom: args['gc-disk-headroom'],
        cni: { configDir: args['cni-config-dir'], pluginsDir: args['cni-plugins-dir'], bridge: bridgeFlags(args['bridge-name'], args['bridge-subnet'], args['work-dir']) },
        cgroupsEnableCfs: args['cgroups-enable-cfs'],
        bootIdFile: args['boot-id-file'],
        fetcher: { allowedPaths: parseAllowedPaths(args['fetcher-allowed-paths']) },
        allowPrivileged: args['allow-privileged'],
        hostVolumePaths: parseAllowedPaths(args['host-volume-paths']),
        defaultTaskUser: args['default-task-user'],
        usageIntervalMs: usageIntervalMs(args['usage-interval']),
        images: {
          insecureRegistries: args['insecure-registry'],
          mirrors: args['registry-mirror'],
          ...(args['image-gc-max-age'] === undefined ? {} : { maxAgeMs: parseDurationMs(args['image-gc-max-age']) ?? 0 }),
          ...(args['image-gc-max-bytes'] === undefined ? {} : { maxBytes: args['image-gc-max-bytes'] }),
        },
        ...(args['user-namespaces'] ? { userNamespaces: parseUserNamespaceRange(args['user-namespace-range']) as UserNamespaceRange } : {}),
        ...(bootstrapToken === undefined ? {} : { bootstrapToken }),
        vipDrainMs: parseDurationMs(args['vip-drain']) ?? 0,
        ...(masterCaPem === undefined ? {} : { masterCaPem }),
        ...(args['require-https'] ? { plainHttp: 'none' as const } : {}),
        logger,
      });
      await agent.start();
      let vips: { stop(): Promise<void> } | undefined;
      if (args.vip) {
        const { VipService } = await import('../agent/vip/vip-service.ts');
        const token = args['vip-token-file'] !== undefined ? (await readFile(args['vip-token-file'], 'utf8')).trim() : process.env['DROVER_TOKEN'] || undefined;
        const service = new VipService({
          masters: args.master.split(',').map((m) => m.trim()),
          headers: (): Record<string, string> => (token === undefined ? {} : { authorization: `token=${token}` }),
          ...(masterCaPem === undefined ? {} : { fetch: (await import('../iam/tls-client.ts')).tlsFetch({ caPem: masterCaPem }) }),
          range: args['vip-range'],
          tableSuffix: args['vip-table-suffix'],
          keepOnStop: args['vip-keep-on-exit'],
          logger,
        });
        await service.start();
        vips = service;
      }
      process.stdout.write(`drover agent: listening on ${agent.url} (master ${args.master}, work dir ${agent.workDir})\n`);
      await waitForSignal();
      await vips?.stop();
      await agent.stop();
      await agentDns?.close();
      setExit(0);
    },
  };
}

/** What is wrong with the flags, in words, or undefined. */
export function agentArgsProblem(args: AgentArgs): string | undefined {
  const range = parseUserNamespaceRange(args['user-namespace-range']);
  if (typeof range === 'string') return range;
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    return `--port must be an integer from 0 to 65535, got ${String(args.port)}`;
  }
  // One master, or several (HA) separated by commas.
  for (const one of args.master.split(',')) {
    let url: URL | undefined;
    try {
      url = new URL(one.trim());
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return `--master must be an http(s) URL such as http://127.0.0.1:5050 (or several, comma-separated), got '${args.master}'`;
    }
  }
  if (args['work-dir'] === '') return '--work-dir must not be empty';
  if (args['master-ca-hash'] !== undefined && parseCaHash(args['master-ca-hash']) === undefined) {
    return `--master-ca-hash must be sha256:<64 hex digits> (as drover master prints it), got '${args['master-ca-hash'].slice(0, 100)}'`;
  }
  if (args.hostname === '') return '--hostname must not be empty';
  try {
    if (args.resources !== undefined) Resources.parse(args.resources);
  } catch (e) {
    return `--resources: ${(e as Error).message}`;
  }
  try {
    if (args.attributes !== undefined) parseAttributes(args.attributes);
  } catch (e) {
    return `--attributes: ${(e as Error).message}`;
  }
  if (parseDurationMs(args['gc-delay'] ?? '1weeks') === undefined) {
    return `--gc-delay must be a duration such as '1weeks', '6hrs', '30mins' or '10secs', got '${args['gc-delay']}'`;
  }
  try {
    parseAllowedPaths(args['fetcher-allowed-paths'] ?? '');
  } catch (e) {
    return `--fetcher-allowed-paths: ${(e as Error).message}`;
  }
  if (args['image-gc-max-age'] !== undefined && parseDurationMs(args['image-gc-max-age']) === undefined) {
    return `--image-gc-max-age must be a duration such as '1weeks' or '6hrs', got '${args['image-gc-max-age']}'`;
  }
  const maxBytes = args['image-gc-max-bytes'];
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) return `--image-gc-max-bytes must be an integer ≥ 0, got ${String(maxBytes)}`;
  try {
    checkPullerOptions({ insecureRegistries: args['insecure-registry'] ?? [], mirrors: args['registry-mirror'] ?? [] });
  } catch (e) {
    return (e as Error).message;
  }
  if (args['vip-range'] !== undefined) {
    const range = parseVipRange(args['vip-range']);
    if (typeof range === 'string') return `--vip-range: ${range}`;
  }
  try {
    vipTableName(args['vip-table-suffix'] ?? '');
  } catch (e) {
    return `--vip-table-suffix: ${(e as Error).message}`;
  }
  try {
    usageIntervalMs(args['usage-interval']);
  } catch (err) {
    return (err as Error).message;
  }
  if (parseDurationMs(args['vip-drain'] ?? '2secs') === undefined) return `--vip-drain must be a duration such as '2secs' or '500ms', got '${args['vip-drain']}'`;
  if (args.dns !== undefined) {
    const listen = parseHostPort(args.dns === '' ? DEFAULT_AGENT_DNS : args.dns, '--dns');
    if (typeof listen === 'string') return listen;
    if (args['dns-master'] === undefined) return "--dns needs --dns-master ADDR:PORT (the master's DNS, `drover master --dns-port`)";
  }
  if (args['dns-master'] !== undefined) {
    for (const m of args['dns-master'].split(',').slice(0, 16)) {
      const parsed = parseHostPort(m, '--dns-master');
      if (typeof parsed === 'string') return parsed;
    }
  }
  const headroom = args['gc-disk-headroom'] ?? 0.1;
  if (!(headroom >= 0 && headroom <= 1)) return `--gc-disk-headroom must be a fraction from 0 to 1, got ${String(headroom)}`;
  return undefined;
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  secs: 1000,
  s: 1000,
  mins: 60_000,
  m: 60_000,
  hrs: 3_600_000,
  h: 3_600_000,
  days: 86_400_000,
  d: 86_400_000,
  weeks: 604_800_000,
  w: 604_800_000,
};

/** A Mesos flag duration ('1weeks', '6hrs', '2.5mins') in ms, or undefined. */
/** `--usage-interval`: a duration, or 0 (sample only when asked); throws with the flag's name otherwise. */
export function usageIntervalMs(text: string | undefined): number {
  if (text === undefined) return 5000;
  const ms = text.trim() === '0' ? 0 : parseDurationMs(text);
  if (ms === undefined) throw new Error(`--usage-interval must be a duration such as '5secs' or '1secs' (or 0), got '${text}'`);
  return ms;
}

export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(text.trim());
  const unit = match?.[2] === undefined ? undefined : DURATION_UNITS_MS[match[2]];
  return match?.[1] === undefined || unit === undefined ? undefined : Number(match[1]) * unit;
}

/** --bridge-name and --bridge-subnet, checked; the leases go under the work dir. */
function bridgeFlags(bridgeName: string, subnet: string, workDir: string): BridgeOptions {
  const problem = bridgeOptionsProblem({ bridgeName, subnet });
  if (problem !== undefined) throw new Error(`--bridge-name/--bridge-subnet: ${problem}`);
  return { bridgeName, subnet, ipamDir: join(workDir, 'cni', 'ipam') };
}
