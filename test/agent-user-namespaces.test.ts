/**
 * `--user-namespaces` (issue 15, item 1's moonshot), on this machine's kernel: a task running as
 * root inside is uid 0 there and an unprivileged uid on the host, cannot read or change host files
 * root owns, still writes its sandbox, and keeps the rest of its confinement; `task exec` enters
 * the same user namespace. Skipped, with the reason, where the linux containerizer cannot run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerLaunchSpec } from '../src/agent/containerizer/containerizer.ts';
import { LinuxContainerizer } from '../src/agent/containerizer/linux/linux-containerizer.ts';
import { capabilityNames } from '../src/agent/containerizer/linux/task-privileges.ts';
import { silentLogger } from '../src/log/index.ts';
import { eventually } from '../devkit/process.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { linuxUnavailable } from './support/agent.ts';

const skip = linuxUnavailable();
// A range of its own per test process, so parallel runs never share host ids.
const HOST_ID = 3_000_000 + (process.pid % 1000) * 65_536;
const RANGE = { hostUid: HOST_ID, hostGid: HOST_ID, size: 65_536 };

let root: string;
let counter = 0;

async function sandbox(): Promise<string> {
  const dir = join(root, `sb${++counter}`);
  await mkdir(dir);
  return dir;
}

function spec(dir: string, value: string, extra: Partial<ContainerLaunchSpec> = {}): ContainerLaunchSpec {
  return { containerId: `userns${counter}-${process.pid}`, sandbox: dir, command: { value }, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, ...extra };
}

/** The `Uid:`/`Gid:` lines of a host /proc/PID/status: real, effective, saved, fs. */
function hostIds(pid: number): { uid: number[]; gid: number[] } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const ids = (name: string): number[] => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '').split(/\s+/).map(Number);
  return { uid: ids('Uid'), gid: ids('Gid') };
}

/** A duration no other test's sleep has: how the task's process is found from the host. */
const SLEEP = `599.${process.pid}`;

/** Host pids of `sleep DURATION` processes. */
function sleepersNamed(duration: string): number[] {
  const found: number[] = [];
  for (const entry of execFileSync('ls', ['/proc'], { encoding: 'utf8' }).split('\n')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const argv = cmdline.split('\0');
    if (argv[0] === 'sleep' && argv[1] === duration) found.push(Number(entry));
  }
  return found;
}

describe('user namespaces (--user-namespaces)', { skip }, () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'drover-userns-'));
    await chmod(root, 0o755);
  });
  after(async () => {
    killTasksUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  test('root in the task is uid 0 inside and an unprivileged uid on the host; root-owned host files are out of its reach', async () => {
    // Root-only files: /etc/shadow (root:shadow 640, on the read-only host view) and one the host
    // puts into the writable sandbox after the launch (root 600). The same root task without a
    // user namespace reads both and changes the second (it keeps CAP_DAC_OVERRIDE and CAP_FOWNER,
    // Docker's set); with one it can do neither: host root is not mapped into its namespace.
    const script = [
      'while [ ! -e go ]; do sleep 0.05; done',
      'id -u; id -g',
      'head -c0 /etc/shadow 2>/dev/null && echo read-shadow || echo no-shadow',
      'cat ./host-file 2>/dev/null || echo no-read',
      '(echo more >> ./host-file) 2>/dev/null && echo appended || echo no-append',
      'chmod 666 ./host-file 2>/dev/null && echo chmodded || echo no-chmod',
      'echo data > ./mine && echo sandbox-ok',
      'grep -E "^(CapEff|Seccomp|NoNewPrivs):" /proc/self/status',
    ];
    const run = async (c: LinuxContainerizer, last: string): Promise<{ dir: string; record: Awaited<ReturnType<LinuxContainerizer['launch']>>; lines: () => Promise<string[]> }> => {
      const dir = await sandbox();
      const record = await c.launch(spec(dir, [...script, last].join('\n'), { user: 'root' }));
      await writeFile(join(dir, 'host-file'), 'host secret\n', { mode: 0o600 });
      await chown(join(dir, 'host-file'), 0, 0);
      await writeFile(join(dir, 'go'), '');
      // Its last line of output, or its stderr in the failure (a failed setup exits 125 saying why).
      const lines = async (): Promise<string[]> =>
        (
          await eventually(
            async () => {
              const text = await readFile(join(dir, 'stdout'), 'utf8');
              return text.includes('Seccomp') && text;
            },
            'the task’s output',
            60_000,
          ).catch(async (e: unknown) => {
            throw new Error(`${String(e)}; stderr: ${await readFile(join(dir, 'stderr'), 'utf8')}`);
          })
        ).split('\n');
      return { dir, record, lines };
    };
    const plain = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50 });
    const control = await run(plain, 'true');
    assert.deepEqual(await plain.wait(control.record.containerId), { exitCode: 0 });
    assert.deepEqual((await control.lines()).slice(0, 7), ['0', '0', 'read-shadow', 'host secret', 'appended', 'chmodded', 'sandbox-ok'], 'control: without a user namespace');
    await plain.detach();

    const c = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, userNamespaces: RANGE });
    const { dir, record, lines } = await run(c, `exec sleep ${SLEEP}`);
    assert.equal(record.userNamespace, true);
    const out = await lines();
    assert.deepEqual(out.slice(0, 7), ['0', '0', 'no-shadow', 'no-read', 'no-append', 'no-chmod', 'sandbox-ok']);
    assert.match(out.join('\n'), /Seccomp:\t2/);
    assert.match(out.join('\n'), /NoNewPrivs:\t1/);
    assert.equal(capabilityNames(/CapEff:\t(\w+)/.exec(out.join('\n'))?.[1] ?? '').includes('SYS_ADMIN'), false);
    assert.equal(await readFile(join(dir, 'host-file'), 'utf8'), 'host secret\n');
    assert.equal(statSync(join(dir, 'host-file')).mode & 0o777, 0o600);
    // From the host: the task's processes (its init and the command) run as HOST_ID, not root.
    const sleeper = await eventually(() => sleepersNamed(SLEEP)[0], 'the task’s sleep, seen from the host', 60_000);
    assert.deepEqual(hostIds(sleeper), { uid: [HOST_ID, HOST_ID, HOST_ID, HOST_ID], gid: [HOST_ID, HOST_ID, HOST_ID, HOST_ID] });
    assert.deepEqual(hostIds(record.pid).uid, [HOST_ID, HOST_ID, HOST_ID, HOST_ID], 'the namespace init too');
    // Its sandbox is its own on the host; the host's file kept its owner and mode.
    assert.equal(statSync(join(dir, 'mine')).uid, HOST_ID);
    assert.equal(statSync(dir).uid, HOST_ID);

    // task exec enters the same user namespace: root there, HOST_ID on the host, still confined.
    const argv = await c.execArgv(record, { user: 'root', argv: ['/bin/sh', '-c', 'id -u; cat /proc/self/uid_map; grep Seccomp: /proc/self/status'] });
    const execOut = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: dir, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    assert.match(execOut, new RegExp(`^0\\n\\s*0\\s+${HOST_ID}\\s+65536\\n`));
    assert.match(execOut, /Seccomp:\t2/);
    await c.kill(record.containerId, 1000);
    await c.wait(record.containerId);
    await c.detach();
  });

  test('a named user keeps its uid inside, mapped into the range on the host; a user outside the range is refused', async () => {
    const c = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, userNamespaces: RANGE });
    const dir = await sandbox();
    const record = await c.launch(spec(dir, 'id -u; echo x > owned', { user: 'nobody' }));
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    assert.equal(await readFile(join(dir, 'stdout'), 'utf8'), '65534\n');
    assert.equal(statSync(join(dir, 'owned')).uid, HOST_ID + 65_534);
    const narrow = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, userNamespaces: { ...RANGE, size: 1000 } });
    await assert.rejects(narrow.launch(spec(await sandbox(), 'true', { user: 'nobody' })), /outside the 1000 ids/);
    await c.detach();
    await narrow.detach();
  });
});
