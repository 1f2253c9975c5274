/**
 * Pods whose containers name images: each container runs in its own root filesystem, pulled from
 * a real docker-registry on loopback (devkit/registry.ts images, built offline) by a real
 * `drover agent` on the linux containerizer under a real `drover master`.
 *
 * - The anchors' pod.json with only what this machine cannot give rewritten (its image id to the
 *   local registry, its host volume to a local directory, its artifact to a loopback server, and
 *   host networking in place of its named container network) runs: its container is in the
 *   image, sees the host volume read-only at /mnt/etc, has its artifact, and is healthy.
 * - Two image containers share an ephemeral volume at absolute paths (one writes, the other
 *   reads, read-only) and talk over localhost.
 * Skipped, with the reason, where the linux containerizer cannot run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { linuxUnavailable } from './support/agent.ts';
import { startAgentProcess } from './support/agent-process.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';
import { httpCall } from './support/http.ts';

const run = promisify(execFile);
const skip = linuxUnavailable();
const WAIT_MS = 180_000;

interface ContainerStatus {
  name: string;
  status: string;
  containerId: string;
  endpoints: Array<{ name: string; allocatedHostPort?: number; healthy?: boolean }>;
}
interface PodStatus {
  instances: Array<{ id: string; status: string; containers: ContainerStatus[] }>;
}

describe('pods in images', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: DroverProcess;
  let agent: DroverProcess;
  let artifacts: Server;
  let artifactUrl: string;
  let image: string;

  const api = (method: string, path: string, body?: unknown) => httpCall(master.url, method, path, body);

  async function running(id: string, also: (s: PodStatus) => boolean = () => true): Promise<PodStatus> {
    return eventually(
      async () => {
        const r = await api('GET', `/v2/pods${id}::status`);
        const s = r.body as PodStatus;
        return r.status === 200 && s.instances.length === 1 && s.instances[0]!.containers.every((c) => c.status === 'TASK_RUNNING') && also(s) ? s : undefined;
      },
      `the pod ${id} running`,
      WAIT_MS,
    );
  }

  /** Each task's sandbox on the agent, by container name. */
  async function sandboxes(instanceId: string): Promise<Map<string, string>> {
    const state = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ id: string; directory: string }> };
    return new Map(state.tasks.filter((t) => t.id.startsWith(`${instanceId}.`)).map((t) => [t.id.slice(instanceId.length + 1), t.directory]));
  }

  const fileIn = (path: string, what: string): Promise<string> => eventually(async () => (await readFile(path, 'utf8').catch(() => '')) || undefined, what, WAIT_MS);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-podimg-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    registry = await startRegistry({ dir });
    await pushImage(images, 'hello', registry, 'drover/hello:latest');
    image = `${registry.host}/drover/hello`;
    // pod.json's artifact, a zip, from a loopback server.
    const zipDir = join(dir, 'zip');
    await mkdir(zipDir);
    await writeFile(join(zipDir, 'inside.txt'), 'from the artifact\n');
    await run('zip', ['-q', join(dir, 'archive.zip'), 'inside.txt'], { cwd: zipDir });
    const zip = await readFile(join(dir, 'archive.zip'));
    artifacts = createServer((req, res) => {
      if (req.url === '/archive.zip') res.writeHead(200, { 'content-type': 'application/zip' }).end(zip);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => artifacts.listen(0, '127.0.0.1', resolve));
    artifactUrl = `http://127.0.0.1:${(artifacts.address() as { port: number }).port}/archive.zip`;
    const portBase = 21000 + ((process.pid * 53) % 19000);
    master = await startDrover(['master', '--port', '0', '--store', `sqlite:${join(dir, 'master.db')}`, '--allocation-interval', '0.2']);
    agent = await startAgentProcess(master.url, join(dir, 'agent'), {
      hostname: `podimg-${process.pid}`,
      resources: `cpus:8;mem:8192;disk:8192;ports:[${portBase}-${portBase + 19}]`,
      extra: ['--containerizer', 'linux', '--host-volume-paths', join(dir, 'hdd')],
    });
    await eventually(async () => ((await api('GET', '/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 1, 'the agent', WAIT_MS);
  });

  after(async () => {
    for (const id of ['/foo', '/pair']) await api('DELETE', `/v2/pods${id}?force=true`).catch(() => undefined);
    await agent?.stop('SIGKILL');
    await master?.stop();
    killImageTasksUnder(dir);
    await registry?.stop();
    artifacts?.close();
    // Rootfs and volume mounts of tasks the agent did not live to undo (never rm through a mount).
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.reverse()) spawnSync('umount', ['--lazy', m]);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });

  test("the anchors' pod.json, its image from a local registry, runs as a pod", { timeout: 400_000 }, async () => {
    const fixture = JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'marathon', 'pod.json'), 'utf8'));
    const hostDir = join(dir, 'hdd', 'tools', 'docker', 'registry');
    await mkdir(hostDir, { recursive: true });
    await writeFile(join(hostDir, 'hello'), 'from the host\n');
    // Only what this machine cannot give is rewritten: the image's registry, the host volume's
    // directory, the artifact's server, and host networking for the named container network.
    const ct = fixture.containers[0];
    assert.equal(ct.image.kind, 'DOCKER');
    ct.image.id = image;
    fixture.volumes[0].host = hostDir;
    ct.artifacts[0].uri = artifactUrl;
    fixture.networks = [{ mode: 'host' }];
    assert.deepEqual(ct.volumeMounts, [{ name: 'etc', mountPath: '/mnt/etc', readOnly: true }]);
    // Its command made to show what it sees, then serve the health check's /health.
    ct.exec.command.shell = [
      'cd "$MESOS_SANDBOX"',
      'cat /etc/motd > motd',
      'cat /mnt/etc/hello > seen',
      '(echo x > /mnt/etc/new) 2>/dev/null && echo rw > mode || echo ro > mode',
      'ls > listing',
      'mkdir -p www && echo ok > www/health',
      'exec httpd -f -p "$ENDPOINT_HTTPENDPOINT" -h www',
    ].join('\n');
    const created = await api('POST', '/v2/pods', fixture);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = await running('/foo', (st) => st.instances[0]!.containers[0]!.endpoints[0]?.healthy === true);
    const instance = s.instances[0]!;
    assert.equal(instance.status, 'STABLE');
    const sandbox = (await sandboxes(instance.id)).get('container1')!;
    // Its root is the image's (busybox and /etc/motd exist only there), its host volume read-only.
    assert.equal(await fileIn(join(sandbox, 'motd'), 'the image root'), 'hello from the image\n');
    assert.equal(await fileIn(join(sandbox, 'seen'), 'the host volume'), 'from the host\n');
    assert.equal(await fileIn(join(sandbox, 'mode'), 'the mount mode'), 'ro\n');
    const listing = (await fileIn(join(sandbox, 'listing'), 'the sandbox listing')).split('\n');
    assert.ok(listing.includes('inside.txt') || listing.includes('newname.zip'), `the artifact in the sandbox: ${listing.join(' ')}`);
    const port = instance.containers[0]!.endpoints[0]!.allocatedHostPort!;
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/health`)).text(), 'ok\n');
    assert.equal((await api('DELETE', '/v2/pods/foo')).status, 202);
  });

  test('two image containers share a volume at absolute paths and talk over localhost', { timeout: 400_000 }, async () => {
    const token = `pair-${process.pid}-${Date.now()}`;
    const created = await api('POST', '/v2/pods', {
      id: '/pair',
      user: 'root',
      networks: [{ mode: 'host' }],
      volumes: [{ name: 'shared' }],
      containers: [
        {
          name: 'writer',
          image: { kind: 'DOCKER', id: image },
          resources: { cpus: 0.1, mem: 32 },
          endpoints: [{ name: 'web', hostPort: 0 }],
          environment: { TOKEN: token },
          volumeMounts: [{ name: 'shared', mountPath: '/srv/out' }],
          exec: { command: { shell: 'echo "$TOKEN" > /srv/out/token && exec httpd -f -p "$ENDPOINT_WEB" -h /srv/out' } },
        },
        {
          name: 'reader',
          image: { kind: 'DOCKER', id: image },
          resources: { cpus: 0.1, mem: 32 },
          volumeMounts: [{ name: 'shared', mountPath: '/in', readOnly: true }],
          exec: {
            command: {
              shell: [
                'cd "$MESOS_SANDBOX"',
                'until [ -f /in/token ]; do sleep 0.2; done',
                'cat /in/token > read',
                '(echo x > /in/mine) 2>/dev/null && echo rw > mode || echo ro > mode',
                'until wget -q -O fetched "http://127.0.0.1:$ENDPOINT_WEB/token"; do sleep 0.2; done',
                'exec sleep 600',
              ].join('\n'),
            },
          },
        },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const instance = (await running('/pair')).instances[0]!;
    const boxes = await sandboxes(instance.id);
    const reader = boxes.get('reader')!;
    assert.equal(await fileIn(join(reader, 'read'), 'the token through the shared volume'), `${token}\n`);
    assert.equal(await fileIn(join(reader, 'mode'), 'the read-only mount'), 'ro\n');
    assert.equal(await fileIn(join(reader, 'fetched'), 'the token over localhost'), `${token}\n`);
    // Each container has a root filesystem of its own: the writer's writes are not in the reader's.
    assert.notEqual(boxes.get('writer'), reader);
    assert.equal((await api('DELETE', '/v2/pods/pair')).status, 202);
  });
});
