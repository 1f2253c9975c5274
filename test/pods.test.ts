/**
 * Marathon pods (`/v2/pods`) on task groups, with real processes: `drover master` (services
 * framework inside) and a `drover agent` on the linux containerizer.
 *
 * - Bad pod JSON → 422 with every path; nothing stored.
 * - A pod of two containers: one listens on its endpoint's host port (busybox nc), the other
 *   connects over localhost; they share an ephemeral volume.
 * - kill -9 of the agent and a restart: the pod keeps its one instance, same tasks, no duplicate.
 * - A container exiting non-zero kills its sibling (TASK_KILLED); the instance is replaced.
 * - Scale to 2, then an update (new environment) replaces both instances; DELETE removes all.
 * - pod.json from the anchors, with exec in place of the image, host networking, a host volume
 *   at a sandbox-relative path, runs.
 * - A pod that fits no offer waits in /v2/queue (`pod` in place of `app`, the reason per agent),
 *   beside an app that waits too; `drover app show` still reads the app's entry.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { freePort } from '../devkit/etcd.ts';
import { httpCall } from './support/http.ts';
import { spawnSync } from 'node:child_process';

const root = await mkdtemp(join(tmpdir(), 'drover-pods-'));
const workDir = join(root, 'agent');
let master: DroverProcess;
let agent: DroverProcess | undefined;
let portBase = 0;
/** /v2/events for the whole file, as text. */
let events = '';
const eventsAbort = new AbortController();

/** The SSE events of `type` seen so far, parsed. */
function eventsOf(type: string): Array<Record<string, unknown>> {
  return events
    .split('\n\n')
    .filter((frame) => frame.includes(`event: ${type}\n`))
    .map(
      (frame) =>
        JSON.parse(
          frame
            .split('\n')
            .find((l) => l.startsWith('data: '))!
            .slice(6),
        ) as Record<string, unknown>,
    );
}

interface ContainerStatus {
  name: string;
  status: string;
  containerId: string;
  endpoints: Array<{ name: string; allocatedHostPort?: number }>;
}
interface InstanceStatus {
  id: string;
  status: string;
  containers: ContainerStatus[];
}
interface PodStatus {
  id: string;
  status: string;
  instances: InstanceStatus[];
  terminationHistory: Array<{ instanceID: string; containers: Array<{ containerId: string; lastKnownState: string }> }>;
  spec: { version: string };
}

const api = (method: string, path: string, body?: unknown) => httpCall(master.url, method, path, body);

function startAgent(): Promise<DroverProcess> {
  return startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    workDir,
    '--hostname',
    `pods-${process.pid}`,
    '--resources',
    `cpus:8;mem:8192;disk:8192;ports:[${portBase}-${portBase + 19}]`,
    // pod.json's host volume comes from under here; a default agent mounts no host path.
    '--host-volume-paths',
    root,
  ]);
}

async function status(id: string): Promise<PodStatus> {
  const r = await api('GET', `/v2/pods${id}::status`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as PodStatus;
}

/** The pod's instances, once `n` of them run every container. */
async function runningInstances(id: string, n: number, also: (s: PodStatus) => boolean = () => true): Promise<InstanceStatus[]> {
  const s = await eventually(
    async () => {
      const st = await status(id);
      const ok = st.instances.length === n && st.instances.every((i) => i.containers.every((c) => c.status === 'TASK_RUNNING')) && also(st);
      return ok ? st : undefined;
    },
    `${n} running instance(s) of ${id}`,
    120_000,
  );
  return s.instances;
}

/** The shared directory of an instance: `<executor sandbox>/volumes/<name>` on the agent. */
async function sharedDir(instanceId: string, volume: string): Promise<string> {
  for (const a of await readdir(join(workDir, 'slaves'))) {
    for (const f of await readdir(join(workDir, 'slaves', a, 'frameworks')).catch(() => [])) {
      const runs = join(workDir, 'slaves', a, 'frameworks', f, 'executors', `instance-${instanceId}`, 'runs');
      const found = await readdir(runs).catch(() => []);
      if (found.length === 1) return join(runs, found[0]!, 'volumes', volume);
    }
  }
  throw new Error(`no executor sandbox for ${instanceId}`);
}

async function agentTasks(): Promise<Array<{ id: string; state: string; pid: number | null }>> {
  return ((await (await fetch(`${agent!.url}/state`)).json()) as { tasks: Array<{ id: string; state: string; pid: number | null }> }).tasks;
}

before(async () => {
  portBase = 20000 + ((process.pid * 37) % 20000);
  const probe = await freePort();
  if (probe >= portBase && probe < portBase + 20) portBase += 40;
  master = await startDrover(['master', '--port', '0', '--store', `sqlite:${join(root, 'master.db')}`, '--allocation-interval', '0.2']);
  agent = await startAgent();
  await eventually(async () => ((await api('GET', '/master/state')).body as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 1, 'the agent');
  const response = await fetch(`${master.url}/v2/events`, { headers: { accept: 'text/event-stream' }, signal: eventsAbort.signal });
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
  for (const p of ((await api('GET', '/v2/pods').catch(() => ({ body: [] }))).body as Array<{ id: string }>) ?? []) await api('DELETE', `/v2/pods${p.id}?force=true`).catch(() => undefined);
  await eventually(async () => (await agentTasks()).every((t) => !['TASK_RUNNING', 'TASK_STARTING', 'TASK_STAGING', 'TASK_KILLING'].includes(t.state)), 'all pod tasks gone', 60_000).catch(
    () => undefined,
  );
  await agent?.stop('SIGKILL');
  await master.stop();
  // Safety net: a volume mount left in a sandbox (the agent was killed before it unmounted) must
  // not make rm go through it into the host directory.
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(`${root}/`)) spawnSync('umount', ['-l', mp]);
  }
  await rm(root, { recursive: true, force: true });
});

test('bad pod JSON: 422 with the path of every problem, nothing stored', { timeout: 60_000 }, async () => {
  // The anchors' pod.json runs whole now (test/pods-images.test.ts); with a network mode Marathon has not, it is refused.
  const fixture = JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'marathon', 'pod.json'), 'utf8'));
  fixture.networks = [{ mode: 'overlay', name: 'x' }];
  const r = await api('POST', '/v2/pods', fixture);
  assert.equal(r.status, 422, JSON.stringify(r.body));
  const paths = ((r.body as { details: Array<{ path: string }> }).details ?? []).map((d) => d.path).sort();
  assert.deepEqual(paths, ['/networks/0/mode']);
  const bad = await api('POST', '/v2/pods', {
    id: '/bad',
    networks: [{ mode: 'host' }],
    containers: [{ name: 'Bad_Name', resources: { cpus: -1, mem: 32 }, exec: { command: {} }, endpoints: [{ name: 'e', hostPort: 70000 }] }],
    scaling: { instances: 'two' },
    scheduling: { unreachableStrategy: { inactiveAfterSeconds: -1 } },
  });
  assert.equal(bad.status, 422);
  const badPaths = ((bad.body as { details: Array<{ path: string }> }).details ?? []).map((d) => d.path).sort();
  assert.deepEqual(badPaths, [
    '/containers/0/endpoints/0/hostPort',
    '/containers/0/exec/command',
    '/containers/0/name',
    '/containers/0/resources/cpus',
    '/scaling/instances',
    '/scheduling/unreachableStrategy/inactiveAfterSeconds',
  ]);
  assert.equal((await api('POST', '/v2/pods', 'not json')).status, 400);
  assert.deepEqual((await api('GET', '/v2/pods')).body, []);
  assert.equal((await api('GET', '/v2/pods/foo')).status, 404);
});

test('two containers talk over localhost and share a volume; the pod survives kill -9 of its agent; a failing container kills its sibling', { timeout: 400_000 }, async () => {
  const token = `pod-${process.pid}-${Date.now()}`;
  const pod = {
    id: '/talk',
    networks: [{ mode: 'host' }],
    volumes: [{ name: 'shared' }],
    scaling: { kind: 'fixed', instances: 1 },
    scheduling: { backoff: { backoff: 0.5 } },
    containers: [
      {
        name: 'server',
        resources: { cpus: 0.1, mem: 32 },
        endpoints: [{ name: 'web', hostPort: 0 }],
        volumeMounts: [{ name: 'shared', mountPath: 'shared' }],
        exec: { command: { shell: 'busybox nc -l -p $ENDPOINT_WEB > shared/received; exec sleep 600' } },
      },
      {
        name: 'client',
        resources: { cpus: 0.1, mem: 32 },
        environment: { TOKEN: token },
        volumeMounts: [{ name: 'shared', mountPath: 'data' }],
        exec: {
          command: {
            shell:
              'echo $TOKEN > data/written; i=0; until busybox nc 127.0.0.1 $ENDPOINT_WEB < data/written; do i=$((i+1)); [ $i -gt 600 ] && exit 9; sleep 0.1; done; until [ -f data/fail ]; do sleep 0.2; done; exit 3',
          },
        },
      },
    ],
  };
  const created = await api('POST', '/v2/pods', pod);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const [instance] = await runningInstances('/talk', 1);
  const shared = await sharedDir(instance!.id, 'shared');
  assert.equal(await eventually(async () => ((await readFile(join(shared, 'received'), 'utf8').catch(() => '')) === `${token}\n` ? true : undefined), 'the token over localhost', 60_000), true);
  const port = instance!.containers.find((c) => c.name === 'server')!.endpoints[0]!.allocatedHostPort!;
  assert.ok(port >= portBase && port < portBase + 20, `endpoint on an offered host port (${port})`);

  // kill -9 of the agent, and a restart: the same instance and tasks, and no second instance.
  const before = new Map((await agentTasks()).map((t) => [t.id, t.pid]));
  await agent!.stop('SIGKILL');
  agent = await startAgent();
  let seen: unknown;
  await eventually(
    async () => {
      const tasks = await agentTasks();
      seen = tasks;
      return tasks.length === 2 && tasks.every((t) => t.state === 'TASK_RUNNING' && before.get(t.id) === t.pid);
    },
    'both tasks recovered with their pids',
    180_000,
  ).catch((e: Error) => assert.fail(`${e.message}; before ${JSON.stringify([...before])}, now ${JSON.stringify(seen)}`));
  const afterRestart = await status('/talk');
  assert.deepEqual(
    afterRestart.instances.map((i) => i.id),
    [instance!.id],
    'one instance, the same',
  );
  const masterTasks = ((await api('GET', '/master/tasks')).body as { tasks: Array<{ id: string; state: string }> }).tasks.filter(
    (t) => t.id.startsWith('talk.instance-') && t.state === 'TASK_RUNNING',
  );
  assert.equal(masterTasks.length, 2, 'two running tasks in the master, no duplicates');

  // The client fails (exit 3): the server is killed with it, and the instance is replaced.
  await writeFile(join(shared, 'fail'), '');
  const history = await eventually(async () => (await status('/talk')).terminationHistory.find((t) => t.instanceID === instance!.id), 'the ended instance in the history', 120_000);
  const states = Object.fromEntries(history.containers.map((c) => [c.containerId.split('.').at(-1), c.lastKnownState]));
  assert.deepEqual(states, { server: 'TASK_KILLED', client: 'TASK_FAILED' });
  const [replacement] = await runningInstances('/talk', 1, (s) => s.instances[0]?.id !== instance!.id);
  assert.notEqual(replacement!.id, instance!.id);
  assert.equal((await api('DELETE', '/v2/pods/talk')).status, 202);
  await eventually(async () => (await agentTasks()).every((t) => !t.id.startsWith('talk.') || t.state === 'TASK_KILLED'), 'the pod gone from the agent', 120_000);
});

test('scale, rolling replace on update, versions, instance kill, delete', { timeout: 400_000 }, async () => {
  const pod = (env: string, instances: number) => ({
    id: '/roll',
    networks: [{ mode: 'host' }],
    scaling: { kind: 'fixed', instances },
    environment: { WHICH: env },
    containers: [{ name: 'main', resources: { cpus: 0.1, mem: 32 }, exec: { command: { shell: 'exec sleep 600' } } }],
  });
  assert.equal((await api('PUT', '/v2/pods/roll', pod('one', 1))).status, 201);
  const [first] = await runningInstances('/roll', 1);
  // Scale: same configuration, the running instance stays.
  assert.equal((await api('PUT', '/v2/pods/roll', pod('one', 2))).status, 200);
  const two = await runningInstances('/roll', 2);
  assert.ok(
    two.some((i) => i.id === first!.id),
    'a scale keeps the running instance',
  );
  // Update: both replaced.
  const updated = await api('PUT', '/v2/pods/roll', pod('two', 2));
  assert.equal(updated.status, 200);
  const newVersion = (updated.body as { version: string }).version;
  const replaced = await runningInstances('/roll', 2, (s) => s.instances.every((i) => !two.some((o) => o.id === i.id)));
  assert.equal(replaced.length, 2);
  const versions = (await api('GET', '/v2/pods/roll::versions')).body as string[];
  assert.equal(versions.length, 3);
  assert.ok(versions.includes(newVersion));
  const v = await api('GET', `/v2/pods/roll::versions/${encodeURIComponent(newVersion)}`);
  assert.equal((v.body as { environment: Record<string, string> }).environment['WHICH'], 'two');
  // Kill one instance: it is replaced, the count stays.
  const victim = replaced[0]!.id;
  const killed = await api('DELETE', `/v2/pods/roll::instances/${victim}`);
  assert.equal(killed.status, 200, JSON.stringify(killed.body));
  await runningInstances('/roll', 2, (s) => s.instances.every((i) => i.id !== victim));
  assert.equal((await api('DELETE', '/v2/pods/roll::instances', ['nope'])).status, 422);
  // Pods show in the group tree (read only: /v2/groups does not change them).
  const tree = (await api('GET', '/v2/groups')).body as { pods: Array<{ id: string }> };
  assert.deepEqual(
    tree.pods.map((p) => p.id),
    ['/roll'],
  );
  assert.equal((await api('DELETE', '/v2/pods/roll')).status, 202);
  assert.equal((await api('GET', '/v2/pods/roll')).status, 404);
  // The pod's life on /v2/events: created, updated (scale, new configuration), deleted; its tasks' updates.
  await eventually(() => eventsOf('pod_deleted_event').some((e) => e['podId'] === '/roll'), 'pod_deleted_event', 30_000);
  assert.equal(eventsOf('pod_created_event').filter((e) => e['podId'] === '/roll').length, 1);
  assert.equal(eventsOf('pod_updated_event').filter((e) => e['podId'] === '/roll').length, 2);
  assert.ok(eventsOf('status_update_event').some((e) => e['appId'] === '/roll' && e['taskStatus'] === 'TASK_RUNNING'));
  await eventually(async () => (await agentTasks()).every((t) => !t.id.startsWith('roll.') || t.state === 'TASK_KILLED'), 'the pod gone from the agent', 120_000);
});

test("the anchors' pod.json, with exec in place of its image, runs", { timeout: 300_000 }, async () => {
  const fixture = JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'marathon', 'pod.json'), 'utf8'));
  const hostDir = join(root, 'registry');
  await mkdir(hostDir, { recursive: true });
  await writeFile(join(hostDir, 'hello'), 'from the host\n');
  // What this agent cannot do yet, replaced: no image (exec runs on the host filesystem), host
  // networking, the host volume from a local directory at a sandbox-relative path, no remote artifact.
  delete fixture.containers[0].image;
  delete fixture.containers[0].artifacts;
  fixture.networks = [{ mode: 'host' }];
  fixture.volumes[0].host = hostDir;
  fixture.containers[0].volumeMounts[0] = { name: 'etc', mountPath: 'mnt/etc' };
  fixture.containers[0].exec.command.shell = 'cat mnt/etc/hello > seen; exec sleep 100';
  // Through the CLI: drover pod add FILE.
  const file = join(root, 'pod.json');
  await writeFile(file, JSON.stringify(fixture));
  const added = drover(['pod', 'add', file]);
  assert.equal(added.status, 0, added.stderr);
  assert.equal(added.stdout, 'created /foo\n');
  const [instance] = await runningInstances('/foo', 1);
  const listedByCli = JSON.parse(drover(['pod', 'list', '--json']).stdout) as Array<{ id: string; status: string }>;
  assert.deepEqual(
    listedByCli.map((p) => p.id),
    ['/foo'],
  );
  assert.match(drover(['pod', 'show', '/foo']).stdout, new RegExp(`${instance!.id}\\s+STABLE`));
  const c = instance!.containers[0]!;
  assert.equal(c.name, 'container1');
  assert.equal(c.endpoints[0]!.name, 'httpendpoint');
  const task = (await agentTasks()).find((t) => t.id === c.containerId);
  assert.equal(task?.state, 'TASK_RUNNING');
  const dir = ((await (await fetch(`${agent!.url}/state`)).json()) as { tasks: Array<{ id: string; directory: string }> }).tasks.find((t) => t.id === c.containerId)!.directory;
  assert.equal(await eventually(async () => ((await readFile(join(dir, 'seen'), 'utf8').catch(() => '')) === 'from the host\n' ? true : undefined), 'the host volume read', 60_000), true);
  const listed = (await api('GET', '/v2/pods')).body as Array<{ id: string; labels: Record<string, string> }>;
  assert.deepEqual(
    listed.map((p) => [p.id, p.labels['owner']]),
    [['/foo', 'zeus']],
  );
  // Its health check (/health on its endpoint) never passes with this command: its StartPod
  // deployment never finishes and locks it, so the delete must force.
  assert.equal((await api('DELETE', '/v2/pods/foo')).status, 409);
  const removed = drover(['pod', 'rm', '/foo', '--force']);
  assert.equal(removed.status, 0, removed.stderr);
  assert.equal((await api('GET', '/v2/pods/foo')).status, 404);
});

test('a pod that fits no offer waits in /v2/queue with the reason; app entries and `drover app show` unaffected', { timeout: 300_000 }, async () => {
  interface QueueEntry {
    app?: { id: string };
    pod?: { id: string };
    count: number;
    role: string;
    delay: { overdue: boolean };
    lastUnusedOffers: Array<{ hostname: string; reason: string[] }>;
    why: { summary: string };
  }
  const pod = await api('POST', '/v2/pods', {
    id: '/huge',
    networks: [{ mode: 'host' }],
    scaling: { kind: 'fixed', instances: 2 },
    containers: [{ name: 'big', exec: { command: { shell: 'sleep 100' } }, resources: { cpus: 64, mem: 32 } }],
  });
  assert.equal(pod.status, 201, JSON.stringify(pod.body));
  const app = await api('POST', '/v2/apps', { id: '/huge-app', cmd: 'sleep 100', cpus: 64, mem: 32, instances: 1 });
  assert.equal(app.status, 201, JSON.stringify(app.body));
  const queue = await eventually(
    async () => {
      const q = ((await api('GET', '/v2/queue')).body as { queue: QueueEntry[] }).queue;
      const p = q.find((e) => e.pod?.id === '/huge');
      return p !== undefined && p.lastUnusedOffers.length > 0 && q.some((e) => e.app?.id === '/huge-app') ? q : undefined;
    },
    'the pod and the app in the queue, with the offers they could not use',
    120_000,
  );
  const entry = queue.find((e) => e.pod?.id === '/huge')!;
  assert.equal(entry.app, undefined);
  assert.equal(entry.count, 2);
  assert.equal(entry.delay.overdue, true);
  assert.deepEqual(entry.lastUnusedOffers[0]!.hostname, `pods-${process.pid}`);
  assert.ok(entry.lastUnusedOffers[0]!.reason.includes('InsufficientCpus'), JSON.stringify(entry.lastUnusedOffers));
  assert.match(entry.why.summary, /insufficient cpus: the pod needs 64\.1/);
  // `?id=` names one service, app or pod.
  const one = ((await api('GET', '/v2/queue?id=/huge')).body as { queue: QueueEntry[] }).queue;
  assert.deepEqual(
    one.map((e) => e.pod?.id ?? e.app?.id),
    ['/huge'],
  );
  const shown = drover(['app', 'show', '/huge-app']);
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /cpus/);
  // Placed or gone, a pod leaves the queue.
  assert.equal((await api('DELETE', '/v2/pods/huge?force=true')).status, 202);
  assert.equal((await api('DELETE', '/v2/apps/huge-app?force=true')).status, 200);
  const after = ((await api('GET', '/v2/queue')).body as { queue: QueueEntry[] }).queue;
  assert.equal(
    after.some((e) => e.pod?.id === '/huge'),
    false,
  );
});

function drover(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DROVER_BIN, ...args], { encoding: 'utf8', env: { ...process.env, DROVER_MASTER: master.url }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
