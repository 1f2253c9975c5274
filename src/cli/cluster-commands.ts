/** `drover deployment …`, `drover task list|exec` (and the log commands of task-log.ts). */
import type { Argv, CommandModule } from 'yargs';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';
import { addTaskLog } from './task-log.ts';
import { appWithTasks, progressLine, queueEntry, whyLines } from './why.ts';
import { agentNames, resolveNode } from './node.ts';

interface DeploymentJson {
  id: string;
  affectedApps: string[];
  currentActions: Array<{ action: string; app: string }>;
  currentStep: number;
  totalSteps: number;
  version: string;
}

export function deploymentCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'deployment <command>',
    describe: 'Follow and roll back deployments',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'list',
          'Deployments in progress',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const list = await c.get<DeploymentJson[]>('/v2/deployments');
              print(a.json === true, list, () =>
                table(
                  ['ID', 'APPS', 'ACTIONS', 'STEP'],
                  list.map((d) => [d.id, d.affectedApps.join(','), d.currentActions.map((x) => x.action).join(','), `${d.currentStep}/${d.totalSteps}`]),
                ),
              );
            }),
        )
        .command(
          'watch <id>',
          'Show progress until the deployment ends',
          (b) => b.positional('id', { type: 'string', demandOption: true }).option('timeout', { type: 'number', default: 600, describe: 'seconds' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const deadline = Date.now() + a.timeout * 1000;
              // A line is printed when what it says changes: a stuck deployment prints its reason
              // once, not once a second.
              let last = '';
              for (;;) {
                const d = (await c.get<DeploymentJson[]>('/v2/deployments')).find((x) => x.id === a.id);
                if (!d) {
                  process.stdout.write(`deployment ${a.id} finished\n`);
                  return;
                }
                const parts = await Promise.all(
                  d.affectedApps.map(async (id) => {
                    const app = await appWithTasks(c, id);
                    if (app === undefined) return [`${id} (removing)`];
                    const action = d.currentActions.find((x) => x.app === id)?.action;
                    const head = `${id} ${action === 'StopApplication' ? '(stopping)' : progressLine(app)}`;
                    return [head, ...whyLines(await queueEntry(c, id), { indent: '    ' })];
                  }),
                );
                const step = `step ${d.currentStep}/${d.totalSteps} ${d.currentActions.map((x) => x.action).join(',')}:`;
                const text = parts.map((lines) => `${step} ${lines.join('\n')}`).join('\n');
                if (text !== last) process.stdout.write(`${text}\n`);
                last = text;
                if (Date.now() > deadline) {
                  process.stderr.write(`drover: deployment ${a.id} still running after ${a.timeout} s\n`);
                  setExit(1);
                  return;
                }
                await new Promise((r) => setTimeout(r, 1000));
              }
            }),
        )
        .command(
          'rollback <id>',
          'Roll a deployment back (or stop it with --force)',
          (b) => b.positional('id', { type: 'string', demandOption: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const r = await c.request<{ deploymentId?: string } | undefined>('DELETE', `/v2/deployments/${encodeURIComponent(a.id)}${a.force ? '?force=true' : ''}`);
              print(a.json === true, r ?? {}, () => (r?.deploymentId ? `rolling back with deployment ${r.deploymentId}\n` : `stopped tracking ${a.id}\n`));
            }),
        )
        .demandCommand(1, 'Name a deployment command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}

interface TaskJson {
  id: string;
  name: string;
  state: string;
  slave_id: string;
  framework_id: string;
  resources: { cpus: number; mem: number };
}

export function taskListCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'task <command>',
    describe: 'Find tasks and read their logs',
    builder: (y: Argv<ClientArgs>) => {
      const withList = y
        .command(
          'list [filter]',
          'List tasks (filtered on the server)',
          (b) =>
            b
              .positional('filter', { type: 'string' })
              .option('completed', { type: 'boolean', describe: 'include finished tasks' })
              .option('agent', { type: 'string', describe: 'only tasks on this agent (hostname or id)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const q = new URLSearchParams({ completed: a.completed ? 'true' : 'false', limit: '1000' });
              if (a.filter) q.set('filter', a.filter);
              if (a.agent) q.set('agent_id', (await resolveNode(c, a.agent)).id);
              const { tasks } = await c.get<{ tasks: TaskJson[] }>(`/master/tasks?${q.toString()}`);
              const host = a.json === true ? undefined : await agentNames(c);
              print(a.json === true, tasks, () =>
                table(
                  ['ID', 'NAME', 'STATE', 'NODE', 'CPUS', 'MEM'],
                  tasks.map((t) => [t.id, t.name, t.state, host!(t.slave_id), t.resources.cpus, t.resources.mem]),
                ),
              );
            }),
        )
        .command<ClientArgs & { target: string; command?: string[]; interactive?: boolean; tty?: boolean; '--'?: string[] }>(
          'exec <target> [command..]',
          'Run a command inside a running task (its namespaces, cgroups and user): drover task exec [-i] [-t] TASK -- CMD…',
          (b) =>
            b
              .positional('target', { type: 'string', demandOption: true, describe: 'task id, or an app id with one running task' })
              .positional('command', { type: 'string', array: true, describe: 'the command and its arguments (after --)' })
              .option('interactive', { alias: 'i', type: 'boolean', describe: 'send our stdin to the command' })
              .option('tty', { alias: 't', type: 'boolean', describe: 'give the command a pseudo-terminal' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const { taskExec } = await import('./task-exec.ts');
              const argv = [...(a.command ?? []), ...(a['--'] ?? [])].map(String);
              setExit(await taskExec(c, { target: a.target, argv, interactive: a.interactive === true, tty: a.tty === true }));
            }),
        );
      return addTaskLog(withList, setExit).demandCommand(1, 'Name a task command.');
    },
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
