import type { CommandModule } from 'yargs';
// Light modules (no server code): the flags are parsed before anything starts.
import { parseAttributes } from '../agent/attributes.ts';
import { Resources } from '../resources/index.ts';
import { waitForSignal } from './signals.ts';

interface AgentArgs {
  master: string;
  port: number;
  host: string;
  'work-dir': string;
  resources?: string;
  attributes?: string;
  hostname?: string;
  containerizer?: 'linux' | 'posix';
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
        .option('master', { type: 'string', demandOption: true, describe: 'URL of the master, e.g. http://10.0.0.1:5050' })
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
      const agent = new Agent({
        masterUrl: args.master,
        port: args.port,
        host: args.host,
        workDir,
        ...(given === undefined ? {} : { resources: given }),
        attributes: args.attributes === undefined ? [] : parseAttributes(args.attributes),
        ...(args.hostname === undefined ? {} : { hostname: args.hostname }),
        ...(args.containerizer === undefined ? {} : { containerizer: args.containerizer }),
        logger,
      });
      await agent.start();
      process.stdout.write(`drover agent: listening on ${agent.url} (master ${args.master}, work dir ${agent.workDir})\n`);
      await waitForSignal();
      await agent.stop();
      setExit(0);
    },
  };
}

/** What is wrong with the flags, in words, or undefined. */
export function agentArgsProblem(args: AgentArgs): string | undefined {
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    return `--port must be an integer from 0 to 65535, got ${String(args.port)}`;
  }
  let url: URL | undefined;
  try {
    url = new URL(args.master);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return `--master must be an http(s) URL such as http://127.0.0.1:5050, got '${args.master}'`;
  }
  if (args['work-dir'] === '') return '--work-dir must not be empty';
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
  return undefined;
}
