import type { CommandModule } from 'yargs';
import { waitForSignal } from './signals.ts';

interface MasterArgs {
  port: number;
  host: string;
  store: string;
  'allocation-interval': number;
  'offer-timeout'?: number;
  'agent-heartbeat-interval': number;
  'max-missed-heartbeats': number;
  'max-completed-tasks-per-framework': number;
  weights?: string;
  services: boolean;
  jobs: boolean;
  'jobs-history-count': number;
  'default-task-user': string;
  'leader-ttl': number;
  'advertise-url'?: string;
}

/** Mesos' --weights syntax: `role1=2,role2=0.5`. */
export function parseWeights(text: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
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
        .option('max-completed-tasks-per-framework', { type: 'number', default: 1000, describe: 'Completed tasks kept in memory per framework (all stay in the history store)' })
        .option('leader-ttl', { type: 'number', default: 3, describe: 'HA (etcd store): seconds of the leadership lease; a dead leader is replaced within about this long' })
        .option('advertise-url', { type: 'string', describe: 'HA: the URL other masters redirect clients to (default http://HOST:PORT)' })
        .check((args) => {
          if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new Error(`--port must be an integer from 0 to 65535, got ${String(args.port)}`);
          for (const name of ['allocation-interval', 'agent-heartbeat-interval', 'offer-timeout', 'leader-ttl'] as const) {
            const v = args[name];
            if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new Error(`--${name} must be a positive number of seconds`);
          }
          for (const name of ['max-missed-heartbeats', 'max-completed-tasks-per-framework', 'jobs-history-count'] as const) {
            if (!Number.isInteger(args[name]) || args[name] < 1) throw new Error(`--${name} must be a positive integer`);
          }
          if (args.weights !== undefined) parseWeights(args.weights);
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
      const serverOptions = {
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
        ...(args.weights === undefined ? {} : { weights: parseWeights(args.weights) }),
      };
      // On etcd, masters are highly available: each campaigns, one leads, the others redirect.
      if (store.backend === 'etcd') {
        const { startHaMaster } = await import('../cluster/ha-master.ts');
        const ha = await startHaMaster({ ...serverOptions, leaderTtlSeconds: args['leader-ttl'], ...(args['advertise-url'] ? { advertiseUrl: args['advertise-url'] } : {}) });
        process.stdout.write(`drover master (HA, ${ha.advertiseUrl}): listening on ${ha.url} (store etcd)\n`);
        await waitForSignal();
        await ha.close();
      } else {
        const server = await startMasterServer(serverOptions);
        process.stdout.write(`drover master ${server.master.id}: listening on ${server.url} (store ${store.backend})\n`);
        await waitForSignal();
        await server.close();
      }
      await store.close();
      setExit(0);
    },
  };
}
