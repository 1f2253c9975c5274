import type { Argv, CommandModule } from 'yargs';
import { appPath, readJsonInput, withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

interface PodStatusJson {
  id: string;
  status: string;
  spec: { scaling: { instances: number }; containers: Array<{ name: string }> };
  instances: Array<{ id: string; status: string; agentHostname: string; containers: Array<{ name: string; status: string }> }>;
}

/** `drover pod …`: Marathon pods (task groups) through /v2/pods. */
export function podCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'pod <command>',
    describe: 'Manage pods (containers that run together: Marathon pods)',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'add [file]',
          'Create a pod from a JSON file (or - for stdin)',
          (b) => b.positional('file', { type: 'string' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const created = await c.request<{ id: string }>('POST', '/v2/pods', await readJsonInput(a.file));
              print(a.json === true, created, () => `created ${created.id}\n`);
            }),
        )
        .command(
          'list',
          'List pods with their status',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const pods = await c.get<PodStatusJson[]>('/v2/pods/::status');
              print(a.json === true, pods, () =>
                table(
                  ['ID', 'STATUS', 'INSTANCES', 'RUNNING', 'CONTAINERS'],
                  pods.map((p) => [p.id, p.status, p.spec.scaling.instances, p.instances.filter((i) => i.status === 'STABLE').length, p.spec.containers.map((x) => x.name).join(',')]),
                ),
              );
            }),
        )
        .command(
          'show <id>',
          'Show a pod and its instances',
          (b) => b.positional('id', { type: 'string', demandOption: true }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const p = await c.get<PodStatusJson>(`/v2/pods${appPath(a.id)}::status`);
              print(
                a.json === true,
                p,
                () =>
                  `${p.id}: ${p.status}, ${p.instances.length}/${p.spec.scaling.instances} instance(s)\n\n` +
                  table(
                    ['INSTANCE', 'STATUS', 'HOST', 'CONTAINERS'],
                    p.instances.map((i) => [i.id, i.status, i.agentHostname, i.containers.map((x) => `${x.name}:${x.status}`).join(' ')]),
                  ),
              );
            }),
        )
        .command(
          ['remove <id>', 'rm <id>'],
          'Delete a pod and its instances (--force: even while a deployment of it runs)',
          (b) => b.positional('id', { type: 'string', demandOption: true }).option('force', { type: 'boolean' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              await c.request('DELETE', `/v2/pods${appPath(a.id)}${a.force ? '?force=true' : ''}`);
              print(a.json === true, { id: a.id }, () => `removing ${a.id}\n`);
            }),
        )
        .demandCommand(1, 'Name a pod command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
