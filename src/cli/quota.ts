/**
 * `drover quota …` and `drover role …`: roles, their weights and quota through the Mesos operator
 * API (`POST /api/v1` UPDATE_QUOTA / UPDATE_WEIGHTS) and `/master/roles` (DC/OS' `dcos quota`).
 */
import type { Argv, CommandModule } from 'yargs';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';
import { CliError } from './client.ts';

interface RoleJson {
  name: string;
  weight: number;
  frameworks: string[];
  allocated: Record<string, number | string>;
  quota: { guarantee: Record<string, number>; limit: Record<string, number>; consumed: Record<string, number> };
}

/** `cpus:2;mem:1024` → `{cpus: {value: 2}, mem: {value: 1024}}` (v1's map of scalars). */
export function parseAmounts(text: string | undefined, flag: string): Record<string, { value: number }> {
  if (text === undefined || text.trim() === '') return {};
  const out: Record<string, { value: number }> = {};
  for (const part of text.split(';')) {
    const m = /^\s*([a-z]{1,16})\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(part);
    if (!m) throw new CliError(`--${flag}: '${part}' is not name:amount (e.g. 'cpus:2;mem:1024')`, 2);
    out[m[1]!] = { value: Number(m[2]) };
  }
  return out;
}

const amounts = (m: Record<string, number>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k}:${v}`)
    .join(';');

export function quotaCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'quota <command>',
    describe: 'Role quota: guarantees held back for a role and limits it may not pass',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'list',
          'Roles with a quota, and what they consume',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const roles = (await c.get<{ roles: RoleJson[] }>('/master/roles')).roles.filter((r) => Object.keys(r.quota.guarantee).length + Object.keys(r.quota.limit).length > 0);
              print(a.json === true, roles, () =>
                table(
                  ['ROLE', 'GUARANTEES', 'LIMITS', 'CONSUMED'],
                  roles.map((r) => [r.name, amounts(r.quota.guarantee), amounts(r.quota.limit), amounts(r.quota.consumed)]),
                ),
              );
            }),
        )
        .command(
          'set <role>',
          "Set a role's quota (replaces it): --limits 'cpus:4;mem:4096' --guarantees 'cpus:2'",
          (b) =>
            b
              .positional('role', { type: 'string', demandOption: true })
              .option('limits', { type: 'string', describe: 'name:amount;… (cpus, mem, disk, gpus)' })
              .option('guarantees', { type: 'string', describe: 'name:amount;…' })
              .option('force', { type: 'boolean', default: false, describe: 'Skip the checks against the cluster (overcommitted guarantees, a limit below what the role consumes)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const config = { role: a.role, guarantees: parseAmounts(a.guarantees, 'guarantees'), limits: parseAmounts(a.limits, 'limits') };
              if (Object.keys(config.guarantees).length + Object.keys(config.limits).length === 0) throw new CliError('give --limits and/or --guarantees (`drover quota remove` removes a quota)', 2);
              await c.request('POST', '/api/v1', { type: 'UPDATE_QUOTA', update_quota: { force: a.force, quota_configs: [config] } });
              print(a.json === true, config, () => `quota of ${a.role} set\n`);
            }),
        )
        .command(
          ['remove <role>', 'rm <role>'],
          "Remove a role's quota",
          (b) => b.positional('role', { type: 'string', demandOption: true }),
          (a) =>
            withClient(a, setExit, async (c) => {
              await c.request('POST', '/api/v1', { type: 'UPDATE_QUOTA', update_quota: { force: true, quota_configs: [{ role: a.role }] } });
              print(a.json === true, { role: a.role }, () => `quota of ${a.role} removed\n`);
            }),
        )
        .demandCommand(1, 'Name a quota command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}

export function roleCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'role <command>',
    describe: 'Roles the allocator knows, and their weights',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'list',
          'Roles with their weight, frameworks and allocation',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const roles = (await c.get<{ roles: RoleJson[] }>('/master/roles')).roles;
              print(a.json === true, roles, () =>
                table(
                  ['ROLE', 'WEIGHT', 'FRAMEWORKS', 'CPUS', 'MEM'],
                  roles.map((r) => [r.name, r.weight, r.frameworks.length, r.allocated['cpus'], r.allocated['mem']]),
                ),
              );
            }),
        )
        .command(
          'weight <role> <weight>',
          "Set a role's weight (fair shares are divided by it; default 1)",
          (b) => b.positional('role', { type: 'string', demandOption: true }).positional('weight', { type: 'number', demandOption: true }),
          (a) =>
            withClient(a, setExit, async (c) => {
              await c.request('POST', '/api/v1', { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: a.role, weight: a.weight }] } });
              print(a.json === true, { role: a.role, weight: a.weight }, () => `weight of ${a.role} set to ${a.weight}\n`);
            }),
        )
        .demandCommand(1, 'Name a role command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
