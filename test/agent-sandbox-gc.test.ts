/**
 * Sandbox GC on a real work dir with a real timer and a tiny delay: finished sandboxes go after
 * the delay (with their emptied parent folders), a sandbox in use never does, and a sandbox that
 * just finished is still there right after.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent/agent.ts';
import { SandboxGc } from '../src/agent/sandbox-gc.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster } from './agent-fake-master.ts';
import { WorkDirLayout } from '../src/agent/work-dir.ts';
import { silentLogger } from '../src/log/index.ts';
import { ManualClock } from '../src/clock/clock.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-gc-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

test('finished sandboxes go after the delay; ones in use stay', async () => {
  const layout = new WorkDirLayout(root);
  const finished = layout.sandbox('S1', 'fw', 'done', 'c1');
  const running = layout.sandbox('S1', 'fw', 'live', 'c2');
  for (const dir of [finished, running]) {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'stdout'), 'log line\n');
  }
  const clock = new ManualClock(Date.now());
  const gc = new SandboxGc({
    root,
    inUse: () => [running],
    // Usage of this machine's disk shortens the delay (at most to the floor), never lengthens it.
    policy: { gcDelayMs: 400, diskHeadroom: 0, minAgeMs: 300 },
    // Wall-clock time to start from (ages compare with the files' mtimes), then moved by hand;
    // the timer-driven sweeps are the next test's subject.
    clock,
    logger: silentLogger(),
  });
  try {
    // Just finished: logs still readable.
    clock.advance(150);
    assert.deepEqual(await gc.sweep(), []);
    assert.ok(await exists(join(finished, 'stdout')));
    // Past the delay, one sweep removes the sandbox, then its emptied parents (runs/, executors/done/).
    const executor = join(root, 'slaves', 'S1', 'frameworks', 'fw', 'executors', 'done');
    clock.advance(400);
    assert.deepEqual(await gc.sweep(), [finished]);
    assert.equal(await exists(finished), false);
    // runs/ and executors/done/ were emptied with it; the running task's tree is untouched.
    assert.equal(await exists(executor), false);
    assert.ok(await exists(join(running, 'stdout')));
  } finally {
    await gc.stop();
  }
  // Once its task is no longer in use, the next sweep takes it too.
  const later = new SandboxGc({ root, inUse: () => [], policy: { gcDelayMs: 0, diskHeadroom: 0, minAgeMs: 0 }, logger: silentLogger() });
  assert.deepEqual(await later.sweep(), [running]);
  await later.stop();
  assert.equal(await exists(join(root, 'slaves', 'S1')), false);
  assert.ok(await exists(join(root, 'slaves')));
});

test("in the agent: a finished task's sandbox goes after --gc-delay, a running one stays", async () => {
  const master = await FakeMaster.start();
  const workDir = join(root, 'agent');
  const agent = new Agent({
    masterUrl: master.url,
    port: 0,
    workDir,
    resources: Resources.parse('cpus:2;mem:256'),
    detectResources: false,
    logger: silentLogger(),
    reconnectBackoff: { initialMs: 20, maxMs: 200 },
    containerizer: 'posix',
    statusUpdateBackoff: { initialMs: 1000, maxMs: 2000 },
    killGracePeriodMs: 200,
    gcDelayMs: 500,
    gcDiskHeadroom: 0,
    gcMinAgeMs: 300,
    gcIntervalMs: 50,
  });
  try {
    await agent.start();
    await master.waitFor(() => agent.registered && master.connected && agent.agentId !== undefined, 'registration');
    master.launch([
      { id: 'quick', cmd: 'echo done' },
      { id: 'long', cmd: 'sleep 30' },
    ]);
    const finished = await master.update('quick', 'TASK_FINISHED');
    const running = await master.update('long', 'TASK_RUNNING');
    // Readable right after the end (the floor), gone a little after the delay.
    assert.equal(await readFile(join(finished.directory!, 'stdout'), 'utf8'), 'done\n');
    await master.waitFor(() => !existsSync(finished.directory!), 'sandbox removed', 5000);
    assert.ok(await exists(join(running.directory!, 'stdout')));
  } finally {
    await agent.shutdown(0);
    killTasksUnder(workDir);
    await master.close();
  }
});
