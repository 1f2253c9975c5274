/**
 * Secret volumes of a task without an image: the value is written into the sandbox at the
 * volume's path, mode 0400, owned by the task's user — before anything of the task's has run
 * there (the fetcher, the task), so no link of the task's can redirect the write. The agent's files
 * API, which serves sandboxes, never serves these files (`hiddenSecretFiles`), and they are
 * deleted when the task ends (Mesos gets the same by mounting a tmpfs into the container, which
 * goes with it). Nothing here logs a value.
 *
 * Secret volumes of a task in a container image may name an absolute path in the image's root
 * (Metronome's `{"containerPath": "/mnt/test", "secret": "s1"}`). Their values never touch a disk:
 * the agent mounts a small tmpfs at `<sandbox>/.secrets` (root's, mode 0700), writes each value
 * there as a file of its own (mode 0400, owned by the task's user), and the launcher binds each
 * file read-only at its path in the container (a sandbox volume, container-volumes.ts). The image's
 * sandbox bind at /mnt/mesos/sandbox is not recursive, so the tmpfs is not seen there; the files
 * API hides the directory; the tmpfs is unmounted when the task ends, which is when the values go.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The tmpfs of a task's in-image secret files, relative to its sandbox. */
export const IMAGE_SECRETS_DIR = '.secrets';

export interface SecretFile {
  containerPath: string;
  value: Buffer;
}

/** Writes the files. `containerPath`s are checked (secretFilePathProblem) by the caller. */
export async function writeSecretFiles(sandbox: string, files: readonly SecretFile[], owner: { uid: number; gid: number } | undefined): Promise<void> {
  for (const file of files) {
    const target = join(sandbox, file.containerPath);
    await mkdir(dirname(target), { recursive: true });
    const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o400);
    try {
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(file.value);
    } finally {
      await handle.close();
    }
  }
}

export async function removeSecretFiles(sandbox: string, containerPaths: readonly string[]): Promise<void> {
  await Promise.all(containerPaths.map((p) => rm(join(sandbox, p), { force: true })));
}

/** A secret file bound into a container image: `source` is relative to the sandbox. */
export interface ImageSecretVolume {
  kind: 'sandbox';
  source: string;
  containerPath: string;
  readOnly: true;
}

/**
 * Writes the in-image secret files (absolute `containerPath`s, checked by the caller) into a fresh
 * tmpfs at `<sandbox>/.secrets` and answers the volumes that bind them. Runs before anything of
 * the task's has run in the sandbox.
 */
export async function writeImageSecretFiles(sandbox: string, files: readonly SecretFile[], owner: { uid: number; gid: number } | undefined): Promise<ImageSecretVolume[]> {
  if (files.length === 0) return [];
  const dir = join(sandbox, IMAGE_SECRETS_DIR);
  await mkdir(dir, { mode: 0o700 });
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new Error(`${IMAGE_SECRETS_DIR} in the sandbox is not a directory`);
  // Room for the values and the inodes' overhead; a task cannot fill the agent's memory through it (it is read-only to the task).
  const bytes = files.reduce((sum, f) => sum + f.value.length + 4096, 65_536);
  await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700,nosuid,nodev,noexec`, 'drover-secrets', dir]);
  try {
    const volumes: ImageSecretVolume[] = [];
    for (const [i, file] of files.entries()) {
      const name = String(i);
      await writeSecretFiles(dir, [{ containerPath: name, value: file.value }], owner);
      volumes.push({ kind: 'sandbox', source: `${IMAGE_SECRETS_DIR}/${name}`, containerPath: file.containerPath, readOnly: true });
    }
    return volumes;
  } catch (error) {
    await removeImageSecretFiles(sandbox);
    throw error;
  }
}

/** Unmounts a task's in-image secrets tmpfs (its values go with it) and removes its mount point. */
export async function removeImageSecretFiles(sandbox: string): Promise<void> {
  const dir = join(sandbox, IMAGE_SECRETS_DIR);
  await run('umount', ['--lazy', dir]).catch(() => undefined);
  await rmdir(dir).catch(() => undefined);
}
