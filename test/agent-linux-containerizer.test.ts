/**
 * What the linux containerizer adds to the contract (test/agent-containerizer-contract.ts): real
 * namespaces, cgroups, read-only mounts, user switching and OOM kills on this machine's kernel.
 * Skipped, with the reason, where it cannot run (not root, no usable cgroups).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent/agent.ts';
import type { ContainerLaunchSpec } from '../src/agent/containerizer/containerizer.ts';
import { LinuxContainerizer } from '../src/agent/containerizer/linux/linux-containerizer.ts';
import { TaskLauncher } from '../src/agent/containerizer/linux/launcher.ts';
import { capabilityNames, MASKED_PATHS, READ_ONLY_PATHS } from '../src/agent/containerizer/linux/task-privileges.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';
import { eventually } from '../devkit/process.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT, linuxUnavailable } from './support/agent.ts';

const skip = linuxUnavailable();

let root: string;
let counter = 0;

/** A fresh sandbox under a traversable temp dir (tasks may run as `nobody`). */
async function sandbox(): Promise<string> {
  const dir = join(root, `sb${++counter}`);
  await mkdir(dir);
  return dir;
}

function spec(dir: string, value: string, extra: Partial<ContainerLaunchSpec> = {}): ContainerLaunchSpec {
  return { containerId: `lx${counter}-${process.pid}`, sandbox: dir, command: { value }, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, ...extra };
}

const create = (): LinuxContainerizer => LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50 });

/** `Name:\tvalue` lines (and `key=value` lines, and a bare first line as `uid`) → an object. */
function status(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, line] of text.trim().split('\n').entries()) {
    const m = /^(\w+)(?::\s*|=)(.*)$/.exec(line);
    if (m !== null) out[m[1]!] = m[2]!.trim();
    else if (i === 0) out['uid'] = line.trim();
  }
  return out;
}

/** Is a host pid a live (non-zombie) process? */
function running(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('linux containerizer', { skip }, () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'drover-linux-'));
    await chmod(root, 0o755);
  });
  after(async () => {
    killTasksUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  test('the task is PID 1 of its own pid namespace and sees only its own processes', async () => {
    const dir = await sandbox();
    const c = create();
    const record = await c.launch(spec(dir, 'echo "self=$$"; ls /proc | grep -c "^[0-9]"; cat /proc/1/cmdline'));
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    const out = await readFile(join(dir, 'stdout'), 'utf8');
    const [self, count] = out.split('\n');
    // PID 1 is the exit-status wrapper; the command's shell, ls and grep are the only others
    // (the setup's mount calls used up a few dozen pids before them, so `self` is small, not 2).
    assert.match(out, /drover-task/);
    assert.ok(Number(self?.replace('self=', '')) < 200, self);
    assert.ok(Number(count) <= 5, `sees ${count} processes`);
    assert.ok(record.pid > 1 && running(process.pid));
  });

  test('tasks start through the task launcher; a task outlives it, its end is still seen, and the next launch starts a new one', async () => {
    const dir = await sandbox();
    const c = create();
    assert.equal(c.launchMethod, 'launcher');
    const record = await c.launch(spec(dir, 'while [ ! -e gate ]; do sleep 0.05; done; exit 4'));
    assert.equal(record.pidIsInit, true);
    const launcher = c.launcherPid;
    assert.ok(launcher !== undefined && running(launcher));
    process.kill(launcher, 'SIGKILL');
    await eventually(() => !running(launcher), 'the launcher to die');
    assert.ok(running(record.pid), 'the task survives its launcher');
    await writeFile(join(dir, 'gate'), '');
    // Nobody reports this exit any more: the containerizer polls the pid and reads the exit file.
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 4 });
    const next = await sandbox();
    const second = await c.launch(spec(next, 'exit 5'));
    assert.deepEqual(await c.wait(second.containerId), { exitCode: 5 });
    assert.notEqual(c.launcherPid, launcher);
    await c.detach();
  });

  test('one fork per task: the launcher forks the init straight into a new pid namespace and its cgroups, and keeps its own pid namespace for what follows', async () => {
    const dir = await sandbox();
    const c = create();
    const record = await c.launch(spec(dir, 'while [ ! -e gate ]; do sleep 0.05; done'));
    const launcher = c.launcherPid!;
    const proc = (pid: number): Record<string, string> => status(readFileSync(`/proc/${pid}/status`, 'utf8'));
    // The init is the launcher's own child (no process in between), PID 1 of its namespace.
    assert.equal(Number(proc(record.pid)['PPid']), launcher);
    assert.deepEqual(proc(record.pid)['NSpid']?.split(/\s+/).map(Number), [record.pid, 1]);
    // The launcher went back to its own pid namespace after the fork.
    assert.equal(readlinkSync(`/proc/${launcher}/ns/pid_for_children`), readlinkSync(`/proc/${launcher}/ns/pid`));
    assert.notEqual(readlinkSync(`/proc/${record.pid}/ns/pid`), readlinkSync(`/proc/${launcher}/ns/pid`));
    // The init joined every hierarchy of the task's cgroup.
    const lines = readFileSync(`/proc/${record.pid}/cgroup`, 'utf8').trim().split('\n');
    const layout = c.cgroupLayout;
    const names = layout.version === 1 ? [...layout.hierarchies.keys()] : [''];
    for (const name of names) {
      const line = lines.find((l) => l.split(':')[1]?.split(',').includes(name));
      assert.ok(line?.endsWith(`/drover/${record.containerId}`), `${name}: ${line}`);
    }
    await writeFile(join(dir, 'gate'), '');
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    await c.detach();
  });

  test('the task launcher: a cgroup it cannot join fails the launch before it starts; an unmount detaches every mount stacked at the target', async () => {
    const launcher = new TaskLauncher('perl', silentLogger());
    try {
      const dir = await sandbox();
      await assert.rejects(
        launcher.launch({ sandbox: dir, uid: 65534, gid: 65534, privileged: false, groups: [], procsFiles: [join(root, 'no-such-cgroup', 'cgroup.procs')], argv: ['/bin/true'], env: {} }),
        /cannot join the cgroup/,
      );
      const target = join(dir, 'stacked');
      await mkdir(target);
      execFileSync('mount', ['-t', 'tmpfs', 'drover-test-a', target]);
      execFileSync('mount', ['-t', 'tmpfs', 'drover-test-b', target]);
      assert.equal(await launcher.unmount(target), true);
      assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${target} `), 'nothing stays mounted there');
      assert.equal(await launcher.unmount(target), true, 'not mounted is done too');
    } finally {
      launcher.close();
    }
  });

  test('the host filesystem is read-only, even for root; the sandbox and a private /tmp are writable', async () => {
    const dir = await sandbox();
    const marker = join(tmpdir(), `drover-host-marker-${process.pid}`);
    await writeFile(marker, 'host');
    const c = create();
    // Runs as root: the read-only view is the mount's doing, not permissions.
    const script = [
      'for f in /etc/drover-probe /usr/drover-probe /var/tmp/drover-probe /root/drover-probe; do',
      '  if (echo x > "$f") 2>/dev/null; then echo "WROTE $f"; else echo "ro $f"; fi',
      'done',
      'echo data > ./in-sandbox && echo sandbox-ok',
      'echo data > /tmp/in-tmp && echo tmp-ok',
      `[ -e ${marker} ] && echo "host /tmp visible" || echo tmp-private`,
      'echo x > /dev/null && echo devnull-ok',
    ].join('\n');
    const record = await c.launch(spec(dir, script, { user: 'root' }));
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    const out = await readFile(join(dir, 'stdout'), 'utf8');
    await rm(marker, { force: true });
    assert.equal(out, ['ro /etc/drover-probe', 'ro /usr/drover-probe', 'ro /var/tmp/drover-probe', 'ro /root/drover-probe', 'sandbox-ok', 'tmp-ok', 'tmp-private', 'devnull-ok', ''].join('\n'));
    assert.equal(await readFile(join(dir, 'in-sandbox'), 'utf8'), 'data\n');
    assert.equal(existsSync('/etc/drover-probe') || existsSync(join(tmpdir(), 'in-tmp')), false);
  });

  test('runs as the requested unprivileged user with no_new_privs, in a sandbox it owns', async () => {
    const dir = await sandbox();
    const c = create();
    const record = await c.launch(spec(dir, 'id -u; id -g; grep NoNewPrivs /proc/self/status; echo mine > owned', { user: 'nobody' }));
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    assert.equal(await readFile(join(dir, 'stdout'), 'utf8'), '65534\n65534\nNoNewPrivs:\t1\n');
    assert.equal(await readFile(join(dir, 'owned'), 'utf8'), 'mine\n');
    await assert.rejects(c.launch(spec(await sandbox(), 'true', { user: 'no-such-user-drover' })), /unknown user 'no-such-user-drover'/);
  });

  test('a task that names no user runs as nobody: no capabilities, no_new_privs, seccomp filter', async () => {
    const dir = await sandbox();
    const c = create();
    const record = await c.launch(spec(dir, 'id -u; grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status'));
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    const out = status(await readFile(join(dir, 'stdout'), 'utf8'));
    assert.equal(out['uid'], '65534');
    assert.equal(out['CapEff'], '0000000000000000');
    assert.equal(out['CapPrm'], '0000000000000000');
    assert.equal(out['CapAmb'], '0000000000000000');
    assert.equal(out['CapBnd'], '00000000a80425fb', 'the bounding set is the default set');
    assert.equal(out['NoNewPrivs'], '1');
    assert.equal(out['Seccomp'], '2');
  });

  for (const launcher of [true, false])
    test(`a root task keeps only the default capabilities and a seccomp filter: it cannot remount /, mount a tmpfs, write /proc/sys or read masked kernel files (${launcher ? 'task launcher' : 'command chain'})`, async () => {
      const dir = await sandbox();
      const masked = MASKED_PATHS.filter((p) => existsSync(p));
      const readOnly = READ_ONLY_PATHS.filter((p) => existsSync(p));
      const c = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, launcher });
      assert.equal(c.launchMethod, launcher ? 'launcher' : 'command-chain');
      const script = [
        'id -u; grep -E "^(CapEff|Seccomp):" /proc/self/status',
        'mount -o remount,rw / 2>/dev/null && echo "remount=WORKED" || echo remount=refused',
        'mount -t tmpfs none /mnt 2>/dev/null && echo "tmpfs=WORKED" || echo tmpfs=refused',
        'unshare --mount true 2>/dev/null && echo "unshare=WORKED" || echo unshare=refused',
        // Harmless if it ever succeeded: the kernel would only drop clean caches.
        '(echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null && echo "procsys=WORKED" || echo procsys=refused',
        // Every masked or read-only path this kernel has (this VM's has no /proc/kcore or
        // /proc/sysrq-trigger; a path the host lacks is skipped by the launcher too).
        ...masked.map(
          (p) =>
            `if [ -d ${p} ]; then echo "masked ${p} $(ls -A ${p} | wc -l) $(wc -c < ${p}/. 2>/dev/null)"; else echo "masked ${p} $([ -c ${p} ] && echo null || echo file) $(head -c 16 ${p} 2>/dev/null | wc -c)"; fi`,
        ),
        ...readOnly.map((p) => `echo "readonly ${p} $(awk -v p=${p} '$5 == p { split($6, o, ","); print o[1] }' /proc/self/mountinfo | tail -1)"`),
        'echo x > owned-by-root && echo sandbox=ok',
      ].join('\n');
      const record = await c.launch(spec(dir, script, { user: 'root' }));
      assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
      const text = await readFile(join(dir, 'stdout'), 'utf8');
      const out = status(text);
      assert.equal(out['uid'], '0');
      const lines = text.split('\n');
      for (const p of masked) {
        const line = lines.find((l) => l.startsWith(`masked ${p} `)) ?? '';
        // A directory shows empty; a file is /dev/null and reads nothing.
        assert.match(line, statSync(p).isDirectory() ? / 0\s*$/ : / null 0$/, line);
      }
      for (const p of readOnly)
        assert.equal(
          lines.find((l) => l.startsWith(`readonly ${p} `)),
          `readonly ${p} ro`,
        );
      assert.ok(masked.includes('/proc/keys') && masked.includes('/proc/timer_list') && readOnly.includes('/proc/sys'));
      const caps = capabilityNames(out['CapEff'] ?? '');
      assert.ok(!caps.includes('SYS_ADMIN') && !caps.includes('SYS_MODULE') && !caps.includes('SYS_PTRACE') && !caps.includes('NET_ADMIN'), caps.join(','));
      assert.deepEqual(caps, capabilityNames('a80425fb'));
      assert.equal(out['Seccomp'], '2');
      assert.deepEqual([out['remount'], out['tmpfs'], out['unshare'], out['procsys'], out['sandbox']], ['refused', 'refused', 'refused', 'refused', 'ok']);
    });

  test('a privileged task runs with every capability and no filter, only on an agent that allows it; elsewhere it fails saying why', async () => {
    const refusing = create();
    await assert.rejects(refusing.launch(spec(await sandbox(), 'true', { user: 'root', privileged: true })), /does not run privileged tasks: start it with --allow-privileged/);
    const dir = await sandbox();
    const c = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, allowPrivileged: true });
    const record = await c.launch(spec(dir, 'grep -E "^(CapEff|Seccomp):" /proc/self/status; [ -c /proc/keys ] && echo keys=masked || echo keys=visible', { user: 'root', privileged: true }));
    assert.equal(record.privileged, true);
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    const out = status(await readFile(join(dir, 'stdout'), 'utf8'));
    const own = status(readFileSync('/proc/self/status', 'utf8'));
    assert.ok(capabilityNames(out['CapEff'] ?? '').includes('SYS_ADMIN'));
    assert.equal(out['CapEff'], own['CapEff'], "the agent's own set");
    assert.equal(out['Seccomp'], '0');
    assert.equal(out['keys'], 'visible');
  });

  test('task exec enters a root task with the same restrictions (capabilities, seccomp), and a privileged one privileged', async () => {
    const c = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, allowPrivileged: true });
    const probe = 'id -u; grep -E "^(CapEff|Seccomp):" /proc/self/status';
    for (const privileged of [false, true]) {
      const dir = await sandbox();
      const record = await c.launch(spec(dir, 'while [ ! -e go ]; do sleep 0.05; done', { user: 'root', ...(privileged ? { privileged } : {}) }));
      const argv = await c.execArgv(record, { user: 'root', argv: ['/bin/sh', '-c', probe] });
      const out = status(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: dir, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }));
      assert.equal(out['uid'], '0');
      assert.equal(out['Seccomp'], privileged ? '0' : '2');
      assert.equal(capabilityNames(out['CapEff'] ?? '').includes('SYS_ADMIN'), privileged);
      await writeFile(join(dir, 'go'), '');
      assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    }
  });

  test('cpu shares, memory and pids limits are written to the task cgroup, which is removed when the task ends; no CPU quota by default', async () => {
    const dir = await sandbox();
    const c = create();
    const record = await c.launch(spec(dir, 'while [ ! -e go ]; do sleep 0.02; done', { resources: { cpus: 0.5, memMb: 48 } }));
    const cgroups = record.cgroups ?? [];
    const file = (name: string): string => readFileSync(join(cgroups.find((d) => existsSync(join(d, name)))!, name), 'utf8').trim();
    if (c.cgroupLayout.version === 1) {
      assert.equal(file('memory.limit_in_bytes'), String(48 * 1024 * 1024));
      assert.equal(file('cpu.shares'), '512');
      // Shares only (docs/architecture/008-cpu-limits.md): the task may use idle cycles.
      assert.equal(file('cpu.cfs_quota_us'), '-1');
    } else {
      assert.equal(file('memory.max'), String(48 * 1024 * 1024));
      assert.equal(file('cpu.weight'), '20'); // 512 shares, as runc converts them
      assert.equal(file('cpu.max'), 'max 100000');
    }
    assert.equal(file('pids.max'), '4096');
    await writeFile(join(dir, 'go'), '');
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
    assert.deepEqual(
      cgroups.filter((d) => existsSync(d)),
      [],
      'cgroups removed',
    );
  });

  test('with the hard CFS quota turned on (--cgroups-enable-cfs), a task is held to its cpus', async () => {
    const dir = await sandbox();
    const c = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 50, cfsQuota: true });
    // A busy loop under a 0.1-cpu quota: the kernel throttles it (cpu.stat nr_throttled grows).
    const record = await c.launch(spec(dir, 'while [ ! -e go ]; do :; done', { resources: { cpus: 0.1 } }));
    const cgroups = record.cgroups ?? [];
    const file = (name: string): string => readFileSync(join(cgroups.find((d) => existsSync(join(d, name)))!, name), 'utf8').trim();
    if (c.cgroupLayout.version === 1)
      assert.equal(file('cpu.cfs_quota_us'), '10000'); // 0.1 cpus × 100 ms period
    else assert.equal(file('cpu.max'), '10000 100000');
    const throttled = (): number => Number(/nr_throttled (\d+)/.exec(file('cpu.stat'))?.[1] ?? 0);
    await eventually(() => throttled() > 0, 'the busy task throttled by its quota');
    await writeFile(join(dir, 'go'), '');
    assert.deepEqual(await c.wait(record.containerId), { exitCode: 0 });
  });

  test('a task over its memory limit is OOM-killed and the exit says so', async () => {
    const dir = await sandbox();
    const c = create();
    // tail holds the whole newline-free input in memory: ~200 MB against a 32 MB limit.
    const record = await c.launch(spec(dir, 'head -c 200M /dev/zero | tail -n 1 > /dev/null', { resources: { memMb: 32 } }));
    const status = await c.wait(record.containerId);
    assert.equal(status.limitation, 'memory', JSON.stringify(status));
    assert.deepEqual(status, { signal: 'SIGKILL', limitation: 'memory' });
  });

  test('kill ends every process of the task, including a setsid grandchild', async () => {
    const dir = await sandbox();
    const c = create();
    const record = await c.launch(spec(dir, 'setsid sleep 1000 & echo started; sleep 1000'));
    await eventually(async () => (await readFile(join(dir, 'stdout'), 'utf8').catch(() => '')) === 'started\n', 'the task started');
    const pids = readFileSync(join(record.cgroups![0]!, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
    // Launcher, wrapper (PID 1 inside), the command's shell, its sleep and the setsid sleep.
    assert.ok(pids.length >= 4, `cgroup holds ${pids.join(',')}`);
    await c.kill(record.containerId, 1000);
    await c.wait(record.containerId);
    await eventually(() => pids.every((pid) => !running(pid)), 'every process of the task gone', 3000);
    assert.deepEqual(
      record.cgroups!.filter((d) => existsSync(d)),
      [],
      'cgroups removed',
    );
  });
});

describe('linux containerizer in the agent', { skip }, () => {
  let master: FakeMaster;
  let workDir: string;
  const agents: Agent[] = [];
  before(async () => {
    master = await FakeMaster.start();
    workDir = await mkdtemp(join(tmpdir(), 'drover-linux-agent-'));
  });
  after(async () => {
    for (const a of agents) await a.shutdown(0);
    killTasksUnder(workDir);
    await master.close();
    await rm(workDir, { recursive: true, force: true });
  });

  async function startAgent(): Promise<Agent> {
    const agent = new Agent({
      masterUrl: master.url,
      port: 0,
      workDir,
      resources: Resources.parse('cpus:2;mem:1024;disk:2048;ports:[21000-21009]'),
      ...FAST_AGENT,
      recoveryPollIntervalMs: 50,
      killGracePeriodMs: 1000,
      containerizer: 'linux',
    });
    agents.push(agent);
    await agent.start();
    await master.waitFor(() => agent.registered && master.connected && agent.agentId !== undefined, 'registration');
    return agent;
  }

  async function state(agent: Agent): Promise<{ containerizer?: string; tasks: Array<Record<string, unknown>> }> {
    return (await (await fetch(`${agent.url}/state`)).json()) as never;
  }

  test('OOM is TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY; an unknown user or a privileged task the agent does not allow is REASON_CONTAINER_LAUNCH_FAILED', async () => {
    const agent = await startAgent();
    master.launch([{ id: 'hog', cmd: 'head -c 200M /dev/zero | tail -n 1', resources: [{ name: 'mem', type: 'SCALAR', scalar: { value: 32 } }] }]);
    const failed = await master.update('hog', 'TASK_FAILED');
    assert.equal(failed.status.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
    assert.match(failed.status.message ?? '', /Memory limit exceeded/);

    master.launch([{ id: 'stranger', cmd: 'true' }], { ...FRAMEWORK, user: 'no-such-user-drover' });
    const refused = await master.update('stranger', 'TASK_FAILED');
    assert.equal(refused.status.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(refused.status.message ?? '', /unknown user 'no-such-user-drover'/);

    // This agent was not started with --allow-privileged.
    master.launch([{ id: 'privileged', cmd: 'true', container: { type: 'MESOS', docker: { privileged: true } } }]);
    const forbidden = await master.update('privileged', 'TASK_FAILED');
    assert.equal(forbidden.status.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(forbidden.status.message ?? '', /does not run privileged tasks: start it with --allow-privileged/);
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
  });

  test('a COMMAND health check runs inside the task, as the task: its pid namespace, its seccomp filter', async () => {
    const agent = await startAgent();
    // Healthy only where the task's PID 1 is the exit-status wrapper and the filter is on: on the
    // agent's host, as root, both would be false.
    const check = 'grep -q drover-task /proc/1/cmdline && grep -q "^Seccomp:[[:space:]]*2" /proc/self/status && [ "$(id -u)" = 0 ]';
    master.launch([{ id: 'checked', cmd: 'sleep 30', healthCheck: { type: 'COMMAND', command: { value: check }, delay_seconds: 0, interval_seconds: 0.1, grace_period_seconds: 10 } }]);
    const healthy = await master.waitFor(() => master.updatesOf('checked').find((u) => u.status.healthy !== undefined), 'a health result', 30_000);
    assert.equal(healthy.status.healthy, true, healthy.status.message);
    master.kill('checked');
    await master.update('checked', 'TASK_KILLED');
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
  });

  test('an agent restart reattaches to a live task with the same pid, which can then be killed', async () => {
    const first = await startAgent();
    assert.equal((await state(first)).containerizer, 'linux');
    master.launch([{ id: 'survivor', cmd: 'setsid sleep 1000 & sleep 1000' }]);
    await master.update('survivor', 'TASK_RUNNING');
    const pid = (await state(first)).tasks.find((t) => t['id'] === 'survivor')?.['pid'] as number;
    assert.ok(pid > 0);
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    assert.ok(running(pid), 'the task outlives the agent');

    const second = await startAgent();
    const task = (await state(second)).tasks.find((t) => t['id'] === 'survivor');
    assert.equal(task?.['state'], 'TASK_RUNNING');
    assert.equal(task?.['pid'], pid, 'the same process, reattached');
    const cgroupDirs = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    assert.match(cgroupDirs, /drover\//);
    master.kill('survivor');
    await master.update('survivor', 'TASK_KILLED');
    await eventually(() => !running(pid), 'the task gone');
    // Nothing of the task is left anywhere on the host.
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(workDir));
    assert.deepEqual(left, []);
  });
});

describe('containerizer choice', { skip: process.getuid?.() === 0 ? false : 'needs root to drop to nobody' }, () => {
  test('an agent that is not root falls back to posix and logs containerizer-fallback with the reason', () => {
    const script = [
      "const { createContainerizer } = await import('./src/agent/containerizer/select.ts');",
      "const { createLogger } = await import('./src/log/index.ts');",
      "process.stdout.write(createContainerizer({ logger: createLogger({ name: 'choice' }), pollIntervalMs: 100 }).name + '\\n');",
    ].join(' ');
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..'),
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/tmp' },
      encoding: 'utf8',
    });
    const lines = out.trim().split('\n');
    const log = JSON.parse(lines.find((l) => l.includes('containerizer-fallback')) ?? '{}') as Record<string, unknown>;
    assert.equal(log['reason'], 'not running as root');
    assert.equal(log['using'], 'posix');
    assert.ok(lines.includes('process'), out);
  });
});
