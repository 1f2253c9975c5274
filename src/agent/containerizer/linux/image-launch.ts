/**
 * What a task that names an image needs before the launcher can start it (linux containerizer):
 *
 *   pull       the layer store pulls the reference (or finds it stored; `force` asks again);
 *              a failure names the image and what the registry said
 *   provision  an overlay rootfs of its layers, the task's writes in `<sandbox>/.rootfs`
 *              (src/images/rootfs.ts); the image is held there, so GC cannot take it while used
 *   plan       argv, env and working directory from the task's command and the image's
 *              Entrypoint/Cmd/Env/WorkingDir (src/images/runtime.ts)
 *   user       CommandInfo.user, else the image's User when it is not root, else
 *              FrameworkInfo.user, else the agent's default: tasks run as non-root unless someone
 *              named root. Names are looked up in the image's /etc/passwd first, then the host's.
 *
 * The launcher (launcher.pl) then binds the sandbox at /mnt/mesos/sandbox, mounts /proc and a
 * minimal /dev, binds the host's /etc/hosts and /etc/resolv.conf read-only, and pivots into it.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { DroverError } from '../../../errors/errors.ts';
import type { LayerStore, StoredImage } from '../../../images/layer-store.ts';
import type { ProvisionedRootfs, RootfsProvisioner } from '../../../images/rootfs.ts';
import { launchPlan, resolveImageUser, SANDBOX_IN_CONTAINER, type LaunchPlan } from '../../../images/runtime.ts';
import type { ContainerImage, ContainerLaunchSpec } from '../containerizer.ts';
import { EXIT_FILE } from '../exit-status.ts';
import { resolveTaskUser, type TaskUser } from './task-user.ts';

/** Where the exit status is written, seen from inside the container. */
export const EXIT_FILE_IN_CONTAINER = `${SANDBOX_IN_CONTAINER}/${EXIT_FILE}`;

export interface PreparedImage {
  image: StoredImage;
  rootfs: ProvisionedRootfs;
  plan: LaunchPlan;
  user: TaskUser;
}

/** Pulls (or finds) the image; the error says which image and why. */
export async function pullImage(store: LayerStore, image: ContainerImage, onProgress?: ContainerLaunchSpec['onPullProgress']): Promise<StoredImage> {
  try {
    return await store.pull(image.reference, {
      ...(onProgress === undefined ? {} : { onProgress }),
      ...(image.force === true ? { force: true } : {}),
      ...(image.pullSecret === undefined ? {} : { secrets: image.pullSecret }),
    });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new DroverError('IMAGE_PULL_FAILED', `Failed to pull the image ${image.reference.slice(0, 300)}: ${why}`, { cause: error });
  }
}

/** The task's argv (Mesos' CommandInfo: exec form keeps `arguments[0]` as argv[0], as commandArgv does). */
export function imagePlan(image: StoredImage, command: ContainerLaunchSpec['command'], env: Record<string, string>): LaunchPlan {
  const value = command.value === '' ? undefined : command.value;
  // Mesos' default is shell true, but a command with no value means "the image's own".
  const shell = value !== undefined && command.shell !== false;
  const args = value === undefined ? (command.arguments ?? []) : (command.arguments ?? []).slice(1);
  return launchPlan(image.config.runtime, { shell, ...(value === undefined ? {} : { value }), arguments: args, env });
}

/** Who an image task runs as (see the file comment). */
export async function imageTaskUser(rootfs: string, plan: LaunchPlan, spec: ContainerLaunchSpec, defaultUser: string): Promise<TaskUser> {
  const inImageOrHost = async (name: string): Promise<TaskUser> => {
    try {
      const ids = await resolveImageUser(rootfs, name);
      return { name, ...ids, groups: [ids.gid] };
    } catch (error) {
      if (name.includes(':')) throw error;
      return resolveTaskUser(name);
    }
  };
  if (spec.user !== undefined && spec.user !== '') return inImageOrHost(spec.user);
  if (plan.imageUser !== undefined && plan.imageUser !== '') {
    const ids = await resolveImageUser(rootfs, plan.imageUser);
    if (ids.uid !== 0) return { name: plan.imageUser, ...ids, groups: [ids.gid] };
  }
  const fallback = spec.frameworkUser !== undefined && spec.frameworkUser !== '' ? spec.frameworkUser : defaultUser;
  return inImageOrHost(fallback);
}

/** Pull, provision, plan, user: everything up to the launch. Leaves nothing behind when it fails. */
export async function prepareImage(store: LayerStore, provisioner: RootfsProvisioner, spec: ContainerLaunchSpec & { image: ContainerImage }, defaultUser: string): Promise<PreparedImage> {
  const image = await pullImage(store, spec.image, spec.onPullProgress);
  const rootfs = await provisioner.provision(spec.containerId, image.reference, spec.sandbox);
  try {
    // The launcher refuses links too; checked here first so the task fails with a clear message.
    for (const dir of ['mnt', 'mnt/mesos', 'mnt/mesos/sandbox', 'proc', 'dev', 'etc']) {
      const stat = await lstat(join(rootfs.rootfs, dir));
      if (!stat.isDirectory()) throw new DroverError('IMAGE_UNSUPPORTED', `image ${image.reference}: /${dir} is not a directory`);
    }
    const plan = imagePlan(image, spec.command, spec.env);
    const user = await imageTaskUser(rootfs.rootfs, plan, spec, defaultUser);
    return { image, rootfs, plan, user };
  } catch (error) {
    await provisioner.destroy(spec.containerId).catch(() => undefined);
    throw error;
  }
}
