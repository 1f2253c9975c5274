/**
 * `drover login` and `drover iam user|account|group|grant|revoke|acls`: DC/OS's IAM API
 * (`/acs/api/v1`, src/iam/acs-api.ts) from the command line.
 *
 *   drover login --uid alice [--password …]           (else $DROVER_PASSWORD, else a line on stdin)
 *   drover login --uid svc --private-key svc.pem      (a service account: an RS256 login token)
 *   drover iam user create alice --password …         drover iam user list | rm alice
 *   drover iam account create svc --public-key pub.pem
 *   drover iam group create dev | add dev alice | rm dev | list
 *   drover iam grant alice dcos:service:marathon:marathon:services:/dev full   [--group]
 *   drover iam revoke alice dcos:service:marathon:marathon:services:/dev full  [--group]
 *   drover iam acls
 */
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { CliError, type Client, resolveMaster } from './client.ts';
import { saveLogin } from './credentials.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

type LoginArgs = ClientArgs & { uid: string; password?: string; 'private-key'?: string };

async function readLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split('\n')[0]?.trim() ?? '';
}

/** A DC/OS service login token: `{uid, exp}` signed RS256 with the account's private key. */
async function serviceLoginToken(uid: string, keyFile: string): Promise<string> {
  const { importPKCS8, SignJWT } = await import('jose');
  let key;
  try {
    key = await importPKCS8(await readFile(keyFile, 'utf8'), 'RS256');
  } catch (e) {
    throw new CliError(`cannot use ${keyFile} as an RSA private key (PKCS#8 PEM): ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  return new SignJWT({ uid })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 300)
    .sign(key);
}

export function loginCommand(setExit: (code: number) => void): CommandModule<ClientArgs, LoginArgs> {
  return {
    command: 'login',
    describe: 'Log in to the cluster; the token is kept in ~/.config/drover/token.json',
    builder: (y) =>
      y
        .option('uid', { type: 'string', demandOption: true, describe: 'User or service account id' })
        .option('password', { type: 'string', describe: 'Password (else $DROVER_PASSWORD, else the first line of stdin)' })
        .option('private-key', { type: 'string', describe: "A service account's RSA private key (PEM): log in with a signed login token" }),
    handler: (args) =>
      withClient(args, setExit, async (c) => {
        const body =
          args['private-key'] !== undefined
            ? { uid: args.uid, token: await serviceLoginToken(args.uid, args['private-key']) }
            : { uid: args.uid, password: args.password ?? process.env['DROVER_PASSWORD'] ?? (await readLine()) };
        const { token } = await c.request<{ token: string }>('POST', '/acs/api/v1/auth/login', body);
        const file = await saveLogin(await resolveMaster(args.master), token);
        process.stdout.write(`logged in to ${c.master} as ${args.uid} (token kept in ${file})\n`);
      }),
  };
}

const enc = encodeURIComponent;
/** DC/OS encodes a rid's slashes twice in the URL path. */
const ridInPath = (rid: string): string => enc(rid.replaceAll('/', '%2F'));

export function iamCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  const run = (a: ClientArgs, f: (c: Client) => Promise<void>) => withClient(a, setExit, f);
  const grant = (verb: 'grant' | 'revoke') =>
    ({
      command: `${verb} <id> <rid> <action>`,
      describe: `${verb === 'grant' ? 'Grant' : 'Revoke'} an action (create|read|update|delete|full) on a resource to a user (or --group)`,
      builder: (b: Argv<ClientArgs>) => b.option('group', { type: 'boolean', default: false, describe: 'The id is a group' }),
      handler: (a: ClientArgs & { id: string; rid: string; action: string; group: boolean }) =>
        run(a, async (c) => {
          await c.request(verb === 'grant' ? 'PUT' : 'DELETE', `/acs/api/v1/acls/${ridInPath(a.rid)}/${a.group ? 'groups' : 'users'}/${enc(a.id)}/${enc(a.action)}`);
          process.stdout.write(`${verb === 'grant' ? 'granted' : 'revoked'} ${a.action} on ${a.rid} ${verb === 'grant' ? 'to' : 'from'} ${a.group ? 'group ' : ''}${a.id}\n`);
        }),
    }) as unknown as CommandModule<ClientArgs, ClientArgs>;
  return {
    command: 'iam <command>',
    describe: 'Users, service accounts, groups and grants',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command('user <command>', 'Users (log in with a password)', (u) =>
          u
            .command(
              'create <uid>',
              'Create a user',
              (b) =>
                b
                  .positional('uid', { type: 'string', demandOption: true })
                  .option('password', { type: 'string', describe: 'Else $DROVER_PASSWORD' })
                  .option('description', { type: 'string', default: '' }),
              (a) =>
                run(a, async (c) => {
                  const password = a.password ?? process.env['DROVER_PASSWORD'];
                  if (!password) throw new CliError('--password (or $DROVER_PASSWORD) is required', 2);
                  await c.request('PUT', `/acs/api/v1/users/${enc(a.uid)}`, { password, description: a.description });
                  process.stdout.write(`created user ${a.uid}\n`);
                }),
            )
            .command(
              'list',
              'List users and service accounts',
              (b) => b,
              (a) =>
                run(a, async (c) => {
                  const { array } = await c.get<{ array: Array<{ uid: string; description: string; is_service: boolean }> }>('/acs/api/v1/users');
                  print(a.json === true, array, () =>
                    table(
                      ['UID', 'KIND', 'DESCRIPTION'],
                      array.map((u) => [u.uid, u.is_service ? 'service' : 'user', u.description]),
                    ),
                  );
                }),
            )
            .command(
              'rm <uid>',
              'Delete a user or service account (its tokens stop working)',
              (b) => b.positional('uid', { type: 'string', demandOption: true }),
              (a) =>
                run(a, async (c) => {
                  await c.request('DELETE', `/acs/api/v1/users/${enc(a.uid)}`);
                  process.stdout.write(`deleted ${a.uid}\n`);
                }),
            )
            .demandCommand(1),
        )
        .command('account <command>', 'Service accounts (log in with an RSA key pair)', (s) =>
          s
            .command(
              'create <uid>',
              'Create a service account with its public key',
              (b) =>
                b
                  .positional('uid', { type: 'string', demandOption: true })
                  .option('public-key', { type: 'string', demandOption: true, describe: 'PEM file' })
                  .option('description', { type: 'string', default: '' }),
              (a) =>
                run(a, async (c) => {
                  const publicKey = await readFile(a['public-key'], 'utf8').catch((e: Error) => {
                    throw new CliError(`cannot read ${a['public-key']}: ${e.message}`, 2);
                  });
                  await c.request('PUT', `/acs/api/v1/users/${enc(a.uid)}`, { public_key: publicKey, description: a.description });
                  process.stdout.write(`created service account ${a.uid}\n`);
                }),
            )
            .demandCommand(1),
        )
        .command('group <command>', 'Groups of users', (g) =>
          g
            .command(
              'create <gid>',
              'Create a group',
              (b) => b.positional('gid', { type: 'string', demandOption: true }).option('description', { type: 'string', default: '' }),
              (a) =>
                run(a, async (c) => {
                  await c.request('PUT', `/acs/api/v1/groups/${enc(a.gid)}`, { description: a.description });
                  process.stdout.write(`created group ${a.gid}\n`);
                }),
            )
            .command(
              'add <gid> <uid>',
              'Add a user to a group',
              (b) => b.positional('gid', { type: 'string', demandOption: true }).positional('uid', { type: 'string', demandOption: true }),
              (a) =>
                run(a, async (c) => {
                  await c.request('PUT', `/acs/api/v1/groups/${enc(a.gid)}/users/${enc(a.uid)}`);
                  process.stdout.write(`added ${a.uid} to ${a.gid}\n`);
                }),
            )
            .command(
              'rm <gid>',
              'Delete a group',
              (b) => b.positional('gid', { type: 'string', demandOption: true }),
              (a) =>
                run(a, async (c) => {
                  await c.request('DELETE', `/acs/api/v1/groups/${enc(a.gid)}`);
                  process.stdout.write(`deleted group ${a.gid}\n`);
                }),
            )
            .command(
              'list',
              'List groups',
              (b) => b,
              (a) =>
                run(a, async (c) => {
                  const { array } = await c.get<{ array: Array<{ gid: string; members: string[] }> }>('/acs/api/v1/groups');
                  print(a.json === true, array, () =>
                    table(
                      ['GID', 'MEMBERS'],
                      array.map((g) => [g.gid, g.members.join(',')]),
                    ),
                  );
                }),
            )
            .demandCommand(1),
        )
        .command(grant('grant'))
        .command(grant('revoke'))
        .command(
          'acls',
          'List every grant',
          (b) => b,
          (a) =>
            run(a, async (c) => {
              const { array } = await c.get<{ array: Array<{ rid: string; users: Record<string, string[]>; groups: Record<string, string[]> }> }>('/acs/api/v1/acls');
              print(a.json === true, array, () =>
                table(
                  ['RESOURCE', 'WHO', 'ACTIONS'],
                  array.flatMap((acl) => [
                    ...Object.entries(acl.users).map(([u, actions]) => [acl.rid, u, actions.join(',')]),
                    ...Object.entries(acl.groups).map(([g, actions]) => [acl.rid, `group:${g}`, actions.join(',')]),
                  ]),
                ),
              );
            }),
        )
        .demandCommand(1),
    handler: () => undefined,
  };
}
