/**
 * The anchors' image-based example specs (test/fixtures, copies of shared/fixtures/anchors) on a
 * live `drover dev`, their images rewritten to a real docker-registry on loopback serving
 * devkit/registry.ts images: Marathon's group.json (Docker apps) and Metronome's job.json,
 * job_ucr.json and job_docker_param.json. What runs must reach TASK_RUNNING (or succeed); what
 * cannot be honoured is a 422 naming exactly those fields.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';
import { httpCall } from './support/http.ts';

const run = promisify(execFile);
const FIXTURES = join(import.meta.dirname, 'fixtures');
const WAIT_MS = 180_000;
const skip = linuxUnavailable();

interface Detail {
  path: string;
  errors: string[];
}

describe('anchor specs with images on drover dev', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let dev: DroverProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-imgcluster-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    // `serve`: hello whose default command serves HTTP on the task's first port (for health checks).
    await run('umoci', [
      'config',
      '--image',
      `${images.layout}:hello`,
      '--tag',
      'serve',
      '--config.cmd',
      '-c',
      '--config.cmd',
      'cd "$MESOS_SANDBOX" && echo ok > index.html && exec httpd -f -p "$PORT0" -h "$MESOS_SANDBOX"',
    ]);
    registry = await startRegistry({ dir });
    await pushImage(images, 'serve', registry, 'drover/serve:latest');
    await pushImage(images, 'hello', registry, 'drover/hello:latest', { format: 'v2s2' });
    dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--data-dir', join(dir, 'data'), '--resources', 'cpus:8;mem:8192;disk:4000;ports:[22700-22800]']);
    await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', WAIT_MS);
  });

  after(async () => {
    await dev?.stop();
    // Tasks outlive their agent; these are nobody's once the test is over.
    killImageTasksUnder(dir);
    await registry?.stop();
    // Rootfs mounts of tasks the agent did not live to destroy (never remove through a live overlay).
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const { status, body: answer } = await httpCall(dev.url, method, path, body);
    return { status, body: answer };
  }

  const fixture = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(FIXTURES, path), 'utf8')) as Record<string, unknown>;

  test("group.json: its Docker apps' images run; what cannot be honoured is refused by name", async () => {
    const group = await fixture('marathon/group.json');
    const apps: Array<Record<string, unknown>> = [];
    const walk = (g: Record<string, unknown>): void => {
      // A group's `version` in a POST asks for that version back (Marathon's rollback): this is a
      // GET answer, so its group versions go; nothing else changes but the images.
      delete g['version'];
      for (const app of (g['apps'] as Array<Record<string, unknown>>) ?? []) apps.push(app);
      for (const sub of (g['groups'] as Array<Record<string, unknown>>) ?? []) walk(sub);
    };
    walk(group);
    assert.equal(apps.length, 3);
    for (const app of apps) ((app['container'] as Record<string, unknown>)['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/serve`;
    // The root group cannot be created: its one child, /tools, holds every app.
    const tools = (group['groups'] as Array<Record<string, unknown>>)[0]!;
    const refused = await call('POST', '/v2/groups', tools);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    const paths = (refused.body as { details: Detail[] }).details.map((d) => d.path);
    // The registry's bridge network with its docker port mappings; nothing about the images, the
    // host volumes (valid: each agent decides by its --host-volume-paths) or the other fields.
    for (const path of paths) assert.match(path, /\/container\/(docker\/network|docker\/portMappings)$/, `refused: ${paths.join(', ')}`);
    assert.ok(paths.some((p) => p.includes('network')));
    assert.ok(!paths.some((p) => p.includes('oauth-server') || p.startsWith('/groups/0/apps/0/')), `oauth-server refused: ${paths.join(', ')}`);
    // The one Docker app without them, as it is (two instances, hostname UNIQUE: one agent runs one).
    const oauth = apps.find((a) => a['id'] === '/tools/oauth-server')!;
    const created = await call('POST', '/v2/apps', oauth);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    let seen: unknown;
    const task = await eventually(
      async () => {
        const tasks = ((await call('GET', '/v2/apps/tools/oauth-server/tasks')).body as { tasks: Array<{ state: string; ports: number[]; healthCheckResults?: Array<{ alive: boolean }> }> }).tasks;
        seen = { tasks, queue: (await call('GET', '/v2/queue')).body };
        return tasks.find((t) => t.state === 'TASK_RUNNING' && t.healthCheckResults?.[0]?.alive === true);
      },
      'oauth-server running and healthy (its HTTP check answered from inside the image)',
      WAIT_MS,
    ).catch(async (error: unknown) => {
      const { stdout: stderrs } = await run('sh', ['-c', 'for f in $(find "$0" -name stderr | head -3); do echo "== $f"; tail -5 "$f"; done', join(dir, 'data')]);
      throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(seen).slice(0, 1000)}; ${stderrs}`);
    });
    const answer = await fetch(`http://127.0.0.1:${task.ports[0]}/index.html`);
    assert.equal(await answer.text(), 'ok\n');
    const shown = ((await call('GET', '/v2/apps/tools/oauth-server')).body as { app: { container: { type: string; docker: { image: string } } } }).app;
    assert.deepEqual(shown.container, { type: 'DOCKER', docker: { image: `${registry.host}/drover/serve` } });
    // Its deployment never ends (the second instance has no second host): deleted with force, as in Marathon.
    assert.equal((await call('DELETE', '/v2/apps/tools/oauth-server?force=true')).status, 200);
  });

  test('pullConfig: an app pulls from a password-protected registry with a Docker config.json from the secret store; without it, the registry’s refusal is the failure', async () => {
    // The same storage behind htpasswd: only the credentials differ.
    const locked = await startRegistry({ dir, dataDir: registry.dataDir, auth: { kind: 'htpasswd', user: 'puller', password: 'pull-pw' } });
    try {
      const image = `${locked.host}/drover/hello`;
      const config = JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from('puller:pull-pw').toString('base64') } } });
      assert.equal((await call('PUT', '/secrets/v1/secret/default/registry/pull', { value: config })).status, 201);
      const app = {
        id: '/private',
        cmd: 'cat /etc/motd; sleep 1000',
        cpus: 0.1,
        mem: 32,
        container: { type: 'MESOS', docker: { image, pullConfig: { secret: 'pull' } } },
        secrets: { pull: { source: '/registry/pull' } },
      };
      assert.equal((await call('POST', '/v2/apps', app)).status, 201);
      await eventually(
        async () => ((await call('GET', '/v2/apps/private/tasks')).body as { tasks: Array<{ state: string }> }).tasks.some((t) => t.state === 'TASK_RUNNING'),
        'the private image running',
        WAIT_MS,
      );
      assert.equal((await call('DELETE', '/v2/apps/private?force=true')).status, 200);

      const without = { id: '/no-secret', cmd: 'sleep 1000', cpus: 0.1, mem: 32, container: { type: 'DOCKER', docker: { image, forcePullImage: true } } };
      assert.equal((await call('POST', '/v2/apps', without)).status, 201);
      const failure = await eventually(
        async () => ((await call('GET', '/v2/apps/no-secret?embed=app.lastTaskFailure')).body as { app: { lastTaskFailure?: { state: string; message: string } } }).app.lastTaskFailure,
        'the pull refused',
        WAIT_MS,
      );
      assert.equal(failure.state, 'TASK_FAILED');
      assert.ok(failure.message.includes(image), failure.message);
      assert.match(failure.message, /401|unauthori[sz]ed|credentials/i);
      assert.equal((await call('DELETE', '/v2/apps/no-secret?force=true')).status, 200);
    } finally {
      await locked.stop();
    }
  });

  test('Metronome: job_ucr.json runs in its image; job.json and job_docker_param.json are refused for what cannot be honoured only', async () => {
    const ucr = await fixture('metronome/v1__examples__job_ucr.json');
    (((ucr['run'] as Record<string, unknown>)['ucr'] as Record<string, unknown>)['image'] as Record<string, unknown>)['id'] = `${registry.host}/drover/hello`;
    assert.equal((await call('POST', '/v1/jobs', ucr)).status, 201);
    const started = (await call('POST', '/v1/jobs/ucr-example/runs')).body as { id: string };
    // `sleep inf` runs until stopped.
    await eventually(
      async () => {
        const r = (await call('GET', `/v1/jobs/ucr-example/runs/${started.id}`)).body as { status: string; tasks: Array<{ status: string }> };
        return r.status === 'ACTIVE' && r.tasks[0]?.status === 'TASK_RUNNING';
      },
      'ucr-example running',
      WAIT_MS,
    );
    assert.equal((await call('POST', `/v1/jobs/ucr-example/runs/${started.id}/actions/stop`)).status, 200);

    const param = await fixture('metronome/v1__examples__job_docker_param.json');
    ((param['run'] as Record<string, unknown>)['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/hello`;
    const paramAnswer = await call('POST', '/v1/jobs', param);
    assert.equal(paramAnswer.status, 422);
    assert.deepEqual(
      (paramAnswer.body as { details: Detail[] }).details.map((d) => d.path),
      ['/run/docker/parameters'],
    );

    const job = await fixture('metronome/v1__examples__job.json');
    ((job['run'] as Record<string, unknown>)['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/hello`;
    const jobAnswer = await call('POST', '/v1/jobs', job);
    assert.equal(jobAnswer.status, 422);
    // Its host volume is valid now (an agent runs it if /etc/guest is under its --host-volume-paths).
    assert.deepEqual((jobAnswer.body as { details: Detail[] }).details.map((d) => d.path).sort(), ['/run/networks']);

    // A run.docker job with no command: the image's Entrypoint and Cmd, a successful run.
    const plain = { id: 'image-default', run: { cpus: 0.1, mem: 32, docker: { image: `${registry.host}/drover/hello`, forcePullImage: true } } };
    assert.equal((await call('POST', '/v1/jobs', plain)).status, 201);
    assert.equal((await call('POST', '/v1/jobs/image-default/runs')).status, 201);
    await eventually(
      async () => ((await call('GET', '/v1/jobs/image-default?embed=history')).body as { history: { successCount: number } }).history.successCount === 1,
      'image-default succeeded',
      WAIT_MS,
    );
  });
});
