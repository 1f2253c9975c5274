/**
 * The anchors' image-based example specs (test/fixtures, copies of shared/fixtures/anchors) on a
 * live `drover dev`, their images rewritten to a real docker-registry on loopback serving
 * devkit/registry.ts images: Marathon's group.json (Docker apps) and Metronome's job.json,
 * job_ucr.json and job_docker_param.json, and Chronos' dockerjob. What runs must reach
 * TASK_RUNNING (or succeed); what cannot be honoured is a 422 naming exactly those fields.
 * A second agent (rack:rack-2, a CNI network named `calico`) is there for job.json.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
const CALICO_BRIDGE = `drcal${process.pid % 100000}`;
const CALICO_SUBNET = `10.${208 + (process.pid % 16)}.${(process.pid >> 4) % 256}.0/24`;
const RACK2_BRIDGE = `drbrr${process.pid % 100000}`;

interface Detail {
  path: string;
  errors: string[];
}

describe('anchor specs with images on drover dev', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let dev: DroverProcess;
  let rack2: DroverProcess;

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
    // `nuke`: hello working in /mnt/test, job.json's volume. (`nuke` is busybox's own: it removes
    // the files it is given, so job.json's `nuke --dry --master local` deletes those three there.)
    await run('umoci', ['config', '--image', `${images.layout}:hello`, '--tag', 'nuke', '--config.workingdir', '/mnt/test']);
    registry = await startRegistry({ dir });
    await pushImage(images, 'nuke', registry, 'drover/nuke:latest');
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
    // A second agent for job.json's constraint (rack:rack-2) and app.json's (hostname LIKE srv2.*), with the CNI network job.json names
    // (`calico`: here a bridge network of the test's own, under that name).
    await mkdir(join(dir, 'cni'));
    await writeFile(
      join(dir, 'cni', '10-calico.conflist'),
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'calico',
        plugins: [{ type: 'bridge', bridge: CALICO_BRIDGE, isGateway: true, ipMasq: false, ipam: { type: 'host-local', subnet: CALICO_SUBNET, dataDir: join(dir, 'calico-ipam') } }],
      }),
    );
    rack2 = await startDrover([
      'agent',
      '--master',
      dev.url,
      '--port',
      '0',
      '--work-dir',
      join(dir, 'rack2'),
      '--hostname',
      `srv2-rack2-${process.pid}`,
      '--attributes',
      'rack:rack-2',
      '--resources',
      'cpus:4;mem:2048;disk:2000;ports:[22801-22850]',
      '--cni-config-dir',
      join(dir, 'cni'),
      // job.json's and app.json's own host paths (this machine has neither: their fetches fail before they are needed).
      '--host-volume-paths',
      `/etc/guest,/hdd/tools/docker/registry,${dir}`,
      '--bridge-name',
      RACK2_BRIDGE,
      '--bridge-subnet',
      `10.${240 + (process.pid % 16)}.${(process.pid >> 4) % 256}.0/24`,
    ]);
    await eventually(async () => ((await call('GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 2, 'both agents registered', WAIT_MS);
  });

  after(async () => {
    await rack2?.stop();
    await dev?.stop();
    // Tasks outlive their agent; these are nobody's once the test is over.
    killImageTasksUnder(dir);
    await registry?.stop();
    // CNI's DEL leaves the bridge itself.
    for (const bridge of [`drbrc${process.pid % 100000}`, CALICO_BRIDGE, RACK2_BRIDGE]) await run('ip', ['link', 'delete', bridge]).catch(() => undefined);
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

  test('Metronome: job_ucr.json runs in its image; job_docker_param.json is refused for its parameters only', async () => {
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

  test("job.json runs on the rack-2 agent and fails on its unreachable artifact, naming it; without the artifact its command runs on calico in its volume; Chronos' dockerjob runs in its image on BRIDGE with its volume", async () => {
    const agents = ((await call('GET', '/master/state')).body as { slaves: Array<{ id: string; hostname: string }> }).slaves;
    const rack2Id = agents.find((a) => a.hostname === `srv2-rack2-${process.pid}`)!.id;
    const masterTask = async (name: string): Promise<{ id: string; slave_id: string; state: string; statuses: Array<{ state: string; message?: string; container_status?: unknown }> } | undefined> => {
      const all = (
        (await call('GET', '/master/tasks?limit=1000')).body as { tasks: Array<{ id: string; name: string; slave_id: string; state: string; statuses: Array<{ state: string; message?: string }> }> }
      ).tasks;
      return all.find((t) => t.name === name);
    };

    // job.json as it is but for its image: placed by its constraint, it launches and its fetch fails.
    const job = await fixture('metronome/v1__examples__job.json');
    const jobRun = job['run'] as Record<string, unknown>;
    (jobRun['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/nuke`;
    assert.equal((await call('POST', '/v1/jobs', job)).status, 201);
    const failedRun = (await call('POST', '/v1/jobs/prod.example.app/runs')).body as { id: string };
    const failed = await eventually(
      async () => {
        const task = await masterTask(`prod.example.app.${failedRun.id}`);
        return task?.state === 'TASK_FAILED' ? task : undefined;
      },
      'the run of job.json failed',
      WAIT_MS,
    ).catch(async (error: unknown) => {
      const seen = {
        run: (await call('GET', `/v1/jobs/prod.example.app/runs/${failedRun.id}`)).body,
        queue: (await call('GET', '/v1/queue')).body,
        task: await masterTask(`prod.example.app.${failedRun.id}`),
      };
      throw new Error(`${(error as Error).message}: ${JSON.stringify(seen).slice(0, 2000)}`);
    });
    assert.equal(failed.slave_id, rack2Id, 'placed on the agent with rack:rack-2 only');
    const message = failed.statuses.find((st) => st.state === 'TASK_FAILED')?.message ?? '';
    assert.ok(message.includes('http://foo.example.com/application.zip'), message);
    await eventually(
      async () => ((await call('GET', '/v1/jobs/prod.example.app?embed=history')).body as { history: { failureCount: number } }).history.failureCount === 1,
      'the run counted as failed (restart NEVER)',
      WAIT_MS,
    );

    // The same job but without the artifact nobody can fetch and with its host path in the test's
    // dir: `nuke` (in the image) runs as root on calico, with the env and the RW volume.
    const netted = await fixture('metronome/v1__examples__job.json');
    const nettedRun = netted['run'] as Record<string, unknown>;
    netted['id'] = 'prod.example.netted';
    delete nettedRun['artifacts'];
    (nettedRun['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/nuke`;
    await mkdir(join(dir, 'guest', 'local'), { recursive: true });
    for (const name of ['--dry', '--master', 'local/x', 'keep']) await writeFile(join(dir, 'guest', name), '');
    (nettedRun['volumes'] as Array<Record<string, unknown>>)[0]!['hostPath'] = join(dir, 'guest');
    assert.equal((await call('POST', '/v1/jobs', netted)).status, 201);
    const nettedStarted = (await call('POST', '/v1/jobs/prod.example.netted/runs')).body as { id: string };
    await eventually(
      async () => ((await call('GET', '/v1/jobs/prod.example.netted?embed=history')).body as { history: { successCount: number; failureCount: number } }).history.successCount === 1,
      'the netted run succeeded',
      WAIT_MS,
    ).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}: ${JSON.stringify(await masterTask(`prod.example.netted.${nettedStarted.id}`))}`);
    });
    const netTask = (await masterTask(`prod.example.netted.${nettedStarted.id}`))!;
    assert.equal(netTask.slave_id, rack2Id);
    // It ran as root in its image's working dir, the host volume: the three are gone, nothing else.
    assert.deepEqual(await readdir(join(dir, 'guest')), ['keep']);
    // Its TASK_RUNNING (whole, from the v1 operator API) names the network it had and its address there.
    const v1 = (await call('POST', '/api/v1', { type: 'GET_TASKS' })).body as {
      get_tasks: {
        completed_tasks?: Array<{ name: string; statuses: Array<{ state: string; container_status?: { network_infos?: Array<{ name: string; ip_addresses: Array<{ ip_address: string }> }> } }> }>;
      };
    };
    const netStatuses = v1.get_tasks.completed_tasks?.find((t) => t.name === `prod.example.netted.${nettedStarted.id}`)?.statuses ?? [];
    const netInfos = netStatuses.find((st) => st.state === 'TASK_RUNNING')?.container_status?.network_infos ?? [];
    assert.deepEqual(
      netInfos.map((n) => n.name),
      ['calico'],
      JSON.stringify(netStatuses),
    );
    const prefix = CALICO_SUBNET.split('.').slice(0, 3).join('.');
    assert.ok(netInfos[0]!.ip_addresses[0]?.ip_address.startsWith(`${prefix}.`), JSON.stringify(netInfos));

    // Chronos' dockerjob, its host path (/logs/, which this machine lacks) in the test's dir.
    const chronos = await fixture('chronos/docs_api_md_job_3_dockerjob.json');
    const container = chronos['container'] as Record<string, unknown>;
    container['image'] = `${registry.host}/drover/hello`;
    await mkdir(join(dir, 'logs'));
    (container['volumes'] as Array<Record<string, unknown>>)[0]!['hostPath'] = `${join(dir, 'logs')}/`;
    assert.equal((await call('POST', '/v1/scheduler/iso8601', chronos)).status, 204);
    // Its schedule began in 2014: it is due; start it now rather than at the next 2-minute mark.
    assert.equal((await call('PUT', '/v1/scheduler/job/dockerjob')).status, 204);
    const running = await eventually(
      async () => {
        const runs = ((await call('GET', '/v1/jobs/dockerjob?embed=activeRuns')).body as { activeRuns: Array<{ id: string; tasks: Array<{ id: string; status: string }> }> }).activeRuns;
        const active = runs.find((r) => r.tasks[0]?.status === 'TASK_RUNNING');
        return active === undefined ? undefined : { run: active.id, task: active.tasks[0]!.id };
      },
      'dockerjob running',
      WAIT_MS,
    );
    const live = (await call('POST', '/api/v1', { type: 'GET_TASKS' })).body as {
      get_tasks: { tasks?: Array<{ task_id: { value: string }; statuses: Array<{ state: string; container_status?: { network_infos?: Array<{ name: string }> } }> }> };
    };
    const networks = live.get_tasks.tasks?.find((t) => t.task_id.value === running.task)?.statuses.find((st) => st.state === 'TASK_RUNNING')?.container_status?.network_infos ?? [];
    assert.equal(networks.length, 1, JSON.stringify(networks));
    assert.equal(networks[0]!.name, 'mesos-bridge');
    // Its processes: rooted in its image (an overlay whose upper dir is in its sandbox), with the
    // host volume at /var/log and the sandbox at /mnt/mesos/sandbox.
    const mounts = await eventually(async () => taskMounts(running.task), 'the dockerjob process', 60_000);
    assert.ok(mounts.includes('/var/log'), mounts.join(' '));
    assert.ok(mounts.includes('/mnt/mesos/sandbox'), mounts.join(' '));
    // `date =u %T` (a typo for -u +%T in Chronos' docs) is not a command line busybox (the image's) takes: every 10 s its usage.
    const stderr = await eventually(
      async () => {
        const { stdout } = await run('sh', ['-c', 'find "$0" -path "*$1*" -name stderr | head -1', dir, running.task]);
        const text = stdout.trim() === '' ? '' : await readFile(stdout.trim(), 'utf8');
        return /Usage: date/.test(text) ? text : undefined;
      },
      "busybox's date usage in the task's stderr",
      60_000,
    );
    assert.match(stderr, /^BusyBox v[\d.]+ .*multi-call binary/m);
    assert.equal((await call('POST', `/v1/jobs/dockerjob/runs/${running.run}/actions/stop`)).status, 200);
    assert.equal((await call('DELETE', '/v1/jobs/dockerjob?stopCurrentJobRuns=true')).status, 200);

    // Port mappings belong to bridge networking: on a named CNI network they are refused by name.
    const mapped = {
      id: '/mapped',
      cmd: 'sleep 1000',
      cpus: 0.1,
      mem: 32,
      networks: [{ mode: 'container', name: 'calico' }],
      container: { type: 'DOCKER', docker: { image: `${registry.host}/drover/hello` }, portMappings: [{ containerPort: 80 }] },
    };
    const refused = await call('POST', '/v2/apps', mapped);
    assert.equal(refused.status, 422);
    assert.deepEqual(
      (refused.body as { details: Detail[] }).details.map((d) => d.path),
      ['/container/portMappings'],
    );
    assert.equal((await call('GET', '/v2/apps/mapped')).status, 404);
  });

  test('app.json: refused only for docker.parameters and what Marathon refuses in it too; with those fixed it launches on the srv2 agent and fails on its artifact from the internet, naming it', async () => {
    const app = await fixture('marathon/app.json');
    const container = app['container'] as Record<string, unknown>;
    (container['docker'] as Record<string, unknown>)['image'] = `${registry.host}/drover/serve`;
    const refused = await call('POST', '/v2/apps', app);
    assert.equal(refused.status, 422);
    // cmd and args together, and an env secret naming a source instead of a declared secret, are
    // refused by Marathon as well; docker parameters are docker run options (no Docker daemon here).
    assert.deepEqual(
      (refused.body as { details: Detail[] }).details.map((d) => d.path),
      ['/cmd', '/container/docker/parameters', '/env/PASSWORD/secret'],
    );
    assert.equal((await call('GET', '/v2/apps/foo')).status, 404);

    delete app['args'];
    delete (container['docker'] as Record<string, unknown>)['parameters'];
    (app['env'] as Record<string, unknown>)['PASSWORD'] = { secret: 'secret1' };
    // Then, as in Marathon 1.9+: accepted roles are `*` and the app's own role (here the default).
    const roles = await call('POST', '/v2/apps', app);
    assert.equal(roles.status, 422);
    assert.deepEqual(
      (roles.body as { details: Detail[] }).details.map((d) => d.path),
      ['/acceptedResourceRoles/0'],
    );
    delete app['acceptedResourceRoles'];
    const created = await call('POST', '/v2/apps', app);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const shown = ((await call('GET', '/v2/apps/foo')).body as { app: { container: { docker: { image: string; network: string } }; instances: number } }).app;
    assert.equal(shown.container.docker.image, `${registry.host}/drover/serve`);
    assert.equal(shown.instances, 2);
    // Its constraint places it on the srv2 agent; its secrets resolve (they exist now), its host volume
    // is allowed there; its first artifact is on the internet, which this machine does not reach.
    assert.equal((await call('PUT', '/secrets/v1/secret/default/db/password', { value: 'pw' })).status, 201);
    assert.equal((await call('PUT', '/secrets/v1/secret/default/foo2', { value: 'two' })).status, 201);
    const failure = await eventually(
      async () => ((await call('GET', '/v2/apps/foo?embed=app.lastTaskFailure')).body as { app: { lastTaskFailure?: { state: string; message: string; host: string } } }).app.lastTaskFailure,
      'app.json launched and failed',
      WAIT_MS,
    ).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}: ${JSON.stringify((await call('GET', '/v2/queue')).body).slice(0, 2000)}`);
    });
    assert.equal(failure.state, 'TASK_FAILED');
    assert.equal(failure.host, `srv2-rack2-${process.pid}`);
    assert.ok(failure.message.includes('https://foo.com/setup.py'), failure.message);
    assert.equal((await call('DELETE', '/v2/apps/foo?force=true')).status, 200);
  });
});

/** Mount points of the process whose root is an overlay with its upper dir under a sandbox of `taskId`. */
function taskMounts(taskId: string): string[] | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const lines = readFileSync(`/proc/${entry}/mountinfo`, 'utf8').split('\n');
      const root = lines.find((line) => line.split(' ')[4] === '/');
      if (root?.includes(' overlay ') && root.includes(taskId)) return lines.map((line) => line.split(' ')[4] ?? '').filter((m) => m !== '');
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}
