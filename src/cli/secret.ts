/**
 * `drover secret create|list|rm|keygen`: the secret store through DC/OS' secrets API
 * (`/secrets/v1/secret/default/…`, src/secrets/api.ts). A value is read from `--value-file` or
 * stdin (a value on the command line shows in `ps` and shell history; `--value` exists for tests
 * and scripts that know that); it is never printed.
 */
import type { Argv, CommandModule } from 'yargs';
import { CliError } from './client.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

type PathArgs = ClientArgs & { path: string };

function apiPath(path: string): string {
  const trimmed = path.replace(/^\/+/, '');
  if (trimmed === '') throw new CliError('a secret path is required (e.g. /dev/db-password)', 2);
  return `/secrets/v1/secret/default/${trimmed.split('/').map(encodeURIComponent).join('/')}`;
}

async function readValue(a: { value?: string; 'value-file'?: string }): Promise<string> {
  if (a.value !== undefined) return a.value;
  const { readFile } = await import('node:fs/promises');
  if (a['value-file'] !== undefined && a['value-file'] !== '-') {
    try {
      return await readFile(a['value-file'], 'utf8');
    } catch (e) {
      throw new CliError(`cannot read ${a['value-file']}: ${(e as Error).message}`, 2);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function secretCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  const path = (y: Argv<ClientArgs>) => y.positional('path', { type: 'string', demandOption: true, describe: 'Secret path, e.g. /dev/db-password' });
  return {
    command: 'secret <command>',
    describe: 'Secrets: encrypted values tasks get in their environment or as files',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command<PathArgs & { value?: string; 'value-file'?: string; update?: boolean }>(
          'create <path>',
          'Create a secret (value from --value-file or stdin)',
          (b) =>
            path(b)
              .option('value-file', { type: 'string', describe: 'Read the value from this file (- for stdin, the default)' })
              .option('value', { type: 'string', describe: 'The value itself (visible in ps and shell history: prefer --value-file)' })
              .option('update', { type: 'boolean', describe: 'Replace the value of an existing secret instead' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const value = await readValue(a);
              await c.request(a.update === true ? 'PATCH' : 'PUT', apiPath(a.path), { value });
              process.stderr.write(`${a.update === true ? 'updated' : 'created'} secret ${a.path}\n`);
            }),
        )
        .command<ClientArgs & { path?: string }>(
          'list [path]',
          'List secret paths (under a folder)',
          (b) => b.positional('path', { type: 'string', describe: 'Folder, e.g. /dev (default: all)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const dir = (a.path ?? '').replace(/^\/+|\/+$/g, '');
              const url = dir === '' ? '/secrets/v1/secret/default/?list=true' : `${apiPath(dir)}?list=true`;
              const { array } = await c.get<{ array: string[] }>(url);
              const base = dir === '' ? '' : `/${dir}`;
              const paths = array.map((p) => `${base}/${p}`);
              print(a.json === true, paths, () =>
                table(
                  ['PATH'],
                  paths.map((p) => [p]),
                ),
              );
            }),
        )
        .command<PathArgs>('rm <path>', 'Delete a secret', path, (a) =>
          withClient(a, setExit, async (c) => {
            await c.request('DELETE', apiPath(a.path));
            process.stderr.write(`deleted secret ${a.path}\n`);
          }),
        )
        .command<ClientArgs & { file: string }>(
          'keygen <file>',
          'Write a new secrets key file (mode 600) for `drover master --secrets-key-file`; every master of an HA set uses the same one',
          (b) => b.positional('file', { type: 'string', demandOption: true }),
          async (a) => {
            const { createKeyFile } = await import('../secrets/key-file.ts');
            try {
              await createKeyFile(a.file);
              process.stderr.write(`wrote a new secrets key to ${a.file}\n`);
            } catch (e) {
              process.stderr.write(`drover: cannot create ${a.file}: ${(e as Error).message}\n`);
              setExit(1);
            }
          },
        )
        .demandCommand(1, 'Name a secret command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
