import type { Argv, CommandModule } from 'yargs';
import { CliError } from './client.ts';
import { appPath, parseAssignments, readJsonInput, withClient, type ClientArgs } from './run-command.ts';
import { print, table, when } from './table.ts';
import { progressLine, progressOf, queueEntry, whyLines } from './why.ts';
import { agentNames } from './node.ts';

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
  tasks?: Array<{
    id: string;
    state: string;
    host: string;
    slaveId?: string;
    ports: number[];
    version?: string;
    startedAt?: string;
    stagedAt?: string;
    healthCheckResults?: Array<{ alive: boolean }>;
  }>;
  healthChecks?: unknown[];
  versionInfo?: { lastConfigChangeAt: string };
  container?: { docker?: { image?: string } };
  lastTaskFailure?: { state: string; message: string; timestamp: string };
}

/** A count typed by the user: digits only (no `1e3`, `0x10`, `-1` or `abc`), at most 1,000,000. */
export function wholeNumber(text: string, what: string): number {
  const n = /^\d{1,7}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > 1_000_000) throw new CliError(`${what} must be a whole number from 0 to 1000000, not '${text}'; nothing was changed`, 2);
  return n;
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
              const waiting = await queueEntry(c, app.id);
              if (a.json === true) {
                print(true, { ...app, ...(waiting?.why ? { why: waiting.why } : {}) }, () => '');
                return;
              }
              const p = progressOf(app);
              const host = await agentNames(c);
              const why = whyLines(waiting, { failure: false });
              const failure = app.lastTaskFailure !== undefined ? `last failure: ${app.lastTaskFailure.state} ${app.lastTaskFailure.message} (${when(app.lastTaskFailure.timestamp)})\n` : '';
              process.stdout.write(
                `${app.id}: ${p.ready}/${app.instances} ${(app.healthChecks ?? []).length > 0 ? 'running and healthy' : 'running'}${p.old > 0 ? ` (and ${p.old} of the previous version)` : ''}, cpus ${app.cpus}, mem ${app.mem}\n` +
                  `cmd: ${app.cmd ?? (app.args ?? []).join(' ')}\n` +
                  (imageOf(app) === '' ? '' : `image: ${imageOf(app)}\n`) +
                  (app.deployments.length > 0 ? `deploying: ${progressLine(app)} (deployment ${app.deployments.map((d) => d.id).join(', ')})\n` : '') +
                  (waiting !== undefined && waiting.count > 0 ? `waiting to launch ${waiting.count}:\n` : waiting !== undefined ? 'not launching:\n' : '') +
                  why.map((l) => `${l}\n`).join('') +
                  // A failed pull names the image and the registry's error here.
                  failure +
                  '\n' +
                  table(
                    ['TASK', 'STATE', 'NODE', 'PORTS', 'STARTED'],
                    (app.tasks ?? []).map((t) => [t.id, t.state, t.slaveId === undefined ? t.host : host(t.slaveId), t.ports.join(','), when(t.startedAt ?? t.stagedAt)]),
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
          // A string, checked here: yargs' number type turns `abc` into NaN, which JSON sends as null.
          (b) => b.positional('id', { type: 'string', demandOption: true }).positional('instances', { type: 'string', demandOption: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const instances = wholeNumber(String(a.instances), 'instances');
              done(a, `scaling ${a.id} to ${instances}`)(await c.request<Deployed>('PUT', `/v2/apps${appPath(a.id)}${a.force ? '?force=true' : ''}`, { instances }));
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
