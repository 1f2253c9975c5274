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
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
    // `serve5000`: the same on a fixed container port (a bridged app's containerPort), first writing
    // to its host volume at /docker_storage.
    await run('umoci', [
      'config',
      '--image',
      `${images.layout}:hello`,
      '--tag',
      'serve5000',
      '--config.cmd',
      '-c',
      '--config.cmd',
      'cd "$MESOS_SANDBOX" && echo ok > index.html && echo up > /docker_storage/up && exec httpd -f -p 5000 -h "$MESOS_SANDBOX"',
    ]);
    registry = await startRegistry({ dir });
    await pushImage(images, 'serve', registry, 'drover/serve:latest');
    await pushImage(images, 'serve5000', registry, 'drover/serve5000:latest');
    await pushImage(images, 'hello', registry, 'drover/hello:latest', { format: 'v2s2' });
    await mkdir(join(dir, 'hdd', 'registry'), { recursive: true });
    await chmod(join(dir, 'hdd', 'registry'), 0o777);
    await writeFile(join(dir, 'docker.sock'), '');
    dev = await startDrover([
      'dev',
      '--port',
      '0',
      '--agent-port',
      '0',
      '--data-dir',
      join(dir, 'data'),
      '--resources',
      'cpus:8;mem:8192;disk:4000;ports:[22700-22800]',
      // group.json's datadog-agent is privileged and mounts /proc/mounts and /sys/fs/cgroup.
      '--allow-privileged',
      '--host-volume-paths',
      `/proc,/sys/fs/cgroup,${dir}`,
      '--bridge-name',
      `drbrc${process.pid % 100000}`,
      '--bridge-subnet',
      `10.${224 + (process.pid % 16)}.${(process.pid >> 4) % 256}.0/24`,
    ]);
    await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', WAIT_MS);
  });

  after(async () => {
    await dev?.stop();
    // Tasks outlive their agent; these are nobody's once the test is over.
    killImageTasksUnder(dir);
    await registry?.stop();
    // CNI's DEL leaves the bridge itself.
    await run('ip', ['link', 'delete', `drbrc${process.pid % 100000}`]).catch(() => undefined);
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

  test('group.json: its three Docker apps run — host volumes, a privileged task, a bridged one reached through its host port', async () => {
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
    // Host paths this machine lacks (no Docker daemon, no /hdd) are rewritten into the test's dir;
    // /proc/mounts and /sys/fs/cgroup are used as they are.
    const volumesOf = (id: string): Array<Record<string, unknown>> => (apps.find((a) => a['id'] === id)!['container'] as Record<string, unknown>)['volumes'] as Array<Record<string, unknown>>;
    volumesOf('/tools/datadog-agent')[0]!['hostPath'] = join(dir, 'docker.sock');
    volumesOf('/tools/docker/registry')[0]!['hostPath'] = join(dir, 'hdd', 'registry');
    ((apps.find((a) => a['id'] === '/tools/docker/registry')!['container'] as Record<string, unknown>)['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/serve5000`;
    // The root group cannot be created: its one child, /tools, holds every app.
    const tools = (group['groups'] as Array<Record<string, unknown>>)[0]!;
    const created = await call('POST', '/v2/groups', tools);
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

    // datadog-agent: privileged, three host volumes (one read-write), on the host network.
    const datadog = await eventually(
      async () => ((await call('GET', '/v2/apps/tools/datadog-agent/tasks')).body as { tasks: Array<{ state: string; ports: number[] }> }).tasks.find((t) => t.state === 'TASK_RUNNING'),
      'datadog-agent running',
      WAIT_MS,
    );
    assert.equal(await (await fetch(`http://127.0.0.1:${datadog.ports[0]}/index.html`)).text(), 'ok\n');

    // registry: docker.network BRIDGE, containerPort 5000 behind a host port of the agent, its
    // host volume written from inside.
    const bridged = await eventually(
      async () => ((await call('GET', '/v2/apps/tools/docker/registry/tasks')).body as { tasks: Array<{ state: string; ports: number[] }> }).tasks.find((t) => t.state === 'TASK_RUNNING'),
      'registry running',
      WAIT_MS,
    );
    assert.ok(bridged.ports[0]! >= 22700 && bridged.ports[0]! <= 22800, `host port ${bridged.ports[0]}`);
    const page = await eventually(
      async () => {
        const answer = await fetch(`http://127.0.0.1:${bridged.ports[0]}/index.html`).catch(() => undefined);
        return answer?.ok === true ? answer.text() : undefined;
      },
      'the bridged task answers on its host port',
      60_000,
    );
    assert.equal(page, 'ok\n');
    assert.equal(await readFile(join(dir, 'hdd', 'registry', 'up'), 'utf8'), 'up\n');
    const app = ((await call('GET', '/v2/apps/tools/docker/registry')).body as { app: { networks: unknown; container: { portMappings: unknown } } }).app;
    assert.deepEqual(app.networks, [{ mode: 'container/bridge' }]);
    assert.deepEqual(app.container.portMappings, [{ containerPort: 5000, hostPort: 0, servicePort: 5000, protocol: 'tcp' }]);
    // Deployments that never end (a second oauth-server instance has no second host): deleted with force, as in Marathon.
    assert.equal((await call('DELETE', '/v2/groups/tools?force=true')).status, 200);
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
    // Its host volume and its named network are valid (agents/network/cni.ts, --host-volume-paths decide at launch).
    assert.equal(jobAnswer.status, 201, JSON.stringify(jobAnswer.body));
    // Chronos' dockerjob: its image, BRIDGE and host volume are taken.
    const chronos = await fixture('chronos/docs_api_md_job_3_dockerjob.json');
    (chronos['container'] as Record<string, unknown>)['image'] = `${registry.host}/drover/hello`;
    assert.equal((await call('POST', '/v1/scheduler/iso8601', chronos)).status, 204);

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
