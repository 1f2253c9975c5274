import type { CommandModule } from 'yargs';
import { waitForSignal } from './signals.ts';
import { parseDurationMs } from './agent.ts';
// Light module (pure, no server code): flags are checked before anything starts.
import { parseRemovalRate } from '../master/agent-removal-limit.ts';
import { AUTH_FLAG } from './auth-flag.ts';
import { TLS_FLAGS, type TlsArgs, tlsArgsProblem, tlsOptions } from './tls-flags.ts';

interface MasterArgs extends TlsArgs {
  port: number;
  host: string;
  store: string;
  'allocation-interval': number;
  'offer-timeout'?: number;
  'agent-heartbeat-interval': number;
  'max-missed-heartbeats': number;
  'max-completed-tasks-per-framework': number;
  weights?: string;
  'services-roles': string;
  services: boolean;
  jobs: boolean;
  'jobs-history-count': number;
  'default-task-user': string;
  'leader-ttl': number;
  'advertise-url'?: string;
  'agent-removal-rate-limit'?: string;
  'agent-removal-guard': number;
  'max-completed-frameworks': number;
  'framework-reregistration-grace'?: number;
  'secrets-key-file'?: string;
  'accept-stale-store': boolean;
  auth: string;
  'dns-port': number;
  'dns-domain': string;
  'mesos-role'?: string;
  'local-port-min': number;
  'local-port-max': number;
  'data-dir': string;
  'admin-token-file'?: string;
  'agent-token-file'?: string;
  'catalog-local-path': string;
}

/** `--agent-removal-rate-limit` (Mesos' `1/20mins`) as the master's option; throws a flag error. */
export function removalRateFlag(text: string): { agents: number; perMs: number } {
  const rate = parseRemovalRate(text, parseDurationMs);
  if (rate === undefined) throw new Error(`--agent-removal-rate-limit must be AGENTS/DURATION such as '1/20mins' or '5/1hrs', got '${text}'`);
  return rate;
}

/** `--agent-removal-guard`: a fraction in (0, 1]; 1 turns the guard off. */
export function checkRemovalGuard(value: number): void {
  if (!(typeof value === 'number' && value > 0 && value <= 1)) throw new Error(`--agent-removal-guard must be a fraction in (0, 1] (1 turns the guard off), got ${String(value)}`);
}

/** `--services-roles`: comma-separated role names (Mesos' role characters; no empty or repeated ones). */
function parseRoles(text: string): string[] {
  const roles = text.split(',').map((r) => r.trim());
  for (const r of roles) if (!/^(\*|[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){0,7})$/.test(r)) throw new Error(`--services-roles: '${r}' is not a role name`);
  if (new Set(roles).size !== roles.length || roles.length > 64) throw new Error('--services-roles: at most 64 roles, none repeated');
  return roles;
}

/** Mesos' --weights syntax: `role1=2,role2=0.5`. */
export function parseWeights(text: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^([^\s=,]+)=([0-9]*\.?[0-9]+)$/.exec(part);
    const weight = Number(match?.[2]);
    if (!match || !(weight > 0)) throw new Error(`--weights: '${part}' is not role=weight with a positive weight`);
    weights.set(match[1]!, weight);
  }
  return weights;
}

/** `drover master`: one master process on a store (SQLite file, or etcd for HA). */
export function masterCommand(setExit: (code: number) => void): CommandModule<object, MasterArgs> {
  return {
    command: 'master',
    describe: 'Run a master (pools agents, offers resources to frameworks)',
    builder: (y) =>
      y
        .option('port', { type: 'number', default: 5050, describe: 'HTTP port of the APIs' })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
        .option('store', { type: 'string', default: 'sqlite:./.drover/master.db', describe: 'sqlite:PATH | etcd://host:port[,host:port…] | memory:' })
        .option('allocation-interval', { type: 'number', default: 1, describe: 'Seconds between offer cycles' })
        .option('offer-timeout', { type: 'number', describe: 'Rescind offers unused for this many seconds' })
        .option('agent-heartbeat-interval', { type: 'number', default: 15, describe: 'Seconds between agent heartbeats' })
        .option('max-missed-heartbeats', { type: 'number', default: 5, describe: 'Missed heartbeats before an agent is unreachable' })
        .option('services', { type: 'boolean', default: true, describe: 'Run the built-in services framework (Marathon /v2 API); --no-services turns it off' })
        .option('jobs', { type: 'boolean', default: true, describe: 'Run the built-in jobs framework (Metronome /v1 API); --no-jobs turns it off' })
        .option('jobs-history-count', { type: 'number', default: 10, describe: 'Finished runs kept per job (and kind) in the jobs history' })
        .option('default-task-user', { type: 'string', default: 'nobody', describe: "Who the built-in frameworks' tasks run as unless an app or job names a user (Marathon's --mesos_user)" })
        .option('weights', { type: 'string', describe: "Role weights for DRF, e.g. 'prod=3,dev=1'" })
        .option('services-roles', {
          type: 'string',
          default: '*',
          describe: "Roles the services framework subscribes with, the first the default of apps without `role` (Marathon's --mesos_role), e.g. 'slave_public' or '*,dev'",
        })
        .option('max-completed-tasks-per-framework', { type: 'number', default: 1000, describe: 'Completed tasks kept in memory per framework (all stay in the history store)' })
        .option('agent-removal-rate-limit', { type: 'string', describe: "Mesos --agent_removal_rate_limit: at most AGENTS/DURATION marked unreachable, e.g. '1/20mins' (default: no rate limit)" })
        .option('agent-removal-guard', {
          type: 'number',
          default: 0.4,
          describe: 'Largest share of agents marked unreachable within one heartbeat window; more at once is held as a likely partition (1 turns this off)',
        })
        .option('max-completed-frameworks', { type: 'number', default: 50, describe: 'Torn-down frameworks kept in completed_frameworks' })
        .option('framework-reregistration-grace', {
          type: 'number',
          describe: 'Seconds frameworks have to re-subscribe after a restart or leader change before their failover timeouts start (default: max(75, heartbeat interval × missed heartbeats))',
        })
        .option('secrets-key-file', {
          type: 'string',
          describe: "The secret store's key (32 bytes, base64, mode 600; 'drover secret keygen FILE' writes one). Every master of an HA set needs the same file",
        })
        .option('accept-stale-store', {
          type: 'boolean',
          default: false,
          describe:
            'Adopt re-registering agents even when they were registered with a newer or another store (the store was restored from an older copy or replaced): their tasks join this store’s state. Default: refuse them with DROVER_ERR_STORE_STALE; use once, knowingly, to recover',
        })
        .option('leader-ttl', { type: 'number', default: 3, describe: 'HA (etcd store): seconds of the leadership lease; a dead leader is replaced within about this long' })
        .option('advertise-url', { type: 'string', describe: 'HA: the URL other masters redirect clients to (default http://HOST:PORT)' })
        .option('auth', AUTH_FLAG)
        .option('data-dir', {
          type: 'string',
          default: './.drover',
          describe: "Where a generated bootstrap admin token and agent token are written (admin-token, agent-token; mode 600), and the cluster CA's certificate (ca.crt)",
        })
        .options(TLS_FLAGS)
        .option('dns-port', { type: 'number', default: 0, describe: 'Serve Mesos-DNS names (web.marathon.mesos, leader.mesos, …) on this UDP and TCP port (53 where allowed); 0: no DNS' })
        .option('dns-domain', { type: 'string', default: 'mesos', describe: "The DNS domain (Mesos-DNS' `domain`)" })
        .option('catalog-local-path', {
          type: 'string',
          default: '',
          describe: 'Directories under which file:// package repositories may be added (`drover package repo add`), comma-separated (default: none; the built-in repository is always there)',
        })
        .option('local-port-min', { type: 'number', default: 10000, describe: "Lowest service port given to `port: 0` (Marathon's --local_port_min)" })
        .option('local-port-max', { type: 'number', default: 20000, describe: "Highest service port given to `port: 0` (Marathon's --local_port_max)" })
        .option('mesos-role', {
          type: 'string',
          describe: "The services framework's role (Marathon's --mesos_role): it gets unreserved resources and this role's; apps with persistent volumes reserve for it",
        })
        .option('admin-token-file', { type: 'string', describe: 'The bootstrap admin token (else $DROVER_ADMIN_TOKEN; else generated at the first start). HA: give all masters the same' })
        .option('agent-token-file', {
          type: 'string',
          describe: 'The agent bootstrap token agents join with (else $DROVER_AGENT_TOKEN; else generated at the first start). HA: give all masters the same',
        })
        .check((args) => {
          for (const name of ['port', 'dns-port'] as const) {
            if (!Number.isInteger(args[name]) || args[name] < 0 || args[name] > 65535) throw new Error(`--${name} must be an integer from 0 to 65535, got ${String(args[name])}`);
          }
          const [min, max] = [args['local-port-min'], args['local-port-max']];
          if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) throw new Error('--local-port-min and --local-port-max must be ports with min ≤ max');
          if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?){0,4}$/.test(args['dns-domain'])) throw new Error('--dns-domain must be a lower-case DNS name');
          const role = args['mesos-role'];
          if (role !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(role)) throw new Error('--mesos-role must be 1 to 128 letters, digits, _ . or -');
          for (const name of ['allocation-interval', 'agent-heartbeat-interval', 'offer-timeout', 'leader-ttl', 'framework-reregistration-grace'] as const) {
            const v = args[name];
            if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new Error(`--${name} must be a positive number of seconds`);
          }
          for (const name of ['max-missed-heartbeats', 'max-completed-tasks-per-framework', 'jobs-history-count'] as const) {
            if (!Number.isInteger(args[name]) || args[name] < 1) throw new Error(`--${name} must be a positive integer`);
          }
          if (args.weights !== undefined) parseWeights(args.weights);
          parseRoles(args['services-roles']);
          if (args['agent-removal-rate-limit'] !== undefined) removalRateFlag(args['agent-removal-rate-limit']);
          checkRemovalGuard(args['agent-removal-guard']);
          if (!Number.isInteger(args['max-completed-frameworks']) || args['max-completed-frameworks'] < 0) throw new Error('--max-completed-frameworks must be an integer ≥ 0');
          const tlsProblem = tlsArgsProblem(args);
          if (tlsProblem !== undefined) throw new Error(tlsProblem);
          return true;
        }),
    handler: async (args) => {
      const { openStore } = await import('../store/open.ts');
      const { startMasterServer } = await import('../cluster/master.ts');
      const { createLogger } = await import('../log/index.ts');
      const { mkdir } = await import('node:fs/promises');
      const { dirname } = await import('node:path');
      const logger = createLogger({ name: 'drover-master' });
      if (args.store.startsWith('sqlite:')) await mkdir(dirname(args.store.slice('sqlite:'.length).replace(/^\/\//, '')), { recursive: true });
      const store = await openStore(args.store);
      let secretsKey: Buffer | undefined;
      try {
        // Checked before anything serves: a master whose key cannot open the store's secrets
        // would launch tasks that never get them.
        const { readKeyFile } = await import('../secrets/key-file.ts');
        const { SecretStore } = await import('../secrets/secret-store.ts');
        if (args['secrets-key-file'] !== undefined) secretsKey = await readKeyFile(args['secrets-key-file']);
        await new SecretStore(store, secretsKey).verifyKey();
      } catch (e) {
        process.stderr.write(`drover master: ${(e as Error).message}\n`);
        await store.close();
        setExit(1);
        return;
      }
      const { readFile } = await import('node:fs/promises');
      const secret = async (file: string | undefined, env: string): Promise<string | undefined> => (file !== undefined ? (await readFile(file, 'utf8')).trim() : process.env[env] || undefined);
      const adminToken = await secret(args['admin-token-file'], 'DROVER_ADMIN_TOKEN');
      const agentToken = await secret(args['agent-token-file'], 'DROVER_AGENT_TOKEN');
      const auth = args.auth === 'off' ? ({ mode: 'off' } as const) : { mode: 'on' as const, ...(adminToken === undefined ? {} : { adminToken }), ...(agentToken === undefined ? {} : { agentToken }) };
      /** Tokens this start generated (the cluster's first) are written to --data-dir, once, and said where. */
      const keepGenerated = async (bootstrap: { adminToken: string | undefined; agentToken: string | undefined } | undefined): Promise<void> => {
        if (bootstrap === undefined) return;
        const { keptSecret } = await import('../cluster/dev.ts');
        const { join } = await import('node:path');
        await mkdir(args['data-dir'], { recursive: true });
        for (const [name, value, given] of [
          ['admin-token', bootstrap.adminToken, adminToken],
          ['agent-token', bootstrap.agentToken, agentToken],
        ] as const) {
          if (value === undefined || given !== undefined) continue;
          const file = join(args['data-dir'], name);
          await keptSecret(file, '', value);
          process.stdout.write(`drover master: generated the cluster's ${name.replace('-', ' ')}: ${file} (mode 600)\n`);
        }
      };
      if (auth.mode === 'off') process.stdout.write('drover master: WARNING: authentication is OFF (--auth off): anyone who can reach this port controls the cluster\n');
      const tls = await tlsOptions(args);
      if (tls.mode === 'off') process.stdout.write('drover master: WARNING: TLS is OFF (--tls off): the API, tokens included, travels in clear\n');
      /** The cluster CA's certificate, for the CLI (DROVER_CA_CERT) and agents (--master-ca). */
      const keepCa = async (caPem: string | undefined): Promise<void> => {
        if (caPem === undefined) return;
        const { writeCaFile } = await import('../cluster/dev.ts');
        const file = await writeCaFile(args['data-dir'], caPem);
        const { caCertHash } = await import('../iam/tls-pin.ts');
        process.stdout.write(
          `drover master: the cluster CA's certificate is in ${file} (agents: --master-ca ${file}, or on a machine without the file --master-ca-hash ${caCertHash(caPem)}; CLI: DROVER_CA_CERT=${file})\n`,
        );
      };
      const serverOptions = {
        ...(secretsKey === undefined ? {} : { secretsKey }),
        auth,
        tls,
        // A CA rotation step: the file agents and the CLI trust follows it (018-ca-rotation.md).
        onCaChanged: async (bundlePem: string) => {
          const { writeCaFile } = await import('../cluster/dev.ts');
          await writeCaFile(args['data-dir'], bundlePem);
        },
        store,
        logger,
        port: args.port,
        host: args.host,
        allocationIntervalMs: args['allocation-interval'] * 1000,
        ...(args['offer-timeout'] === undefined ? {} : { offerTimeoutMs: args['offer-timeout'] * 1000 }),
        agentHeartbeatIntervalMs: args['agent-heartbeat-interval'] * 1000,
        agentMaxMissedHeartbeats: args['max-missed-heartbeats'],
        completedTasksPerFramework: args['max-completed-tasks-per-framework'],
        services: args.services,
        jobs: args.jobs,
        jobsHistoryCount: args['jobs-history-count'],
        defaultTaskUser: args['default-task-user'],
        // --mesos-role (Marathon's flag) is the apps' default role; --services-roles may add more.
        servicesRoles:
          args['mesos-role'] === undefined ? parseRoles(args['services-roles']) : [args['mesos-role'], ...parseRoles(args['services-roles']).filter((r) => r !== args['mesos-role'] && r !== '*')],
        ...(args.weights === undefined ? {} : { weights: parseWeights(args.weights) }),
        ...(args['agent-removal-rate-limit'] === undefined ? {} : { agentRemovalRate: removalRateFlag(args['agent-removal-rate-limit']) }),
        agentRemovalGuardFraction: args['agent-removal-guard'],
        maxCompletedFrameworks: args['max-completed-frameworks'],
        acceptStaleStore: args['accept-stale-store'],
        ...(args['framework-reregistration-grace'] === undefined ? {} : { frameworkReregistrationGraceMs: args['framework-reregistration-grace'] * 1000 }),
        ...(args['dns-port'] > 0 ? { dns: { port: args['dns-port'], domain: args['dns-domain'] } } : {}),
        servicePortRange: { min: args['local-port-min'], max: args['local-port-max'] },
        catalog: { localPaths: args['catalog-local-path'].split(',').filter((p) => p.trim() !== '') },
      };
      // On etcd, masters are highly available: each campaigns, one leads, the others redirect.
      if (store.backend === 'etcd') {
        const { startHaMaster } = await import('../cluster/ha-master.ts');
        const ha = await startHaMaster({ ...serverOptions, leaderTtlSeconds: args['leader-ttl'], ...(args['advertise-url'] ? { advertiseUrl: args['advertise-url'] } : {}) });
        process.stdout.write(`drover master (HA, ${ha.advertiseUrl}): listening on ${ha.url} (store etcd)\n`);
        void ha.elected().then(async () => {
          await keepGenerated(ha.server()?.iam?.bootstrap);
          await keepCa(ha.server()?.caCertPem);
        });
        await waitForSignal();
        await ha.close();
      } else {
        const server = await startMasterServer(serverOptions);
        await keepGenerated(server.iam?.bootstrap);
        await keepCa(server.caCertPem);
        process.stdout.write(`drover master ${server.master.id}: listening on ${server.url} (store ${store.backend})\n`);
        await waitForSignal();
        await server.close();
      }
      await store.close();
      setExit(0);
    },
  };
}
