/**
 * `drover package search|describe|install|uninstall|list|repo add|list|remove`: the package
 * catalog through Cosmos' RPC (src/catalog/cosmos-api.ts), as `dcos package` does. Install shows
 * the package's pre-install notes, then its post-install notes; uninstall its post-uninstall notes.
 * A refused request prints Cosmos' reason, with the option path for invalid options.
 */
import type { Argv, CommandModule } from 'yargs';
import { CliError, type Client } from './client.ts';
import { cliFetch } from './credentials.ts';
import { readJsonInput, withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

const media = (kind: string, version: string): string => `application/vnd.dcos.${kind}+json;charset=utf-8;version=${version}`;

/** One Cosmos call with its media types; a Cosmos error becomes a CliError with its reasons. */
async function cosmos<T>(client: Client, path: string, kind: string, body: unknown, responseVersion = 'v1'): Promise<T> {
  let response: Response;
  try {
    response = await cliFetch(`${client.master}${path}`, {
      method: 'POST',
      headers: { 'content-type': media(`${kind}-request`, 'v1'), accept: media(`${kind}-response`, responseVersion) },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new CliError(`cannot reach the master at ${client.master}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (response.ok) return parsed as T;
  if (response.status === 401) throw new CliError('Authentication required (HTTP 401)\n  log in with `drover login`, or set DROVER_TOKEN');
  const e = (parsed ?? {}) as {
    type?: string;
    message?: string;
    data?: {
      errors?: Array<{ instance?: { pointer?: string }; schema?: { pointer?: string }; message?: string; path?: string; errors?: string[] }>;
      marathon?: { details?: Array<{ path: string; errors: string[] }> };
    };
  };
  const lines = [`${e.message ?? `HTTP ${response.status}`} (${e.type ?? 'error'}, HTTP ${response.status})`];
  for (const x of e.data?.errors ?? []) {
    if (x.instance !== undefined) lines.push(`  option ${x.instance.pointer || '/'}: ${x.message ?? ''} (schema ${x.schema?.pointer ?? ''})`);
    else if (x.path !== undefined) lines.push(`  ${x.path}: ${(x.errors ?? []).join('; ')}`);
  }
  for (const d of e.data?.marathon?.details ?? []) lines.push(`  app ${d.path}: ${d.errors.join('; ')}`);
  throw new CliError(lines.join('\n'));
}

interface PackageDescription {
  name: string;
  version: string;
  description: string;
  preInstallNotes?: string;
  config?: unknown;
}

type Named = ClientArgs & { name: string };

export function packageCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  const named = (y: Argv<ClientArgs>) => y.positional('name', { type: 'string', demandOption: true, describe: 'Package name' });
  return {
    command: 'package <command>',
    describe: 'The package catalog: Universe packages installed as apps',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command<ClientArgs & { query?: string }>(
          'search [query]',
          'Search the repositories (name, description, tags)',
          (b) => b.positional('query', { type: 'string', describe: 'Text to look for (default: every package)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const { packages } = await cosmos<{ packages: Array<{ name: string; currentVersion: string; framework: boolean; selected: boolean; description: string }> }>(
                c,
                '/package/search',
                'package.search',
                a.query === undefined ? {} : { query: a.query },
              );
              print(a.json === true, packages, () =>
                table(
                  ['NAME', 'VERSION', 'SELECTED', 'FRAMEWORK', 'DESCRIPTION'],
                  packages.map((p) => [p.name, p.currentVersion, String(p.selected), String(p.framework), p.description.length > 70 ? `${p.description.slice(0, 67)}...` : p.description]),
                ),
              );
            }),
        )
        .command<Named & { 'package-version'?: string; config?: boolean }>(
          'describe <name>',
          'Show a package (its options schema with --config)',
          (b) =>
            named(b)
              .option('package-version', { type: 'string', describe: 'A version (default: the newest)' })
              .option('config', { type: 'boolean', describe: 'Print only the options schema (config.json)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const { package: p } = await cosmos<{ package: PackageDescription }>(
                c,
                '/package/describe',
                'package.describe',
                { packageName: a.name, ...(a['package-version'] ? { packageVersion: a['package-version'] } : {}) },
                'v3',
              );
              process.stdout.write(`${JSON.stringify(a.config === true ? (p.config ?? {}) : p, null, 2)}\n`);
            }),
        )
        .command<Named & { options?: string; 'app-id'?: string; 'package-version'?: string; yes?: boolean }>(
          'install <name>',
          'Install a package: render its app with your options and create it',
          (b) =>
            named(b)
              .option('options', { type: 'string', describe: 'A JSON file of options (validated against the package schema)' })
              .option('app-id', { type: 'string', describe: "The app's id (default: the package's)" })
              .option('package-version', { type: 'string', describe: 'A version (default: the newest)' })
              .option('yes', { type: 'boolean', describe: 'Kept for `dcos package install` scripts: Drover does not prompt' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const options = a.options === undefined ? undefined : await readJsonInput(a.options);
              if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) throw new CliError(`${a.options}: the options must be a JSON object`, 2);
              const version = a['package-version'] ? { packageVersion: a['package-version'] } : {};
              const { package: p } = await cosmos<{ package: PackageDescription }>(c, '/package/describe', 'package.describe', { packageName: a.name, ...version }, 'v3');
              if (p.preInstallNotes) process.stderr.write(`${p.preInstallNotes}\n`);
              const installed = await cosmos<{ appId: string; packageVersion: string; postInstallNotes?: string }>(
                c,
                '/package/install',
                'package.install',
                { packageName: a.name, packageVersion: p.version, ...(options === undefined ? {} : { options }), ...(a['app-id'] ? { appId: a['app-id'] } : {}) },
                'v2',
              );
              process.stderr.write(`Installed package ${a.name} ${installed.packageVersion} as app ${installed.appId}\n`);
              if (installed.postInstallNotes) process.stderr.write(`${installed.postInstallNotes}\n`);
              if (a.json === true) process.stdout.write(`${JSON.stringify(installed)}\n`);
            }),
        )
        .command<Named & { 'app-id'?: string; all?: boolean; yes?: boolean }>(
          'uninstall <name>',
          'Uninstall a package (remove its app)',
          (b) =>
            named(b)
              .option('app-id', { type: 'string', describe: 'Which installation (when there are several)' })
              .option('all', { type: 'boolean', describe: 'Every installation of the package' })
              .option('yes', { type: 'boolean', describe: 'Kept for `dcos package uninstall` scripts: Drover does not prompt' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const { results } = await cosmos<{ results: Array<{ appId: string; postUninstallNotes?: string }> }>(c, '/package/uninstall', 'package.uninstall', {
                packageName: a.name,
                ...(a['app-id'] ? { appId: a['app-id'] } : {}),
                ...(a.all === true ? { all: true } : {}),
              });
              for (const r of results) {
                process.stderr.write(`Uninstalled package ${a.name} (app ${r.appId})\n`);
                if (r.postUninstallNotes) process.stderr.write(`${r.postUninstallNotes}\n`);
              }
            }),
        )
        .command<ClientArgs & { 'app-id'?: string }>(
          'list',
          'Installed packages (apps with package labels)',
          (b) => b.option('app-id', { type: 'string', describe: 'Only this app' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const { packages } = await cosmos<{ packages: Array<{ appId: string; packageInformation: { packageDefinition: { name: string; version: string; description?: string } } }> }>(
                c,
                '/package/list',
                'package.list',
                a['app-id'] ? { appId: a['app-id'] } : {},
              );
              print(a.json === true, packages, () =>
                table(
                  ['NAME', 'VERSION', 'APP'],
                  packages.map((p) => [p.packageInformation.packageDefinition.name, p.packageInformation.packageDefinition.version, p.appId]),
                ),
              );
            }),
        )
        .command('repo <command>', 'Package repositories', (r: Argv<ClientArgs>) =>
          r
            .command<ClientArgs>(
              'list',
              'The repositories, in the order packages are looked up',
              (b) => b,
              (a) =>
                withClient(a, setExit, async (c) => {
                  const { repositories } = await cosmos<{ repositories: Array<{ name: string; uri: string }> }>(c, '/package/repository/list', 'package.repository.list', {});
                  print(a.json === true, repositories, () =>
                    table(
                      ['NAME', 'URI'],
                      repositories.map((x) => [x.name, x.uri]),
                    ),
                  );
                }),
            )
            .command<ClientArgs & { name: string; uri: string; index?: number }>(
              'add <name> <uri>',
              'Add a repository: an http(s) Universe index, or file:// under a directory the master allows',
              (b) =>
                b
                  .positional('name', { type: 'string', demandOption: true })
                  .positional('uri', { type: 'string', demandOption: true })
                  .option('index', { type: 'number', describe: 'Position in the list (0: looked up first; default: last)' }),
              (a) =>
                withClient(a, setExit, async (c) => {
                  await cosmos(c, '/package/repository/add', 'package.repository.add', { name: a.name, uri: a.uri, ...(a.index === undefined ? {} : { index: a.index }) });
                  process.stderr.write(`added repository ${a.name}\n`);
                }),
            )
            .command<ClientArgs & { names: string[] }>(
              'remove <names..>',
              'Remove repositories by name',
              (b) => b.positional('names', { type: 'string', array: true, demandOption: true }),
              (a) =>
                withClient(a, setExit, async (c) => {
                  for (const name of a.names) {
                    await cosmos(c, '/package/repository/delete', 'package.repository.delete', { name });
                    process.stderr.write(`removed repository ${name}\n`);
                  }
                }),
            )
            .demandCommand(1, 'Name a repo command: list, add, remove'),
        )
        .demandCommand(1, 'Name a package command: search, describe, install, uninstall, list, repo'),
    handler: () => undefined,
  };
}
