/**
 * The one contract suite every Containerizer passes (src/agent/containerizer/containerizer.ts):
 * ProcessContainerizer today, the Linux containerizer when it lands. Real processes, real
 * sandboxes in temp dirs. Call `containerizerContract(name, create)` from a *.test.ts file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Containerizer, ContainerLaunchSpec } from '../src/agent/containerizer/containerizer.ts';
import { eventually } from '../devkit/process.ts';

/**
 * Is any process of the group still running? Zombies do not count: on this VM, PID 1 does not reap
 * orphans, so a dead task's grandchildren may linger as zombies, which `kill(-pgid, 0)` still finds.
 */
export function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/**
 * SIGKILLs every task process group whose wrapper names a path under `dir` (its exit file), so a
 * test that fails half-way leaves nothing running behind it.
 */
export function killTasksUnder(dir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`)) process.kill(-Number(entry), 'SIGKILL');
    } catch {
      // gone, not a group leader, or not ours
    }
  }
}

/**
 * Waits (briefly) until the group has no running process. The leader's exit is what `kill` and
 * `wait` report; the other members were SIGKILLed at that moment but may take a scheduling
 * round to finish dying on a busy machine.
 */
export async function groupGone(pgid: number): Promise<void> {
  await eventually(() => !groupAlive(pgid), `process group ${pgid} to be gone`, 3000);
}

let counter = 0;

interface Sandbox {
  dir: string;
  spec: (command: ContainerLaunchSpec['command'], env?: Record<string, string>) => ContainerLaunchSpec;
  /** Records a launched container, so cleanup can kill it if the test failed half-way. */
  track: <T extends { pid: number }>(record: T) => T;
  cleanup: () => Promise<void>;
}

async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-sandbox-'));
  const pids: number[] = [];
  return {
    dir,
    spec: (command, env = {}) => ({ containerId: `c${++counter}-${process.pid}`, sandbox: dir, command, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } }),
    track: (record) => {
      pids.push(record.pid);
      return record;
    },
    cleanup: async () => {
      for (const pid of pids) {
        try {
          if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function containerizerContract(name: string, create: () => Containerizer): void {
  describe(`${name} containerizer contract`, () => {
    test('runs a shell command in its sandbox with exactly the given environment; wait gives the exit code', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for the task's shell
      const record = box.track(await c.launch(box.spec({ value: 'echo "$GREETING from $(pwd)"; echo "home=${HOME:-unset}"; echo err >&2; exit 7' }, { GREETING: 'hi' })));
      assert.ok(record.pid > 0);
      assert.equal(record.sandbox, box.dir);
      assert.deepEqual(await c.wait(record.containerId), { exitCode: 7 });
      assert.equal(await readFile(join(box.dir, 'stdout'), 'utf8'), `hi from ${box.dir}\nhome=unset\n`);
      assert.equal(await readFile(join(box.dir, 'stderr'), 'utf8'), 'err\n');
    });

    test('exec form runs the program with its arguments, no shell in between', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      const record = box.track(await c.launch(box.spec({ shell: false, value: '/bin/echo', arguments: ['echo', '$NOT_EXPANDED', 'two words'] })));
      assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
      assert.equal(await readFile(join(box.dir, 'stdout'), 'utf8'), '$NOT_EXPANDED two words\n');
    });

    test('a command that cannot be found exits 127; a launch into a missing sandbox is refused', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      const record = box.track(await c.launch(box.spec({ shell: false, value: '/nonexistent/program' })));
      assert.deepEqual(await c.wait(record.containerId), { exitCode: 127 });
      await assert.rejects(c.launch({ ...box.spec({ value: 'true' }), sandbox: join(box.dir, 'missing') }));
    });

    test('a death by signal is reported as the signal', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      const record = box.track(await c.launch(box.spec({ value: 'kill -SEGV $$' })));
      assert.deepEqual(await c.wait(record.containerId), { signal: 'SIGSEGV' });
    });

    test('kill ends the whole process tree, promptly when it obeys SIGTERM', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      const record = box.track(await c.launch(box.spec({ value: 'sleep 100 & sleep 100 & echo started; wait' })));
      await eventually(async () => (await readFile(join(box.dir, 'stdout'), 'utf8').catch(() => '')) === 'started\n', 'children started');
      const started = Date.now();
      await c.kill(record.containerId, 5000);
      assert.ok(Date.now() - started < 4000, 'did not wait out the grace period');
      const status = await c.wait(record.containerId);
      assert.ok(status.signal === 'SIGTERM' || status.exitCode !== undefined, JSON.stringify(status));
      await groupGone(record.pid);
    });

    test('kill escalates to SIGKILL after the grace period when SIGTERM is ignored', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      const record = box.track(await c.launch(box.spec({ value: "trap '' TERM; echo ready; while :; do sleep 0.05; done" })));
      await eventually(async () => (await readFile(join(box.dir, 'stdout'), 'utf8').catch(() => '')) === 'ready\n', 'trap installed');
      const started = Date.now();
      await c.kill(record.containerId, 300);
      assert.ok(Date.now() - started >= 250, 'waited for the grace period');
      assert.deepEqual(await c.wait(record.containerId), { signal: 'SIGKILL' });
      await groupGone(record.pid);
    });

    test('detach leaves containers running; a new instance recovers them and learns how they end', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const first = create();
      const record = box.track(await first.launch(box.spec({ value: 'while [ ! -e go ]; do sleep 0.02; done; exit 9' })));
      await first.detach();
      assert.equal(groupAlive(record.pid), true);
      const second = create();
      assert.deepEqual(await second.recover([record]), [{ containerId: record.containerId, alive: true }]);
      await writeFile(join(box.dir, 'go'), '');
      assert.deepEqual(await second.wait(record.containerId), { exitCode: 9 });
    });

    test('a recovered container can be killed', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const first = create();
      const record = box.track(await first.launch(box.spec({ value: 'sleep 100' })));
      await first.detach();
      const second = create();
      await second.recover([record]);
      await second.kill(record.containerId, 2000);
      await second.wait(record.containerId);
      await groupGone(record.pid);
    });

    test('recover reports a container that ended unwatched, with its exit status', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const first = create();
      const record = box.track(await first.launch(box.spec({ value: 'while [ ! -e go ]; do sleep 0.02; done; exit 3' })));
      await first.detach();
      await writeFile(join(box.dir, 'go'), '');
      await eventually(() => !groupAlive(record.pid), 'the task ends');
      const second = create();
      assert.deepEqual(await second.recover([record]), [{ containerId: record.containerId, alive: false, status: { exitCode: 3 } }]);
      assert.deepEqual(await second.wait(record.containerId), { exitCode: 3 });
    });

    test('recover does not take a reused pid for the task', async (t) => {
      const box = await sandbox();
      t.after(box.cleanup);
      const c = create();
      // This test process is alive, but it is not the process the record describes.
      const stranger = { containerId: `stranger-${process.pid}`, pid: process.pid, startTime: 1, sandbox: box.dir };
      assert.deepEqual(await c.recover([stranger]), [{ containerId: stranger.containerId, alive: false, status: {} }]);
    });
  });
}
