import type { CommandModule } from 'yargs';
import { resolveMaster } from './client.ts';
import { tokenFor } from './credentials.ts';
import { waitForSignal } from './signals.ts';

export interface LbArgs {
  master?: string;
  group: string[];
  'strict-mode': boolean;
  'bind-address': string;
  'http-port': number;
  'https-port': number;
  'app-id-port': number;
  'admin-host': string;
  'admin-port': number;
  'work-dir': string;
  haproxy: string;
  'min-slots': number;
  maxconn: number;
}

const PORTS = ['http-port', 'https-port', 'app-id-port', 'admin-port'] as const;

/** `drover lb`: Marathon-LB on HAProxy, a separate process following a master's /v2 API. */
export function lbCommand(setExit: (code: number) => void): CommandModule<object, LbArgs> {
  return {
    command: 'lb',
    describe: "Run a load balancer (Marathon-LB's labels) on HAProxy, fed by the master's event stream",
    builder: (y) =>
      y
        .option('group', { type: 'string', array: true, default: ['external'], describe: "HAPROXY_GROUP values to serve ('*': every app)" })
        .option('strict-mode', { type: 'boolean', default: false, describe: 'Serve a port only when its app says HAPROXY_{n}_ENABLED=true (marathon-lb --strict-mode)' })
        .option('bind-address', { type: 'string', default: '*', describe: "Address HAProxy's frontends bind (HAPROXY_{n}_BIND_ADDR overrides per port)" })
        .option('http-port', { type: 'number', default: 80, describe: 'Port of the HAPROXY_{n}_VHOST frontend (0: none)' })
        .option('https-port', { type: 'number', default: 443, describe: 'Port of the TLS vhost frontend, bound when an app has HAPROXY_{n}_SSL_CERT (0: none)' })
        .option('app-id-port', { type: 'number', default: 9091, describe: 'Port of the X-Marathon-App-Id frontend (0: none)' })
        .option('admin-host', { type: 'string', default: '127.0.0.1', describe: 'Address of the admin endpoints (/_haproxy_health_check, /_haproxy_getconfig, stats)' })
        .option('admin-port', { type: 'number', default: 9090, describe: 'Port of the admin endpoints' })
        .option('work-dir', { type: 'string', default: './.drover-lb', describe: "Folder for HAProxy's config and admin socket" })
        .option('haproxy', { type: 'string', default: 'haproxy', describe: 'The HAProxy binary (2.6 or newer)' })
        .option('min-slots', { type: 'number', default: 8, describe: 'Server slots each backend has at least (more slots: fewer reloads)' })
        .option('maxconn', { type: 'number', default: 4096, describe: "HAProxy's global maxconn" })
        .check((args) => {
          for (const name of PORTS) {
            const port = args[name];
            if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--${name} must be an integer from 0 to 65535, got ${String(port)}`);
          }
          if (!Number.isInteger(args['min-slots']) || args['min-slots'] < 1 || args['min-slots'] > 1024) throw new Error('--min-slots must be an integer from 1 to 1024');
          if (!Number.isInteger(args.maxconn) || args.maxconn < 1) throw new Error('--maxconn must be a positive integer');
          for (const g of args.group) if (g !== '*' && !/^[A-Za-z0-9_.-]{1,64}$/.test(g)) throw new Error(`--group: '${g}' is not a group name`);
          return true;
        }),
    handler: async (args) => {
      const { startLb } = await import('../lb/index.ts');
      const { createLogger } = await import('../log/index.ts');
      const { resolve } = await import('node:path');
      const master = await resolveMaster(args.master);
      let running;
      try {
        running = await startLb({
          master,
          token: tokenFor(master),
          groups: args.group,
          strictMode: args['strict-mode'],
          bindAddr: args['bind-address'],
          httpPort: args['http-port'],
          httpsPort: args['https-port'],
          appIdPort: args['app-id-port'],
          adminHost: args['admin-host'],
          adminPort: args['admin-port'],
          workDir: resolve(args['work-dir']),
          haproxyBin: args.haproxy,
          minSlots: args['min-slots'],
          maxconn: args.maxconn,
          logger: createLogger({ name: 'drover-lb' }),
        });
      } catch (e) {
        process.stderr.write(`drover lb: ${e instanceof Error ? e.message : String(e)}\n`);
        setExit(1);
        return;
      }
      process.stdout.write(`drover lb: following ${master}; admin listening on ${running.adminUrl}\n`);
      await waitForSignal();
      await running.close();
      setExit(0);
    },
  };
}
