/**
 * Pull progress in TASK_STARTING (issue 17, point 4): a real agent pulls a ~24 MB image from a real
 * docker-registry on loopback; its TASK_STARTING updates say how many bytes of how many are in,
 * ending at 100% before TASK_RUNNING. Skipped, with the reason, where the linux containerizer cannot run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBigImage, buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { Agent } from '../src/agent/agent.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT, linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';

const run = promisify(execFile);
const skip = linuxUnavailable();

describe('pull progress', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: FakeMaster;
  let agent: Agent;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-imgprogress-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    await buildBigImage(images, dir, 'big', 24);
    registry = await startRegistry({ dir });
    await pushImage(images, 'big', registry, 'drover/big:latest');
    master = await FakeMaster.start();
    agent = new Agent({
      masterUrl: master.url,
      port: 0,
      workDir: join(dir, 'work'),
      resources: Resources.parse('cpus:4;mem:4096;disk:4096'),
      ...FAST_AGENT,
      containerizer: 'linux',
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

  test('TASK_STARTING says bytes done of the total while the image is pulled, reaching 100% before TASK_RUNNING', async () => {
    master.push({
      type: 'LAUNCH',
      launch: {
        framework_id: FRAMEWORK.id!,
        framework_info: FRAMEWORK,
        tasks: [
          {
            name: 'big',
            task_id: { value: 'big' },
            agent_id: { value: agent.agentId! },
            resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
            command: { value: 'true', shell: true },
            container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registry.host}/drover/big` } } } },
          },
        ],
      },
    });
    // The image is only data (no shell, no `true`): the task runs, then fails; what matters is before.
    await master.update('big', 'TASK_RUNNING', 180_000);
    await master.update('big', 'TASK_FAILED', 60_000);
    const updates = master.updatesOf('big').map((u) => ({ state: u.status.state, message: u.status.message ?? '' }));
    const progress = updates.filter((u) => u.state === 'TASK_STARTING' && u.message.startsWith('Pulling the image'));
    assert.ok(progress.length >= 1, JSON.stringify(updates));
    const parsed = progress.map((u) => {
      const m = /^Pulling the image 127\.0\.0\.1:\d+\/drover\/big: ([\d.]+) of ([\d.]+) MB \((\d+)%\)$/.exec(u.message);
      assert.ok(m, u.message);
      return { done: Number(m[1]), total: Number(m[2]), percent: Number(m[3]) };
    });
    // The total is the image's compressed size (random bytes: about what was asked), the same in every update; done only grows.
    const total = parsed[0]!.total;
    assert.ok(total > 20 && total < 30, `total ${total} MB`);
    for (const [i, p] of parsed.entries()) {
      assert.equal(p.total, total);
      if (i > 0) assert.ok(p.done >= parsed[i - 1]!.done);
    }
    assert.deepEqual(parsed.at(-1), { done: total, total, percent: 100 });
    // All of them after the first STARTING and before RUNNING.
    const states = updates.map((u) => u.state);
    assert.ok(states.lastIndexOf('TASK_STARTING') < states.indexOf('TASK_RUNNING'), states.join(','));
  });
});
