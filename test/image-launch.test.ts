/**
 * Tasks that run in an image (issue 17, point 3): a real agent with the linux containerizer pulls
 * from a real docker-registry on loopback (devkit/registry.ts images), mounts an overlay rootfs and
 * starts the task in it through the task launcher. What the task sees is read from inside it.
 * Skipped, with the reason, where the linux containerizer cannot run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry, type TestImages } from '../devkit/registry.ts';
import { eventually } from '../devkit/process.ts';
import { Agent } from '../src/agent/agent.ts';
import { SYSCALLS } from '../src/agent/containerizer/linux/confine.ts';
import type { FrameworkInfo, TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT, linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';

const run = promisify(execFile);
const skip = linuxUnavailable();
const NOBODY: FrameworkInfo = { ...FRAMEWORK, user: 'nobody' };

/** hello plus an /etc/passwd naming `web` (1001:1002), run as `web` in a WorkingDir the image lacks. */
async function buildUserImage(images: TestImages, dir: string): Promise<void> {
  const bundle = join(dir, 'bundle-user');
  await run('umoci', ['unpack', '--rootless', '--image', `${images.layout}:hello`, bundle]);
  await writeFile(join(bundle, 'rootfs', 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nweb:x:1001:1002::/home/web:/bin/sh\n');
  await writeFile(join(bundle, 'rootfs', 'etc', 'group'), 'root:x:0:\nweb:x:1002:\n');
  await run('umoci', ['repack', '--image', `${images.layout}:hello-user`, bundle]);
  await run('umoci', [
    'config',
    '--image',
    `${images.layout}:hello-user`,
    '--config.user',
    'web',
    '--config.workingdir',
    '/srv/app',
    '--config.env',
    'GREETING=from-image',
    '--config.entrypoint',
    '/bin/sh',
    '--config.entrypoint',
    '-c',
    '--config.cmd',
    'echo "$(id -u):$(id -g) $(pwd) $GREETING $PATH"',
  ]);
}

describe('tasks in images', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: FakeMaster;
  let workDir: string;
  let agent: Agent | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-imglaunch-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    await buildUserImage(images, dir);
    registry = await startRegistry({ dir });
    await pushImage(images, 'hello', registry, 'drover/hello:latest');
    await pushImage(images, 'hello-wh', registry, 'drover/hello-wh:latest', { format: 'v2s2' });
    await pushImage(images, 'hello-user', registry, 'drover/hello-user:latest');
    master = await FakeMaster.start();
    workDir = join(dir, 'work');
  });

  after(async () => {
    await agent?.shutdown(0).catch(() => undefined);
    killTasksUnder(dir);
    killImageTasksUnder(dir);
    await master?.close();
    await registry?.stop();
    // Mounts a failed test may have left (never remove through a live overlay).
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(dir));
    for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** The running agent, or a new one on the same work dir. */
  async function startAgent(): Promise<Agent> {
    if (agent !== undefined) return agent;
    const started = new Agent({
      masterUrl: master.url,
      port: 0,
      workDir,
      resources: Resources.parse('cpus:4;mem:4096;disk:4096;ports:[21100-21109]'),
      ...FAST_AGENT,
      recoveryPollIntervalMs: 50,
      killGracePeriodMs: 1000,
      containerizer: 'linux',
    });
    await started.start();
    await master.waitFor(() => started.registered && master.connected && started.agentId !== undefined, 'registration');
    agent = started;
    return started;
  }

  function launch(id: string, image: string, command: TaskInfo['command'] | undefined, framework: FrameworkInfo = FRAMEWORK, extra: Partial<TaskInfo> = {}): void {
    const task: TaskInfo = {
      ...extra,
      name: id,
      task_id: { value: id },
      agent_id: { value: agent!.agentId! },
      resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
      container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registry.host}/${image}` } } } },
    };
    if (command !== undefined) task.command = command;
    master.push({ type: 'LAUNCH', launch: { framework_id: framework.id!, framework_info: framework, tasks: [task] } });
  }

  async function stdoutOf(id: string): Promise<string> {
    const state = (await (await fetch(`${agent!.url}/state`)).json()) as { tasks: Array<Record<string, unknown>>; completed_tasks: Array<Record<string, unknown>> };
    const task = [...state.tasks, ...state.completed_tasks].find((t) => t['id'] === id);
    assert.ok(task !== undefined, `task ${id} on the agent`);
    return readFile(join(task['directory'] as string, 'stdout'), 'utf8');
  }

  async function finished(id: string): Promise<string> {
    const update = await master.update(id, 'TASK_FINISHED', 120_000);
    assert.equal(update.status.state, 'TASK_FINISHED');
    return stdoutOf(id);
  }

  test('no command: the image’s Entrypoint and Cmd run in its own root, as the framework user when the image says root', async () => {
    await startAgent();
    launch('plain', 'drover/hello', undefined);
    const starting = await master.update('plain', 'TASK_STARTING', 120_000);
    assert.match(starting.status.message ?? '', /Provisioning the image 127\.0\.0\.1:\d+\/drover\/hello/);
    assert.equal(await finished('plain'), 'hello from the image\n');
  });

  test('inside: Env, the sandbox at /mnt/mesos/sandbox, /proc, a minimal /dev, the host’s hosts and resolv.conf read-only, no host files', async () => {
    const script = [
      'echo "path=$PATH sandbox=$MESOS_SANDBOX pwd=$(pwd) uid=$(id -u)"',
      'echo pid1=$(tr "\\0" " " < /proc/1/cmdline)',
      'ls /dev | tr "\\n" " "; echo',
      'echo x > /dev/null && echo devnull-ok',
      'head -c 4 /dev/zero | wc -c',
      '(echo junk >> /etc/hosts) 2>/dev/null || echo hosts-ro',
      '[ -e /usr/bin/node ] || [ -e /work ] || echo no-host-files',
      '(echo written > /etc/new) 2>/dev/null || echo image-ro-for-nobody',
      'echo in-sandbox > $MESOS_SANDBOX/out && cat $MESOS_SANDBOX/out',
    ].join('\n');
    await startAgent();
    launch('inside', 'drover/hello', { value: script, shell: true }, NOBODY);
    const out = await finished('inside');
    const lines = out.split('\n');
    // PATH is the image's (PATH=/bin), not the agent's; the sandbox is where Mesos puts it; the
    // image's WorkingDir is /; the image says root (0:0), the framework says nobody: nobody.
    assert.equal(lines[0], 'path=/bin sandbox=/mnt/mesos/sandbox pwd=/ uid=65534');
    // PID 1 is the launcher's init (perl), which records the exit status: not a shell of the image.
    assert.match(lines[1]!, /^pid1=/);
    const dev = new Set(lines[2]!.trim().split(' '));
    for (const name of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'shm', 'fd', 'stdin', 'stdout', 'stderr']) assert.ok(dev.has(name), `/dev/${name} in ${lines[2]}`);
    assert.ok(!dev.has('sda') && !dev.has('mem') && !dev.has('kmsg'), `no host devices in ${lines[2]}`);
    assert.equal(lines[3], 'devnull-ok');
    assert.equal(lines[4]!.trim(), '4');
    assert.ok(lines.includes('hosts-ro'), out);
    assert.ok(lines.includes('no-host-files'), out);
    // The task is nobody: the image's /etc belongs to root, so its write fails; the sandbox (its cwd's sibling) is its own.
    assert.ok(lines.includes('image-ro-for-nobody'), out);
    assert.ok(lines.includes('in-sandbox'), out);
  });

  test('hosts and resolv.conf are the host’s; writes go to the task’s upper dir; a root task may write the image', async () => {
    await startAgent();
    const script = ['cat /etc/hosts', 'echo ---', 'echo written > /etc/new && cat /etc/new'].join('\n');
    launch('root-writes', 'drover/hello', { value: script, shell: true });
    const out = await finished('root-writes');
    const [hosts, rest] = out.split('---\n');
    assert.equal(hosts, await readFile('/etc/hosts', 'utf8'));
    assert.equal(rest, 'written\n');
    const state = (await (await fetch(`${agent!.url}/state`)).json()) as { completed_tasks: Array<Record<string, unknown>> };
    const sandbox = state.completed_tasks.find((t) => t['id'] === 'root-writes')!['directory'] as string;
    assert.equal(await readFile(join(sandbox, '.rootfs', 'upper', 'etc', 'new'), 'utf8'), 'written\n');
    // Never in a shared layer.
    for (const layer of await readdir(join(workDir, 'images', 'layers'))) await assert.rejects(lstat(join(workDir, 'images', 'layers', layer, 'rootfs', 'etc', 'new')), { code: 'ENOENT' });
  });

  test('the image’s User (resolved in its /etc/passwd), WorkingDir (created), Env and Entrypoint; arguments replace Cmd', async () => {
    await startAgent();
    launch('user', 'drover/hello-user', undefined, NOBODY);
    assert.equal(await finished('user'), '1001:1002 /srv/app from-image /bin\n');
    // Exec form without a value: the image's Entrypoint with the task's arguments instead of Cmd.
    launch('args', 'drover/hello-user', { shell: false, arguments: ['echo "args $GREETING $(id -un)"'] }, NOBODY);
    assert.equal(await finished('args'), 'args from-image web\n');
    // A task that names its user wins over the image, and a task variable over the image's Env.
    launch('named', 'drover/hello-user', { shell: false, user: 'root', environment: { variables: [{ name: 'GREETING', value: 'from-task' }] } }, NOBODY);
    assert.equal(await finished('named'), '0:0 /srv/app from-task /bin\n');
  });

  test('a COMMAND health check runs inside the image task: its root, its pid namespace, its user', async () => {
    await startAgent();
    // Healthy only inside: the image's motd (the host has none like it), PID 1 the task's init, uid nobody.
    const check = 'grep -q "hello from the image" /etc/motd && [ -d /mnt/mesos/sandbox ] && [ "$(id -u)" = 65534 ] && [ $(ls /proc | grep -c "^[0-9]") -lt 10 ]';
    launch('checked', 'drover/hello', { value: 'sleep 1000', shell: true }, NOBODY, {
      health_check: { type: 'COMMAND', command: { value: check }, delay_seconds: 0, interval_seconds: 0.2, grace_period_seconds: 30 },
    });
    const healthy = await master.waitFor(() => master.updatesOf('checked').find((u) => u.status.healthy !== undefined), 'a health result', 120_000);
    assert.equal(healthy.status.healthy, true, healthy.status.message);
    master.kill('checked');
    await master.update('checked', 'TASK_KILLED', 120_000);
  });

  test('whiteouts: what a later layer deleted is absent inside the task (Docker schema2 image)', async () => {
    await startAgent();
    launch('wh', 'drover/hello-wh', { value: 'for f in /etc/motd /tmp/x/a /tmp/x/b /opaque/old /opaque/sub /opaque/new; do [ -e $f ] && echo "$f yes" || echo "$f no"; done', shell: true });
    assert.equal(await finished('wh'), '/etc/motd no\n/tmp/x/a no\n/tmp/x/b yes\n/opaque/old no\n/opaque/sub no\n/opaque/new yes\n');
  });

  test('a failed pull is TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED, naming the image and the registry’s error', async () => {
    await startAgent();
    launch('missing', 'drover/no-such-image:v1', undefined);
    const failed = await master.update('missing', 'TASK_FAILED', 120_000);
    assert.equal(failed.status.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(failed.status.message ?? '', /127\.0\.0\.1:\d+\/drover\/no-such-image:v1/);
    assert.match(failed.status.message ?? '', /manifest unknown|MANIFEST_UNKNOWN|not found|404/i);
  });

  test('two tasks of one image share its layers; GC keeps a used image; an agent restart keeps the tasks, a kill releases them', async () => {
    const first = await startAgent();
    launch('share-a', 'drover/hello', { value: 'sleep 1000', shell: true });
    launch('share-b', 'drover/hello', { value: 'sleep 1000', shell: true });
    await master.update('share-a', 'TASK_RUNNING', 120_000);
    await master.update('share-b', 'TASK_RUNNING', 120_000);
    const hello = (await first.images.list()).find((i) => i.reference.endsWith('/drover/hello:latest'))!;
    assert.equal(hello.holders, 2);
    // One copy of each layer on disk, mounted by both rootfs.
    const layers = await readdir(join(workDir, 'images', 'layers'));
    for (const digest of hello.layers) assert.equal(layers.filter((l) => l === digest.slice('sha256:'.length)).length, 1);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    for (const digest of hello.layers) assert.ok(mounts.split(digest.slice('sha256:'.length)).length - 1 >= 2, 'both overlays name the layer');
    // GC of everything unused right now: hello stays.
    const removed = await first.images.collect({ maxAgeMs: -1 });
    assert.ok(!removed.some((r) => r.endsWith('/drover/hello:latest')), `GC removed ${removed.join(', ')}`);
    const pidOf = async (a: Agent, id: string): Promise<number> => {
      const s = (await (await fetch(`${a.url}/state`)).json()) as { tasks: Array<Record<string, unknown>> };
      return s.tasks.find((t) => t['id'] === id)?.['pid'] as number;
    };
    const pid = await pidOf(first, 'share-a');
    // Nothing a task mounts inside its root (/proc, /dev, the sandbox…) reaches the agent's
    // namespace: under the provisioner, only the two overlays are mounted.
    const provisioned = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point.startsWith(`${join(workDir, 'provisioner')}/`));
    assert.equal(provisioned.length, 2, provisioned.join(' '));
    for (const point of provisioned) assert.ok(point.endsWith('/rootfs'), point);
    // The tasks' mount namespaces were copied from the launcher's template (019-launch-path.md),
    // which holds only a place for the root and the host's device nodes, not the host's tree.
    const launcher = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const own = await readlink('/proc/self/ns/mnt');
    const fds = await readdir(`/proc/${launcher}/fd`);
    const namespaces = (await Promise.all(fds.map(async (fd) => [fd, await readlink(`/proc/${launcher}/fd/${fd}`).catch(() => '')] as const))).filter(
      ([, link]) => link.startsWith('mnt:') && link !== own,
    );
    assert.equal(namespaces.length, 1, `the launcher holds one other mount namespace: ${namespaces.map(([, l]) => l).join(' ')}`);
    const list = `open(my $ns, "<", $ARGV[0]) or die "$!"; syscall(${SYSCALLS[arch()]!['setns']}, fileno($ns), 0x20000) == 0 or die "setns: $!"; for my $d ("/", "/dev") { opendir(my $h, $d) or die "$!"; print join(" ", sort grep { !/^\\./ } readdir $h), "\n" }`;
    const { stdout: template } = await run('perl', ['-e', list, `/proc/${launcher}/fd/${namespaces[0]![0]}`]);
    const devices = ['full', 'null', 'random', 'tty', 'urandom', 'zero'].filter((name) => existsSync(`/dev/${name}`));
    assert.deepEqual(template.split('\n').slice(0, 2), ['dev r', devices.join(' ')]);
    await first.stop();
    agent = undefined;
    // The task runs on without its agent, in its image.
    assert.equal(readFileSync(`/proc/${pid}/root/etc/motd`, 'utf8'), 'hello from the image\n');

    const second = await startAgent();
    assert.equal(await pidOf(second, 'share-a'), pid, 'the same process, reattached');
    assert.equal((await second.images.list()).find((i) => i.reference === hello.reference)?.holders, 2);
    master.kill('share-a');
    await master.update('share-a', 'TASK_KILLED', 120_000);
    await eventually(async () => (await second.images.list()).find((i) => i.reference === hello.reference)?.holders === 1, 'share-a released its image', 60_000);
    const s = (await (await fetch(`${second.url}/state`)).json()) as { tasks: Array<Record<string, unknown>> };
    const containerA = (await readdir(join(workDir, 'provisioner'))).length;
    assert.equal(containerA, 1, `only share-b's rootfs is left (tasks: ${s.tasks.map((t) => t['id']).join(',')})`);
    master.kill('share-b');
    await master.update('share-b', 'TASK_KILLED', 120_000);
    await eventually(async () => (await second.images.list()).find((i) => i.reference === hello.reference)?.holders === 0, 'share-b released its image', 60_000);
    assert.deepEqual(await readdir(join(workDir, 'provisioner')), []);
    // Unused now: GC may take it.
    assert.ok((await second.images.collect({ maxAgeMs: -1 })).includes(hello.reference));
  });
});
