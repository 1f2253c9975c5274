/**
 * A root filesystem per container: overlayfs of the image's stored layers (read-only lower dirs,
 * shared by every container of the image) and an upper dir of the container's own.
 *
 *   <work-dir>/provisioner/<container>/rootfs     the overlay mount (what the task's / becomes)
 *   <sandbox>/.rootfs/{upper,work}                 the container's writes: in the sandbox, so they
 *                                                  count against its disk and go with it; the
 *                                                  folder is root's alone (0700)
 *
 * The mount is made in the agent's mount namespace, as Mesos' provisioner backends do; a task's
 * own namespace (launcher) copies it, binds the sandbox at /mnt/mesos/sandbox and pivots into
 * it. Provisioning holds the image in the store (GC keeps it) until `destroy`; `recover` unmounts
 * what a crash left behind for containers that no longer exist.
 *
 * Lower dirs are passed relative to the layers folder (the mount runs there), so a mount option
 * stays under the kernel's one-page limit for up to ~50 layers; more is refused by name.
 *
 * Under every image's layers lies one more, read-only and shared: the skeleton
 * (<work-dir>/images/skeleton-1), holding the mount points a task's launch needs — /mnt/mesos/sandbox,
 * /proc, /dev, /tmp, /etc with empty hosts and resolv.conf. As the lowest layer it shows only where
 * the image has nothing at that path (an image's own file, link or whiteout wins), so a task sees
 * what it saw when these were made per task; but they are no longer created through the overlay in
 * each container's upper dir (a copy-up and several inode creations per launch: 019-launch-path.md).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DroverError } from '../errors/errors.ts';
import type { LayerStore, StoredImage } from './layer-store.ts';
import { SANDBOX_IN_CONTAINER } from './runtime.ts';

const run = promisify(execFile);
const MAX_MOUNT_OPTIONS = 4000;
const MAX_CONTAINER_ID = 200;

export interface ProvisionedRootfs {
  containerId: string;
  image: StoredImage;
  /** The mounted root filesystem. */
  rootfs: string;
  upper: string;
}

/**
 * Who mounts and unmounts: the linux containerizer's task launcher (system calls in a small
 * long-lived process) where it runs, else mount(8)/umount(8) — a fork of the agent each.
 */
export interface Mounter {
  mountOverlay(cwd: string, options: string, target: string): Promise<void>;
  /** Detaches what is mounted at target; resolves true when nothing is mounted there any more (false: unknown). */
  unmount(target: string): Promise<boolean>;
}

const commandMounter: Mounter = {
  mountOverlay: async (cwd, options, target) => void (await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { cwd })),
  unmount: async (target) => {
    await run('umount', ['--lazy', target]).catch(() => undefined);
    return false;
  },
};

/** Whether `path` is a mount point of this process' namespace (/proc/self/mountinfo, no fork). */
async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

/** The skeleton layer's entries: directories (mode) and empty files (mode), parents first. */
const SKELETON: ReadonlyArray<{ path: string; dir: boolean; mode: number }> = [
  { path: 'mnt', dir: true, mode: 0o755 },
  { path: 'mnt/mesos', dir: true, mode: 0o755 },
  { path: SANDBOX_IN_CONTAINER.slice(1), dir: true, mode: 0o755 },
  { path: 'proc', dir: true, mode: 0o755 },
  { path: 'dev', dir: true, mode: 0o755 },
  { path: 'tmp', dir: true, mode: 0o755 },
  { path: 'etc', dir: true, mode: 0o755 },
  { path: 'etc/hosts', dir: false, mode: 0o644 },
  { path: 'etc/resolv.conf', dir: false, mode: 0o644 },
];
/** Versioned: a change to SKELETON gets a new directory, never an edit of one a mount may use. */
const SKELETON_DIR = 'skeleton-1';

/** Makes `dir` (under the store's root) the skeleton layer once: built aside, then renamed in. */
async function ensureSkeleton(dir: string): Promise<void> {
  if (
    await stat(dir)
      .then((s) => s.isDirectory())
      .catch(() => false)
  )
    return;
  const aside = `${dir}.tmp-${process.pid}`;
  await rm(aside, { recursive: true, force: true });
  await mkdir(aside, { mode: 0o755 });
  for (const entry of SKELETON) {
    const path = join(aside, entry.path);
    if (entry.dir) await mkdir(path);
    else await writeFile(path, '');
    await chmod(path, entry.mode);
  }
  await chmod(aside, 0o755);
  await rename(aside, dir).catch(async (error: NodeJS.ErrnoException) => {
    // Another provision built it first.
    await rm(aside, { recursive: true, force: true });
    if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
  });
}

export class RootfsProvisioner {
  private readonly dir: string;
  private skeleton: Promise<void> | undefined;

  constructor(
    workDir: string,
    private readonly store: LayerStore,
    private readonly mounter: Mounter = commandMounter,
  ) {
    this.dir = join(workDir, 'provisioner');
  }

  private containerDir(containerId: string): string {
    if (containerId.length === 0 || containerId.length > MAX_CONTAINER_ID || containerId.includes('/') || containerId.startsWith('.')) {
      throw new DroverError('VALIDATION', `container id '${containerId.slice(0, 80)}' cannot name a rootfs`);
    }
    return join(this.dir, containerId);
  }

  /** Mounts the rootfs of `reference` (already pulled) for `containerId`, its writes under `sandbox`. */
  async provision(containerId: string, reference: string, sandbox: string): Promise<ProvisionedRootfs> {
    const base = this.containerDir(containerId);
    const image = await this.store.hold(reference, `container-${containerId}`);
    try {
      const rootfs = join(base, 'rootfs');
      const scratch = join(sandbox, '.rootfs');
      const upper = join(scratch, 'upper');
      const work = join(scratch, 'work');
      await mkdir(rootfs, { recursive: true });
      await mkdir(upper, { recursive: true });
      await mkdir(work, { recursive: true });
      await chmod(scratch, 0o700);
      const layers = this.store.layerDirs(image).map((dir) => dir.slice(dir.lastIndexOf('/layers/') + '/layers/'.length));
      this.skeleton ??= ensureSkeleton(join(this.store.root, SKELETON_DIR)).catch((error: unknown) => {
        this.skeleton = undefined;
        throw error;
      });
      await this.skeleton;
      // overlayfs takes the top layer first; the skeleton is the lowest.
      const options = `lowerdir=${[...layers.reverse(), `../${SKELETON_DIR}`].join(':')},upperdir=${upper},workdir=${work}`;
      if (options.length > MAX_MOUNT_OPTIONS) {
        throw new DroverError('IMAGE_UNSUPPORTED', `image ${image.reference}: ${image.layers.length} layers do not fit one overlay mount here`);
      }
      await this.mounter.mountOverlay(join(this.store.root, 'layers'), options, rootfs);
      // Mount points the task's namespace needs: from the skeleton, unless the image hides one (a
      // whiteout, say); then made in the container's upper dir (never in a layer).
      for (const point of [SANDBOX_IN_CONTAINER, '/proc', '/dev', '/tmp', '/etc']) await mkdir(join(rootfs, point), { recursive: true });
      return { containerId, image, rootfs, upper };
    } catch (error) {
      await this.destroy(containerId).catch(() => undefined);
      throw error;
    }
  }

  /** Unmounts and removes the container's rootfs and releases its image. Idempotent. */
  async destroy(containerId: string): Promise<void> {
    const base = this.containerDir(containerId);
    const rootfs = join(base, 'rootfs');
    // A busy mount (a task's process still in it) is detached lazily: it goes with the last user.
    const clear = await this.mounter.unmount(rootfs).catch(() => false);
    // Never remove through a live mount: that would write whiteouts, not free anything. (The task
    // launcher detaches every mount stacked there and says so: no need to read the mount table.)
    if (!clear && (await isMountPoint(rootfs))) {
      throw new DroverError('CONFLICT', `the rootfs of container ${containerId} is still mounted`);
    }
    await rm(base, { recursive: true, force: true });
    await this.store.release(`container-${containerId}`);
  }

  /** After an agent restart: destroys every rootfs whose container is not in `live`. */
  async recover(live: ReadonlySet<string>): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    const gone: string[] = [];
    for (const containerId of await readdir(this.dir)) {
      if (live.has(containerId)) continue;
      await this.destroy(containerId);
      gone.push(containerId);
    }
    return gone;
  }
}
