/**
 * The anchors' secret examples run, and their tasks see their secrets (issue 16), on a real master
 * and agent (linux containerizer, images from a real registry on loopback, devkit/registry.ts):
 *
 * - Metronome's job_file_based_secrets.json, as it is but for its image (`ubuntu` → a local one):
 *   accepted, run, and its task sees the secret as a read-only file at /mnt/test, mode 0400, owned
 *   by the user it runs as; the value is written nowhere on disk (a tmpfs the agent unmounts when
 *   the task ends) and is not in the sandbox the files API serves.
 * - Metronome's job_secrets.json (an env secret), as it is.
 * - Marathon's app.json, as a DC/OS user would run it: the secrets created through the secrets API
 *   first; refused as Marathon refuses it (an env secret that names a source, cmd with args); then,
 *   with what Marathon and this machine cannot take changed (no Docker daemon, no internet), its
 *   tasks run on the srv2 agent its constraint asks for and see PASSWORD's value (they write its
 *   SHA-256 to their sandboxes).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';
import { httpCall } from './support/http.ts';

const run = promisify(execFile);
const FIXTURES = join(import.meta.dirname, 'fixtures');
/** Bounds "never" on a loaded machine; measures nothing. */
const WAIT_MS = 180_000;
const skip = linuxUnavailable();
const BRIDGE = `drsec${process.pid % 100000}`;
const HOSTNAME = `srv2-secrets-${process.pid}`;

// Hex after a prefix: no shell or JSON escaping changes its bytes.
const fileSecret = `file-${randomBytes(16).toString('hex')}`;
const dbPassword = `pw-${randomBytes(16).toString('hex')}`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface Detail {
  path: string;
  errors: string[];
}

/** Every regular file under `dir`. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

describe("the anchors' secret examples run with their secrets", { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: DroverProcess;
  let agent: DroverProcess;
  const call = (method: string, path: string, body?: unknown) => httpCall(master.url, method, path, body);
  const fixture = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(FIXTURES, path), 'utf8')) as Record<string, unknown>;
  /** Files named `name` in the sandboxes of tasks whose id contains `task`. */
  const sandboxFiles = async (task: string, name: string) => (await walk(join(dir, 'agent', 'slaves'))).filter((p) => p.includes(task) && p.endsWith(`/${name}`));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-secrets-anchors-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    registry = await startRegistry({ dir });
    await pushImage(images, 'hello', registry, 'drover/hello:latest');
    await run(process.execPath, [DROVER_BIN, 'secret', 'keygen', join(dir, 'secrets.key')]);
    master = await startDrover([
      'master',
      '--port',
      '0',
      '--store',
      `sqlite:${join(dir, 'master.db')}`,
      '--data-dir',
      join(dir, 'master'),
      '--secrets-key-file',
      join(dir, 'secrets.key'),
      '--allocation-interval',
      '0.2',
    ]);
    // app.json's host volume, rewritten into the test's dir (this machine has no /hdd).
    await mkdir(join(dir, 'hdd'), { recursive: true });
    await chmod(join(dir, 'hdd'), 0o777);
    agent = await startDrover([
      'agent',
      '--master',
      master.url,
      '--port',
      '0',
      '--work-dir',
      join(dir, 'agent'),
      // app.json's constraint: hostname LIKE srv2.*
      '--hostname',
      HOSTNAME,
      '--resources',
      'cpus:4;mem:2048;disk:2000;ports:[22901-22950]',
      '--host-volume-paths',
      join(dir, 'hdd'),
      '--bridge-name',
      BRIDGE,
      '--bridge-subnet',
      `10.${192 + (process.pid % 16)}.${(process.pid >> 4) % 256}.0/24`,
    ]);
    await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', WAIT_MS);
    assert.equal((await call('PUT', '/secrets/v1/secret/default/mysecret', { value: fileSecret })).status, 201);
    assert.equal((await call('PUT', '/secrets/v1/secret/default/db/password', { value: dbPassword })).status, 201);
    assert.equal((await call('PUT', '/secrets/v1/secret/default/foo2', { value: 'two' })).status, 201);
  });

  after(async () => {
    await call('DELETE', '/v2/apps/foo?force=true').catch(() => undefined);
    await agent?.stop();
    await master?.stop();
    killImageTasksUnder(dir);
    await registry?.stop();
    await run('ip', ['link', 'delete', BRIDGE]).catch(() => undefined);
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });

  test('job_file_based_secrets.json: accepted as it is, its run succeeds; a task of its kind sees /mnt/test read-only, 0400, its own', async () => {
    const job = await fixture('metronome/v1__examples__job_file_based_secrets.json');
    const runSpec = job['run'] as { cmd: string; ucr: { image: { id: string } } };
    runSpec.ucr.image.id = `${registry.host}/drover/hello`;
    const created = await call('POST', '/v1/jobs', job);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call('POST', '/v1/jobs/job-fbs/runs')).status, 201);
    await eventually(async () => ((await call('GET', '/v1/jobs/job-fbs?embed=history')).body as { history: { successCount: number } }).history.successCount === 1, 'job-fbs succeeded', WAIT_MS);

    // The same job with a command that says what it sees at /mnt/test (the example's only echoes an unset variable).
    runSpec.cmd = [
      'cd "$MESOS_SANDBOX"',
      'id -u > seen',
      "stat -c '%a %u' /mnt/test >> seen",
      'sha256sum /mnt/test | cut -d" " -f1 >> seen',
      '(echo x > /mnt/test) 2>/dev/null && echo writable >> seen || echo read-only >> seen',
      '(test -e "$MESOS_SANDBOX/.secrets/0" && echo seen || echo unseen) >> seen',
      'true',
    ].join('; ');
    const seeing = await call('POST', '/v1/jobs', { ...job, id: 'job-fbs-seen' });
    assert.equal(seeing.status, 201, JSON.stringify(seeing.body));
    assert.equal((await call('POST', '/v1/jobs/job-fbs-seen/runs')).status, 201);
    await eventually(
      async () => ((await call('GET', '/v1/jobs/job-fbs-seen?embed=history')).body as { history: { successCount: number } }).history.successCount === 1,
      'job-fbs-seen succeeded',
      WAIT_MS,
    );
    const [seenFile] = await sandboxFiles('job-fbs-seen', 'seen');
    assert.ok(seenFile !== undefined, 'the task wrote what it saw');
    const [uid, modeOwner, hash, writable, secretsDir] = (await readFile(seenFile, 'utf8')).trim().split('\n');
    assert.equal(modeOwner, `400 ${uid}`);
    assert.equal(hash, sha256(fileSecret));
    assert.equal(writable, 'read-only');
    // The tmpfs the file comes from is not in the sandbox the task sees (only its empty mount point, root's).
    assert.equal(secretsDir, 'unseen');

    // Gone with the tasks: no tmpfs left mounted, and the value in no file of the agent's work dir or the master's.
    assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes('drover-secrets'), 'no secrets tmpfs left mounted');
    for (const file of await walk(dir)) {
      if (file.startsWith(join(dir, 'oci')) || file.includes('/registry')) continue;
      assert.ok(!(await readFile(file)).toString('latin1').includes(fileSecret), `${file} holds the secret`);
    }
  });

  test('secret volumes: an absolute containerPath needs an image; /proc, /dev, the sandbox, .. and .secrets (the agent keeps its tmpfs there) are refused', async () => {
    const base = {
      id: 'bad-secret-volume',
      run: { cpus: 0.01, mem: 32, disk: 0, cmd: 'true', secrets: { s: { source: '/mysecret' } }, volumes: [{ containerPath: '/mnt/x', secret: 's' }] },
    };
    const noImage = await call('POST', '/v1/jobs', base);
    assert.equal(noImage.status, 422);
    assert.deepEqual(
      (noImage.body as { details: Detail[] }).details.map((d) => d.path),
      ['/run/volumes/0/containerPath'],
    );
    assert.match((noImage.body as { details: Detail[] }).details[0]!.errors[0]!, /needs a container image/);
    for (const containerPath of ['/proc/x', '/dev/pw', '/mnt/mesos/sandbox/pw', '/mnt/../etc/pw', '//pw', '.secrets/pw']) {
      const answer = await call('POST', '/v1/jobs', { ...base, run: { ...base.run, ucr: { image: { id: `${registry.host}/drover/hello` } }, volumes: [{ containerPath, secret: 's' }] } });
      assert.equal(answer.status, 422, containerPath);
      assert.deepEqual(
        (answer.body as { details: Detail[] }).details.map((d) => d.path),
        ['/run/volumes/0/containerPath'],
      );
    }
    assert.equal((await call('GET', '/v1/jobs/bad-secret-volume')).status, 404);
  });

  test('job_secrets.json (an env secret): as it is, its task writes the value into its sandbox', async () => {
    const job = await fixture('metronome/v1__examples__job_secrets.json');
    (job['run'] as { cmd: string }).cmd = (job['run'] as { cmd: string }).cmd.replace('sleep 5', 'true');
    assert.equal((await call('POST', '/v1/jobs', job)).status, 201);
    assert.equal((await call('POST', '/v1/jobs/job-env-secret/runs')).status, 201);
    const written = await eventually(
      async () => {
        for (const file of await sandboxFiles('job-env-secret', 'secret-env')) return readFile(file, 'utf8');
        return undefined;
      },
      'the job wrote its secret',
      WAIT_MS,
    );
    assert.equal(written, `${fileSecret}\n`);
  });

  test("app.json: refused where Marathon refuses it; so fixed, its two tasks run on srv2 and see PASSWORD's value", async () => {
    const app = await fixture('marathon/app.json');
    const container = app['container'] as { docker: Record<string, unknown>; volumes: Array<Record<string, unknown>> };
    container.docker['image'] = `${registry.host}/drover/hello`;
    const refused = await call('POST', '/v2/apps', app);
    assert.equal(refused.status, 422);
    // Marathon (AppValidation: `secrets.contains(ref.secret)`) refuses an env secret that names a
    // source instead of one of the app's secrets, and cmd with args; docker parameters are docker
    // run options (no Docker daemon here).
    assert.deepEqual(
      (refused.body as { details: Detail[] }).details.map((d) => d.path),
      ['/cmd', '/container/docker/parameters', '/env/PASSWORD/secret'],
    );
    assert.match((refused.body as { details: Detail[] }).details.find((d) => d.path === '/env/PASSWORD/secret')!.errors[0]!, /undefined secret named '\/db\/password'/);
    assert.equal((await call('GET', '/v2/apps/foo')).status, 404);

    // As its author meant it: PASSWORD from secret1 (source /db/password).
    (app['env'] as Record<string, unknown>)['PASSWORD'] = { secret: 'secret1' };
    delete app['args'];
    delete container.docker['parameters'];
    // Marathon 1.9+: accepted roles are `*` and the app's own.
    delete app['acceptedResourceRoles'];
    // This machine has no internet and no /hdd.
    delete app['fetch'];
    container.volumes[0]!['hostPath'] = join(dir, 'hdd');
    // Its command says what it sees, then sleeps as the example's does.
    app['cmd'] = 'printf %s "$PASSWORD" | sha256sum | cut -d" " -f1 > "$MESOS_SANDBOX/pw.sha"; exec sleep 1000';
    const created = await call('POST', '/v2/apps', app);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const hashes = await eventually(
      async () => {
        const files = await sandboxFiles('foo', 'pw.sha');
        if (files.length < 2) return undefined;
        const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
        return texts.every((t) => t.endsWith('\n')) && texts;
      },
      "both tasks wrote PASSWORD's hash",
      WAIT_MS,
    ).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}: ${JSON.stringify((await call('GET', '/v2/apps/foo?embed=app.lastTaskFailure')).body).slice(0, 1500)}`);
    });
    assert.deepEqual(hashes, [`${sha256(dbPassword)}\n`, `${sha256(dbPassword)}\n`]);
    const tasks = ((await call('GET', '/v2/apps/foo/tasks')).body as { tasks: Array<{ host: string; state: string }> }).tasks;
    assert.equal(tasks.length, 2);
    for (const t of tasks) assert.equal(t.host, HOSTNAME);
    // The app's GET holds the reference, not the value.
    const shown = JSON.stringify((await call('GET', '/v2/apps/foo')).body);
    assert.ok(shown.includes('"PASSWORD":{"secret":"secret1"}'));
    assert.ok(!shown.includes(dbPassword));
    assert.equal((await call('DELETE', '/v2/apps/foo?force=true')).status, 200);
  });
});
