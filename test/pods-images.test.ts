/**
 * Pods whose containers name images: each container runs in its own root filesystem, pulled from
 * a real docker-registry on loopback (devkit/registry.ts images, built offline) by a real
 * `drover agent` on the linux containerizer under a real `drover master`.
 *
 * - The anchors' pod.json with only what this machine cannot give rewritten (its image id to the
 *   local registry, its host volume to a local directory, its artifact to a loopback server) runs
 *   on its named container network `my-network` (a real CNI bridge + portmap network in the
 *   agent's config dir, random bridge and subnet per run): its container is in the image, sees
 *   the host volume read-only at /mnt/etc, has its artifact, and is healthy (the agent checks it
 *   at the instance's address, container port 80); the instance's address shows in ::status and
 *   in the master's task JSON, and its container port answers there and through its host port.
 * - Two image containers share an ephemeral volume at absolute paths (one writes, the other
 *   reads, read-only) and talk over localhost.
 * - On a container network: two containers of one instance talk over localhost in their one
 *   namespace, another pod's task reaches the instance at its address, both survive kill -9 of
 *   the agent (same tasks, namespaces and addresses), and the namespace goes with the instance
 *   (removed by the restarted agent, from the group's checkpoint).
 * Skipped, with the reason, where the linux containerizer (or, for the network tests, the CNI
 * plugins and iptables) cannot run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
const cniSkip =
  skip ?? (['bridge', 'host-local', 'portmap'].every((p) => existsSync(`/usr/lib/cni/${p}`)) && existsSync('/usr/sbin/iptables') ? undefined : 'the CNI plugins or iptables are not installed');
const WAIT_MS = 180_000;

interface ContainerStatus {
  name: string;
  status: string;
  containerId: string;
  endpoints: Array<{ name: string; allocatedHostPort?: number; healthy?: boolean }>;
}
interface PodStatus {
  instances: Array<{ id: string; status: string; containers: ContainerStatus[]; networks: Array<{ name: string; addresses: string[] }> }>;
}

describe('pods in images', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: DroverProcess;
  let agent: DroverProcess;
  let startAgent: () => Promise<DroverProcess>;
  let artifacts: Server;
  let artifactUrl: string;
  let image: string;
  // my-network: a bridge and subnet of this run's own (no other test's or engineer's collide).
  const bridge = `drvpod${process.pid % 100000}`;
  const subnet = `10.${224 + (process.pid % 16)}.${(process.pid >> 4) % 256}.0/24`;
  const inSubnet = (ip: string): boolean => ip.startsWith(`${subnet.split('.').slice(0, 3).join('.')}.`);
  /** The group namespaces whose interfaces hold `ip` (ip netns). */
  const namespacesWith = async (ip: string): Promise<string[]> => {
    const list = (await run('/usr/sbin/ip', ['netns', 'list'])).stdout
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith('drover-group-'));
    const out: string[] = [];
    for (const ns of list) if ((await run('/usr/sbin/ip', ['-n', ns, 'addr']).catch(() => ({ stdout: '' }))).stdout.includes(`inet ${ip}/`)) out.push(ns);
    return out;
  };

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
    const cniDir = join(dir, 'cni');
    await mkdir(cniDir);
    await writeFile(
      join(cniDir, '10-my-network.conflist'),
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'my-network',
        plugins: [
          { type: 'bridge', bridge, isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', subnet, dataDir: join(dir, 'ipam') } },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        ],
      }),
    );
    master = await startDrover(['master', '--port', '0', '--store', `sqlite:${join(dir, 'master.db')}`, '--allocation-interval', '0.2']);
    startAgent = () =>
      startAgentProcess(master.url, join(dir, 'agent'), {
        hostname: `podimg-${process.pid}`,
        resources: `cpus:8;mem:8192;disk:8192;ports:[${portBase}-${portBase + 19}]`,
        extra: ['--containerizer', 'linux', '--host-volume-paths', join(dir, 'hdd'), '--cni-config-dir', cniDir],
      });
    agent = await startAgent();
    await eventually(async () => ((await api('GET', '/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 1, 'the agent', WAIT_MS);
  });

  after(async () => {
    for (const id of ['/foo', '/pair', '/netpair', '/netclient']) await api('DELETE', `/v2/pods${id}?force=true`).catch(() => undefined);
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
    spawnSync('/usr/sbin/ip', ['link', 'delete', bridge], { stdio: 'ignore' });
  });

  test("the anchors' pod.json, its image from a local registry, runs as a pod on its container network", { timeout: 400_000, skip: cniSkip }, async () => {
    const fixture = JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'marathon', 'pod.json'), 'utf8'));
    const hostDir = join(dir, 'hdd', 'tools', 'docker', 'registry');
    await mkdir(hostDir, { recursive: true });
    await writeFile(join(hostDir, 'hello'), 'from the host\n');
    // Only what this machine cannot give is rewritten: the image's registry, the host volume's
    // directory and the artifact's server. Its network, my-network, is in the agent's CNI configs.
    const ct = fixture.containers[0];
    assert.equal(ct.image.kind, 'DOCKER');
    ct.image.id = image;
    fixture.volumes[0].host = hostDir;
    ct.artifacts[0].uri = artifactUrl;
    assert.deepEqual(fixture.networks, [{ name: 'my-network', mode: 'container', labels: {} }]);
    assert.deepEqual(ct.endpoints[0], { name: 'httpendpoint', containerPort: 80, hostPort: 0, protocol: ['tcp'], labels: {} });
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
    // Its address on my-network: in ::status and in the master's task JSON; port 80 answers there,
    // and through the host port it was given.
    assert.equal(instance.networks.length, 1);
    assert.equal(instance.networks[0]!.name, 'my-network');
    const ip = instance.networks[0]!.addresses[0]!;
    assert.ok(inSubnet(ip), `${ip} in ${subnet}`);
    const tasks = (await api('GET', '/master/tasks')).body as {
      tasks: Array<{ id: string; statuses: Array<{ container_status?: { network_infos?: Array<{ name: string; ip_addresses: Array<{ ip_address: string }> }> } }> }>;
    };
    const task = tasks.tasks.find((t) => t.id === `${instance.id}.container1`)!;
    const infos = task.statuses.flatMap((st) => st.container_status?.network_infos ?? []);
    assert.ok(
      infos.some((n) => n.name === 'my-network' && n.ip_addresses.some((a) => a.ip_address === ip)),
      JSON.stringify(task.statuses),
    );
    assert.equal(await (await fetch(`http://${ip}:80/health`)).text(), 'ok\n');
    const port = instance.containers[0]!.endpoints[0]!.allocatedHostPort!;
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/health`)).text(), 'ok\n');
    assert.equal((await namespacesWith(ip)).length, 1, 'one namespace holds the address');
    assert.equal((await api('DELETE', '/v2/pods/foo')).status, 202);
    await eventually(async () => (await namespacesWith(ip)).length === 0, 'the namespace gone with the instance', WAIT_MS);
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
  test('on a container network: two containers talk over localhost, another task reaches the instance at its address; kill -9 of the agent keeps them', {
    timeout: 400_000,
    skip: cniSkip,
  }, async () => {
    const token = `net-${process.pid}-${Date.now()}`;
    const created = await api('POST', '/v2/pods', {
      id: '/netpair',
      user: 'root',
      networks: [{ name: 'my-network' }],
      containers: [
        {
          name: 'server',
          image: { kind: 'DOCKER', id: image },
          resources: { cpus: 0.1, mem: 32 },
          // No hostPort: reached only on the network (and, by its sibling, on localhost).
          endpoints: [{ name: 'web', containerPort: 8080 }],
          environment: { TOKEN: token },
          exec: { command: { shell: 'mkdir -p /srv && echo "$TOKEN" > /srv/token && exec httpd -f -p "$ENDPOINT_WEB" -h /srv' } },
        },
        {
          name: 'client',
          image: { kind: 'DOCKER', id: image },
          resources: { cpus: 0.1, mem: 32 },
          exec: {
            command: {
              shell: [
                'cd "$MESOS_SANDBOX"',
                'until wget -q -O fetched http://127.0.0.1:8080/token; do sleep 0.2; done',
                'ip -4 -o addr show eth0 > eth0 2>&1 || cat /proc/net/fib_trie > eth0',
                'exec sleep 600',
              ].join('\n'),
            },
          },
        },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const instance = (await running('/netpair', (st) => (st.instances[0]?.networks.length ?? 0) > 0)).instances[0]!;
    assert.equal(instance.containers[0]!.endpoints[0]!.allocatedHostPort, undefined, 'no host port was asked for');
    const ip = instance.networks[0]!.addresses[0]!;
    assert.ok(inSubnet(ip), `${ip} in ${subnet}`);
    const boxes = await sandboxes(instance.id);
    assert.equal(await fileIn(join(boxes.get('client')!, 'fetched'), 'the token over localhost'), `${token}\n`);
    // Both containers are in the one namespace: the client sees the instance's address on its eth0.
    assert.ok((await fileIn(join(boxes.get('client')!, 'eth0'), "the client's interface")).includes(ip), 'the client has the instance address');
    assert.equal((await namespacesWith(ip)).length, 1);

    // Another pod on the same network reaches this instance at its address.
    const other = await api('POST', '/v2/pods', {
      id: '/netclient',
      user: 'root',
      networks: [{ name: 'my-network' }],
      containers: [
        {
          name: 'main',
          image: { kind: 'DOCKER', id: image },
          resources: { cpus: 0.1, mem: 32 },
          environment: { TARGET: `http://${ip}:8080/token` },
          exec: { command: { shell: ['cd "$MESOS_SANDBOX"', 'until wget -q -O got "$TARGET"; do sleep 0.2; done', 'exec sleep 600'].join('\n') } },
        },
      ],
    });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    const client = (await running('/netclient', (st) => (st.instances[0]?.networks.length ?? 0) > 0)).instances[0]!;
    const clientIp = client.networks[0]!.addresses[0]!;
    assert.notEqual(clientIp, ip);
    assert.equal(await fileIn(join((await sandboxes(client.id)).get('main')!, 'got'), 'the token across the network'), `${token}\n`);

    // kill -9 of the agent and a restart: both instances keep their tasks (same pids), their
    // namespaces and addresses; the server still answers at its address.
    const agentTasks = async () => ((await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ id: string; state: string; pid: number | null }> }).tasks;
    const pids = new Map((await agentTasks()).filter((t) => t.state === 'TASK_RUNNING').map((t) => [t.id, t.pid]));
    assert.equal(pids.size, 3, `three running tasks before the kill: ${JSON.stringify([...pids])}`);
    await agent.stop('SIGKILL');
    agent = await startAgent();
    let seen: unknown;
    await eventually(
      async () => {
        const tasks = (await agentTasks()).filter((t) => pids.has(t.id));
        seen = tasks;
        return tasks.length === 3 && tasks.every((t) => t.state === 'TASK_RUNNING' && pids.get(t.id) === t.pid);
      },
      'the three tasks recovered with their pids',
      WAIT_MS,
    ).catch((e: Error) => assert.fail(`${e.message}; before ${JSON.stringify([...pids])}, now ${JSON.stringify(seen)}`));
    const recovered = await running('/netpair', (st) => (st.instances[0]?.networks.length ?? 0) > 0);
    assert.equal(recovered.instances[0]!.id, instance.id, 'the same instance');
    assert.deepEqual(recovered.instances[0]!.networks[0]!.addresses, [ip], 'the same address');
    assert.equal((await namespacesWith(ip)).length, 1, "the instance's namespace survived");
    assert.equal(await (await fetch(`http://${ip}:8080/token`)).text(), `${token}\n`, 'the server answers at its address');

    for (const id of ['netpair', 'netclient']) assert.equal((await api('DELETE', `/v2/pods/${id}`)).status, 202);
    await eventually(async () => (await namespacesWith(ip)).length === 0 && (await namespacesWith(clientIp)).length === 0, 'the namespaces gone with the instances', WAIT_MS);
  });
});
