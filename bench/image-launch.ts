/**
 * Tasks in an image on the linux containerizer (issue 17's benchmark), against a loopback
 * docker-registry serving the busybox test image (devkit/registry.ts):
 *
 *   cold start   fresh image store: pull + overlay rootfs + launch, until the command is about to run
 *   warm start   the image stored: rootfs + launch of one task
 *   warm launches  `--launches=N` (default 200) tasks of the image launched at once, each `true`;
 *                the rate is N / (time until every launch resolved); warmLaunchCpuMs is their CPU per
 *                launch, launch to teardown: the agent's and the task launcher's with what it reaped
 *   sequential   `--podman-runs=N` launches one after another, each waited to its end (podman's loop)
 *   cold pull    `--pull-mb=N` (default 50) MB of random bytes in one gzip layer: a fresh layer store's
 *                pull (fetch, verify, decompress and extract) against `skopeo copy` of the same image
 *                from the same registry into an OCI layout (fetch and verify only), best of `--pull-runs=N` (default 3)
 *   podman       `podman run --rm … /bin/sh -c true` of the same image (pulled from the same registry
 *                first) when podman is installed and can run here (crun, else runc): one warm start
 *                and `--podman-runs=N` (default 20) sequential runs; otherwise the reason it could not
 *
 * Needs root (cgroups, namespaces, overlay mounts) like the linux containerizer itself. Prints one
 * JSON line; figures are for people (a noisy 2-core machine), never asserted.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBigImage, buildTestImages, pushImage, startRegistry } from '../devkit/registry.ts';
import type { ContainerLaunchSpec } from '../src/agent/containerizer/containerizer.ts';
import { LinuxContainerizer } from '../src/agent/containerizer/linux/linux-containerizer.ts';
import { LayerStore } from '../src/images/layer-store.ts';
import { Puller } from '../src/images/puller.ts';
import { silentLogger } from '../src/log/index.ts';

const run = promisify(execFile);
const ms = (start: number): number => Math.round((performance.now() - start) * 10) / 10;

function flag(flags: string[], name: string, fallback: number): number {
  const value = flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
  return value === undefined ? fallback : Number(value);
}

interface Rig {
  containerizer: LinuxContainerizer;
  store: LayerStore;
  workDir: string;
}

async function rig(dir: string, name: string): Promise<Rig> {
  const workDir = join(dir, name);
  const store = new LayerStore(workDir, new Puller());
  await store.open();
  const containerizer = LinuxContainerizer.create({ logger: silentLogger(), pollIntervalMs: 100, images: store, workDir });
  return { containerizer, store, workDir };
}

/** CPU time (ms) of the task launcher and everything it reaped (the tasks' inits and commands). */
async function launcherCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

let counter = 0;
async function spec(r: Rig, reference: string, value: string): Promise<ContainerLaunchSpec> {
  const containerId = `bench-${process.pid}-${++counter}`;
  const sandbox = join(r.workDir, 'sandboxes', containerId);
  await mkdir(sandbox, { recursive: true });
  return { containerId, sandbox, command: { value, shell: true }, env: {}, user: 'nobody', image: { reference } };
}

async function launchAndWait(r: Rig, reference: string): Promise<number> {
  const s = await spec(r, reference, 'true');
  const start = performance.now();
  await r.containerizer.launch(s);
  const took = ms(start);
  await r.containerizer.wait(s.containerId);
  return took;
}

/**
 * `podman run --rm` of the same image and command. Its default runtime (crun) is tried first; on
 * this kind of machine it refuses (raising RLIMIT_NOFILE/NPROC is not permitted, cgroups are in
 * hybrid mode), so the ulimits are pinned and runc is tried next. What failed is reported.
 */
async function podman(reference: string, runs: number): Promise<Record<string, unknown>> {
  try {
    await run('podman', ['--version']);
  } catch {
    return { available: false, reason: 'podman is not installed (apt-get install podman runc)' };
  }
  const failures: string[] = [];
  try {
    await run('podman', ['pull', '--quiet', '--tls-verify=false', reference], { timeout: 300_000 });
  } catch (error) {
    return { available: false, reason: `podman could not pull: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().slice(0, 300)}` };
  }
  const ulimits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
  for (const runtime of [[], ['--runtime', 'runc']]) {
    const once = async (): Promise<number> => {
      const start = performance.now();
      await run('podman', [...runtime, 'run', '--rm', '--network=host', ...ulimits, '--entrypoint', '/bin/sh', reference, '-c', 'true'], { timeout: 120_000 });
      return ms(start);
    };
    try {
      const warmStartMs = await once();
      const start = performance.now();
      for (let i = 0; i < runs; i++) await once();
      const elapsed = performance.now() - start;
      return {
        available: true,
        runtime: runtime.length === 0 ? 'default (crun)' : 'runc',
        ...(failures.length === 0 ? {} : { failedFirst: failures }),
        warmStartMs,
        runs,
        runsPerSecond: Math.round((runs / elapsed) * 1000 * 10) / 10,
      };
    } catch (error) {
      failures.push(`${runtime.length === 0 ? 'crun' : 'runc'}: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().slice(0, 200)}`);
    }
  }
  return { available: false, reason: `podman could not run here: ${failures.join('; ')}` };
}

/** A fresh store's pull of a big one-layer image against `skopeo copy` of it (see the file comment); best of `runs`. */
async function coldPull(
  dir: string,
  images: Awaited<ReturnType<typeof buildTestImages>>,
  registry: Awaited<ReturnType<typeof startRegistry>>,
  megabytes: number,
  runs: number,
): Promise<Record<string, unknown>> {
  await buildBigImage(images, dir, 'big', megabytes);
  await pushImage(images, 'big', registry, 'bench/big:latest');
  const reference = `${registry.host}/bench/big:latest`;
  let droverMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const store = new LayerStore(join(dir, `pull-${i}`), new Puller());
    await store.open();
    const start = performance.now();
    await store.pull(reference);
    droverMs = Math.min(droverMs, ms(start));
    await rm(join(dir, `pull-${i}`), { recursive: true, force: true });
  }
  let skopeoMs: number | undefined;
  let skopeo: string | undefined;
  try {
    for (let i = 0; i < runs; i++) {
      const target = join(dir, `skopeo-${i}`);
      const start = performance.now();
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reference}`, `oci:${target}:big`], { timeout: 300_000 });
      skopeoMs = Math.min(skopeoMs ?? Number.POSITIVE_INFINITY, ms(start));
      await rm(target, { recursive: true, force: true });
    }
  } catch (error) {
    skopeo = `skopeo could not run: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().slice(0, 200)}`;
  }
  return {
    megabytes,
    runs,
    droverMs,
    ...(skopeoMs === undefined ? { skopeo } : { skopeoMs, ratioVsSkopeo: Math.round((droverMs / skopeoMs) * 100) / 100 }),
    note: 'drover: fetch + sha256 + gunzip + untar into the layer store; skopeo copy: fetch + verify into an OCI layout (no extraction)',
  };
}

export default async function imageLaunch(flags: string[]): Promise<Record<string, unknown>> {
  const launches = flag(flags, 'launches', 200);
  const podmanRuns = flag(flags, 'podman-runs', 20);
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-imglaunch-'));
  await chmod(dir, 0o755);
  const registry = await startRegistry({ dir });
  const rigs: Rig[] = [];
  try {
    const images = await buildTestImages(dir);
    await pushImage(images, 'hello', registry, 'bench/hello:latest');
    const reference = `${registry.host}/bench/hello:latest`;

    const cold = await rig(dir, 'cold');
    rigs.push(cold);
    const coldStartMs = await launchAndWait(cold, reference);
    const warmStartMs = await launchAndWait(cold, reference);

    // Every launch at once, as an offer's worth of tasks arrives; each runs `true`.
    const specs = await Promise.all(Array.from({ length: launches }, () => spec(cold, reference, 'true')));
    const launcherBefore = await launcherCpuMs(cold.containerizer.launcherPid);
    const agentBefore = process.cpuUsage();
    const start = performance.now();
    await Promise.all(specs.map((s) => cold.containerizer.launch(s)));
    const elapsed = performance.now() - start;
    const failed = (await Promise.all(specs.map((s) => cold.containerizer.wait(s.containerId)))).filter((st) => st.exitCode !== 0).length;
    const agentCpu = process.cpuUsage(agentBefore);
    const launcherCpu = (await launcherCpuMs(cold.containerizer.launcherPid)) - launcherBefore;
    const perLaunch = (msTotal: number): number => Math.round((msTotal / launches) * 10) / 10;
    const warmLaunchesPerSecond = Math.round((launches / elapsed) * 1000 * 10) / 10;

    // Like for like with podman's loop: one after another, each to its end.
    const seqStart = performance.now();
    for (let i = 0; i < podmanRuns; i++) await launchAndWait(cold, reference);
    const sequentialPerSecond = Math.round((podmanRuns / (performance.now() - seqStart)) * 1000 * 10) / 10;

    const pull = await coldPull(dir, images, registry, flag(flags, 'pull-mb', 50), flag(flags, 'pull-runs', 3));

    const side = await podman(reference, podmanRuns);
    const podmanRate = side['runsPerSecond'] as number | undefined;
    const vsSkopeo = (pull as { ratioVsSkopeo?: number }).ratioVsSkopeo;
    // Issue 17's goals on this kind of machine, each with what was measured and whether it is met.
    const goals = {
      warmLaunchesPerSecond: { goal: '>= 50', measured: warmLaunchesPerSecond, met: warmLaunchesPerSecond >= 50 },
      concurrentVsPodman:
        podmanRate === undefined
          ? { goal: '>= 5', measured: null, met: null }
          : { goal: '>= 5', measured: Math.round((warmLaunchesPerSecond / podmanRate) * 10) / 10, met: warmLaunchesPerSecond / podmanRate >= 5 },
      coldPullVsSkopeo: { goal: '<= 1.5', measured: vsSkopeo ?? null, met: vsSkopeo === undefined ? null : vsSkopeo <= 1.5 },
    };
    return {
      bench: 'image-launch',
      image: 'busybox-static, one layer (devkit/registry.ts hello)',
      coldStartMs,
      warmStartMs,
      warmLaunches: launches,
      warmLaunchesMs: Math.round(elapsed),
      warmLaunchesPerSecond,
      warmLaunchesFailed: failed,
      // CPU of the burst from launch to teardown, load-independent where the rate is not (019-launch-path.md).
      warmLaunchCpuMs: { agent: perLaunch((agentCpu.user + agentCpu.system) / 1000), launcherAndTasks: perLaunch(launcherCpu) },
      sequentialRuns: podmanRuns,
      sequentialRunsPerSecond: sequentialPerSecond,
      coldPull: pull,
      podman: side,
      ...(podmanRate === undefined
        ? {}
        : {
            ratioConcurrentVsPodman: Math.round((warmLaunchesPerSecond / podmanRate) * 10) / 10,
            ratioSequentialVsPodman: Math.round((sequentialPerSecond / podmanRate) * 10) / 10,
            ratioWarmStart: Math.round(((side['warmStartMs'] as number) / warmStartMs) * 10) / 10,
          }),
      goals,
      note: 'drover: from launch() to the command about to run (launch resolves at ready); podman: the whole `podman run --rm` of sh -c true; rootfs overlays mounted and unmounted by the task launcher (no mount(8)/umount(8)/mountpoint(1) fork per task)',
    };
  } finally {
    for (const r of rigs) await r.containerizer.detach();
    await registry.stop();
    const { stdout } = await run('sh', ['-c', `grep -o " ${dir}/[^ ]*" /proc/self/mounts || true`]);
    for (const m of stdout.trim().split('\n').filter(Boolean).reverse()) await run('umount', ['--lazy', m.trim()]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
