/**
 * The package catalog on a real cluster (`drover master` + `drover agent` processes, auth on):
 * Cosmos' RPC with its media types and error shapes, repositories from a local tree and over real
 * HTTP, an install that runs (an exec-only package answering on its port), an upgrade through a
 * normal deployment, an uninstall that leaves nothing, and the framework package (a v1 scheduler
 * run as a Marathon app) launching its own tasks.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';
import { DROVER_BIN, type DroverProcess, eventually, startDrover } from '../devkit/process.ts';
import { createKeyFile } from '../src/secrets/key-file.ts';
import { startAgentProcess } from './support/agent-process.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'universe');
const media = (kind: string, version = 'v1') => `application/vnd.dcos.${kind}+json;charset=utf-8;version=${version}`;

let root: string;
let master: DroverProcess;
let agent: DroverProcess;
let indexServer: Server;
let indexUrl: string;
// Ports of this file's agent: a slice chosen by pid, so parallel test files rarely overlap.
const portBase = 30000 + (process.pid % 150) * 60;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-catalog-'));
  await cp(join(FIXTURES, 'repo'), join(root, 'repos', 'fixtures', 'repo'), { recursive: true });
  await cp(join(FIXTURES, 'drover'), join(root, 'repos', 'drover'), { recursive: true });
  await createKeyFile(join(root, 'secrets.key'));
  master = await startDrover([
    'master',
    '--port',
    '0',
    '--store',
    `sqlite:${join(root, 'master.db')}`,
    '--allocation-interval',
    '0.2',
    '--no-jobs',
    '--secrets-key-file',
    join(root, 'secrets.key'),
    '--catalog-local-path',
    join(root, 'repos'),
  ]);
  agent = await startAgentProcess(master.url, join(root, 'agent'), { hostname: 'catalog-agent', resources: `cpus:4;mem:4096;disk:1000;ports:[${portBase}-${portBase + 59}]` });
  await eventually(async () => ((await (await fetch(`${master.url}/master/state`)).json()) as { slaves: Array<{ active: boolean }> }).slaves.some((s) => s.active), 'the agent registered', 60_000);
  // A Universe server: the v4 index of the fixture packages, with Universe's media type.
  const index = await buildIndex(['C/chronos/7', 'M/marathon-lb/45', 'N/nginx/6']);
  indexServer = createServer((request, response) => {
    if (request.url === '/repo') {
      response.writeHead(200, { 'content-type': media('universe.repo', 'v4') });
      response.end(JSON.stringify(index));
    } else if (request.url === '/to-file') {
      response.writeHead(302, { location: 'file:///etc/passwd' });
      response.end();
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => indexServer.listen(0, '127.0.0.1', resolve));
  indexUrl = `http://127.0.0.1:${(indexServer.address() as { port: number }).port}`;
});

after(async () => {
  for (const a of ((await call('GET', '/v2/apps')).body as { apps?: Array<{ id: string }> }).apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`);
  await agent?.stop();
  await master?.stop();
  indexServer?.close();
  await rm(root, { recursive: true, force: true });
});

async function buildIndex(dirs: string[]): Promise<{ packages: unknown[] }> {
  const packages = [];
  for (const dir of dirs) {
    const base = join(FIXTURES, 'repo', 'packages', dir);
    packages.push({
      ...JSON.parse(await readFile(join(base, 'package.json'), 'utf8')),
      releaseVersion: Number(dir.split('/')[2]),
      config: JSON.parse(await readFile(join(base, 'config.json'), 'utf8')),
      resource: JSON.parse(await readFile(join(base, 'resource.json'), 'utf8')),
      marathon: { v2AppMustacheTemplate: (await readFile(join(base, 'marathon.json.mustache'))).toString('base64') },
    });
  }
  return { packages };
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: unknown }> {
  const response = await fetch(`${master.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: parsed };
}

/** A Cosmos RPC the way the dcos CLI sends it: its request media type and Accept. */
function rpc(path: string, kind: string, body: unknown, responseVersion = 'v1'): ReturnType<typeof call> {
  return call('POST', path, JSON.stringify(body), { 'content-type': media(`${kind}-request`), accept: media(`${kind}-response`, responseVersion) });
}

async function apps(): Promise<Array<{ id: string; tasksRunning: number; tasksHealthy: number; labels: Record<string, string> }>> {
  return ((await call('GET', '/v2/apps')).body as { apps: never[] }).apps;
}

async function tasks(): Promise<Array<{ appId: string; state: string; ports: number[]; host: string }>> {
  return ((await call('GET', '/v2/tasks')).body as { tasks: never[] }).tasks;
}

describe('Cosmos RPC: media types, errors, repositories', () => {
  test('capabilities', async () => {
    const r = await call('GET', '/capabilities');
    assert.equal(r.status, 200);
    assert.equal(r.type, media('capabilities'));
    assert.deepEqual(r.body, { capabilities: [{ name: 'PACKAGE_MANAGEMENT' }] });
  });

  test('the default list is the built-in repository; a local tree and an HTTP index are added in order', async () => {
    const listed = await rpc('/package/repository/list', 'package.repository.list', {});
    assert.equal(listed.type, media('package.repository.list-response'));
    assert.deepEqual(listed.body, { repositories: [{ name: 'Universe', uri: 'builtin:universe' }] });
    const added = await rpc('/package/repository/add', 'package.repository.add', { name: 'drover-tests', uri: `file://${join(root, 'repos', 'drover')}`, index: 0 });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const http = await rpc('/package/repository/add', 'package.repository.add', { name: 'served', uri: `${indexUrl}/repo` });
    assert.equal(http.status, 200, JSON.stringify(http.body));
    assert.deepEqual(
      (http.body as { repositories: Array<{ name: string }> }).repositories.map((r) => r.name),
      ['drover-tests', 'Universe', 'served'],
    );
  });

  test('refused repositories: duplicates, unsupported schemes, paths outside the allowed directory, redirects to file:, a broken index — the list unchanged', async () => {
    const before = (await rpc('/package/repository/list', 'package.repository.list', {})).body;
    const cases: Array<[unknown, number, string]> = [
      [{ name: 'served', uri: 'http://127.0.0.1:1/other' }, 409, 'RepositoryAlreadyPresent'],
      [{ name: 'ftp', uri: 'ftp://example.com/repo' }, 400, 'UnsupportedRepositoryUri'],
      [{ name: 'etc', uri: 'file:///etc' }, 400, 'UnsupportedRepositoryUri'],
      [{ name: 'up', uri: `file://${join(root, 'repos', '..')}` }, 400, 'UnsupportedRepositoryUri'],
      [{ name: 'redirect', uri: `${indexUrl}/to-file` }, 400, 'RepositoryUriConnection'],
      [{ name: 'missing', uri: `${indexUrl}/nothing` }, 400, 'RepositoryUriConnection'],
      [{ name: 'not a uri', uri: 'ht tp://x' }, 400, 'RepositoryUriSyntax'],
      [{ name: '', uri: 'http://x' }, 400, 'MalformedRequest'],
      [{ name: 'far', uri: `${indexUrl}/repo?x`, index: 99 }, 400, 'RepositoryAddIndexOutOfBounds'],
    ];
    for (const [body, status, type] of cases) {
      const r = await rpc('/package/repository/add', 'package.repository.add', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.type, media('package.error'));
      assert.equal((r.body as { type: string }).type, type, JSON.stringify(r.body));
      assert.equal(typeof (r.body as { message: string }).message, 'string');
    }
    assert.deepEqual((await rpc('/package/repository/list', 'package.repository.list', {})).body, before);
  });

  test('search, describe, list-versions: the first repository that has a name wins it', async () => {
    const found = (await rpc('/package/search', 'package.search', { query: 'nginx' })).body as { packages: Array<{ name: string; currentVersion: string }> };
    // nginx is in Universe (built in) and in "served": Universe comes first.
    assert.deepEqual(
      found.packages.map((p) => [p.name, p.currentVersion]),
      [['nginx', '1.27.0-drover.1']],
    );
    const all = (await rpc('/package/search', 'package.search', {})).body as { packages: Array<{ name: string }> };
    assert.deepEqual(all.packages.map((p) => p.name).sort(), ['chronos', 'hello-framework', 'hello-http', 'marathon-lb', 'nginx', 'redis']);
    const described = await rpc('/package/describe', 'package.describe', { packageName: 'hello-http', packageVersion: '1.0.0' }, 'v3');
    assert.equal(described.type, media('package.describe-response', 'v3'));
    assert.equal((described.body as { package: { version: string; releaseVersion: number } }).package.releaseVersion, 0);
    const versions = await rpc('/package/list-versions', 'package.list-versions', { packageName: 'hello-http' });
    assert.deepEqual(versions.body, { results: { '1.0.0': '0', '1.1.0': '1' } });
  });

  test("errors keep Cosmos' shape: unknown package or version, a bad body, a request that is not JSON, an answer version not offered", async () => {
    const cases: Array<[() => ReturnType<typeof call>, number, string]> = [
      [() => rpc('/package/describe', 'package.describe', { packageName: 'no-such' }, 'v3'), 400, 'PackageNotFound'],
      [() => rpc('/package/describe', 'package.describe', { packageName: 'hello-http', packageVersion: '9' }, 'v3'), 400, 'VersionNotFound'],
      [() => rpc('/package/describe', 'package.describe', { packageName: 7 }, 'v3'), 400, 'MalformedRequest'],
      [() => rpc('/package/describe', 'package.describe', { packageName: 'hello-http' }, 'v1'), 406, 'NotAcceptable'],
      [() => call('POST', '/package/describe', '{"packageName":', { 'content-type': media('package.describe-request') }), 400, 'JsonParsingError'],
      [() => call('POST', '/package/describe', 'x', { 'content-type': 'text/plain' }), 415, 'UnsupportedContentType'],
      [() => rpc('/package/search', 'package.search', {}, 'v9'), 406, 'NotAcceptable'],
      [() => rpc('/package/uninstall', 'package.uninstall', { packageName: 'hello-http' }), 400, 'PackageNotInstalled'],
      [() => rpc('/service/describe', 'service.describe', { appId: '/nothing-here' }), 404, 'MarathonAppNotFound'],
    ];
    for (const [send, status, type] of cases) {
      const r = await send();
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.type, media('package.error'));
      assert.equal((r.body as { type: string }).type, type, JSON.stringify(r.body));
    }
  });

  test('without a token: 401, before anything is read', async () => {
    const response = await fetch(`${master.url}/package/search`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'token=wrong' }, body: '{}' });
    assert.equal(response.status, 401);
  });

  test('render over HTTP is the golden Marathon JSON (nginx from the HTTP index, with options)', async () => {
    const golden = JSON.parse(await readFile(join(FIXTURES, 'golden', 'nginx-options.json'), 'utf8')) as { options: unknown; app: { labels: Record<string, unknown> } };
    await rpc('/package/repository/delete', 'package.repository.delete', { name: 'Universe' });
    try {
      const r = await rpc('/package/render', 'package.render', { packageName: 'nginx', options: golden.options });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const app = (r.body as { marathonJson: { labels: Record<string, string> } }).marathonJson;
      const decode = (v: string | undefined) => JSON.parse(Buffer.from(v ?? '', 'base64').toString('utf8'));
      const { DCOS_PACKAGE_DEFINITION: _d, ...labels } = app.labels;
      assert.deepEqual(
        { ...app, labels: { ...labels, DCOS_PACKAGE_METADATA: decode(labels['DCOS_PACKAGE_METADATA']), DCOS_PACKAGE_OPTIONS: decode(labels['DCOS_PACKAGE_OPTIONS']) } },
        { ...golden.app, labels: { ...golden.app.labels, DCOS_PACKAGE_SOURCE: `${indexUrl}/repo` } },
      );
    } finally {
      await rpc('/package/repository/add', 'package.repository.add', { name: 'Universe', uri: 'builtin:universe', index: 1 });
    }
  });
});

describe('install → running app → upgrade → uninstall leaves nothing', () => {
  test('invalid options: 400 JsonSchemaMismatch with the schema path, and no app', async () => {
    const r = await rpc('/package/install', 'package.install', { packageName: 'hello-http', options: { hello: { instances: 9, name: 'Bad Name' } } }, 'v2');
    assert.equal(r.status, 400);
    const body = r.body as { type: string; data: { errors: Array<{ schema: { pointer: string }; instance: { pointer: string } }> } };
    assert.equal(body.type, 'JsonSchemaMismatch');
    assert.deepEqual(body.data.errors.map((e) => [e.schema.pointer, e.instance.pointer]).sort(), [
      ['/properties/hello/properties/instances', '/hello/instances'],
      ['/properties/hello/properties/name', '/hello/name'],
    ]);
    assert.deepEqual(await apps(), []);
  });

  test('a template the /v2 API refuses: its 422 passes through with the field, and no app', async () => {
    // The real marathon-lb 1.15.0 asks for `docker run` parameters, which Drover refuses (no
    // Docker daemon). Its `maintainer` field is ignored, as Marathon ignores unknown fields.
    const r = await rpc('/package/install', 'package.install', { packageName: 'marathon-lb', packageVersion: '1.15.0' }, 'v2');
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal((r.body as { type: string }).type, 'MarathonBadResponse');
    assert.match(JSON.stringify((r.body as { data: unknown }).data), /\/container\/docker\/parameters/);
    assert.doesNotMatch(JSON.stringify((r.body as { data: unknown }).data), /\/maintainer/);
    // As every Drover 422: the fields and why at the top level (test/fuzz/api-fuzz.ts asks it of every 422).
    const details = (r.body as { details?: Array<{ path: string; errors: string[] }> }).details ?? [];
    assert.ok(
      details.some((d) => d.path.startsWith('/container/docker/parameters') && d.errors.length > 0),
      JSON.stringify(r.body),
    );
    assert.deepEqual(await apps(), []);
  });

  test('hello-http 1.0.0 installs, runs and answers; list shows it; a second install is refused', async () => {
    const r = await rpc('/package/install', 'package.install', { packageName: 'hello-http', packageVersion: '1.0.0', options: { hello: { message: 'hi "there"' } } }, 'v2');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.type, media('package.install-response', 'v2'));
    assert.deepEqual(r.body, { packageName: 'hello-http', packageVersion: '1.0.0', appId: '/hello-http', postInstallNotes: 'hello-http 1.0.0 is installed.' });
    const task = await eventually(async () => (await tasks()).find((t) => t.appId === '/hello-http' && t.state === 'TASK_RUNNING'), 'hello-http running', 120_000);
    const answer = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${task.ports[0]}/`).catch(() => undefined);
        return res?.status === 200 ? res.text() : undefined;
      },
      'hello-http answers',
      60_000,
    );
    assert.equal(answer, 'hi "there" from 1.0.0');
    const listed = (await rpc('/package/list', 'package.list', {})).body as { packages: Array<{ appId: string; packageInformation: { packageDefinition: { name: string; version: string } } }> };
    assert.deepEqual(
      listed.packages.map((p) => [p.appId, p.packageInformation.packageDefinition.name, p.packageInformation.packageDefinition.version]),
      [['/hello-http', 'hello-http', '1.0.0']],
    );
    const again = await rpc('/package/install', 'package.install', { packageName: 'hello-http', packageVersion: '1.0.0' }, 'v1');
    assert.equal(again.status, 409);
    assert.equal((again.body as { type: string }).type, 'PackageAlreadyInstalled');
  });

  test('service describe, then update to 1.1.0 (upgradesFrom) keeps the user options and rolls out as a deployment', async () => {
    const described = (await rpc('/service/describe', 'service.describe', { appId: '/hello-http' })).body as {
      upgradesTo: string[];
      userProvidedOptions: unknown;
      resolvedOptions: { hello: { name: string } };
    };
    assert.deepEqual(described.upgradesTo, ['1.1.0']);
    assert.deepEqual(described.userProvidedOptions, { hello: { message: 'hi "there"' } });
    assert.equal(described.resolvedOptions.hello.name, 'hello-http');
    // The install's deployment ends when its task is healthy; an update during it is refused (409, as Marathon does).
    await eventually(async () => ((await call('GET', '/v2/deployments')).body as unknown[]).length === 0, 'the install deployment done', 120_000);
    const updated = await rpc('/service/update', 'service.update', { appId: '/hello-http', packageVersion: '1.1.0' });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.match((updated.body as { marathonDeploymentId: string }).marathonDeploymentId, /.+/);
    const answer = await eventually(
      async () => {
        const running = (await tasks()).filter((t) => t.appId === '/hello-http' && t.state === 'TASK_RUNNING');
        for (const t of running) {
          const text = await fetch(`http://127.0.0.1:${t.ports[0]}/`).then(
            (res) => res.text(),
            () => '',
          );
          if (text.endsWith('1.1.0')) return text;
        }
        return undefined;
      },
      'the 1.1.0 task answers',
      120_000,
    );
    assert.equal(answer, 'hi "there" from 1.1.0');
    assert.equal((await apps()).find((a) => a.id === '/hello-http')?.labels['DCOS_PACKAGE_VERSION'], '1.1.0');
    // A downgrade that the package does not allow is refused, the app unchanged.
    const down = await rpc('/service/update', 'service.update', { appId: '/hello-http', packageVersion: '1.0.0' });
    assert.equal((down.body as { type: string }).type, 'ServiceUpdateVersionNotAllowed');
  });

  test('uninstall removes the app and its tasks; list is empty', async () => {
    const r = await rpc('/package/uninstall', 'package.uninstall', { packageName: 'hello-http' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { results: [{ packageName: 'hello-http', appId: '/hello-http', packageVersion: '1.1.0', postUninstallNotes: 'hello-http 1.1.0 is gone.' }] });
    await eventually(async () => (await apps()).length === 0 && (await tasks()).length === 0, 'no app, no task', 60_000);
    assert.deepEqual((await rpc('/package/list', 'package.list', {})).body, { packages: [] });
  });
});

describe('the framework package: a v1 scheduler run as a Marathon app', () => {
  test('hello-framework launches its own tasks; uninstall tears the framework down with them', async () => {
    const secret = await call('PUT', '/secrets/v1/secret/default/hello/token', { value: TEST_ADMIN_TOKEN });
    assert.ok(secret.status < 300, JSON.stringify(secret.body));
    const r = await rpc('/package/install', 'package.install', { packageName: 'hello-framework', options: { framework: { master: master.url, 'token-secret': 'hello/token', tasks: 3 } } }, 'v2');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    type State = { frameworks: Array<{ name: string; active: boolean; tasks: Array<{ state: string; name: string }> }> };
    const state = async () => (await call('GET', '/master/state')).body as State;
    const framework = await eventually(
      async () => (await state()).frameworks.find((f) => f.name === 'hello-framework' && f.tasks.filter((t) => t.state === 'TASK_RUNNING').length === 3),
      'three tasks of hello-framework running',
      120_000,
    );
    assert.ok(framework.tasks.every((t) => t.name.startsWith('hello-framework-task-')));
    // Its scheduler is the one Marathon app; its tasks are its own, not the services framework's.
    assert.deepEqual(
      (await tasks()).map((t) => t.appId),
      ['/hello-framework'],
    );
    const gone = await rpc('/package/uninstall', 'package.uninstall', { packageName: 'hello-framework' });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    await eventually(
      async () => {
        const s = await state();
        return (await apps()).length === 0 && !s.frameworks.some((f) => f.name === 'hello-framework' && (f.active || f.tasks.some((t) => t.state === 'TASK_RUNNING')));
      },
      'no app, no hello-framework, none of its tasks',
      60_000,
    );
  });
});

/** The CLI as a user runs it (asynchronously: this file's HTTP index server must keep answering). */
function drover(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DROVER_BIN, ...args], { env: { ...process.env, DROVER_MASTER: master.url }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

describe('drover package (the CLI)', () => {
  test('repo list, remove, add', async () => {
    const listed = await drover(['package', 'repo', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /drover-tests\s+file:\/\//);
    assert.match(listed.stdout, /Universe\s+builtin:universe/);
    const removed = await drover(['package', 'repo', 'remove', 'served']);
    assert.equal(removed.code, 0, removed.stderr);
    const refused = await drover(['package', 'repo', 'add', 'etc', 'file:///etc']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /UnsupportedRepositoryUri/);
    const added = await drover(['package', 'repo', 'add', 'served', `${indexUrl}/repo`]);
    assert.equal(added.code, 0, added.stderr);
    const names = JSON.parse((await drover(['package', 'repo', 'list', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(
      names.map((r) => r.name),
      ['drover-tests', 'Universe', 'served'],
    );
  });

  test('search and describe', async () => {
    const found = await drover(['package', 'search', 'hello']);
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, /^hello-framework\s+1\.0\.0/m);
    assert.match(found.stdout, /^hello-http\s+1\.1\.0/m);
    const config = JSON.parse((await drover(['package', 'describe', 'hello-http', '--config'])).stdout) as { properties: { hello: unknown } };
    assert.ok(config.properties.hello);
  });

  test('install with --options and --app-id shows the notes; invalid options name the option and the schema path; uninstall', async () => {
    const bad = join(root, 'bad-options.json');
    await writeFile(bad, JSON.stringify({ hello: { instances: 99 } }));
    const refused = await drover(['package', 'install', 'hello-http', '--options', bad]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /JsonSchemaMismatch/);
    assert.match(refused.stderr, /option \/hello\/instances: .* \(schema \/properties\/hello\/properties\/instances\)/);
    const good = join(root, 'options.json');
    await writeFile(good, JSON.stringify({ hello: { message: 'from the cli' } }));
    const installed = await drover(['package', 'install', 'hello-http', '--options', good, '--app-id', '/cli/hello', '--package-version', '1.0.0']);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stderr, /^hello-http 1\.0\.0: a test package\.$/m);
    assert.match(installed.stderr, /^Installed package hello-http 1\.0\.0 as app \/cli\/hello$/m);
    assert.match(installed.stderr, /^hello-http 1\.0\.0 is installed\.$/m);
    const task = await eventually(async () => (await tasks()).find((t) => t.appId === '/cli/hello' && t.state === 'TASK_RUNNING'), '/cli/hello running', 120_000);
    const answer = await eventually(
      async () =>
        fetch(`http://127.0.0.1:${task.ports[0]}/`).then(
          (r) => (r.ok ? r.text() : undefined),
          () => undefined,
        ),
      '/cli/hello answers',
      60_000,
    );
    assert.equal(answer, 'from the cli from 1.0.0');
    const listed = JSON.parse((await drover(['package', 'list', '--json'])).stdout) as Array<{ appId: string }>;
    assert.deepEqual(
      listed.map((p) => p.appId),
      ['/cli/hello'],
    );
    const gone = await drover(['package', 'uninstall', 'hello-http']);
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stderr, /^hello-http 1\.0\.0 is gone\.$/m);
    await eventually(async () => (await apps()).length === 0 && (await tasks()).length === 0, 'no app, no task', 60_000);
  });
});
