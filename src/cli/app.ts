import type { Argv, CommandModule } from 'yargs';
import { appPath, parseAssignments, readJsonInput, withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

interface AppJson {
  id: string;
  instances: number;
  tasksRunning: number;
  tasksHealthy: number;
  cpus: number;
  mem: number;
  cmd?: string;
  args?: string[];
  deployments: Array<{ id: string }>;
  tasks?: Array<{ id: string; state: string; host: string; ports: number[] }>;
  container?: { docker?: { image?: string } };
  lastTaskFailure?: { state: string; message: string; timestamp: string };
}

/** An app's image (Marathon's container.docker.image), or '' when it runs on the host's tree. */
const imageOf = (app: AppJson): string => app.container?.docker?.image ?? '';

type Deployed = { deploymentId?: string; version?: string };

/** `drover app …`: Marathon apps through /v2/apps. */
export function appCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  const done = (args: ClientArgs, what: string) => (r: Deployed) => print(args.json === true, r, () => `${what}${r.deploymentId ? ` (deployment ${r.deploymentId})` : ''}\n`);
  return {
    command: 'app <command>',
    describe: 'Manage services (Marathon apps)',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'add [file]',
          'Create an app from a JSON file (or - for stdin)',
          (b) => b.positional('file', { type: 'string' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const created = await c.request<AppJson>('POST', '/v2/apps', await readJsonInput(a.file));
              print(a.json === true, created, () => `created ${created.id}\n`);
            }),
        )
        .command(
          'list',
          'List apps',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const { apps } = await c.get<{ apps: AppJson[] }>('/v2/apps');
              print(a.json === true, apps, () =>
                table(
                  ['ID', 'INSTANCES', 'RUNNING', 'HEALTHY', 'CPUS', 'MEM', 'DEPLOYING', 'IMAGE', 'CMD'],
                  apps.map((x) => [x.id, x.instances, x.tasksRunning, x.tasksHealthy, x.cpus, x.mem, x.deployments.length > 0 ? 'yes' : '', imageOf(x), x.cmd ?? (x.args ?? []).join(' ')]),
                ),
              );
            }),
        )
        .command(
          'show <id>',
          'Show an app and its tasks',
          (b) => b.positional('id', { type: 'string', demandOption: true }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const { app } = await c.get<{ app: AppJson }>(`/v2/apps${appPath(a.id)}?embed=app.tasks&embed=app.lastTaskFailure`);
              print(
                a.json === true,
                app,
                () =>
                  `${app.id}: ${app.tasksRunning}/${app.instances} running, cpus ${app.cpus}, mem ${app.mem}\ncmd: ${app.cmd ?? (app.args ?? []).join(' ')}\n` +
                  (imageOf(app) === '' ? '' : `image: ${imageOf(app)}\n`) +
                  // A failed pull names the image and the registry's error here.
                  (app.lastTaskFailure === undefined ? '' : `last failure: ${app.lastTaskFailure.state} ${app.lastTaskFailure.message}\n`) +
                  '\n' +
                  table(
                    ['TASK', 'STATE', 'HOST', 'PORTS'],
                    (app.tasks ?? []).map((t) => [t.id, t.state, t.host, t.ports.join(',')]),
                  ),
              );
            }),
        )
        .command(
          'update <id> [assignments..]',
          'Change fields: key=value… (values in JSON), or - to read a JSON body',
          (b) => b.positional('id', { type: 'string', demandOption: true }).positional('assignments', { type: 'string', array: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const pairs = (a.assignments ?? []) as string[];
              const body = pairs.length === 1 && (pairs[0] === '-' || pairs[0] === '') ? await readJsonInput('-') : parseAssignments(pairs);
              done(a, `updated ${a.id}`)(await c.request<Deployed>('PUT', `/v2/apps${appPath(a.id)}${a.force ? '?force=true' : ''}`, body));
            }),
        )
        .command(
          'scale <id> <instances>',
          'Set the number of instances',
          (b) => b.positional('id', { type: 'string', demandOption: true }).positional('instances', { type: 'number', demandOption: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              done(a, `scaling ${a.id} to ${a.instances}`)(await c.request<Deployed>('PUT', `/v2/apps${appPath(a.id)}${a.force ? '?force=true' : ''}`, { instances: a.instances }));
            }),
        )
        .command(
          'restart <id>',
          'Replace every instance (rolling)',
          (b) => b.positional('id', { type: 'string', demandOption: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              done(a, `restarting ${a.id}`)(await c.request<Deployed>('POST', `/v2/apps${appPath(a.id)}/restart${a.force ? '?force=true' : ''}`));
            }),
        )
        .command(
          'remove <id>',
          'Delete an app and its tasks',
          (b) => b.positional('id', { type: 'string', demandOption: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              done(a, `removing ${a.id}`)(await c.request<Deployed>('DELETE', `/v2/apps${appPath(a.id)}${a.force ? '?force=true' : ''}`));
            }),
        )
        .command(
          'kill <id>',
          "Kill an app's tasks (they are replaced unless --scale)",
          (b) => b.positional('id', { type: 'string', demandOption: true }).option('scale', { type: 'boolean', describe: 'also lower the instance count' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              if (a.scale) {
                // Marathon answers a kill that scales with the deployment it started, not the tasks.
                const { tasks } = await c.request<{ tasks: Array<{ id: string }> }>('GET', `/v2/apps${appPath(a.id)}/tasks`);
                done(a, `killed ${tasks.length} task(s) of ${a.id}, scaling it down`)(await c.request<Deployed>('DELETE', `/v2/apps${appPath(a.id)}/tasks?scale=true`));
                return;
              }
              const { tasks } = await c.request<{ tasks: Array<{ id: string }> }>('DELETE', `/v2/apps${appPath(a.id)}/tasks`);
              print(a.json === true, tasks, () => `killed ${tasks.length} task(s) of ${a.id}\n`);
            }),
        )
        .demandCommand(1, 'Name an app command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
