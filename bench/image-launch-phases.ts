/**
 * Where the time of a burst of warm image launches goes (issue 17's warm-launch goal), phase by
 * phase: `npm run bench -- image-launch-phases [--launches=N]` (default 100).
 *
 * The same rig as image-launch.ts (loopback registry, busybox image, linux containerizer), with
 * the prototype methods on the launch path wrapped to take a timestamp at each phase boundary:
 *
 *   pull        LayerStore.pull (the image is stored: a lookup)
 *   provision   RootfsProvisioner.provision: hold + upper dirs + the overlay mount (mount request
 *               to the task launcher and its answer in `mount`)
 *   prepare     the rest of LinuxContainerizer.prepare: user, chown, cgroup, request
 *   started     launch request written → "S" (the launcher forked C, C joined the cgroups,
 *               unshared, forked the task's init)
 *   ready       "S" → "R" (the init's mounts, pivot_root, confinement)
 *
 * Each figure is the mean over the burst of that phase's duration, plus when (from the burst's
 * start) the last launch passed the phase. Figures for people, never asserted.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry } from '../devkit/registry.ts';
import type { ContainerLaunchSpec } from '../src/agent/containerizer/containerizer.ts';
import { LinuxContainerizer } from '../src/agent/containerizer/linux/linux-containerizer.ts';
import { TaskLauncher } from '../src/agent/containerizer/linux/launcher.ts';
import { LayerStore } from '../src/images/layer-store.ts';
import { Puller } from '../src/images/puller.ts';
import { RootfsProvisioner } from '../src/images/rootfs.ts';
import { silentLogger } from '../src/log/index.ts';

const run = promisify(execFile);

function flag(flags: string[], name: string, fallback: number): number {
  const value = flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
  return value === undefined ? fallback : Number(value);
}

type Phase = 'pull' | 'provision' | 'mount' | 'prepare' | 'started' | 'ready' | 'total';
const spans = new Map<Phase, Array<[number, number]>>();
const note = (phase: Phase, start: number, end: number): void => {
  const list = spans.get(phase) ?? [];
  list.push([start, end]);
  spans.set(phase, list);
};

// biome-ignore lint/suspicious/noExplicitAny: wrapping prototype methods of several classes
function wrap(proto: any, method: string, phase: Phase, inner?: (result: any, start: number) => void): void {
  const original = proto[method] as (...args: unknown[]) => Promise<unknown>;
  proto[method] = async function (this: unknown, ...args: unknown[]) {
    const start = performance.now();
    const result = await original.apply(this, args);
    note(phase, start, performance.now());
    inner?.(result, start);
    return result;
  };
}

export default async function imageLaunchPhases(flags: string[]): Promise<Record<string, unknown>> {
  const launches = flag(flags, 'launches', 100);
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-phases-'));
  await chmod(dir, 0o755);
  const registry = await startRegistry({ dir });
  let containerizer: LinuxContainerizer | undefined;
  try {
    const images = await buildTestImages(dir);
    await pushImage(images, 'hello', registry, 'bench/hello:latest');
    const reference = `${registry.host}/bench/hello:latest`;
    const workDir = join(dir, 'work');
    const store = new LayerStore(workDir, new Puller());
    await store.open();
    containerizer = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 100, images: store, workDir });
    let n = 0;
    const spec = async (): Promise<ContainerLaunchSpec> => {
      const containerId = `phases-${process.pid}-${++n}`;
      const sandbox = join(workDir, 'sandboxes', containerId);
      await mkdir(sandbox, { recursive: true });
      return { containerId, sandbox, command: { value: 'true', shell: true }, env: {}, user: 'nobody', image: { reference } };
    };
    // Warm: the image pulled and one task run before the burst.
    const first = await spec();
    await containerizer.launch(first);
    await containerizer.wait(first.containerId);

    wrap(LayerStore.prototype, 'pull', 'pull');
    wrap(RootfsProvisioner.prototype, 'provision', 'provision');
    wrap(TaskLauncher.prototype, 'mountOverlay', 'mount');
    // biome-ignore lint/suspicious/noExplicitAny: protected method
    wrap(LinuxContainerizer.prototype as any, 'prepare', 'prepare');
    wrap(TaskLauncher.prototype, 'launch', 'started', (task: { ready: Promise<void> }, start) => {
      const s = performance.now();
      void start;
      void task.ready.then(() => note('ready', s, performance.now()));
    });

    const specs = await Promise.all(Array.from({ length: launches }, () => spec()));
    // --perf=FILE: `perf record -g` of the launcher and what it forks during the burst.
    const perfOut = flags.find((f) => f.startsWith('--perf='))?.slice('--perf='.length);
    const perf = perfOut === undefined ? undefined : spawn('perf', ['record', '-g', '-o', perfOut, '-p', String(containerizer.launcherPid)], { stdio: 'ignore' });
    if (perf !== undefined) await new Promise((r) => setTimeout(r, 1000));
    // --strace=FILE: the launcher and its children under `strace -f -T` during the burst (slows it).
    const straceOut = flags.find((f) => f.startsWith('--strace='))?.slice('--strace='.length);
    const tracer =
      straceOut === undefined
        ? undefined
        : spawn(
            'strace',
            ['-f', '--seccomp-bpf', '-e', 'trace=unshare,write,mount,umount2,pivot_root,openat,clone,execve,exit_group,setns', '-T', '-tt', '-o', straceOut, '-p', String(containerizer.launcherPid)],
            { stdio: 'ignore' },
          );
    if (tracer !== undefined) await new Promise((r) => setTimeout(r, 1000));
    const launcherCpu = async (): Promise<{ user: number; system: number; faults: number; childFaults: number }> => {
      // utime + cutime, stime + cstime of the launcher: itself and every init and command it reaped;
      // minflt and cminflt: its page faults and theirs (copy-on-write after each fork among them),
      // a count the machine's load does not change.
      const stat = await readFile(`/proc/${containerizer!.launcherPid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return {
        user: ((Number(fields[11]) + Number(fields[13])) * 1000) / 100,
        system: ((Number(fields[12]) + Number(fields[14])) * 1000) / 100,
        faults: Number(fields[7]),
        childFaults: Number(fields[8]),
      };
    };
    // --cpu-profile=FILE: the agent's (this process') CPU profile of the burst alone.
    const profileOut = flags.find((f) => f.startsWith('--cpu-profile='))?.slice('--cpu-profile='.length);
    const session = profileOut === undefined ? undefined : new Session();
    if (session !== undefined) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const launcherBefore = await launcherCpu();
    const agentBefore = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      specs.map(async (s) => {
        const start = performance.now();
        await containerizer!.launch(s);
        note('total', start, performance.now());
      }),
    );
    const elapsed = performance.now() - t0;
    tracer?.kill('SIGINT');
    perf?.kill('SIGINT');
    const agentCpu = process.cpuUsage(agentBefore);
    if (session !== undefined && profileOut !== undefined) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(profileOut, JSON.stringify(profile));
      session.disconnect();
    }
    const failed = (await Promise.all(specs.map((s) => containerizer!.wait(s.containerId)))).filter((st) => st.exitCode !== 0).length;
    const launcherAfter = await launcherCpu();
    const launcherCpuMs = { user: launcherAfter.user - launcherBefore.user, system: launcherAfter.system - launcherBefore.system };
    const phases: Record<string, unknown> = {};
    for (const [phase, list] of spans) {
      const mean = list.reduce((a, [s, e]) => a + (e - s), 0) / list.length;
      const lastEnd = Math.max(...list.map(([, e]) => e)) - t0;
      phases[phase] = { n: list.length, meanMs: Math.round(mean), lastEndMs: Math.round(lastEnd) };
    }
    return {
      bench: 'image-launch-phases',
      launches,
      elapsedMs: Math.round(elapsed),
      perSecond: Math.round((launches / elapsed) * 1000 * 10) / 10,
      failed,
      phases,
      cpuPerLaunchMs: {
        agent: Math.round(((agentCpu.user + agentCpu.system) / 1000 / launches) * 10) / 10,
        agentSystem: Math.round((agentCpu.system / 1000 / launches) * 10) / 10,
        launcherAndTasksUser: Math.round((launcherCpuMs.user / launches) * 10) / 10,
        launcherAndTasksSystem: Math.round((launcherCpuMs.system / launches) * 10) / 10,
      },
      pageFaultsPerLaunch: {
        launcher: Math.round((launcherAfter.faults - launcherBefore.faults) / launches),
        tasks: Math.round((launcherAfter.childFaults - launcherBefore.childFaults) / launches),
      },
      load: (await run('cat', ['/proc/loadavg'])).stdout.trim(),
    };
  } finally {
    await containerizer?.detach();
    await registry.stop();
    const { stdout } = await run('sh', ['-c', `grep -o " ${dir}/[^ ]*" /proc/self/mounts || true`]);
    for (const m of stdout.trim().split('\n').filter(Boolean).reverse()) await run('umount', ['--lazy', m.trim()]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
