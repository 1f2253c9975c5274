/**
 * Secrets end to end on a real `drover dev` (real processes, the real agent and containerizer): a
 * canary secret reaches its tasks — an app's environment and file volume, a Metronome job's — and
 * appears nowhere else: not in the store's files (SQLite db, WAL, sidecars), not in the agent's work
 * dir (checkpoints, meta/, sandboxes), not in the process's logs, not on /v2/events, not in any GET
 * but the secrets API's own read. A wrong key refuses the start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { chmod, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';
import { httpCall } from './support/http.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures'); // copies of shared/fixtures/anchors (test/fixtures/SOURCES.md)
/** Long waits: a loaded machine launches slowly; this bounds "never", it measures nothing. */
const WAIT_MS = 120_000;

// Hex digits only after the prefix, so no shell or JSON escaping changes its bytes anywhere.
const canary = `canary-${randomBytes(16).toString('hex')}`;
const canarySha = createHash('sha256').update(canary).digest('hex');
/** Every form the canary could leak in. */
const forms = [canary, Buffer.from(canary).toString('base64'), Buffer.from(canary).toString('base64url'), Buffer.from(canary).toString('hex'), canary.slice(7)];

let root: string;
let dev: DroverProcess;
let agentUrl: string;
let events = '';
const eventsAbort = new AbortController();

const call = (method: string, path: string, body?: unknown, base = dev.url) => httpCall(base, method, path, body);

/** A request with its path sent byte for byte (fetch's URL parser would resolve `%2E%2E` first). */
function rawPut(base: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'PUT', path, headers: { 'content-type': 'application/json', authorization: `token=${TEST_ADMIN_TOKEN}` } }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data === '' ? undefined : JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Deletes the apps and waits until no task of theirs runs (drover dev's stop leaves tasks running). */
async function removeApps(): Promise<void> {
  for (const id of ['secret-app', 'late-secret', 'foo']) await call('DELETE', `/v2/apps/${id}?force=true`).catch(() => undefined);
  await eventually(async () => ((await call('GET', '/master/state')).body as { frameworks: Array<{ tasks: unknown[] }> }).frameworks.every((f) => f.tasks.length === 0), 'every task ended', WAIT_MS);
}

async function text(url: string): Promise<string> {
  return (await fetch(url)).text();
}

function leaks(where: string, content: string | Buffer): string[] {
  const s = typeof content === 'string' ? content : content.toString('latin1');
  return forms.filter((f) => s.includes(f)).map((f) => `${where} holds ${f === canary ? 'the canary' : `a form of it (${f.slice(0, 12)}…)`}`);
}

/** Every regular file under `dir` (symlinks are not followed: a link is not a copy). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Files named `name` in the sandboxes of tasks whose id contains `task`. */
async function sandboxFiles(task: string, name: string): Promise<string[]> {
  return (await walk(join(root, 'agent', 'slaves'))).filter((p) => p.includes(task) && p.endsWith(`/${name}`));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-secrets-e2e-'));
  // Debug logging: the most a log could say about a launch.
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', root, '--resources', 'cpus:4;mem:4096;disk:1000;ports:[23500-23600]'], {
    env: { DROVER_LOG_LEVEL: 'debug' },
  });
  const state = await eventually(async () => {
    const s = (await call('GET', '/master/state')).body as { slaves: Array<{ pid: string }> };
    return s.slaves.length === 1 && s;
  }, 'the agent registered');
  agentUrl = `http://127.0.0.1:${state.slaves[0]!.pid.split(':').pop()}`;
  // /v2/events for the whole test, read into `events`.
  const response = await fetch(`${dev.url}/v2/events`, { headers: { accept: 'text/event-stream' }, signal: eventsAbort.signal });
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) events += decoder.decode(chunk, { stream: true });
    } catch {
      // aborted at the end
    }
  })();
});

after(async () => {
  eventsAbort.abort();
  if (dev?.child.exitCode === null && dev.child.signalCode === null) await removeApps().catch(() => undefined);
  await dev?.stop();
  await rm(root, { recursive: true, force: true });
});

test('the key file is created at first start, mode 600, and is not a key the store holds', async () => {
  const info = await lstat(join(root, 'secrets.key'));
  assert.equal(info.mode & 0o777, 0o600);
  assert.equal(Buffer.from((await readFile(join(root, 'secrets.key'), 'utf8')).trim(), 'base64').length, 32);
});

test('secrets API: create, conflict, read, list, update, bad paths and bodies', async () => {
  assert.equal((await call('PUT', '/secrets/v1/secret/default/dev/db-password', { value: canary })).status, 201);
  assert.equal((await call('PUT', '/secrets/v1/secret/default/dev/db-password', { value: 'other' })).status, 409);
  const read = await call('GET', '/secrets/v1/secret/default/dev/db-password');
  assert.deepEqual(read.body, { value: canary });
  assert.equal((await call('GET', '/secrets/v1/secret/default/dev/nope')).status, 404);
  assert.equal((await call('PATCH', '/secrets/v1/secret/default/dev/nope', { value: 'x' })).status, 404);
  assert.equal((await call('PUT', '/secrets/v1/secret/default/tmp/rotate', { value: 'one' })).status, 201);
  assert.equal((await call('PATCH', '/secrets/v1/secret/default/tmp/rotate', { value: 'two' })).status, 204);
  assert.deepEqual((await call('GET', '/secrets/v1/secret/default/tmp/rotate')).body, { value: 'two' });
  assert.deepEqual((await call('GET', '/secrets/v1/secret/default/?list=true')).body, { array: ['dev/db-password', 'tmp/rotate'] });
  assert.deepEqual((await call('GET', '/secrets/v1/secret/default/dev?list=true')).body, { array: ['db-password'] });
  assert.equal((await call('DELETE', '/secrets/v1/secret/default/tmp/rotate')).status, 204);
  assert.equal((await call('DELETE', '/secrets/v1/secret/default/tmp/rotate')).status, 404);
  // `..` (encoded, so no URL normaliser removes it first), bad characters, an over-long path: 400 with the reason.
  for (const bad of ['dev/%2E%2E/x', 'dev/a%20b', `dev/${'a'.repeat(600)}`]) {
    const answer = await rawPut(dev.url, `/secrets/v1/secret/default/${bad}`, { value: 'x' });
    assert.equal(answer.status, 400, bad);
    assert.equal((answer.body as { details: Array<{ path: string }> }).details[0]?.path, '/path');
  }
  const noValue = await call('PUT', '/secrets/v1/secret/default/dev/empty', { nope: 1 });
  assert.equal(noValue.status, 422);
  assert.deepEqual((noValue.body as { details: unknown }).details, [{ path: '/value', errors: ['is required and must be a string'] }]);
  assert.equal((await call('GET', '/secrets/v1/secret/default/dev/empty')).status, 404);
});

test('Marathon secrets: bad references are 422 with the field path, and nothing is stored', async () => {
  const base = { id: '/bad-secrets', cmd: 'sleep 100', cpus: 0.1, mem: 32, instances: 0 };
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ env: { DB_PW: { secret: 's9' } }, secrets: { s1: { source: '/dev/db-password' } } }, '/env/DB_PW/secret', /undefined secret named 's9'/],
    [{ secrets: { s1: { source: '/dev/../etc' } } }, '/secrets/s1/source', /'\.\.'/],
    [{ secrets: { s1: {} } }, '/secrets/s1/source', /is required/],
    [{ secrets: { s1: { source: '/a' } }, container: { type: 'MESOS', volumes: [{ containerPath: '/etc/pw', secret: 's1' }] } }, '/container/volumes/0/containerPath', /relative/],
    [{ secrets: { s1: { source: '/a' } }, container: { type: 'MESOS', volumes: [{ containerPath: 'pw', secret: 's2' }] } }, '/container/volumes/0/secret', /undefined secret/],
    [{ container: { type: 'MESOS', volumes: [{ containerPath: 'x', external: { name: 'v', provider: 'dvdi' }, mode: 'RW' }] } }, '/container/volumes/0', /not supported yet/],
    // Host volumes run (test/image-volumes.test.ts); an absolute containerPath needs an image.
    [{ container: { type: 'MESOS', volumes: [{ containerPath: '/x', hostPath: '/etc', mode: 'RO' }] } }, '/container/volumes/0/containerPath', /container image/],
    [{ container: { type: 'MESOS', volumes: [{ containerPath: 'x', hostPath: '/etc', mode: 'rw' }] } }, '/container/volumes/0/mode', /RO or RW/],
  ];
  for (const [fields, path, reason] of cases) {
    const answer = await call('POST', '/v2/apps', { ...base, ...fields });
    assert.equal(answer.status, 422, JSON.stringify(fields));
    const detail = (answer.body as { details: Array<{ path: string; errors: string[] }> }).details.find((d) => d.path === path);
    assert.ok(detail, `${path} in ${JSON.stringify(answer.body)}`);
    assert.match(detail.errors.join(' '), reason);
  }
  assert.equal((await call('GET', '/v2/apps/bad-secrets')).status, 404);
  const job = await call('POST', '/v1/jobs', { id: 'bad-secrets', run: { cmd: 'true', cpus: 0.1, mem: 32, disk: 0, env: { X: { secret: 'nope' } } } });
  assert.equal(job.status, 422);
  assert.ok((job.body as { details: Array<{ path: string }> }).details.some((d) => d.path === '/run/env/X/secret'));
  assert.equal((await call('GET', '/v1/jobs/bad-secrets')).status, 404);
});

test('an app and a job get the canary in their environment and as a 0400 file of the task user; nothing else holds it', async () => {
  // The task proves it has the value by its hash (its stdout must not hold the value itself).
  const report = 'echo "env-sha=$(printf %s "$DB_PW" | sha256sum | cut -d" " -f1)"; echo "file-sha=$(sha256sum < pw | cut -d" " -f1)"; echo "file-stat=$(stat -L -c "%a %U" pw)"';
  const app = {
    id: '/secret-app',
    cmd: `${report}; exec sleep 600`,
    cpus: 0.1,
    mem: 32,
    instances: 1,
    secrets: { s1: { source: '/dev/db-password' } },
    env: { DB_PW: { secret: 's1' }, PLAIN: 'visible' },
    container: { type: 'MESOS', volumes: [{ containerPath: 'pw', secret: 's1' }] },
  };
  assert.equal((await call('POST', '/v2/apps', app)).status, 201);
  const job = {
    id: 'secret-job',
    run: {
      cmd: report.replaceAll('DB_PW', 'SECRET_ENV'),
      cpus: 0.1,
      mem: 32,
      disk: 0,
      env: { SECRET_ENV: { secret: 'secret1' } },
      secrets: { secret1: { source: '/dev/db-password' } },
      volumes: [{ containerPath: 'pw', secret: 'secret1' }],
    },
  };
  assert.equal((await call('POST', '/v1/jobs', job)).status, 201);
  assert.equal((await call('POST', '/v1/jobs/secret-job/runs')).status, 201);

  const expected = `env-sha=${canarySha}\nfile-sha=${canarySha}\nfile-stat=400 nobody\n`;
  for (const task of ['secret-app', 'secret-job']) {
    const out = await eventually(
      async () => {
        for (const file of await sandboxFiles(task, 'stdout')) {
          const content = await readFile(file, 'utf8');
          if (content.includes('file-stat=')) return content;
        }
        return undefined;
      },
      `${task} reported its secret`,
      WAIT_MS,
    );
    assert.equal(out, expected, `${task}'s stdout`);
  }
  await eventually(async () => ((await call('GET', '/v1/jobs/secret-job?embed=history')).body as { history?: { successCount: number } }).history?.successCount === 1, 'the job run succeeded', WAIT_MS);

  // The definitions keep references only.
  const shown = (await call('GET', '/v2/apps/secret-app')).body as { app: { env: unknown; secrets: unknown; container: unknown } };
  assert.deepEqual(shown.app.env, { DB_PW: { secret: 's1' }, PLAIN: 'visible' });
  assert.deepEqual(shown.app.secrets, { s1: { source: '/dev/db-password' } });
  assert.deepEqual(shown.app.container, { type: 'MESOS', volumes: [{ containerPath: 'pw', secret: 's1' }] });
  const shownJob = (await call('GET', '/v1/jobs/secret-job')).body as { run: { env: unknown; secrets: unknown; volumes: unknown } };
  assert.deepEqual(shownJob.run.env, { SECRET_ENV: { secret: 'secret1' } });
  assert.deepEqual(shownJob.run.volumes, [{ containerPath: 'pw', secret: 'secret1' }]);

  // The files API serves the sandbox but not the secret file in it.
  const [appStdout] = await sandboxFiles('secret-app', 'stdout');
  const sandbox = appStdout!.slice(0, -'/stdout'.length);
  const appSecretFile = `${sandbox}/pw`;
  for (const api of ['read', 'download']) {
    const refused = await fetch(`${agentUrl}/files/${api}?path=${encodeURIComponent(appSecretFile)}&offset=0`);
    assert.equal(refused.status, 403, api);
  }
  const listing = await text(`${agentUrl}/files/browse?path=${encodeURIComponent(sandbox)}`);
  assert.match(listing, /\/stdout"/);
  assert.doesNotMatch(listing, /\/pw"/);

  // The job's task ended: its secret file went with it; the running app's is there.
  assert.deepEqual(await sandboxFiles('secret-job', 'pw'), []);
  assert.deepEqual(await sandboxFiles('secret-app', 'pw'), [appSecretFile]);

  const found: string[] = [];
  // Every GET a client can make about the tasks and definitions.
  const views = [
    `${dev.url}/v2/apps`,
    `${dev.url}/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure`,
    `${dev.url}/v2/apps/secret-app/versions`,
    `${dev.url}/v2/tasks`,
    `${dev.url}/v2/deployments`,
    `${dev.url}/v2/queue`,
    `${dev.url}/v1/jobs?embed=history&embed=activeRuns`,
    `${dev.url}/v1/jobs/secret-job/runs`,
    `${dev.url}/master/state`,
    `${dev.url}/master/tasks`,
    `${dev.url}/master/frameworks`,
    `${agentUrl}/state`,
    `${dev.url}/secrets/v1/secret/default/?list=true`,
  ];
  for (const url of views) found.push(...leaks(`GET ${url}`, await text(url)));
  // The operator API's state, as Mesos clients read it.
  const getState = await fetch(`${dev.url}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'GET_STATE' }) });
  found.push(...leaks('POST /api/v1 GET_STATE', await getState.text()));
  found.push(...leaks('/v2/events', events));
  found.push(...leaks('the master and agent log', dev.output()));
  // Every file in the data dir (store.db, -wal, -shm, sidecars; the agent's checkpoints, meta/,
  // sandboxes) but the task's own secret file.
  const files = await walk(root);
  assert.ok(
    files.some((f) => f.endsWith('store.db-wal') || f.endsWith('store.db')),
    'the store files are there',
  );
  for (const file of files) {
    if (file === appSecretFile) continue;
    found.push(...leaks(file.slice(root.length), await readFile(file)));
  }
  assert.deepEqual(found, []);
  assert.ok(events.includes('secret-app'), 'events were captured');
});

test('a source that is not in the store fails the task with its name; once created, the deployment finishes', async () => {
  const app = {
    id: '/late-secret',
    cmd: 'test "$(cat pw)" = late-value && echo late-ok && exec sleep 600',
    cpus: 0.1,
    mem: 32,
    backoffSeconds: 1,
    backoffFactor: 1,
    maxLaunchDelaySeconds: 1,
    secrets: { s1: { source: '/dev/late' } },
    container: { type: 'MESOS', volumes: [{ containerPath: 'pw', secret: 's1' }] },
  };
  assert.equal((await call('POST', '/v2/apps', app)).status, 201);
  const failure = await eventually(
    async () => ((await call('GET', '/v2/apps/late-secret?embed=apps.lastTaskFailure')).body as { app: { lastTaskFailure?: { message: string } } }).app.lastTaskFailure,
    'the launch failed',
    WAIT_MS,
  );
  assert.match(failure.message, /Secret \/dev\/late not found in the secret store/);
  assert.equal((await call('PUT', '/secrets/v1/secret/default/dev/late', { value: 'late-value' })).status, 201);
  await eventually(
    async () => {
      for (const file of await sandboxFiles('late-secret', 'stdout')) if ((await readFile(file, 'utf8')) === 'late-ok\n') return true;
      return undefined;
    },
    'the task read its secret',
    WAIT_MS,
  );
  await eventually(async () => ((await call('GET', '/v2/deployments')).body as unknown[]).length === 0, 'the deployment finished', WAIT_MS);
});

test("the anchors' secret examples: Marathon's app.json and Metronome's job_secrets.json", async () => {
  const fixture = JSON.parse(await readFile(join(FIXTURES, 'marathon', 'app.json'), 'utf8')) as Record<string, unknown>;
  // Refused by other issues (images, host volumes, executors' ports, dependencies on a missing
  // group, a host constraint no agent matches, fetching from the internet): removed here.
  const { container: _c, dependencies: _d, args: _a, healthChecks: _h, readinessChecks: _r, fetch: _f, acceptedResourceRoles: _roles, constraints: _k, ...rest } = fixture;
  const app: Record<string, unknown> = { ...rest, instances: 0 };
  // As in Marathon: its env names '/db/password', which is a source, not a declared secret name.
  const refused = await call('POST', '/v2/apps', app);
  assert.equal(refused.status, 422);
  assert.deepEqual((refused.body as { details: unknown }).details, [{ path: '/env/PASSWORD/secret', errors: ["references an undefined secret named '/db/password'"] }]);
  const fixed = { ...app, env: { ...(app['env'] as object), PASSWORD: { secret: 'secret1' } } };
  const created = await call('POST', '/v2/apps', fixed);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const shown = (await call('GET', '/v2/apps/foo')).body as { app: { env: unknown; secrets: unknown } };
  assert.deepEqual(shown.app.secrets, fixture['secrets']);
  assert.deepEqual(shown.app.env, { XPS1: 'Test', XPS2: 'Rest', PASSWORD: { secret: 'secret1' } });

  // Metronome's env-secret example, as it is; it writes the value into its sandbox, so its secret is not the canary.
  const job = JSON.parse(await readFile(join(FIXTURES, 'metronome', 'v1__examples__job_secrets.json'), 'utf8')) as { run: { cmd: string } };
  job.run.cmd = job.run.cmd.replace('sleep 5', 'true');
  assert.equal((await call('PUT', '/secrets/v1/secret/default/mysecret', { value: 'metronome-value' })).status, 201);
  assert.equal((await call('POST', '/v1/jobs', job)).status, 201);
  assert.equal((await call('POST', '/v1/jobs/job-env-secret/runs')).status, 201);
  const written = await eventually(
    async () => {
      // The shell creates the file before `echo` writes into it: wait for the whole line.
      for (const file of await sandboxFiles('job-env-secret', 'secret-env')) {
        const text = await readFile(file, 'utf8');
        if (text.endsWith('\n')) return text;
      }
      return undefined;
    },
    'the job wrote its secret',
    WAIT_MS,
  );
  assert.equal(written, 'metronome-value\n');
  // The file-based example (a secret file at an absolute path in its image) is accepted as it is;
  // test/secrets-anchors.test.ts runs it in an image from a local registry.
  const fbs = JSON.parse(await readFile(join(FIXTURES, 'metronome', 'v1__examples__job_file_based_secrets.json'), 'utf8'));
  const answer = await call('POST', '/v1/jobs', fbs);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  assert.equal((await call('DELETE', '/v1/jobs/job-fbs')).status, 200);
});

test('drover secret create (value from stdin), list, rm; the value is never printed', () => {
  const cli = (args: string[], input = '') => spawnSync(process.execPath, [DROVER_BIN, 'secret', ...args, '--master', dev.url], { encoding: 'utf8', input, timeout: 60_000 });
  const created = cli(['create', '/cli/token'], 'from-stdin-value');
  assert.equal(created.status, 0, created.stderr);
  assert.ok(!`${created.stdout}${created.stderr}`.includes('from-stdin-value'));
  const again = cli(['create', '/cli/token'], 'x');
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already exists/);
  const listed = cli(['list', '/cli', '--json']);
  assert.deepEqual(JSON.parse(listed.stdout), ['/cli/token']);
  assert.equal(cli(['rm', '/cli/token']).status, 0);
  assert.equal(cli(['rm', '/cli/token']).status, 1);
  assert.deepEqual(JSON.parse(cli(['list', '--json']).stdout), ['/dev/db-password', '/dev/late', '/mysecret']);
});

test('a wrong or missing key refuses the start with a clear error; the right one opens the secrets', async () => {
  await removeApps();
  // The tasks ended: their secret files went with them.
  assert.deepEqual(await sandboxFiles('secret-app', 'pw'), []);
  await dev.stop();
  const store = `sqlite:${join(root, 'store.db')}`;
  const wrongKey = join(root, 'wrong.key');
  await writeFile(wrongKey, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  await chmod(wrongKey, 0o600);
  await assert.rejects(startDrover(['master', '--port', '0', '--store', store, '--no-services', '--no-jobs', '--secrets-key-file', wrongKey]), /secrets key does not open the store's secrets/);
  await assert.rejects(startDrover(['master', '--port', '0', '--store', store, '--no-services', '--no-jobs']), /holds secrets .* but no secrets key was given/);
  // drover dev on a data dir whose key file was replaced.
  const good = await readFile(join(root, 'secrets.key'));
  await writeFile(join(root, 'secrets.key'), await readFile(wrongKey));
  await assert.rejects(startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', root]), /secrets key does not open/);
  await writeFile(join(root, 'secrets.key'), good);
  const master = await startDrover(['master', '--port', '0', '--store', store, '--no-services', '--no-jobs', '--secrets-key-file', join(root, 'secrets.key')]);
  try {
    assert.deepEqual((await call('GET', '/secrets/v1/secret/default/dev/db-password', undefined, master.url)).body, { value: canary });
  } finally {
    await master.stop();
  }
  // Stopped now: the store's files after their last checkpoint hold no trace either.
  for (const file of await walk(root)) {
    assert.deepEqual(leaks(file, await readFile(file)), []);
  }
});
