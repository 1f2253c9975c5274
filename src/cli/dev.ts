import type { CommandModule } from 'yargs';
import { waitForSignal } from './signals.ts';

interface DevArgs {
  port: number;
  host: string;
  'data-dir': string;
}

/** `drover dev`: a single-node cluster in one process; runs until SIGINT or SIGTERM. */
export function devCommand(setExit: (code: number) => void): CommandModule<object, DevArgs> {
  return {
    command: 'dev',
    describe: 'Start a single-node cluster (embedded store) in this process',
    builder: (y) =>
      y
        .option('port', { type: 'number', default: 5050, describe: 'HTTP port for the API and UI' })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
        .option('data-dir', { type: 'string', default: './.drover', describe: 'Folder that holds all cluster state' })
        .check((args) => {
          if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
            throw new Error(`--port must be an integer from 0 to 65535, got ${String(args.port)}`);
          }
          return true;
        }),
    handler: async (args) => {
      // Loaded here so that `drover --help` and client commands never load the server stack.
      const { startDev } = await import('../cluster/dev.ts');
      const { createLogger } = await import('../log/index.ts');
      const logger = createLogger({ name: 'drover-dev' });
      const cluster = await startDev({ port: args.port, host: args.host, dataDir: args['data-dir'], logger });
      process.stdout.write(`drover dev: listening on ${cluster.url} (data in ${args['data-dir']})\n`);
      await waitForSignal();
      await cluster.close();
      setExit(0);
    },
  };
}
