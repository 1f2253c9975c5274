/**
 * Host and sandbox volumes (ContainerInfo.volumes, Marathon's `{containerPath, hostPath, mode}`):
 * a real agent with the linux containerizer, a real docker-registry on loopback, tasks in an image
 * and on the host's tree. What the task sees and writes is read from inside it and on the host.
 * Host paths only under the agent's --host-volume-paths; a link cannot lead out of them.
 * Skipped, with the reason, where the linux containerizer cannot run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { Agent } from '../src/agent/agent.ts';
import type { TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT, linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';

const run = promisify(execFile);
const skip = linuxUnavailable();

describe('host and sandbox volumes', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: FakeMaster;
  let agent: Agent;
  let allowed: string;
  let outside: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-imgvol-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    registry = await startRegistry({ dir });
    await pushImage(images, 'hello', registry, 'drover/hello:latest');
    allowed = join(dir, 'host');
    outside = join(dir, 'outside');
    await mkdir(join(allowed, 'config'), { recursive: true });
    await mkdir(join(allowed, 'data'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(allowed, 'config', 'app.conf'), 'from-the-host\n');
    await writeFile(join(outside, 'secret'), 'never\n');
    await chmod(join(allowed, 'data'), 0o777);
    // A link inside the allowed directory that leads out of it.
    await symlink(outside, join(allowed, 'escape'));
    master = await FakeMaster.start();
    agent = new Agent({
      masterUrl: master.url,
      port: 0,
      workDir: join(dir, 'work'),
      resources: Resources.parse('cpus:4;mem:4096;disk:4096'),
      ...FAST_AGENT,
      recoveryPollIntervalMs: 50,
      containerizer: 'linux',
      hostVolumePaths: [allowed],
    });
    await agent.start();
    await master.waitFor(() => agent.registered && master.connected && agent.agentId !== undefined, 'registration');
  });

  after(async () => {
    await agent?.shutdown(0).catch(() => undefined);
    killTasksUnder(dir);
    killImageTasksUnder(dir);
    await master?.close();
    await registry?.stop();
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(dir));
    for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  function launch(id: string, script: string, volumes: unknown[], image = true): void {
    const task: TaskInfo = {
      name: id,
      task_id: { value: id },
      agent_id: { value: agent.agentId! },
      resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
      command: { value: script, shell: true },
      container: {
        type: 'MESOS',
        ...(image ? { mesos: { image: { type: 'DOCKER', docker: { name: `${registry.host}/drover/hello` } } } } : {}),
        volumes,
      },
    };
    master.push({ type: 'LAUNCH', launch: { framework_id: FRAMEWORK.id!, framework_info: { ...FRAMEWORK, user: 'nobody' }, tasks: [task] } });
  }

  async function sandboxOf(id: string): Promise<string> {
    const state = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<Record<string, unknown>>; completed_tasks: Array<Record<string, unknown>> };
    const task = [...state.tasks, ...state.completed_tasks].find((t) => t['id'] === id);
    assert.ok(task !== undefined, `task ${id} on the agent`);
    return task['directory'] as string;
  }

  async function finished(id: string): Promise<string> {
    const update = await master.update(id, 'TASK_FINISHED', 120_000);
    assert.equal(update.status.state, 'TASK_FINISHED');
    return readFile(join(await sandboxOf(id), 'stdout'), 'utf8');
  }

  const host = (path: string, containerPath: string, mode: 'RO' | 'RW') => ({ container_path: containerPath, mode, source: { type: 'HOST_PATH', host_path: { path } } });

  test('in an image: a read-only host directory, a writable one, and a sandbox directory, at their container paths', async () => {
    const script = [
      'cat /etc/app/app.conf',
      '(echo x > /etc/app/new) 2>/dev/null && echo ro-written || echo ro-refused',
      'echo from-the-task > /srv/data/out && echo rw-written',
      'echo cached > /var/cache/app/c && echo sandbox-written',
      'grep -c " /etc/app " /proc/mounts',
    ].join('\n');
    launch('vols', script, [
      host(join(allowed, 'config'), '/etc/app', 'RO'),
      host(join(allowed, 'data'), '/srv/data', 'RW'),
      // Mesos' older form: a relative host_path is a directory in the sandbox.
      { container_path: '/var/cache/app', host_path: 'cache', mode: 'RW' },
    ]);
    const out = await finished('vols');
    assert.deepEqual(out.trim().split('\n'), ['from-the-host', 'ro-refused', 'rw-written', 'sandbox-written', '1']);
    assert.equal(await readFile(join(allowed, 'data', 'out'), 'utf8'), 'from-the-task\n');
    assert.equal(await readFile(join(await sandboxOf('vols'), 'cache', 'c'), 'utf8'), 'cached\n');
    // The image's own /etc/app was never touched in a shared layer; the host saw no new file.
    await assert.rejects(readFile(join(allowed, 'config', 'new')), { code: 'ENOENT' });
  });

  test('without an image: a host volume at a path relative to the sandbox, read-only', async () => {
    launch('host-task', 'cat conf/app.conf; (echo x > conf/y) 2>/dev/null && echo written || echo refused', [host(join(allowed, 'config'), 'conf', 'RO')], false);
    assert.equal(await finished('host-task'), 'from-the-host\nrefused\n');
  });

  test('a host path outside --host-volume-paths is TASK_ERROR, naming it; an absolute container path without an image too', async () => {
    launch('denied', 'true', [host(outside, '/mnt/x', 'RO')]);
    const denied = await master.update('denied', 'TASK_ERROR', 120_000);
    assert.equal(denied.status.reason, 'REASON_TASK_INVALID');
    assert.match(denied.status.message ?? '', /host volume .*outside.* is refused: it is not under this agent's --host-volume-paths/);
    launch('no-image', 'true', [host(join(allowed, 'config'), '/etc/app', 'RO')], false);
    assert.match((await master.update('no-image', 'TASK_ERROR', 120_000)).status.message ?? '', /needs a container image/);
    launch('dotdot', 'true', [host(`${allowed}/../outside`, '/mnt/x', 'RO')]);
    assert.match((await master.update('dotdot', 'TASK_ERROR', 120_000)).status.message ?? '', /must not contain '\.\.'/);
  });

  test('a link under an allowed directory that leads out of it fails the launch; nothing of the outside is mounted', async () => {
    launch('escape', 'cat /mnt/x/secret', [host(join(allowed, 'escape'), '/mnt/x', 'RO')]);
    const failed = await master.update('escape', 'TASK_FAILED', 120_000);
    assert.equal(failed.status.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(failed.status.message ?? '', /resolves to .*outside, outside this agent's --host-volume-paths/);
  });

  test('a link in the image on the way to a container path is refused inside the launch', async () => {
    // /bin in the test image is a real directory; /bin/sh is a link to busybox: a volume there must not follow it.
    launch('link-target', 'true', [host(join(allowed, 'config'), '/bin/sh/x', 'RO')]);
    const failed = await master.update('link-target', 'TASK_FAILED', 120_000);
    assert.equal(failed.status.state, 'TASK_FAILED');
    assert.match(readFileSync(join(await sandboxOf('link-target'), 'stderr'), 'utf8'), /\/bin\/sh is a symbolic link/);
  });
});
